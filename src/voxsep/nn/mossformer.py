"""MossFormer building blocks (Zhao & Ma, "MossFormer: Pushing the performance limit of
monaural speech separation using gated single-head transformer with convolution-augmented
joint self-attentions", ICASSP 2023; reused by MossFormer2, Zhao et al., ICASSP 2024).

* ``ScaleNorm`` — ``g * x / (||x|| / sqrt(d))`` (Nguyen & Salazar 2019).
* ``OffsetScale`` — per-feature affine maps producing several query/key "heads" from one
  shared projection (FLASH, Hua et al., ICML 2022).
* ``ConvModule`` — depthwise convolution over time with a residual connection.
* ``FFConvM`` — norm → linear → SiLU → ``ConvModule`` → dropout, MossFormer's
  "convolution-augmented" projection used for every input/output projection.
* ``GatedAttentionUnit`` — the MossFormer layer: token shift, one projection to
  ``[v | u | qk]``, joint local (quadratic relu² attention inside groups of G frames)
  plus global (linear attention over the whole sequence) single-head attention with
  rotary position codes, and the gated output ``(att_u * v) * sigmoid(att_v * u)``.

All modules work on ``(batch, length, features)`` tensors; any length works (the last
group is zero-padded, which leaves both attentions unchanged).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from voxsep.nn.attention import RotaryEmbedding


class ScaleNorm(nn.Module):
    """Scale normalisation over the last dim with one learned gain.

    Args:
        dim: feature size d.
        eps: floor on the scaled norm.
    """

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.scale = dim**-0.5
        self.eps = eps
        self.gain = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True) * self.scale
        return x * (self.gain / norm.clamp_min(self.eps))


class OffsetScale(nn.Module):
    """``x (..., d)`` → ``(..., heads, d)`` with ``x * gamma_h + beta_h`` per head.

    Args:
        dim: feature size d.
        heads: number of outputs.
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.empty(heads, dim).normal_(std=0.02))
        self.beta = nn.Parameter(torch.zeros(heads, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(-2) * self.gamma + self.beta


class ConvModule(nn.Module):
    """``x + DepthwiseConv1d(x)`` along time on ``(batch, length, channels)``.

    Args:
        channels: number of channels.
        kernel_size: odd kernel length ("same" padding, no bias).
    """

    def __init__(self, channels: int, kernel_size: int = 17) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"ConvModule kernel_size must be odd, got {kernel_size}")
        self.conv = nn.Conv1d(channels, channels, kernel_size, padding=kernel_size // 2, groups=channels, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x.transpose(1, 2)).transpose(1, 2)


class FFConvM(nn.Module):
    """Norm → Linear → SiLU → ``ConvModule`` → Dropout on ``(batch, length, dim_in)``.

    Args:
        dim_in: input features.
        dim_out: output features.
        norm: ``"scalenorm"`` (MossFormer's attention projections) or ``"layernorm"``
            (the FSMN branches).
        dropout: output dropout.
        kernel_size: depthwise kernel of the ConvModule.
    """

    def __init__(self, dim_in: int, dim_out: int, norm: str = "scalenorm", dropout: float = 0.1, kernel_size: int = 17) -> None:
        super().__init__()
        if norm not in ("scalenorm", "layernorm"):
            raise ValueError(f"norm must be 'scalenorm' or 'layernorm', got {norm!r}")
        self.norm = ScaleNorm(dim_in) if norm == "scalenorm" else nn.LayerNorm(dim_in)
        self.linear = nn.Linear(dim_in, dim_out)
        self.conv = ConvModule(dim_out, kernel_size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.conv(F.silu(self.linear(self.norm(x)))))


class GatedAttentionUnit(nn.Module):
    """MossFormer layer: gated single-head joint local/global attention, with residual.

    Shapes: ``(batch, length, dim)`` → ``(batch, length, dim)``.

    The projection to ``[v | u]`` (``expansion_factor * dim`` features) and to the shared
    query/key ``qk`` (``query_key_dim``) is one ``FFConvM`` (the reference code's two
    projections with separate ScaleNorm gains span the same functions). ``OffsetScale``
    makes local and global queries and keys from ``qk``; rotary codes (first
    ``rotary_dim`` features) give them positions. Local attention:
    ``relu(q k^T / G)^2`` inside non-overlapping groups of G frames; global attention:
    ``q (k^T [v|u]) / T`` over the whole sequence, both applied to ``[v|u]`` at once.

    Args:
        dim: model features.
        group_size: G, frames per local-attention group.
        query_key_dim: shared query/key size.
        expansion_factor: ``[v|u]`` has ``expansion_factor * dim`` features (each of v, u
            then has ``2 * dim`` features when the factor is 4, which the output projection
            maps back to ``dim``).
        dropout: dropout on the local attention weights and inside the projections.
        rotary: a shared ``RotaryEmbedding`` (MossFormer uses one for all layers).
        shift_tokens: shift the first half of the features one frame forward in time.
    """

    def __init__(
        self,
        dim: int,
        group_size: int = 256,
        query_key_dim: int = 128,
        expansion_factor: float = 4.0,
        dropout: float = 0.1,
        rotary: RotaryEmbedding | None = None,
        shift_tokens: bool = True,
    ) -> None:
        super().__init__()
        hidden = int(dim * expansion_factor)
        if hidden % 2:
            raise ValueError(f"dim * expansion_factor must be even, got {hidden}")
        self.group_size = group_size
        self.hidden = hidden
        self.query_key_dim = query_key_dim
        self.shift_tokens = shift_tokens
        self.rotary = rotary
        self.to_hidden_qk = FFConvM(dim, hidden + query_key_dim, "scalenorm", dropout)
        self.offset_scale = OffsetScale(query_key_dim, heads=4)
        self.to_out = FFConvM(hidden // 2, dim, "scalenorm", dropout)
        self.attention_dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        shifted = x
        if self.shift_tokens:
            half = dim // 2
            shifted = torch.cat((F.pad(x[..., :half], (0, 0, 1, -1)), x[..., half:]), dim=-1)
        hidden, qk = self.to_hidden_qk(shifted).split((self.hidden, self.query_key_dim), dim=-1)
        qk = self.offset_scale(qk)  # (B, T, 4, d_qk): local q, global q, local k, global k
        if self.rotary is not None:
            qk = self.rotary(qk)
        attended = self._attend(hidden, qk, length)
        att_v, att_u = attended.chunk(2, dim=-1)
        v, u = hidden.chunk(2, dim=-1)
        return x + self.to_out((att_u * v) * torch.sigmoid(att_v * u))

    def _attend(self, hidden: torch.Tensor, qk: torch.Tensor, length: int) -> torch.Tensor:
        """Joint local + global attention of ``qk`` ``(B, T, 4, d)`` over ``hidden`` ``(B, T, H)``."""
        batch = hidden.shape[0]
        g = self.group_size
        # Zero padding to whole groups: padded keys score 0 and padded values are 0.
        padding = (g - length % g) % g
        hidden_p = F.pad(hidden, (0, 0, 0, padding)).view(batch, -1, g, self.hidden)
        qk = F.pad(qk, (0, 0, 0, 0, 0, padding)).view(batch, hidden_p.shape[1], g, 4, self.query_key_dim)
        local_q, global_q, local_k, global_k = qk.unbind(3)  # each (B, groups, G, d)
        groups = hidden_p.shape[1]
        weights = torch.relu(local_q @ local_k.transpose(-1, -2) * (1.0 / g)).square()
        weights = self.attention_dropout(weights).flatten(0, 1)  # (B*groups, G, G)
        global_kv = global_k.flatten(1, 2).transpose(1, 2) @ hidden_p.flatten(1, 2) * (1.0 / length)  # (B, d, H)
        out = global_q.flatten(1, 2) @ global_kv  # (B, groups*G, H)
        # Local attention accumulated into the global result: one pass over (T, H), not three.
        out = out.view(batch * groups, g, self.hidden).baddbmm_(weights, hidden_p.flatten(0, 1))
        return out.view(batch, groups * g, self.hidden)[:, :length]
