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
        self.dw_act = nn.PReLU()
        self.dw_norm = make_norm(norm, hidden)
        self.residual = nn.Conv1d(hidden, bottleneck, 1)
        self.skip = nn.Conv1d(hidden, skip, 1) if skip else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        y = self.in_norm(self.in_act(self.in_conv(x)))
        y = self.dw_norm(self.dw_act(self.depthwise(F.pad(y, self.pad))))
        return self.residual(y), (self.skip(y) if self.skip is not None else None)


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
