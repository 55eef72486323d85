"""The TCN of :class:`~voxsep.nn.tcn_kernel.TCNKernel` with its element-wise work compiled for the CPU at hand.

Two forms, compiled by Numba (LLVM, for the CPU it runs on: AVX-512 where there is one)
the first time they are used and cached on disk (:mod:`voxsep.nn.tcn_compiled_loops`):

* :class:`CompiledStream` — a causal stream step. Streaming runs the masker on a few
  frames at a time (10 ms blocks of 8 kHz audio with Conv-TasNet's stride of 8 samples:
  10 frames), where the PyTorch form (:meth:`TCNKernel.stream`) spends most of its time
  between calls: ~40 small tensor operations per TCN block, each a few microseconds of
  dispatch on ~5000 values, and the library products (MKL/oneDNN) are built for large
  matrices, not for 10 rows. Here the **same arithmetic** (cumulative layer norms with the
  affines folded as :class:`TCNKernel` folds them; PReLU; the dilated depthwise convolution
  on a per-block history; residual and skip sums) is **one compiled call per block of
  audio**; its products keep the weights ``(out, in)`` row-major and compute up to eight
  frames against each weight row at once (then four, two, one), so the weights stream
  through the caches once per eight frames. fp32 throughout; the norms' running sums are
  float64.
* :class:`CompiledSequence` — a whole sequence with global norms (gLN) and bf16 products
  (the offline fast path): the products stay the library's (oneDNN, prepacked), and the
  element-wise work of each block runs in three compiled passes instead of ~14.

Whether they run is decided at run time (:func:`voxsep.nn.tcn_kernel.compiled_stream_available`,
:func:`~voxsep.nn.tcn_kernel.compiled_sequence_available`): Numba must import, compile, and reproduce the
PyTorch form on a small random TCN (streams: within 60 dB SNR; sequences: within 40 dB of
fp32, the fast paths' quality bound); ``VOXSEP_COMPILED_TCN=0`` turns both off.
:class:`TCNKernel` uses them where they apply; the ONNX step keeps the PyTorch form.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np
import torch

ENV_SWITCH = "VOXSEP_COMPILED_TCN"
CHUNK_FRAMES = 16  # frames per pass through the blocks; bounds the scratch and the histories' ring size
MIN_SNR_DB = 60.0


@functools.lru_cache(maxsize=1)
def _loops():
    """:mod:`voxsep.nn.tcn_compiled_loops` (compiled on first use); Numba is a dependency,
    imported here so that a broken install only disables the compiled forms."""
    from voxsep.nn import tcn_compiled_loops

    return tcn_compiled_loops


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
        self.block_out_features = blocks[0].out.out_features  # residual + skip
        skip_width = self.block_out_features - self.n_res
        self.use_skip = bool(kernel.use_skip)
        width = skip_width if self.use_skip else self.n_res
        self.has_input, self.has_output = kernel.input is not None, kernel.output is not None
        empty = np.zeros((1, 1), np.float32)
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
        self._chunk = _loops().chunk

    def initial_state(self) -> CompiledStreamState:
        return CompiledStreamState(np.zeros((self.n_norms, 2)), np.zeros((int(self.ring_size.sum()), self.hidden), np.float32))

    def run(self, x: np.ndarray, state: CompiledStreamState) -> np.ndarray:
        """``(k, in)`` float32 frames → ``(k, out)``; ``state`` updated in place."""
        frames = x.shape[0]
        out = np.empty((frames, self.out_features), np.float32)
        n = CHUNK_FRAMES
        scratch = (np.empty((n, self.n_res), np.float32), np.empty((n, self.hidden), np.float32),
                   np.empty((n, self.hidden), np.float32), np.empty((n, self.block_out_features), np.float32),
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


def _bits(t: torch.Tensor) -> np.ndarray:
    """A bf16 tensor's memory as uint16 bits (shared, not copied)."""
    return t.view(torch.int16).numpy().view(np.uint16)


