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
        # var_mean in one pass; computed in fp32 so bf16 autocast stays accurate.
        var, mean = torch.var_mean(x.float(), dim=(1, 2), keepdim=True, correction=0)
        scale = self.weight * torch.rsqrt(var + self.eps.float())
        return (x * scale + (self.bias - mean * scale)).to(x.dtype)


class CumulativeLayerNorm(_AffineNorm):
    """cLN: normalise frame t with the statistics of frames 0..t (causal).

    Exports to ONNX with a dynamic time axis (``CumSum``).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        channels = x.shape[1]
        count = torch.arange(1, x.shape[-1] + 1, device=x.device, dtype=torch.float32) * channels
        cum_sum = xf.sum(1, keepdim=True).cumsum(-1)
        cum_pow = xf.pow(2).sum(1, keepdim=True).cumsum(-1)
        return self._normalise(x, cum_sum, cum_pow, count)

    def _normalise(self, x: torch.Tensor, cum_sum: torch.Tensor, cum_pow: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
        mean = cum_sum / count
        var = (cum_pow / count - mean.pow(2)).clamp_min(0.0)
        return ((x.float() - mean) * torch.rsqrt(var + self.eps.float()) * self.weight + self.bias).to(x.dtype)

    @staticmethod
    def initial_state(batch: int, device: torch.device | str | None = None) -> tuple[torch.Tensor, ...]:
        """State of :meth:`step` before the first frame: running sum, running sum of
        squares (each ``(batch, 1, 1)``) and the number of frames seen (``(1,)``), zeros."""
        zeros = torch.zeros(batch, 1, 1, device=device)
        return zeros, zeros.clone(), torch.zeros(1, device=device)

    def step(
        self, x: torch.Tensor, state: tuple[torch.Tensor, ...]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """Streaming form: normalise the next frames ``x`` ``(batch, channels, n)`` of a stream.

        ``state`` carries the statistics of the frames before ``x`` (:meth:`initial_state`
        at the start); returns the output and the new state. Feeding a sequence block by
        block gives ``forward`` of the whole sequence (up to float rounding).
        """
        sum_before, pow_before, frames_before = state
        xf = x.float()
        channels = x.shape[1]
        frames = frames_before + torch.arange(1, x.shape[-1] + 1, device=x.device, dtype=torch.float32)
        cum_sum = xf.sum(1, keepdim=True).cumsum(-1) + sum_before
        cum_pow = xf.pow(2).sum(1, keepdim=True).cumsum(-1) + pow_before
        y = self._normalise(x, cum_sum, cum_pow, frames * channels)
        return y, (cum_sum[..., -1:], cum_pow[..., -1:], frames[-1:])


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
