"""MossFormer2 (Zhao, Ma, Yip, Ni & Ma, "MossFormer2: Combining transformer and RNN-free
recurrent network for enhanced time-domain monaural speech separation", ICASSP 2024).

A TasNet-style model whose mask estimator interleaves, over the whole frame sequence (no
chunking), MossFormer layers (gated single-head attention with joint local/global
attention and convolution modules, ``voxsep.nn.mossformer``) with the RNN-free recurrent
module (gated dilated FSMN with dense connections, ``voxsep.nn.fsmn``).

Masker: gLN → 1x1 conv (no bias) → + scaled sinusoidal position code → 24 x
(MossFormer layer → FSMN block) → LayerNorm → gLN + residual → PReLU → 1x1 conv to n_src x C →
gated output (tanh x sigmoid) → 1x1 conv to N → ReLU mask.

Paper configuration (and the authors' release in ClearerVoice-Studio, ``MossFormer2_SS``):
N=512 filters of L=16 samples, stride 8; C=512; 24 layers; attention groups of 256
frames; query/key size 128 with rotary codes on 32 features; expansion factor 4; FSMN
bottleneck 256, memory order 20, 2 dense layers; dropout 0.1 — 55.7 M parameters for two
sources. The 8 kHz (wsj0-2mix, Libri2Mix, WHAM!) and 16 kHz (the release's
``MossFormer2_SS_16K``) systems share this architecture; ``sample_rate`` records which
rate a model is trained for.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from voxsep.models import register
from voxsep.models.base import EncoderMaskerDecoder
from voxsep.nn.attention import RotaryEmbedding, ScaledSinusoidalEmbedding
from voxsep.nn.fsmn import GatedFSMNBlock
from voxsep.nn.gated_output import GatedMaskOutput
from voxsep.nn.mossformer import GatedAttentionUnit
from voxsep.nn.norms import make_norm


@dataclass(frozen=True)
class MossFormerConfig:
    """Sizes of the MossFormer2 separation network, built once by :class:`MossFormer2` and
    passed to its masker and :class:`MossFormerStack`; each field is the model's argument
    of the same name (``dim`` = C, ``group_size`` = G)."""

    dim: int
    n_layers: int
    group_size: int
    query_key_dim: int
    expansion_factor: float
    fsmn_inner: int
    fsmn_order: int
    fsmn_depth: int
    dropout: float


class MossFormerStack(nn.Module):
    """``n_layers`` x (``GatedAttentionUnit`` → ``GatedFSMNBlock``) → LayerNorm, on ``(B, T, C)``.

    One ``RotaryEmbedding`` is shared by all attention layers.
    """

    def __init__(self, c: MossFormerConfig) -> None:
        super().__init__()
        rotary = RotaryEmbedding(min(32, c.query_key_dim))
        self.attention = nn.ModuleList(
            GatedAttentionUnit(c.dim, c.group_size, c.query_key_dim, c.expansion_factor, c.dropout, rotary)
            for _ in range(c.n_layers)
        )
        self.fsmn = nn.ModuleList(
            GatedFSMNBlock(c.dim, c.fsmn_inner, c.fsmn_order, c.fsmn_depth, c.dropout) for _ in range(c.n_layers)
        )
        self.norm = nn.LayerNorm(c.dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for attention, fsmn in zip(self.attention, self.fsmn):
            x = fsmn(attention(x))
        return self.norm(x)


class MossFormer2Masker(nn.Module):
    """Encoded mixture ``(B, N, frames)`` → masks ``(B, n_src, N, frames)``."""

    def __init__(self, n_src: int, n_filters: int, stack: MossFormerConfig, mask_activation: str) -> None:
        super().__init__()
        dim = stack.dim
        self.n_src = n_src
        self.input_norm = make_norm("gLN", n_filters)
        self.input_proj = nn.Conv1d(n_filters, dim, 1, bias=False)
        self.position = ScaledSinusoidalEmbedding(dim)
        self.stack = MossFormerStack(stack)
        self.stack_norm = make_norm("gLN", dim)
        self.to_sources = nn.Sequential(nn.PReLU(), nn.Conv1d(dim, n_src * dim, 1))
        self.output = GatedMaskOutput(dim, n_filters, mask_activation)

    def forward(self, representation: torch.Tensor) -> torch.Tensor:
        batch, n_filters, frames = representation.shape
        x = self.input_proj(self.input_norm(representation))  # (B, C, T)
        x = x + self.position(frames, x.device, x.dtype).transpose(0, 1)
        x = x + self.stack_norm(self.stack(x.transpose(1, 2)).transpose(1, 2))
        features = self.to_sources(x)  # (B, n_src*C, T)
        return self.output(features.reshape(batch * self.n_src, -1, frames), self.n_src)


@register("mossformer2")
class MossFormer2(EncoderMaskerDecoder):
    """MossFormer2: learned filterbank + MossFormer/FSMN mask estimator.

    Shapes: ``(batch, time)`` → ``(batch, n_src, time)``, any length >= 1 sample.

    Args:
        n_src: number of talkers.
        n_filters: N, encoder basis size.
        kernel_size: L, encoder filter length.
        stride: encoder hop (L/2).
        dim: C, feature size of the MossFormer layers.
        n_layers: number of (MossFormer layer, FSMN block) pairs.
        group_size: G, frames per local-attention group.
        query_key_dim: size of the shared query/key projection.
        expansion_factor: width of ``[v|u]`` relative to ``dim``.
        fsmn_inner: bottleneck size of the FSMN blocks.
        fsmn_order: FSMN memory order (kernels of ``2*order - 1`` taps).
        fsmn_depth: layers in each dilated dense memory.
        dropout: dropout in the attention and projections (0.1 in the paper).
        mask_activation: "relu" (paper), "sigmoid", "softmax" or "linear".
        sample_rate: 8000 or 16000 in the published systems.
        encoder_activation: "relu" (paper) or None.
    """

    def __init__(
        self,
        n_src: int = 2,
        n_filters: int = 512,
        kernel_size: int = 16,
        stride: int = 8,
        dim: int = 512,
        n_layers: int = 24,
        group_size: int = 256,
        query_key_dim: int = 128,
        expansion_factor: float = 4.0,
        fsmn_inner: int = 256,
        fsmn_order: int = 20,
        fsmn_depth: int = 2,
        dropout: float = 0.1,
        mask_activation: str = "relu",
        sample_rate: int = 8000,
        encoder_activation: str | None = "relu",
    ) -> None:
        super().__init__(n_src, n_filters, kernel_size, stride, sample_rate, encoder_activation)
        stack = MossFormerConfig(
            dim, n_layers, group_size, query_key_dim, expansion_factor, fsmn_inner, fsmn_order, fsmn_depth, dropout
        )
        self.masker = MossFormer2Masker(n_src, n_filters, stack, mask_activation)
