"""DPTNet (Chen, Mao & Liu, "Dual-path transformer network: direct context-aware modeling
for end-to-end monaural speech separation", Interspeech 2020).

A learned filterbank and a dual-path mask estimator whose intra-chunk and inter-chunk
models are "improved transformers": multi-head self-attention, then, in place of the
position-wise feed-forward layer, an LSTM followed by ReLU and a linear layer, which gives
the network the order of the frames without a positional encoding. Both sub-layers are
residual and followed by a norm (post-norm); the norm is gLN over each sequence (the
channels and the frames of one chunk, or of one position across chunks). The masks come
from PReLU → 1×1 convolution to one map per talker → overlap-add → tanh/sigmoid gate,
directly on the encoder's N channels (no bottleneck in, no projection out).

Defaults: the configuration of Asteroid's ``DPTNet`` (N=64, L=16, hop 8, 4 heads, LSTM
of 256 units per direction, chunks of K=100 frames, 6 blocks; 8.53 M parameters at two
talkers, as Asteroid's at its defaults). The paper reports smaller LSTMs and a 2-sample
encoder window (``kernel_size=2``); set those sizes to match it.
"""

from __future__ import annotations

import torch
from torch import nn

from voxsep.models import register
from voxsep.models.base import EncoderMaskerDecoder
from voxsep.nn.attention import MultiHeadSelfAttention
from voxsep.nn.dual_path import ChunkedMasker
from voxsep.nn.gated_output import GatedMaskOutput
from voxsep.nn.norms import GlobalLayerNorm


class ImprovedTransformerLayer(nn.Module):
    """Sequences ``(batch, length, C)`` → ``(batch, length, C)``:
    ``x = gLN(x + MHSA(x))``, then ``x = gLN(x + W relu(LSTM(x)))``.

    Args:
        channels: C.
        n_heads: attention heads (must divide C).
        hidden: LSTM units per direction.
        bidirectional: a bidirectional LSTM (always within chunks).
        dropout: on the attention probabilities and on both residual branches.
    """

    def __init__(self, channels: int, n_heads: int, hidden: int, bidirectional: bool, dropout: float) -> None:
        super().__init__()
        self.attention = MultiHeadSelfAttention(channels, n_heads, dropout)
        self.attention_norm = GlobalLayerNorm(channels)
        self.rnn = nn.LSTM(channels, hidden, batch_first=True, bidirectional=bidirectional)
        self.linear = nn.Linear((2 if bidirectional else 1) * hidden, channels)
        self.ff_norm = GlobalLayerNorm(channels)
        self.dropout = nn.Dropout(dropout)

    @staticmethod
    def _norm(norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return norm(x.transpose(1, 2)).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._norm(self.attention_norm, x + self.dropout(self.attention(x)))
        feed_forward = self.linear(self.dropout(torch.relu(self.rnn(x)[0])))
        return self._norm(self.ff_norm, x + self.dropout(feed_forward))


class DualPathTransformerBlock(nn.Module):
    """An intra-chunk then an inter-chunk :class:`ImprovedTransformerLayer` on chunks
    ``(batch, C, K, S)`` → same shape."""

    def __init__(self, channels: int, n_heads: int, hidden: int, bidirectional_inter: bool, dropout: float) -> None:
        super().__init__()
        self.intra = ImprovedTransformerLayer(channels, n_heads, hidden, True, dropout)
        self.inter = ImprovedTransformerLayer(channels, n_heads, hidden, bidirectional_inter, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, chunk, n_chunks = x.shape
        intra = self.intra(x.permute(0, 3, 2, 1).reshape(batch * n_chunks, chunk, channels))
        x = intra.reshape(batch, n_chunks, chunk, channels).permute(0, 3, 2, 1)
        inter = self.inter(x.permute(0, 2, 3, 1).reshape(batch * chunk, n_chunks, channels))
        return inter.reshape(batch, chunk, n_chunks, channels).permute(0, 3, 1, 2)


class DPTMasker(ChunkedMasker):
    """Encoded mixture ``(batch, N, frames)`` → masks ``(batch, n_src, N, frames)``."""

    def __init__(self, n_src: int, n_filters: int, n_heads: int, hidden: int, chunk_size: int, n_blocks: int,
                 bidirectional_inter: bool, dropout: float, mask_activation: str, chunk_padding: str) -> None:
        super().__init__(n_src, chunk_size, chunk_padding)
        self.input_norm = GlobalLayerNorm(n_filters)
        self.blocks = nn.Sequential(*(DualPathTransformerBlock(n_filters, n_heads, hidden, bidirectional_inter,
                                                               dropout) for _ in range(n_blocks)))
        self.to_sources = nn.Sequential(nn.PReLU(), nn.Conv2d(n_filters, n_src * n_filters, 1))
        self.output = GatedMaskOutput(n_filters, n_filters, mask_activation, project=False)

    def forward(self, representation: torch.Tensor) -> torch.Tensor:
        return self.output(self.per_source(self.input_norm(representation)), self.n_src)


@register("dptnet")
class DPTNet(EncoderMaskerDecoder):
    """DPTNet: learned filterbank + dual-path improved-transformer mask estimator.

    Shapes: ``(batch, time)`` → ``(batch, n_src, time)``.

    Args:
        n_src: number of talkers.
        n_filters: N, encoder bases (also the transformers' width).
        kernel_size: L, encoder filter length.
        stride: encoder hop (``kernel_size // 2`` when None).
        n_heads: attention heads (must divide N).
        hidden: LSTM units per direction in each transformer layer.
        chunk_size: K, frames per chunk (even; hop K/2).
        n_blocks: dual-path blocks.
        bidirectional: bidirectional inter-chunk LSTMs (intra-chunk ones always are).
        dropout: dropout in the transformer layers.
        mask_activation: "relu" (default), "sigmoid", "softmax" or "linear".
        sample_rate: the rate the model works at.
        encoder_activation: "relu" or None.
        chunk_padding: "voxsep"; "asteroid" for weights imported from Asteroid
            (``voxsep.nn.dual_path``).
    """

    def __init__(
        self,
        n_src: int = 2,
        n_filters: int = 64,
        kernel_size: int = 16,
        stride: int | None = None,
        n_heads: int = 4,
        hidden: int = 256,
        chunk_size: int = 100,
        n_blocks: int = 6,
        bidirectional: bool = True,
        dropout: float = 0.0,
        mask_activation: str = "relu",
        sample_rate: int = 8000,
        encoder_activation: str | None = "relu",
        chunk_padding: str = "voxsep",
    ) -> None:
        super().__init__(n_src, n_filters, kernel_size, stride, sample_rate, encoder_activation)
        self.masker = DPTMasker(n_src, n_filters, n_heads, hidden, chunk_size, n_blocks, bidirectional, dropout,
                                mask_activation, chunk_padding)
