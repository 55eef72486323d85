"""Learned analysis / synthesis filterbanks (TasNet encoder and decoder).

Luo & Mesgarani, "Conv-TasNet: Surpassing ideal time-frequency magnitude masking for
speech separation", IEEE/ACM TASLP 2019, §II-B: the encoder is a 1-D convolution with
N filters of length L and hop L/2 (optionally followed by a ReLU); the decoder is the
transposed convolution that overlap-adds N basis signals back into a waveform.
"""

from __future__ import annotations

import torch
from torch import nn


def frames_needed(length: int, kernel_size: int, stride: int) -> int:
    """Padded length >= ``length`` that the filterbank tiles exactly.

    A convolution with kernel L and hop S covers ``(frames - 1) * S + L`` samples; we pad
    the input to the smallest such length so the decoder returns every input sample.
    """
    if length <= kernel_size:
        return kernel_size
    frames = -(-(length - kernel_size) // stride) + 1
    return (frames - 1) * stride + kernel_size


class Encoder(nn.Module):
    """Waveform ``(batch, in_channels, time)`` → representation ``(batch, N, frames)``.

    Args:
        n_filters: N, number of basis filters.
        kernel_size: L, filter length in samples.
        stride: hop in samples (L // 2 in the papers).
        in_channels: input channels (1 for single-channel models).
        activation: ``"relu"`` (the papers' non-negative representation) or ``None``.
    """

    def __init__(
        self,
        n_filters: int,
        kernel_size: int,
        stride: int,
        in_channels: int = 1,
        activation: str | None = "relu",
    ) -> None:
        super().__init__()
        if activation not in ("relu", None):
            raise ValueError(f"encoder activation must be 'relu' or None, got {activation!r}")
        self.conv = nn.Conv1d(in_channels, n_filters, kernel_size, stride=stride, bias=False)
        self.activation = nn.ReLU() if activation == "relu" else nn.Identity()

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.activation(self.conv(waveform))


class Decoder(nn.Module):
    """Representation ``(batch, N, frames)`` → waveform ``(batch, out_channels, time)``.

    Overlap-add of learned basis signals (transposed convolution, no bias).
    """

    def __init__(self, n_filters: int, kernel_size: int, stride: int, out_channels: int = 1) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose1d(n_filters, out_channels, kernel_size, stride=stride, bias=False)

    def forward(self, representation: torch.Tensor) -> torch.Tensor:
        return self.conv(representation)
