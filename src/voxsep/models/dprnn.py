"""DPRNN-TasNet (Luo, Chen & Yoshioka, "Dual-path RNN: efficient long sequence modeling for
time-domain single-channel speech separation", ICASSP 2020).

Paper configuration (§3.2): N=64 filters of L=2 samples (stride 1), bottleneck 64, 6
dual-path blocks of BiLSTMs with 128 hidden units per direction, chunk size K=250 —
2.6 M parameters. ``causal=True`` makes the inter-chunk RNNs unidirectional and the norms
per-frame, as the paper's causal variant; the intra-chunk BiLSTM stays, so the
algorithmic latency is one chunk (K frames).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from voxsep.models import register
from voxsep.models.base import EncoderMaskerDecoder
from voxsep.nn.dual_path import ChunkedMasker
from voxsep.nn.gated_output import GatedMaskOutput
from voxsep.nn.norms import make_norm


class DualPathRNNBlock(nn.Module):
    """Intra-chunk RNN then inter-chunk RNN, each followed by a linear layer, a norm and a
    residual connection, on chunks ``(batch, C, K, S)``.

    Args:
        channels: C, feature size (the bottleneck).
        hidden: RNN hidden units per direction.
        rnn_type: "LSTM" or "GRU".
        bidirectional_inter: False for the causal model.
        norm: "gLN" (statistics over C, K and S) or "chLN" (per frame, causal).
        dropout: dropout inside the RNN outputs.
    """

    def __init__(
        self,
        channels: int,
        hidden: int,
        rnn_type: str = "LSTM",
        bidirectional_inter: bool = True,
        norm: str = "gLN",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if rnn_type not in ("LSTM", "GRU"):
            raise ValueError(f"rnn_type must be 'LSTM' or 'GRU', got {rnn_type!r}")
        rnn = getattr(nn, rnn_type)
        inter_directions = 2 if bidirectional_inter else 1
        self.intra_rnn = rnn(channels, hidden, batch_first=True, bidirectional=True)
        self.intra_linear = nn.Linear(2 * hidden, channels)
        self.intra_norm = make_norm(norm, channels)
        self.inter_rnn = rnn(channels, hidden, batch_first=True, bidirectional=bidirectional_inter)
        self.inter_linear = nn.Linear(inter_directions * hidden, channels)
        self.inter_norm = make_norm(norm, channels)
        self.dropout = nn.Dropout(dropout)

    @staticmethod
    def _norm4d(norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
        batch, channels, chunk, n_chunks = x.shape
        return norm(x.reshape(batch, channels, chunk * n_chunks)).reshape(x.shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.step(x)[0]

    def step(self, x: torch.Tensor, inter_state: Any = None,
             first_is_padding: torch.Tensor | None = None) -> tuple[torch.Tensor, Any]:
        """``forward`` that also takes and returns the inter-chunk RNN's state (``None``:
        zeros), so that a causal model can run a stream a few chunks at a time: the state
        after chunks ``0..s`` is where chunk ``s + 1`` starts (unidirectional RNN only).

        ``first_is_padding``: a 0-d bool tensor (a fixed-block streaming step); where true,
        the first chunk lies before the stream: its outputs are computed (and meaningless)
        but the inter-chunk state after it is ``inter_state`` again (given, not ``None``)."""
        batch, channels, chunk, n_chunks = x.shape
        # Intra-chunk: sequences of K frames, one per (example, chunk).
        intra = x.permute(0, 3, 2, 1).reshape(batch * n_chunks, chunk, channels)
        intra = self.intra_linear(self.dropout(self.intra_rnn(intra)[0]))
        intra = intra.reshape(batch, n_chunks, chunk, channels).permute(0, 3, 2, 1)
        x = x + self._norm4d(self.intra_norm, intra)
        # Inter-chunk: sequences of S chunks, one per (example, position in chunk).
        inter = x.permute(0, 2, 3, 1).reshape(batch * chunk, n_chunks, channels)
        if first_is_padding is not None:
            first, after_first = self.inter_rnn(inter[:, :1], inter_state)
            if isinstance(after_first, tuple):
                start = tuple(torch.where(first_is_padding, a, b) for a, b in zip(inter_state, after_first))
            else:
                start = torch.where(first_is_padding, inter_state, after_first)
            if n_chunks > 1:
                rest, inter_state = self.inter_rnn(inter[:, 1:], start)
                inter = torch.cat([first, rest], dim=1)
            else:
                inter, inter_state = first, start
        elif inter_state is None:
            inter, inter_state = self.inter_rnn(inter)
        else:
            inter, inter_state = self.inter_rnn(inter, inter_state)
        inter = self.inter_linear(self.dropout(inter))
        inter = inter.reshape(batch, chunk, n_chunks, channels).permute(0, 3, 1, 2)
        return x + self._norm4d(self.inter_norm, inter), inter_state


class DualPathMasker(ChunkedMasker):
    """Encoded mixture ``(B, N, frames)`` → masks ``(B, n_src, N, frames)`` with DPRNN blocks."""

    def __init__(
        self,
        n_src: int,
        n_filters: int,
        bottleneck: int,
        hidden: int,
        chunk_size: int,
        n_blocks: int,
        rnn_type: str,
        causal: bool,
        dropout: float,
        mask_activation: str,
        chunk_padding: str = "voxsep",
    ) -> None:
        super().__init__(n_src, chunk_size, chunk_padding)
        norm = "chLN" if causal else "gLN"
        self.input_norm = make_norm(norm, n_filters)
        self.bottleneck = nn.Conv1d(n_filters, bottleneck, 1)
        self.blocks = nn.Sequential(
            *(DualPathRNNBlock(bottleneck, hidden, rnn_type, not causal, norm, dropout) for _ in range(n_blocks))
        )
        self.to_sources = nn.Sequential(nn.PReLU(), nn.Conv2d(bottleneck, n_src * bottleneck, 1))
        self.output = GatedMaskOutput(bottleneck, n_filters, mask_activation)

    def forward(self, representation: torch.Tensor) -> torch.Tensor:
        features = self.per_source(self.bottleneck(self.input_norm(representation)))  # (B * n_src, bottleneck, frames)
        return self.output(features, self.n_src)


@register("dprnn")
class DPRNN(EncoderMaskerDecoder):
    """DPRNN-TasNet: learned filterbank + dual-path RNN mask estimator.

    Shapes: ``(batch, time)`` → ``(batch, n_src, time)``.

    Args:
        n_src: number of talkers.
        n_filters: N, encoder basis size.
        kernel_size: L, encoder filter length (stride L/2).
        bottleneck: feature size inside the dual-path blocks.
        hidden: RNN hidden units per direction.
        chunk_size: K, frames per chunk (even; hop K/2).
        n_blocks: number of dual-path blocks.
        rnn_type: "LSTM" (paper) or "GRU".
        causal: unidirectional inter-chunk RNNs and per-frame norms.
        dropout: dropout on RNN outputs.
        mask_activation: "sigmoid" (default), "relu", "softmax" or "linear".
        sample_rate: the rate the model works at.
        encoder_activation: "relu" or None.
        chunk_padding: "voxsep"; "asteroid" for weights imported from Asteroid (the
            chunking of its DPRNN masker; ``voxsep.nn.dual_path``). Non-causal only.
    """

    def __init__(
        self,
        n_src: int = 2,
        n_filters: int = 64,
        kernel_size: int = 2,
        bottleneck: int = 64,
        hidden: int = 128,
        chunk_size: int = 250,
        n_blocks: int = 6,
        rnn_type: str = "LSTM",
        causal: bool = False,
        dropout: float = 0.0,
        mask_activation: str = "sigmoid",
        sample_rate: int = 8000,
        encoder_activation: str | None = "relu",
        chunk_padding: str = "voxsep",
    ) -> None:
        super().__init__(n_src, n_filters, kernel_size, max(kernel_size // 2, 1), sample_rate, encoder_activation)
        if causal and chunk_padding != "voxsep":
            raise ValueError(f"chunk_padding={chunk_padding!r} is for non-causal models only (streaming "
                             "assumes the voxsep chunking)")
        self.causal = causal
        self.masker = DualPathMasker(
            n_src, n_filters, bottleneck, hidden, chunk_size, n_blocks, rnn_type, causal, dropout, mask_activation,
            chunk_padding,
        )
