"""The causal TCN stream step of :class:`~voxsep.nn.tcn_kernel.TCNKernel`, compiled for the CPU at hand.

Streaming runs the masker on a few frames at a time (10 ms blocks of 8 kHz audio with
Conv-TasNet's stride of 8 samples: 10 frames). There the PyTorch form of the step
(:meth:`TCNKernel.stream`) spends most of its time between calls, not in arithmetic: ~40
small tensor operations per TCN block, ~100 per block of audio for the paper-size model,
each costing a few microseconds of dispatch on tensors of ~5000 values, and the 1×1
convolutions' library products (MKL/oneDNN) are built for large matrices, not for 10 rows.

This module runs the **same arithmetic** (cumulative layer norms with the affines folded
into the products as :class:`TCNKernel` folds them; PReLU; the dilated depthwise
convolution on a per-block history; residual and skip sums) as **one compiled call per
block of audio**, compiled by Numba (LLVM, for the CPU it runs on: AVX-512 where there is
one) the first time it is used and cached on disk. The products keep the weights
``(out, in)`` row-major and compute up to eight frames against each weight row at once (then
four, two, one), so the weights stream through the caches once per eight frames (10 frames of the paper-size
model: ~2 ms instead of ~3 ms for MKL on this kind of CPU). fp32 throughout; the running
sums of the norms are float64.

Whether it runs is decided at run time (:func:`compiled_stream_available`): Numba must
import, compile, and reproduce the PyTorch step on a small random TCN to within 60 dB SNR;
``VOXSEP_COMPILED_TCN=0`` turns it off. :class:`TCNKernel` uses it for the streams its
streaming engines start; whole sequences (many frames: the libraries' products are faster
there) and the ONNX step keep the PyTorch form.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass

import numpy as np
import torch

log = logging.getLogger(__name__)

ENV_SWITCH = "VOXSEP_COMPILED_TCN"
CHUNK_FRAMES = 16  # frames per pass through the blocks; bounds the scratch and the histories' ring size
MIN_SNR_DB = 60.0


@functools.lru_cache(maxsize=1)
def _compiled():
    """The compiled block loop (:func:`voxsep.nn.tcn_compiled_loops.chunk`); Numba is a
    dependency, imported here so that a broken install only disables this path."""
    from voxsep.nn import tcn_compiled_loops

    return tcn_compiled_loops.chunk


@dataclass
class CompiledStreamState:
    """State of one stream of :class:`CompiledStream`: ``running`` ``(n_norms, 2)`` float64
    sums per norm; ``ring`` the depthwise histories; ``frames`` seen."""

    running: np.ndarray
    ring: np.ndarray
    frames: int = 0


class CompiledStream:
    """One :class:`~voxsep.nn.tcn_kernel.TCNKernel`'s stream step as a compiled call.

    Built from the kernel's folded fp32 weights (copied to ``(out, in)`` row-major arrays);
    :meth:`run` gives what :meth:`TCNKernel.stream` gives for the same frames and state
    history (to float rounding).
    """

    def __init__(self, kernel) -> None:
        if not kernel.causal or kernel.matmul_dtype != torch.float32:
            raise ValueError("the compiled stream runs causal kernels with fp32 products")
        hidden = kernel.hidden

        def array(t) -> np.ndarray:
            return np.ascontiguousarray(t.detach().numpy(), dtype=np.float32)

        def slope(s, channels: int) -> np.ndarray:
            return np.full(channels, s, np.float32) if isinstance(s, float) else array(s)

        def rows(folded) -> np.ndarray:  # TCNKernel keeps fp32 weights (in, out)
            return np.ascontiguousarray(folded.weight.T.numpy(), dtype=np.float32)

        blocks = kernel.blocks
        per_block = [
            (rows(b.in_conv), array(b.in_conv.bias), slope(b.in_slope, hidden), array(b.in_gain), array(b.in_shift),
             np.stack([t.numpy() for t in b.taps]), array(b.tap_bias), slope(b.dw_slope, hidden), rows(b.out),
             array(b.out.bias))
            for b in blocks
        ]
        if any(a.shape != b.shape for row in per_block for a, b in zip(row, per_block[0])):
            raise ValueError("the compiled stream needs blocks of one size")
        self.blocks = tuple(np.ascontiguousarray(np.stack(parts), dtype=np.float32) for parts in zip(*per_block))
        self.dilation = np.array([b.dilation for b in blocks], np.int64)
        self.n_res = int(blocks[0].n_res)
        skip_width = blocks[0].out.out_features - self.n_res
        self.use_skip = bool(kernel.use_skip)
        width = skip_width if self.use_skip else self.n_res
        self.has_input, self.has_output = kernel.input is not None, kernel.output is not None
        empty = np.zeros((1, 1), np.float32)
        self.in_features = rows(kernel.input).shape[1] if self.has_input else self.n_res
        self.out_features = kernel.output.out_features if self.has_output else width
        self.weights = (
            rows(kernel.input) if self.has_input else empty,
            array(kernel.input.bias) if self.has_input else empty[0],
            slope(kernel.output_slope, width) if self.has_output else empty[0],
            rows(kernel.output) if self.has_output else empty,
            array(kernel.output.bias) if self.has_output else empty[0],
        )
        # a ring per block holding its history and a chunk: the next power of two
        sizes = [1 << int(np.ceil(np.log2(b.history + CHUNK_FRAMES))) for b in blocks]
        self.ring_size = np.array(sizes, np.int64)
        self.ring_start = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.hidden, self.n_norms, self.eps = hidden, kernel.n_norms, float(kernel.eps)
        self.skip_width = max(skip_width, 1)
        self._chunk = _compiled()

    def initial_state(self) -> CompiledStreamState:
        return CompiledStreamState(np.zeros((self.n_norms, 2)), np.zeros((int(self.ring_size.sum()), self.hidden), np.float32))

    def run(self, x: np.ndarray, state: CompiledStreamState) -> np.ndarray:
        """``(k, in)`` float32 frames → ``(k, out)``; ``state`` updated in place."""
        frames = x.shape[0]
        out = np.empty((frames, self.out_features), np.float32)
        n = CHUNK_FRAMES
        scratch = (np.empty((n, self.n_res), np.float32), np.empty((n, self.hidden), np.float32),
                   np.empty((n, self.hidden), np.float32), np.empty((n, self.blocks[8].shape[1]), np.float32),
                   np.empty((n, self.skip_width), np.float32), np.empty(n), np.empty(n))
        for begin in range(0, frames, n):
            k = min(n, frames - begin)
            piece = np.array(x[begin : begin + k], dtype=np.float32, order="C")  # normalised in place
            self._chunk(piece, k, state.frames, self.weights, self.blocks, self.dilation, self.has_input,
                        self.has_output, self.use_skip, self.n_res, self.eps, state.ring, self.ring_start,
                        self.ring_size, state.running, scratch, out[begin : begin + k])
            state.frames += k
        return out


def compiled_stream_enabled() -> bool:
    """Not switched off with ``VOXSEP_COMPILED_TCN=0`` (read at each call)."""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


@functools.lru_cache(maxsize=1)
def compiled_stream_available() -> bool:
    """Whether :class:`CompiledStream` runs here and agrees with the PyTorch step.

    Compiles (or loads Numba's cache) and streams a small random causal TCN in uneven
    blocks through both forms; any failure or an SNR below 60 dB makes it unavailable
    (logged), and the PyTorch form is used.
    """
    try:
        from voxsep.nn.tcn import TCN, TCNConfig
        from voxsep.nn.tcn_kernel import TCNKernel

        generator = torch.Generator().manual_seed(0)
        tcn = TCN(TCNConfig(bottleneck=12, hidden=20, skip=10, kernel_size=3, n_blocks=3, n_repeats=2, causal=True))
        with torch.no_grad():
            for p in tcn.parameters():
                p.copy_(torch.randn(p.shape, generator=generator) * 0.3 + (1.0 if p.dim() == 1 and p.numel() > 1 else 0.0))
        kernel = TCNKernel(tcn, compiled=False)
        x = torch.randn(40, 12, generator=generator)
        reference = kernel.stream(x, kernel.initial_state()).numpy()
        compiled = CompiledStream(kernel)
        state = compiled.initial_state()
        out = np.concatenate([compiled.run(x[a:b].numpy(), state) for a, b in ((0, 1), (1, 9), (9, 40))])
        error = float(((out - reference) ** 2).sum())
        snr = 10 * np.log10(float((reference**2).sum()) / max(error, 1e-30))
    except Exception as failure:  # Numba missing, a compile error, an unsupported CPU
        log.warning("compiled TCN stream unavailable (%s: %s); streaming uses the PyTorch step", type(failure).__name__, failure)
        return False
    if not snr >= MIN_SNR_DB:
        log.warning("compiled TCN stream disagrees with the PyTorch step (%.1f dB < %.0f dB); not used", snr, MIN_SNR_DB)
        return False
    return True