class CompiledSequence:
    """:meth:`TCNKernel.sequence` of a gLN kernel with bf16 products, its element-wise work compiled.

    Per block, the library's bf16 products (oneDNN, prepacked weights) and three compiled
    passes: PReLU + the norm's sums over the product's bf16 output; the norm, the dilated
    depthwise convolution, the PReLU and the next norm's sums in one pass writing the bf16
    operand of the output product; the output product's scaling by the norm (its
    statistics are folded into a scale and bias, as :class:`TCNKernel` folds them) added to
    the residual stream and the skip sum. The PyTorch form makes ~14 passes over the
    ``(frames, H)`` activations per block. The input and output stages are the kernel's own.
    """

    def __init__(self, kernel) -> None:
        if kernel.causal or kernel.matmul_dtype != torch.bfloat16:
            raise ValueError("the compiled sequence runs gLN kernels with bf16 products")
        if any(part.packed is None for b in kernel.blocks for part in (b.in_conv, b.out)):
            raise ValueError("the compiled sequence needs oneDNN's packed bf16 products")
        hidden = kernel.hidden

        def slope(s) -> np.ndarray:
            return np.full(hidden, s, np.float32) if isinstance(s, float) else s.numpy().astype(np.float32)

        self.blocks = [
            (slope(b.in_slope), b.in_gain.numpy(), b.in_shift.numpy(),
             np.ascontiguousarray(np.stack([t.numpy() for t in b.taps]), dtype=np.float32),
             b.tap_bias.numpy(), slope(b.dw_slope), b.out.bias.numpy().astype(np.float64),
             b.out.column_sum.numpy().astype(np.float64))
            for b in kernel.blocks
        ]
        self.loops = _loops()

    def run(self, kernel, x: torch.Tensor) -> torch.Tensor:
        """``(frames, in)`` fp32 → ``(frames, out)``, as :meth:`TCNKernel.sequence`."""
        loops = self.loops
        x = kernel.input_stage(x)
        frames, hidden = x.shape[0], kernel.hidden
        n_res = kernel.blocks[0].n_res
        skip_width = kernel.blocks[0].out.out_features - n_res
        skip = torch.zeros(frames, skip_width)
        x_low = x.to(torch.bfloat16)
        z = torch.empty(frames, hidden, dtype=torch.bfloat16)
        wide = np.empty(max(hidden, n_res + skip_width), np.uint32)
        wide_f = wide.view(np.float32)
        acc = np.empty(hidden, np.float32)
        window = max(b.history for b in kernel.blocks) + 1
        normalised = np.empty((window + 1, hidden), np.float32)  # + a row of zeros
        x_np, x_bits, z_bits, skip_np = x.numpy(), _bits(x_low), _bits(z), skip.numpy()
        eps = float(kernel.eps)

        def mean_rstd(total: float, squares: float) -> tuple[float, float]:
            count = frames * hidden
            mean = total / count
            return mean, 1.0 / np.sqrt(max(squares / count - mean * mean, 0.0) + eps)

        for block, (in_slope, gain, shift, taps, tap_bias, dw_slope, bias, column_sum) in zip(kernel.blocks, self.blocks):
            y = torch.ops.mkldnn._linear_pointwise(x_low, block.in_conv.packed, block.in_conv.bias_low, "none", [], "")
            y_bits = _bits(y)
            mean, rstd = mean_rstd(*loops.prelu_moments_bf16(y_bits, in_slope, wide, wide_f))
            mean, rstd = mean_rstd(*loops.norm_depthwise_prelu_bf16(
                y_bits, np.float32(mean), np.float32(rstd), gain, shift, taps, tap_bias, block.dilation, block.left,
                dw_slope, z_bits, wide, wide_f, acc, normalised))
            product = torch.ops.mkldnn._linear_pointwise(z, block.out.packed, None, "none", [], "")
            folded_bias = (bias - (mean * rstd) * column_sum).astype(np.float32)
            loops.scale_residual_skip_bf16(_bits(product), np.float32(rstd), folded_bias, n_res, x_np, x_bits,
                                           skip_np, wide, wide_f)
        return kernel.output_stage(skip if kernel.use_skip else x)
