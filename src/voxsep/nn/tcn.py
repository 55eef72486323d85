"""Temporal convolutional network (TCN) of Conv-TasNet.

Luo & Mesgarani, TASLP 2019, §II-C and Fig. 1(c): stacks of 1-D convolutional blocks
with exponentially growing dilation. Each block: 1×1 conv (B→H) → PReLU → norm →
depthwise conv (kernel P, dilation d) → PReLU → norm → two 1×1 convs giving the residual
(H→B) and skip-connection (H→Sc) outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
import torch.nn.functional as F

from voxsep.nn.norms import make_norm


@dataclass(frozen=True)
class TCNConfig:
    """The sizes of a TCN (Table I of the paper), built once by a model and passed down.

    Args:
        bottleneck: B, channels of the residual path.
        hidden: H, channels inside each block.
        skip: Sc, channels of the skip outputs (0: no skip path; the residual stream is
            the output).
        kernel_size: P, depthwise kernel.
        n_blocks: X, blocks per repeat (dilations 1..2^(X-1)).
        n_repeats: R.
        causal: cLN and left-only padding (frame t never sees frames > t); gLN otherwise.
    """

    bottleneck: int
    hidden: int
    skip: int
    kernel_size: int
    n_blocks: int
    n_repeats: int
    causal: bool = False

    @property
    def norm(self) -> str:
        return "cLN" if self.causal else "gLN"

    @property
    def out_channels(self) -> int:
        """Channels of the TCN's output: Sc, or B without a skip path."""
        return self.skip or self.bottleneck


def shifted_depthwise_conv1d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                             dilation: int) -> torch.Tensor:
    """Depthwise 1-D convolution as P shifted multiply-adds (no padding; "valid" output).

    The same result as ``F.conv1d(x, weight, bias, dilation=dilation, groups=channels)``,
    written as ``sum_k weight[:, 0, k] * x[..., k*d : k*d + T_out]``. Under
    ``torch.compile`` this becomes one fused elementwise kernel forward and backward;
    oneDNN's grouped convolution backward took ~10 ms per call for a (4, 256, 2000)
    input on the 2-core CPU against ~3 ms compiled this way (benchmarks/bench_training.py),
    and it dominated the compiled training step. Eager PyTorch is faster with the
    convolution, so :class:`TemporalBlock` uses this form only while compiling.

    Args:
        x: ``(batch, channels, time)``, already padded.
        weight: ``(channels, 1, P)``.
        bias: ``(channels,)`` or ``None``.
        dilation: d.

    Returns:
        ``(batch, channels, time - (P - 1) * d)``.
    """
    taps = weight.shape[-1]
    frames = x.shape[-1] - (taps - 1) * dilation
    y = x[..., :frames] * weight[:, 0, 0, None]
    for k in range(1, taps):
        y = y + x[..., k * dilation: k * dilation + frames] * weight[:, 0, k, None]
    return y if bias is None else y + bias[:, None]


class TemporalBlock(nn.Module):
    """One TCN block on ``(batch, B, frames)``; returns ``(residual, skip)``.

    Args:
        config: the TCN's sizes (B, H, Sc, P; norm and padding from ``causal``).
        dilation: d.
    """

    def __init__(self, config: TCNConfig, dilation: int) -> None:
        super().__init__()
        hidden, norm = config.hidden, config.norm
        total_pad = (config.kernel_size - 1) * dilation
        self.pad = (total_pad, 0) if config.causal else (total_pad // 2, total_pad - total_pad // 2)
        self.in_conv = nn.Conv1d(config.bottleneck, hidden, 1)
        self.in_act = nn.PReLU()
        self.in_norm = make_norm(norm, hidden)
        self.depthwise = nn.Conv1d(hidden, hidden, config.kernel_size, dilation=dilation, groups=hidden)
        self.dilation = dilation
        self.dw_act = nn.PReLU()
        self.dw_norm = make_norm(norm, hidden)
        self.residual = nn.Conv1d(hidden, config.bottleneck, 1)
        self.skip = nn.Conv1d(hidden, config.skip, 1) if config.skip else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        y = self.in_norm(self.in_act(self.in_conv(x)))
        y = F.pad(y, self.pad)
        if torch.compiler.is_compiling():
            y = shifted_depthwise_conv1d(y, self.depthwise.weight, self.depthwise.bias, self.dilation)
        else:
            y = self.depthwise(y)
        y = self.dw_norm(self.dw_act(y))
        return self.residual(y), (self.skip(y) if self.skip is not None else None)

    @property
    def history(self) -> int:
        """Frames of the depthwise convolution's input before an output frame: (P - 1) * d
        (the frames a causal stream keeps; inference runs on :mod:`voxsep.nn.tcn_kernel`)."""
        return self.pad[0] + self.pad[1]


class TCN(nn.Module):
    """R repeats of X dilated blocks (dilations 1, 2, …, 2^(X-1)) on ``(batch, B, frames)``.

    Returns the sum of the skip outputs ``(batch, Sc, frames)``, or the final residual
    stream ``(batch, B, frames)`` when ``skip == 0``. ``config``: the sizes (:class:`TCNConfig`).
    """

    def __init__(self, config: TCNConfig) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            TemporalBlock(config, 2**x) for _ in range(config.n_repeats) for x in range(config.n_blocks)
        )
        self.use_skip = bool(config.skip)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip_sum = None
        for block in self.blocks:
            residual, skip = block(x)
            x = x + residual
            if skip is not None:
                skip_sum = skip if skip_sum is None else skip_sum + skip
        return skip_sum if self.use_skip else x
