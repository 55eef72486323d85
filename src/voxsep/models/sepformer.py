"""SepFormer (Subakan, Ravanelli, Cornell, Bronzi & Zhong, "Attention is all you need in
speech separation", ICASSP 2021).

A TasNet-style model whose mask estimator is a dual-path network of transformers: the
encoded mixture is normalised, projected, cut into 50 %-overlapping chunks of K frames
(``voxsep.nn.dual_path``), and passed through R "SepFormer blocks", each an intra-chunk
transformer (along K) and an inter-chunk transformer (along the S chunks), both with a
normalised residual connection. PReLU and a 1x1 conv then produce one feature map per
source, which is overlap-added back to a sequence, gated (tanh x sigmoid) and mapped to
a ReLU mask over the encoder's basis.

Paper configuration (§3 and SpeechBrain's ``sepformer-wsj02mix`` recipe, the authors'
release): N=256 filters of L=16 samples, stride 8; chunk K=250; R=2 blocks of 8 intra
and 8 inter pre-LN layers, d_model 256, 8 heads, feed-forward 1024, ReLU, sinusoidal
position code at the input of every intra/inter transformer; no dropout — 25.68 M
parameters for two sources (the paper's 25.7 M; 25.75 M for three sources).
"""

from __future__ import annotations

import torch
from torch import nn

from voxsep.models import register
from voxsep.models.base import EncoderMaskerDecoder
from voxsep.nn.attention import TransformerEncoder
from voxsep.nn.dual_path import ChunkedMasker
from voxsep.nn.gated_output import GatedMaskOutput
from voxsep.nn.norms import make_norm


def _gln_channels_last(norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply a ``(B, C, T)`` gLN to channels-last ``(B, ..., C)`` (statistics over all but B)."""
    flat = x.reshape(x.shape[0], -1, x.shape[-1])
    return norm(flat.transpose(1, 2)).transpose(1, 2).reshape(x.shape)


class SepFormerBlock(nn.Module):
    """One dual-path block: intra-chunk transformer, then inter-chunk transformer.

    Each path is ``x + gLN(Transformer(x))`` (SpeechBrain's ``skip_around_intra`` layout,
    with the same residual on the inter path). Works channels-last on chunks
    ``(B, S, K, C)`` — S chunks of K frames — so the intra path needs no transpose and
    the inter path one each way. Shapes: ``(B, S, K, C)`` → same.

    Args:
        d_model: C, feature size.
        n_layers: layers per intra / inter transformer.
        n_heads: attention heads.
        d_ffn: feed-forward hidden size.
        dropout: dropout inside the transformers.
    """

    def __init__(self, d_model: int, n_layers: int, n_heads: int, d_ffn: int, dropout: float) -> None:
        super().__init__()
        self.intra = TransformerEncoder(n_layers, d_model, n_heads, d_ffn, dropout)
        self.intra_norm = make_norm("gLN", d_model)
        self.inter = TransformerEncoder(n_layers, d_model, n_heads, d_ffn, dropout)
        self.inter_norm = make_norm("gLN", d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, n_chunks, chunk, channels = x.shape
        # Intra-chunk: B*S sequences of K frames.
        intra = self.intra(x.reshape(batch * n_chunks, chunk, channels)).view(x.shape)
        x = x + _gln_channels_last(self.intra_norm, intra)
        # Inter-chunk: B*K sequences of S chunks.
        inter = x.transpose(1, 2).reshape(batch * chunk, n_chunks, channels)
        inter = _gln_channels_last(self.inter_norm, self.inter(inter).view(batch, chunk, n_chunks, channels))
        return x + inter.transpose(1, 2)


class SepFormerMasker(ChunkedMasker):
    """Encoded mixture ``(B, N, frames)`` → masks ``(B, n_src, N, frames)``.

    gLN → 1x1 conv (no bias) → segment(K) → R SepFormer blocks → PReLU → 1x1 conv to
    n_src x C → overlap-add → gated output → 1x1 conv to N → mask activation.
    """

    def __init__(
        self,
        n_src: int,
        n_filters: int,
        d_model: int,
        chunk_size: int,
        n_repeats: int,
        n_layers: int,
        n_heads: int,
        d_ffn: int,
        dropout: float,
        mask_activation: str,
        chunk_padding: str = "voxsep",
    ) -> None:
        super().__init__(n_src, chunk_size, chunk_padding)
        self.input_norm = make_norm("gLN", n_filters)
        self.input_proj = nn.Conv1d(n_filters, d_model, 1, bias=False)
        self.blocks = nn.Sequential(
            *(SepFormerBlock(d_model, n_layers, n_heads, d_ffn, dropout) for _ in range(n_repeats))
        )
        self.to_sources = nn.Sequential(nn.PReLU(), nn.Conv2d(d_model, n_src * d_model, 1))
        self.output = GatedMaskOutput(d_model, n_filters, mask_activation)

    def run_blocks(self, chunks: torch.Tensor) -> torch.Tensor:
        """The SepFormer blocks, channels-last: ``(B, C, K, S)`` → ``(B, S, K, C)`` → back."""
        return self.blocks(chunks.permute(0, 3, 2, 1).contiguous()).permute(0, 3, 2, 1)

    def forward(self, representation: torch.Tensor) -> torch.Tensor:
        x = self.input_proj(self.input_norm(representation))
        return self.output(self.per_source(x), self.n_src)


@register("sepformer")
class SepFormer(EncoderMaskerDecoder):
    """SepFormer: learned filterbank + dual-path transformer mask estimator.

    Shapes: ``(batch, time)`` → ``(batch, n_src, time)``, any length >= 1 sample.

    Args:
        n_src: number of talkers.
        n_filters: N, encoder basis size.
        kernel_size: L, encoder filter length.
        stride: encoder hop (L/2 in the paper).
        d_model: feature size inside the transformers.
        chunk_size: K, frames per chunk (even; hop K/2).
        n_repeats: R, number of SepFormer (intra + inter) blocks.
        n_layers: transformer layers in each intra and each inter transformer.
        n_heads: attention heads.
        d_ffn: feed-forward hidden size.
        dropout: dropout in the transformers (0 in the paper).
        mask_activation: "relu" (paper), "sigmoid", "softmax" or "linear".
        sample_rate: the rate the model works at.
        encoder_activation: "relu" (paper) or None.
        chunk_padding: "voxsep"; "speechbrain" for weights imported from SpeechBrain (the
            chunking of its ``Dual_Path_Model``; ``voxsep.nn.dual_path``).
    """

    def __init__(
        self,
        n_src: int = 2,
        n_filters: int = 256,
        kernel_size: int = 16,
        stride: int = 8,
        d_model: int = 256,
        chunk_size: int = 250,
        n_repeats: int = 2,
        n_layers: int = 8,
        n_heads: int = 8,
        d_ffn: int = 1024,
        dropout: float = 0.0,
        mask_activation: str = "relu",
        sample_rate: int = 8000,
        encoder_activation: str | None = "relu",
        chunk_padding: str = "voxsep",
    ) -> None:
        super().__init__(n_src, n_filters, kernel_size, stride, sample_rate, encoder_activation)
        self.masker = SepFormerMasker(
            n_src, n_filters, d_model, chunk_size, n_repeats, n_layers, n_heads, d_ffn, dropout, mask_activation,
            chunk_padding,
        )
