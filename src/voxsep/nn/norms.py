"""Normalisation layers of the TasNet family, on ``(batch, channels, time)`` tensors.

* gLN — global layer norm: statistics over channels *and* time (Conv-TasNet §III-B,
  non-causal models).
* cLN — cumulative layer norm: statistics over channels and frames ``0..t`` only, so the
  output at ``t`` never sees the future (Conv-TasNet, causal models).
* chLN — channel-wise layer norm: statistics over channels per frame (DPRNN's causal
  inter-chunk path, and anywhere a per-frame norm is wanted).
"""

from __future__ import annotations

import torch
from torch import nn

EPS = 1e-8


def onnx_safe_eps(value: float = EPS) -> torch.Tensor:
    """``value`` as a one-element tensor, for a non-persistent buffer.

    The ONNX exporter's graph optimiser (onnxscript 0.7) treats adding a *scalar*
    constant within 1e-8 of zero as adding zero and deletes it, so ``x + 1e-8`` exports
    as ``x`` and a silent frame turns into ``rsqrt(0) = inf``. A shape-``(1,)`` tensor
    is not matched by that rule; the arithmetic is the same.
    """
    return torch.full((1,), value)


def global_mean_rstd(x: torch.Tensor, dims: tuple[int, ...], eps: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
    """gLN's statistics: mean and ``1 / sqrt(var + eps)`` of ``x`` over ``dims`` (kept), in fp32."""
    var, mean = torch.var_mean(x.float(), dim=dims, keepdim=True, correction=0)  # one pass
    return mean, torch.rsqrt(var + eps)


def cumulative_mean_rstd(
    running: torch.Tensor, count: torch.Tensor, eps: torch.Tensor | float, count_is_inverse: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """cLN's statistics from running sums: mean and ``1 / sqrt(var + eps)`` up to each frame.

    Args:
        running: ``(..., frames, 2)``: the sum and the sum of squares of the values of
            frames ``0..t`` (all channels).
        count: ``(frames, 1)``: how many values those sums hold (``(t + 1) * channels``),
            or its reciprocal when ``count_is_inverse``.
        eps: added to the variance.

    Returns:
        ``mean`` and ``rstd``, each ``(..., frames, 1)``.
    """
    moments = running * count if count_is_inverse else running / count
    mean = moments[..., 0:1]
    var = (moments[..., 1:2] - mean.pow(2)).clamp_min(0.0)
    return mean, torch.rsqrt(var + eps)


def frame_moments(x: torch.Tensor) -> torch.Tensor:
    """``(batch, channels, frames)`` → ``(batch, frames, 2)``: each frame's sum and sum of squares, fp32."""
    xf = x.float()
    return torch.stack([xf.sum(1), xf.pow(2).sum(1)], dim=-1)


class _AffineNorm(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, channels, 1))
        self.bias = nn.Parameter(torch.zeros(1, channels, 1))
        # EPS as a (non-persistent) tensor so that ONNX exports keep it (onnx_safe_eps)
        self.register_buffer("eps", onnx_safe_eps(), persistent=False)


class GlobalLayerNorm(_AffineNorm):
    """gLN: normalise each example over all channels and frames."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # computed in fp32 so bf16 autocast stays accurate
        mean, rstd = global_mean_rstd(x, (1, 2), self.eps.float())
        scale = self.weight * rstd
        return (x * scale + (self.bias - mean * scale)).to(x.dtype)


class CumulativeLayerNorm(_AffineNorm):
    """cLN: normalise frame t with the statistics of frames 0..t (causal).

    Exports to ONNX with a dynamic time axis (``CumSum``).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.step(x, None)
        return y

    @staticmethod
    def initial_state(batch: int, device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """State of :meth:`step` before the first frame: the running sum and sum of squares
        ``(batch, 1, 2)`` and the number of frames seen ``(1,)``, zeros."""
        return torch.zeros(batch, 1, 2, device=device), torch.zeros(1, device=device)

    def step(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Streaming form: normalise the next frames ``x`` ``(batch, channels, n)`` of a stream.

        ``state`` carries the statistics of the frames before ``x`` (:meth:`initial_state`,
        or ``None`` at the start); returns the output and the new state. Feeding a
        sequence block by block gives ``forward`` of the whole sequence (up to float rounding).
        """
        running = frame_moments(x).cumsum(1)  # (batch, n, 2)
        frames = torch.arange(1, x.shape[-1] + 1, device=x.device, dtype=torch.float32)
        if state is not None:
            running = running + state[0]
            frames = frames + state[1]
        mean, rstd = cumulative_mean_rstd(running, frames[:, None] * x.shape[1], self.eps.float())
        y = (x.float() - mean.transpose(1, 2)) * rstd.transpose(1, 2) * self.weight + self.bias
        return y.to(x.dtype), (running[:, -1:], frames[-1:])


class ChannelLayerNorm(_AffineNorm):
    """chLN: normalise each frame over its channels (causal)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var, mean = torch.var_mean(x.float(), dim=1, keepdim=True, correction=0)
        return ((x - mean) * torch.rsqrt(var + self.eps.float()) * self.weight + self.bias).to(x.dtype)


NORMS = {"gLN": GlobalLayerNorm, "cLN": CumulativeLayerNorm, "chLN": ChannelLayerNorm}


def make_norm(kind: str, channels: int) -> nn.Module:
    """Build a norm by name: ``"gLN"``, ``"cLN"`` or ``"chLN"``."""
    if kind not in NORMS:
        raise ValueError(f"unknown norm {kind!r}; choose one of {sorted(NORMS)}")
    return NORMS[kind](channels)
