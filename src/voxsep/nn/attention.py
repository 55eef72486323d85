"""Transformer pieces shared by the attention models: positional encodings and a
pre-LayerNorm transformer encoder whose attention runs through PyTorch's fused
``scaled_dot_product_attention`` (no attention-weight matrix is ever materialised in
Python, and the fused CPU/GPU kernels apply).

* ``sinusoidal_encoding`` — Vaswani et al., "Attention is all you need", NeurIPS 2017,
  §3.5 (sin on even features, cos on odd ones), as SepFormer adds it at the input of
  every intra/inter transformer.
* ``TransformerEncoder`` — a stack of pre-LN layers (Xiong et al., "On layer
  normalization in the transformer architecture", ICML 2020) followed by a final
  LayerNorm; the layer SepFormer uses (Subakan et al., ICASSP 2021, §2.2).
* ``ScaledSinusoidalEmbedding`` — sin/cos halves times one learned scale (Hua et al.,
  "Transformer quality in linear time", ICML 2022), MossFormer's global position code.
* ``RotaryEmbedding`` — rotary position embedding on the first ``dim`` features, pairs
  interleaved (Su et al., "RoFormer", 2021), as MossFormer applies it to queries/keys.

All modules work on ``(batch, length, features)`` tensors.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _inverse_frequencies(dim: int, base: float = 10000.0, device: torch.device | None = None) -> torch.Tensor:
    """``base ** (-2i / dim)`` for ``i = 0 .. dim/2 - 1`` (float32)."""
    return torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(base) / dim))


def sinusoidal_encoding(
    length: int, dim: int, device: torch.device | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Fixed sinusoidal position code ``(length, dim)``: ``sin`` on even, ``cos`` on odd features.

    Args:
        length: number of positions.
        dim: feature size (even).
    """
    if dim % 2:
        raise ValueError(f"sinusoidal encoding needs an even feature size, got {dim}")
    angles = torch.arange(length, device=device, dtype=torch.float32)[:, None] * _inverse_frequencies(dim, device=device)
    return torch.stack((angles.sin(), angles.cos()), dim=-1).reshape(length, dim).to(dtype)


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention with one fused QKV projection and fused SDPA.

    Shapes: ``(batch, length, d_model)`` → ``(batch, length, d_model)``.

    Args:
        d_model: feature size.
        n_heads: attention heads (``d_model`` must divide evenly).
        dropout: attention-probability dropout (training only).
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.n_heads = n_heads
        self.dropout = dropout
        self.in_proj = nn.Linear(d_model, 3 * d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, d_model = x.shape
        qkv = self.in_proj(x).view(batch, length, 3, self.n_heads, d_model // self.n_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, L, d_head)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.out_proj(out.transpose(1, 2).reshape(batch, length, d_model))


class TransformerEncoderLayer(nn.Module):
    """Pre-LN transformer layer: ``x + MHSA(LN(x))`` then ``x + FFN(LN(x))``.

    Args:
        d_model: feature size.
        n_heads: attention heads.
        d_ffn: hidden size of the position-wise feed-forward network.
        dropout: dropout on attention probabilities and residual branches.
        activation: ``"relu"`` or ``"gelu"`` inside the feed-forward network.
        norm_eps: LayerNorm epsilon.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ffn: int,
        dropout: float = 0.0,
        activation: str = "relu",
        norm_eps: float = 1e-6,
    ) -> None:
        super().__init__()
        if activation not in ("relu", "gelu"):
            raise ValueError(f"activation must be 'relu' or 'gelu', got {activation!r}")
        self.norm1 = nn.LayerNorm(d_model, eps=norm_eps)
        self.attention = MultiHeadSelfAttention(d_model, n_heads, dropout)
        self.norm2 = nn.LayerNorm(d_model, eps=norm_eps)
        self.ffn = nn.Sequential(
            nn.Linear(d_model, d_ffn),
            nn.ReLU() if activation == "relu" else nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(d_ffn, d_model),
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.attention(self.norm1(x)))
        return x + self.dropout(self.ffn(self.norm2(x)))


class TransformerEncoder(nn.Module):
    """Sinusoidal position code (optional) → ``n_layers`` pre-LN layers → final LayerNorm.

    Shapes: ``(batch, length, d_model)`` → ``(batch, length, d_model)``.

    Args:
        n_layers: number of layers.
        d_model: feature size.
        n_heads: attention heads.
        d_ffn: feed-forward hidden size.
        dropout: dropout inside the layers.
        positional_encoding: add ``sinusoidal_encoding`` to the input.
        activation: feed-forward activation (``"relu"`` in SepFormer).
        norm_eps: LayerNorm epsilon.
    """

    def __init__(
        self,
        n_layers: int,
        d_model: int,
        n_heads: int,
        d_ffn: int,
        dropout: float = 0.0,
        positional_encoding: bool = True,
        activation: str = "relu",
        norm_eps: float = 1e-6,
    ) -> None:
        super().__init__()
        self.positional_encoding = positional_encoding
        self.layers = nn.ModuleList(
            TransformerEncoderLayer(d_model, n_heads, d_ffn, dropout, activation, norm_eps) for _ in range(n_layers)
        )
        self.norm = nn.LayerNorm(d_model, eps=norm_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.positional_encoding:
            x = x + sinusoidal_encoding(x.shape[1], x.shape[2], x.device, x.dtype)
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)


class ScaledSinusoidalEmbedding(nn.Module):
    """``scale * [sin(p·ω), cos(p·ω)]`` ``(length, dim)`` with one learned ``scale``.

    Args:
        dim: feature size (even).
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        if dim % 2:
            raise ValueError(f"scaled sinusoidal embedding needs an even feature size, got {dim}")
        self.dim = dim
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, length: int, device: torch.device | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        angles = torch.arange(length, device=device, dtype=torch.float32)[:, None] * _inverse_frequencies(
            self.dim, device=device
        )
        return (torch.cat((angles.sin(), angles.cos()), dim=-1) * self.scale).to(dtype)


class RotaryEmbedding(nn.Module):
    """Rotate the first ``dim`` features of ``x`` by position (pairs ``(2i, 2i+1)``).

    ``forward(x)`` takes ``(batch, length, *heads, features)`` with positions along dim 1
    and returns the same shape; features beyond ``dim`` pass through unchanged.

    Args:
        dim: number of rotated features (even, ≤ features).
        base: frequency base (10000 as in RoFormer).
    """

    def __init__(self, dim: int, base: float = 10000.0) -> None:
        super().__init__()
        if dim % 2:
            raise ValueError(f"rotary embedding needs an even number of features, got {dim}")
        self.dim = dim
        self.base = base

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        length = x.shape[1]
        angles = torch.arange(length, device=x.device, dtype=torch.float32)[:, None] * _inverse_frequencies(
            self.dim, self.base, x.device
        )
        # Broadcast (length, dim/2) over any head dims between length and features.
        angles = angles.view(length, *([1] * (x.dim() - 3)), self.dim // 2)
        cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
        rotated, rest = x[..., : self.dim], x[..., self.dim :]
        pairs = rotated.unflatten(-1, (self.dim // 2, 2))
        even, odd = pairs[..., 0], pairs[..., 1]
        rotated = torch.stack((even * cos - odd * sin, odd * cos + even * sin), dim=-1).flatten(-2)
        return torch.cat((rotated, rest), dim=-1)
