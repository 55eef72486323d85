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


def pointwise_conv1d(x: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """A 1×1 ``conv`` applied to ``x`` ``(batch, in, frames)`` as one matrix product.

    The same numbers as ``conv(x)``; for the few frames of a streaming block PyTorch's
    convolution path (im2col) costs ~70 µs per call on one CPU core where the product
    costs a few µs, and the TCN has three such convolutions per block.
    """
    y = torch.matmul(conv.weight[:, :, 0], x)
    return y if conv.bias is None else y + conv.bias[:, None]


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

    # ------------------------------------------------------------------ streaming
    @property
    def history(self) -> int:
        """Frames of the depthwise convolution's input a causal stream must keep: (P - 1) * d."""
        return self.pad[0] + self.pad[1]

    def initial_state(self, batch: int, device: torch.device | str | None = None) -> list:
        """State of :meth:`step` at the start of a stream: the two cumulative norms'
        statistics and the depthwise convolution's input history (the causal zero padding)."""
        if self.pad[1] != 0 or not hasattr(self.in_norm, "step"):
            raise ValueError("only a causal TemporalBlock (causal=True, cLN) can run as a stream")
        capacity = self.history + max(self.history, 64)
        buffer = torch.zeros(batch, self.depthwise.in_channels, capacity, device=device)
        return [self.in_norm.initial_state(batch, device), buffer, self.history, self.dw_norm.initial_state(batch, device)]

    def step(self, x: torch.Tensor, state: list) -> tuple[torch.Tensor, torch.Tensor | None, list]:
        """Streaming form of ``forward`` for a causal block: the next frames ``x`` ``(batch, B, n)``.

        ``state`` (from :meth:`initial_state`, then from the previous call) holds the
        cumulative-norm statistics and the depthwise convolution's input history: a
        preallocated buffer written in place, whose last ``(P - 1) * d`` frames before the
        write position are the frames the convolution needs from before ``x`` (in place
        of the zero padding); when it is full those frames move to its front. Only the
        ``n`` new outputs are computed (P shifted multiply-adds), so a block costs O(n)
        whatever the length of the stream. Returns ``(residual, skip, new_state)``.
        """
        in_state, buffer, position, dw_state = state
        y, in_state = self.in_norm.step(self.in_act(pointwise_conv1d(x, self.in_conv)), in_state)
        n = y.shape[-1]
        if position + n > buffer.shape[-1]:  # full: keep the history at the front (grow if needed)
            capacity = max(buffer.shape[-1], self.history + n)
            moved = buffer.new_zeros(buffer.shape[0], buffer.shape[1], capacity)
            moved[..., : self.history] = buffer[..., position - self.history : position]
            buffer, position = moved, self.history
        buffer[..., position : position + n] = y
        window = buffer[..., position - self.history : position + n]
        y = shifted_depthwise_conv1d(window, self.depthwise.weight, self.depthwise.bias, self.dilation)
        y, dw_state = self.dw_norm.step(self.dw_act(y), dw_state)
        skip = pointwise_conv1d(y, self.skip) if self.skip is not None else None
        return pointwise_conv1d(y, self.residual), skip, [in_state, buffer, position + n, dw_state]


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

    @torch.no_grad()
    def silence_blocks(self, start: int) -> None:
        """Zero the residual and skip outputs of ``blocks[start:]`` so that they add nothing.

        The TCN then computes what its first ``start`` blocks compute: a model grown from
        a shallower trained one starts from that model's function (Net2DeeperNet: Chen,
        Goodfellow & Shlens, ICLR 2016, §2.3). Gradients still reach the zeroed layers (their
        inputs are not zero), so the new blocks start learning at the first step.
        """
        if not 0 <= start <= len(self.blocks):
            raise ValueError(f"start must be in 0..{len(self.blocks)}, got {start}")
        for block in self.blocks[start:]:
            for layer in (block.residual, block.skip):
                if layer is not None:
                    layer.weight.zero_()
                    layer.bias.zero_()

    def initial_state(self, batch: int, device: torch.device | str | None = None) -> list[list]:
        """Per-block states of :meth:`step` at the start of a stream (causal TCN only)."""
        return [block.initial_state(batch, device) for block in self.blocks]

    def step(
        self, x: torch.Tensor, state: list[list]
    ) -> tuple[torch.Tensor, list[list]]:
        """Streaming form of ``forward`` (causal TCN): the next frames ``x`` and the state of
        the frames before them → ``(output, new_state)``; block by block equals ``forward``."""
        skip_sum = None
        new_state = []
        for block, block_state in zip(self.blocks, state):
            residual, skip, block_state = block.step(x, block_state)
            new_state.append(block_state)
            x = x + residual
            if skip is not None:
                skip_sum = skip if skip_sum is None else skip_sum + skip
        return (skip_sum if self.use_skip else x), new_state
