"""Temporal convolutional network (TCN) of Conv-TasNet.

Luo & Mesgarani, TASLP 2019, §II-C and Fig. 1(c): stacks of 1-D convolutional blocks
with exponentially growing dilation. Each block: 1×1 conv (B→H) → PReLU → norm →
depthwise conv (kernel P, dilation d) → PReLU → norm → two 1×1 convs giving the residual
(H→B) and skip-connection (H→Sc) outputs.
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from voxsep.nn.norms import make_norm


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
        bottleneck: B, channels of the residual path.
        hidden: H, channels inside the block.
        skip: Sc, channels of the skip output (0: no skip output).
        kernel_size: P, depthwise kernel.
        dilation: d.
        norm: "gLN" (non-causal) or "cLN" (causal).
        causal: pad only on the left so frame t never sees frames > t.
    """

    def __init__(
        self,
        bottleneck: int,
        hidden: int,
        skip: int,
        kernel_size: int,
        dilation: int,
        norm: str,
        causal: bool,
    ) -> None:
        super().__init__()
        total_pad = (kernel_size - 1) * dilation
        self.pad = (total_pad, 0) if causal else (total_pad // 2, total_pad - total_pad // 2)
        self.in_conv = nn.Conv1d(bottleneck, hidden, 1)
        self.in_act = nn.PReLU()
        self.in_norm = make_norm(norm, hidden)
        self.depthwise = nn.Conv1d(hidden, hidden, kernel_size, dilation=dilation, groups=hidden)
        self.dilation = dilation
        self.dw_act = nn.PReLU()
        self.dw_norm = make_norm(norm, hidden)
        self.residual = nn.Conv1d(hidden, bottleneck, 1)
        self.skip = nn.Conv1d(hidden, skip, 1) if skip else None

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

    def initial_state(self, batch: int, device: torch.device | str | None = None) -> tuple[torch.Tensor, ...]:
        """State of :meth:`step` at the start of a stream (the causal zero padding, empty statistics)."""
        if self.pad[1] != 0 or not hasattr(self.in_norm, "step"):
            raise ValueError("only a causal TemporalBlock (causal=True, cLN) can run as a stream")
        history = torch.zeros(batch, self.depthwise.in_channels, self.history, device=device)
        return (*self.in_norm.initial_state(batch, device), history, *self.dw_norm.initial_state(batch, device))

    def step(
        self, x: torch.Tensor, state: tuple[torch.Tensor, ...]
    ) -> tuple[torch.Tensor, torch.Tensor | None, tuple[torch.Tensor, ...]]:
        """Streaming form of ``forward`` for a causal block: the next frames ``x`` ``(batch, B, n)``.

        ``state`` (from :meth:`initial_state`, then from the previous call) holds the
        cumulative-norm statistics and the last ``(P - 1) * d`` frames of the depthwise
        convolution's input (a shift buffer: the frames it needs from before ``x``, in
        place of the zero padding). Returns ``(residual, skip, new_state)``; the cost is
        that of ``n + (P - 1) * d`` frames whatever the length of the stream so far.
        """
        in_state, history, dw_state = state[:3], state[3], state[4:]
        y, in_state = self.in_norm.step(self.in_act(self.in_conv(x)), in_state)
        y = torch.cat([history, y], dim=-1)
        history = y[..., y.shape[-1] - self.history :]
        y, dw_state = self.dw_norm.step(self.dw_act(self.depthwise(y)), dw_state)
        skip = self.skip(y) if self.skip is not None else None
        return self.residual(y), skip, (*in_state, history, *dw_state)


class TCN(nn.Module):
    """R repeats of X dilated blocks (dilations 1, 2, …, 2^(X-1)) on ``(batch, B, frames)``.

    Returns the sum of the skip outputs ``(batch, Sc, frames)``, or the final residual
    stream ``(batch, B, frames)`` when ``skip == 0``.
    """

    def __init__(
        self,
        bottleneck: int,
        hidden: int,
        skip: int,
        kernel_size: int,
        n_blocks: int,
        n_repeats: int,
        norm: str,
        causal: bool,
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            TemporalBlock(bottleneck, hidden, skip, kernel_size, 2**x, norm, causal)
            for _ in range(n_repeats)
            for x in range(n_blocks)
        )
        self.use_skip = bool(skip)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip_sum = None
        for block in self.blocks:
            residual, skip = block(x)
            x = x + residual
            if skip is not None:
                skip_sum = skip if skip_sum is None else skip_sum + skip
        return skip_sum if self.use_skip else x

    def initial_state(self, batch: int, device: torch.device | str | None = None) -> list[tuple[torch.Tensor, ...]]:
        """Per-block states of :meth:`step` at the start of a stream (causal TCN only)."""
        return [block.initial_state(batch, device) for block in self.blocks]

    def step(
        self, x: torch.Tensor, state: list[tuple[torch.Tensor, ...]]
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, ...]]]:
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
