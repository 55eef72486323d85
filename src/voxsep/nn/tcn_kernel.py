"""The inference kernel of the TCN masker: one per-block step for every path that does not train.

:class:`TCNKernel` holds a TCN's weights with the norm affines folded in and runs the
same arithmetic as :class:`voxsep.nn.tcn.TCN` (with, optionally, the masker's input norm
+ bottleneck before it and its PReLU + mask convolution after it) in three forms:

* :meth:`TCNKernel.sequence` — a whole sequence (gLN or cLN): the offline fast path;
* :meth:`TCNKernel.stream` — the next frames of a causal (cLN) stream, state updated in
  place (preallocated depthwise histories, running norm statistics): the streaming
  engines;
* :meth:`TCNKernel.step` — the same, as a pure function of explicit state tensors, with
  optionally masked frames: the fixed-block ONNX streaming step.

All three go through the one block loop (:meth:`TCNKernel._run`); they differ only in
where the norm statistics come from and where the depthwise convolution's input is kept.
Where their run-time checks pass, :mod:`voxsep.nn.tcn_compiled` runs the same arithmetic
compiled: streams of a causal kernel with fp32 products as one call per block of frames
(on a few frames the PyTorch form is dominated by the dispatch of ~40 operations per TCN
block), and whole gLN sequences with bf16 products with the element-wise work of a block
in three passes.
Activations are **frames-major** ``(frames, channels)``: every 1×1 convolution is one
``x @ W`` product (with ~10 frames a ``(k, I) @ (I, O)`` product ran 3-4x faster on one
core than ``(O, I) @ (I, k)``), and the depthwise taps are multiply-adds on contiguous row
slices.

Folding (``g``, ``c``: a norm's gain and shift; ``m``, ``r``: its mean and 1/std):

* a norm before a 1×1 convolution ``W``: ``W(g ⊙ (y - m) r + c) + b = (W diag g)((y - m) r)
  + (W c + b)``; with global statistics (gLN) ``m`` and ``r`` are scalars and go into the
  product's ``alpha`` and bias, so the normalised activation is never written;
* the norm before the depthwise convolution is written once into its history
  (``g ⊙ (y - m) r + c``, one ``addcmul`` for gLN).

Statistics: :func:`voxsep.nn.norms.cumulative_mean_rstd`, the function the cumulative
norm module uses (a global norm's statistics are the cumulative ones at the last frame).

Products run with fp32 operands, or bf16 operands and fp32 accumulation
(``matmul_dtype=torch.bfloat16``): the caller decides, against a quality bound, whether
the CPU at hand gains from it (``voxsep.inference.fast``).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from voxsep.nn.norms import CumulativeLayerNorm, GlobalLayerNorm, cumulative_mean_rstd
from voxsep.nn.tcn import TCN, TCNConfig
from voxsep.nn.tcn_compiled import MIN_SNR_DB, CompiledSequence, CompiledStream, CompiledStreamState, compiled_stream_enabled

log = logging.getLogger(__name__)


def _row(t: torch.Tensor) -> torch.Tensor:
    return t.detach().reshape(-1).clone()


def _prelu_(y: torch.Tensor, slope: torch.Tensor | float) -> torch.Tensor:
    """PReLU of ``y`` ``(frames, C)`` in place: one shared slope (a float) as ``leaky_relu_``
    (~5x faster than ``F.prelu`` on long inputs), per-channel slopes ``(C,)`` as a select."""
    if isinstance(slope, float):
        return F.leaky_relu_(y, slope)
    return torch.where(y >= 0, y, y * slope, out=y)


def _frame_moments(y: torch.Tensor) -> torch.Tensor:
    """``(frames, C)`` → ``(frames, 2)``: each frame's sum and sum of squares (two calls)."""
    return torch.stack([y.sum(1), torch.linalg.vecdot(y, y)], 1)


def _slope(prelu: nn.PReLU) -> torch.Tensor | float:
    return float(prelu.weight) if prelu.weight.numel() == 1 else _row(prelu.weight)


@functools.lru_cache(maxsize=1)
def packed_bf16_linear_available() -> bool:
    """Whether this PyTorch build runs oneDNN's bf16 linear on prepacked weights correctly.

    ``torch.ops.mkldnn._reorder_linear_weight`` / ``_linear_pointwise`` (the ops
    ``torch.compile`` freezing uses on CPUs) are checked here on a small product, at run
    time, against an fp32 product of the same bf16 operands. Whether bf16 pays off on the
    CPU at hand is the caller's question (``voxsep.inference.fast``).
    """
    try:
        if not torch.backends.mkldnn.is_available():
            return False
        generator = torch.Generator().manual_seed(0)
        weight = torch.randn(48, 40, generator=generator).bfloat16()
        x = torch.randn(5, 40, generator=generator).bfloat16()
        bias = torch.randn(48, generator=generator).bfloat16()
        packed = torch.ops.mkldnn._reorder_linear_weight(weight, 10)
        out = torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "").float()
        reference = F.linear(x.float(), weight.float(), bias.float())
        return out.shape == reference.shape and bool(((out - reference).norm() <= 0.01 * reference.norm()))
    except (AttributeError, RuntimeError):
        return False


@dataclass
class _Folded:
    """A norm → 1×1 convolution pair with the norm's affine folded into the convolution.

    fp32: ``weight`` ``(I, O)`` contiguous (``x @ weight``: ~20% faster than a transposed
    view for a few frames). bf16: ``weight`` ``(O, I)`` and, where oneDNN runs it,
    ``packed``, the same weight in oneDNN's blocked layout (a third faster for a few frames).
    """

    weight: torch.Tensor
    bias: torch.Tensor  # (O,) fp32
    column_sum: torch.Tensor  # (O,) the sum of each output's weights: the mean's share under global statistics
    packed: torch.Tensor | None = None
    bias_low: torch.Tensor | None = None  # bias in the product's dtype

    @classmethod
    def of(cls, norm: nn.Module | None, conv: nn.Conv1d | list[nn.Conv1d], dtype: torch.dtype) -> "_Folded":
        convs = conv if isinstance(conv, list) else [conv]
        weight = torch.cat([c.weight[:, :, 0] for c in convs]).detach().float()  # (O, I)
        bias = torch.cat([c.bias for c in convs]).detach().float()
        if norm is not None:
            bias = bias + weight @ _row(norm.bias)
            weight = weight * _row(norm.weight)
        if dtype == torch.float32:
            return cls(weight.T.contiguous(), bias, weight.sum(1))
        low = weight.to(dtype).contiguous()
        packed = torch.ops.mkldnn._reorder_linear_weight(low, 16) if packed_bf16_linear_available() else None
        return cls(low, bias, weight.sum(1), packed, bias.to(dtype))

    @property
    def out_features(self) -> int:
        return self.bias.shape[0]


@dataclass
class _Block:
    """One TemporalBlock's folded weights."""

    in_conv: _Folded  # no norm before it
    in_slope: torch.Tensor | float
    in_gain: torch.Tensor  # (H,) the norm before the depthwise convolution
    in_shift: torch.Tensor
    taps: list[torch.Tensor]  # P rows (H,)
    tap_bias: torch.Tensor  # (H,)
    dilation: int
    history: int  # (P - 1) * d frames before the output frame
    left: int  # frames of zero padding on the left (history when causal)
    dw_slope: torch.Tensor | float
    out: _Folded  # dw norm folded into [residual; skip]
    n_res: int


class _Workspace:
    """Named buffers reused across the blocks of one call (allocated on first use)."""

    def __init__(self) -> None:
        self.buffers: dict[str, torch.Tensor] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        buffer = self.buffers.get(name)
        if buffer is None or buffer.shape != shape or buffer.dtype != dtype:
            buffer = self.buffers[name] = torch.empty(shape, dtype=dtype)
        return buffer


@dataclass
class StreamState:
    """State of :meth:`TCNKernel.stream` for one stream (updated in place).

    ``stats[j]`` ``(1, 2)``: running sum and sum of squares of cumulative norm ``j``;
    ``frames``: frames seen; ``buffers[i]`` ``(capacity, H)`` block ``i``'s depthwise input,
    of which rows ``positions[i] - history_i .. positions[i]`` are the history.
    """

    stats: list[torch.Tensor]
    frames: int
    buffers: list[torch.Tensor] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    compiled: CompiledStreamState | None = None  # the state when the compiled step runs this stream


class TCNKernel:
    """Inference kernel of a TCN (see the module docstring), sharing nothing mutable with it.

    Args:
        tcn: the :class:`~voxsep.nn.tcn.TCN`.
        input_norm, input_conv: a norm and 1×1 convolution run before the TCN (a masker's
            input norm and bottleneck), or ``None``.
        output_act, output_conv: a PReLU and 1×1 convolution run after it (a masker's
            output), or ``None``: the output is then the TCN's.
        matmul_dtype: operand dtype of the 1×1 convolutions, ``torch.float32`` or
            ``torch.bfloat16`` (fp32 accumulation; everything else fp32).
        compiled: run through :mod:`voxsep.nn.tcn_compiled` (streams of causal kernels with
            fp32 products; sequences of gLN kernels with bf16 products); ``None``: where it
            applies, is enabled and passed its run-time check.

    The weights are copied (folded) when the kernel is built: build a new kernel after
    changing the module's parameters.
    """

    def __init__(
        self,
        tcn: TCN,
        input_norm: nn.Module | None = None,
        input_conv: nn.Conv1d | None = None,
        output_act: nn.PReLU | None = None,
        output_conv: nn.Conv1d | None = None,
        matmul_dtype: torch.dtype = torch.float32,
        compiled: bool | None = None,
    ) -> None:
        if matmul_dtype not in (torch.float32, torch.bfloat16):
            raise ValueError(f"matmul_dtype must be torch.float32 or torch.bfloat16, got {matmul_dtype}")
        if (input_norm is None) != (input_conv is None) or (output_act is None) != (output_conv is None):
            raise ValueError("give the input norm with its convolution, and the output PReLU with its convolution")
        self.matmul_dtype = matmul_dtype
        norms = [n for b in tcn.blocks for n in (b.in_norm, b.dw_norm)] + ([input_norm] if input_norm is not None else [])
        if all(isinstance(n, CumulativeLayerNorm) for n in norms):
            self.causal = True
        elif all(isinstance(n, GlobalLayerNorm) for n in norms):
            self.causal = False
        else:
            raise ValueError("the kernel runs TCNs whose norms are all cLN (causal) or all gLN")
        # the norms' epsilon as a (1,) tensor, as they keep it: an ONNX export keeps it (onnx_safe_eps)
        self.eps = tcn.blocks[0].in_norm.eps.detach().float().clone()
        with torch.no_grad():
            self.input = _Folded.of(input_norm, input_conv, matmul_dtype) if input_conv is not None else None
            self.blocks = [self._fold(b, matmul_dtype) for b in tcn.blocks]
            if output_conv is not None:
                self.output_slope = _slope(output_act)
                self.output = _Folded.of(None, output_conv, matmul_dtype)
            else:
                self.output = None
        self.use_skip = tcn.use_skip
        self.hidden = self.blocks[0].taps[0].shape[0]
        # norms in order: [input], then per block (in, dw)
        self.n_norms = 2 * len(self.blocks) + (1 if self.input is not None else 0)
        self._compiled = compiled  # built on first use: a kernel used only for step() or a check builds neither

    @functools.cached_property
    def compiled_stream(self) -> CompiledStream | None:
        """The compiled form that runs this kernel's streams, or ``None``."""
        if self._compiled is False or not self.causal or self.matmul_dtype != torch.float32:
            return None
        if self._compiled is None and not (compiled_stream_enabled() and compiled_stream_available()):
            return None
        return CompiledStream(self)

    @functools.cached_property
    def compiled_sequence(self) -> CompiledSequence | None:
        """The compiled form that runs this kernel's whole sequences, or ``None``."""
        if self._compiled is False or self.causal or self.matmul_dtype != torch.bfloat16 \
                or self.blocks[0].out.packed is None:
            return None
        if self._compiled is None and not (compiled_stream_enabled() and compiled_sequence_available()):
            return None
        return CompiledSequence(self)

    @staticmethod
    def _fold(block: nn.Module, dtype: torch.dtype) -> _Block:
        history = block.history
        return _Block(
            in_conv=_Folded.of(None, block.in_conv, dtype),
            in_slope=_slope(block.in_act),
            in_gain=_row(block.in_norm.weight),
            in_shift=_row(block.in_norm.bias),
            taps=list(block.depthwise.weight.detach()[:, 0, :].T.contiguous().float()),
            tap_bias=_row(block.depthwise.bias),
            dilation=int(block.dilation),
            history=history,
            left=int(block.pad[0]),
            dw_slope=_slope(block.dw_act),
            out=_Folded.of(block.dw_norm, [block.residual] + ([block.skip] if block.skip is not None else []), dtype),
            n_res=block.residual.out_channels,
        )

    # ------------------------------------------------------------------ arithmetic
    def _product(self, x: torch.Tensor, folded: _Folded, mean=None, rstd=None, work: "_Workspace | None" = None,
                 name: str = "") -> torch.Tensor:
        """``folded`` applied to ``x`` ``(k, I)``, normalised first with ``mean``/``rstd`` when given.

        Scalar statistics (gLN) are folded into the product (alpha and bias);
        per-frame ones (cLN) normalise ``x`` first. ``work``: buffers to reuse (``name``).
        """
        bias = folded.bias
        alpha = 1.0
        if mean is not None:
            if mean.dim() == 0:  # global statistics
                bias = bias - (mean * rstd) * folded.column_sum
                alpha = float(rstd)
            else:
                x = (x - mean) * rstd
        shape = (x.shape[0], folded.out_features)
        out = work.get(name, shape) if work is not None else None
        if self.matmul_dtype == torch.float32:
            return torch.addmm(bias, x, folded.weight, alpha=alpha, out=out)
        # bf16: the scaling rides in the conversion to bf16, the bias in the product
        # (fp32 accumulation); mixed-dtype elementwise ops are slow, so convert back at once
        operand = work.get(name + "in", x.shape, self.matmul_dtype) if work is not None else None
        if operand is not None:
            operand = torch.mul(x, alpha, out=operand)
        else:
            operand = (x * alpha if alpha != 1.0 else x).to(self.matmul_dtype)
        low_bias = folded.bias_low if bias is folded.bias else bias.to(self.matmul_dtype)
        if folded.packed is not None:
            product = torch.ops.mkldnn._linear_pointwise(operand, folded.packed, low_bias, "none", [], "")
        else:
            product = work.get(name + "out", shape, self.matmul_dtype) if work is not None else None
            product = torch.addmm(low_bias, operand, folded.weight.T, out=product)
        return out.copy_(product) if out is not None else product.float()

    @staticmethod
    def _depthwise(window: torch.Tensor, block: _Block, frames: int, out: torch.Tensor | None = None) -> torch.Tensor:
        """The dilated depthwise convolution of ``window`` ``(history + frames, H)`` → ``(frames, H)``."""
        taps, d = block.taps, block.dilation
        z = torch.addcmul(block.tap_bias, window[:frames], taps[0], out=out)
        for tap in range(1, len(taps)):
            z.addcmul_(window[tap * d : tap * d + frames], taps[tap])
        return z

    def _run(self, x: torch.Tensor, statistics, window_for, work: "_Workspace | None" = None) -> torch.Tensor:
        """The block loop shared by every form.

        ``statistics(y, index)`` → ``(mean, rstd)`` of norm ``index`` for ``y`` ``(k, C)``:
        0-d tensors for global statistics, ``(k, 1)`` per-frame ones for cumulative;
        ``window_for(i, block, y, mean, rstd)`` stores ``g ⊙ (y - mean) rstd + c`` as block
        ``i``'s depthwise input and returns the window ``(history + k, H)`` ending with it.
        ``work``: buffers reused from block to block (long sequences: fresh 20-MB
        allocations page-fault on every use).
        """
        index = 0
        if self.input is not None:
            x = self._product(x, self.input, *statistics(x, 0))
            index = 1
        else:
            x = x.clone()  # updated in place below
        frames = x.shape[0]
        skip_sum = None
        for i, block in enumerate(self.blocks):
            y = _prelu_(self._product(x, block.in_conv, work=work, name="y"), block.in_slope)
            window = window_for(i, block, y, *statistics(y, index + 2 * i))
            z = self._depthwise(window, block, frames, work.get("z", y.shape) if work is not None else None)
            z = _prelu_(z, block.dw_slope)
            out = self._product(z, block.out, *statistics(z, index + 2 * i + 1), work=work, name="out")
            n_res = block.n_res
            x += out[:, :n_res]
            if out.shape[1] > n_res:
                skip_sum = out[:, n_res:].clone() if skip_sum is None else skip_sum.add_(out[:, n_res:])
        return self.output_stage(skip_sum if self.use_skip else x)

    def input_stage(self, x: torch.Tensor) -> torch.Tensor:
        """A whole sequence ``(frames, in)`` through the input norm (global statistics) and
        bottleneck before the TCN, as a new tensor (a copy when there is none)."""
        if self.input is None:
            return x.clone()
        return self._product(x, self.input, *self.global_statistics(x))

    def output_stage(self, features: torch.Tensor) -> torch.Tensor:
        """The TCN's output ``(frames, C)`` through the PReLU and mask convolution after it
        (in place on ``features``), or ``features`` when there is none."""
        if self.output is None:
            return features
        return self._product(_prelu_(features, self.output_slope), self.output)

    @staticmethod
    def _affine(y: torch.Tensor, block: _Block, mean: torch.Tensor, rstd: torch.Tensor,
                out: torch.Tensor | None = None) -> torch.Tensor:
        """``g ⊙ (y - mean) rstd + c`` (the norm before the depthwise convolution), into ``out``."""
        if mean.dim() == 0:  # global statistics: one per-channel affine
            scale = block.in_gain * rstd
            return torch.addcmul(block.in_shift - mean * scale, y, scale, out=out)
        return torch.addcmul(block.in_shift, (y - mean).mul_(rstd), block.in_gain, out=out)

    # ------------------------------------------------------------------ whole sequences
    def global_statistics(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """gLN statistics of ``y`` (all values): 0-d ``mean`` and ``rstd``."""
        # a global norm's statistics are a cumulative norm's at the last frame; a sum and
        # a BLAS dot are ~5x faster on one core than var_mean's one-pass (Welford) kernel
        flat = y.reshape(-1)
        running = torch.stack([flat.sum(), torch.dot(flat, flat)])
        mean, rstd = cumulative_mean_rstd(running, flat.new_full((1,), flat.numel()), self.eps)
        return mean.reshape(()), rstd.reshape(())

    def sequence(self, x: torch.Tensor) -> torch.Tensor:
        """Output ``(frames, out)`` of a whole sequence ``x`` ``(frames, in)``, as the modules' forward."""
        if self.causal:  # many frames: the libraries' products beat the compiled step's
            return self.stream(x, self.initial_state(compiled=False))
        if self.compiled_sequence is not None:
            return self.compiled_sequence.run(self, x.float())
        frames = x.shape[0]
        # one padded depthwise input per history length, reused by the blocks
        padded: dict[int, torch.Tensor] = {}

        def statistics(y, index):
            return self.global_statistics(y)

        def window_for(i, block, y, mean, rstd):
            buffer = padded.get(block.history)
            if buffer is None:
                buffer = padded[block.history] = y.new_zeros(frames + block.history, self.hidden)
            self._affine(y, block, mean, rstd, out=buffer[block.left : block.left + frames])
            return buffer

        return self._run(x.float(), statistics, window_for, _Workspace())

    # ------------------------------------------------------------------ streams, in place
    def initial_state(self, compiled: bool = True) -> StreamState:
        """State of :meth:`stream` before the first frame (causal kernels only); the stream
        runs through the compiled step when the kernel has one, unless ``compiled=False``."""
        if not self.causal:
            raise ValueError("only a causal (cLN) TCN can run as a stream")
        if compiled and self.compiled_stream is not None:
            return StreamState([], 0, compiled=self.compiled_stream.initial_state())
        buffers = [torch.zeros(b.history + max(b.history, 64), self.hidden) for b in self.blocks]
        stats = [torch.zeros(1, 2) for _ in range(self.n_norms)]
        return StreamState(stats, 0, buffers, [b.history for b in self.blocks])

    def stream(self, x: torch.Tensor, state: StreamState) -> torch.Tensor:
        """Output ``(k, out)`` for the next ``k`` frames ``x`` ``(k, in)`` of a stream; ``state``
        (from :meth:`initial_state`) is updated in place. A stream fed in any split gives
        :meth:`sequence` of the whole (up to float rounding); the cost does not grow with it."""
        frames = x.shape[0]
        if state.compiled is not None:
            out = self.compiled_stream.run(x.detach().float().numpy(), state.compiled)
            state.frames += frames
            return torch.from_numpy(out)
        count = torch.arange(state.frames + 1, state.frames + frames + 1, dtype=torch.float32)[:, None]
        state.frames += frames
        inverse: dict[int, torch.Tensor] = {}
        stats = state.stats

        def statistics(y, index):
            channels = y.shape[1]
            if channels not in inverse:
                inverse[channels] = (count * channels).reciprocal_()
            running = _frame_moments(y).cumsum_(0).add_(stats[index])  # (k, 2)
            stats[index] = running[-1:]
            return cumulative_mean_rstd(running, inverse[channels], self.eps, count_is_inverse=True)

        def window_for(i, block, y, mean, rstd):
            buffer, position, history = state.buffers[i], state.positions[i], block.history
            if position + frames > buffer.shape[0]:  # full: keep the history at the front (grow if needed)
                moved = buffer.new_zeros(max(buffer.shape[0], history + frames), self.hidden)
                moved[:history] = buffer[position - history : position]
                buffer, position = moved, history
                state.buffers[i] = buffer
            self._affine(y, block, mean, rstd, out=buffer[position : position + frames])
            state.positions[i] = position + frames
            return buffer[position - history : position + frames]

        return self._run(x.float(), statistics, window_for)

    # ------------------------------------------------------------------ streams, pure
    def step_state(self) -> list[torch.Tensor]:
        """Initial state of :meth:`step`: ``stats`` ``(n_norms, 2)``, then each block's
        history ``(history_i, H)`` (zeros: the causal padding)."""
        if not self.causal:
            raise ValueError("only a causal (cLN) TCN can run as a stream")
        return [torch.zeros(self.n_norms, 2)] + [torch.zeros(b.history, self.hidden) for b in self.blocks]

    def step(self, x: torch.Tensor, count: torch.Tensor, valid: torch.Tensor | None,
             stats: torch.Tensor, *histories: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """:meth:`stream` as a pure function (nothing written in place; exportable to ONNX).

        Args:
            x: ``(k, in)`` the next frames.
            count: ``(k, 1)`` frames counted by the cumulative norms up to each frame (its own included).
            valid: ``(k, 1)`` 1 for a frame of the stream, 0 for one before it (left out
                of the statistics and stored as zero history), or ``None`` (all valid).
            stats, histories: the state (:meth:`step_state`, then the previous call's).

        Returns:
            ``(output (k, out), stats, *histories)``.
        """
        new_stats: list[torch.Tensor] = [stats[i] for i in range(self.n_norms)]
        new_histories = list(histories)

        def statistics(y, index):
            moments = _frame_moments(y)
            if valid is not None:
                moments = moments * valid
            running = moments.cumsum(0) + stats[index]
            new_stats[index] = running[-1]
            return cumulative_mean_rstd(running, count * y.shape[1], self.eps)

        def window_for(i, block, y, mean, rstd):
            values = self._affine(y, block, mean, rstd)
            if valid is not None:
                values = values * valid
            window = torch.cat([histories[i], values], dim=0)
            new_histories[i] = window[window.shape[0] - block.history :]
            return window

        out = self._run(x.float(), statistics, window_for)
        return (out, torch.stack(new_stats), *new_histories)


# ---------------------------------------------------------------------------------------
# The run-time checks of the compiled forms (voxsep.nn.tcn_compiled): each runs a small
# random TCN through the compiled form and the PyTorch one; any failure (Numba missing, a
# compile error, an unsupported CPU) or a disagreement leaves the PyTorch form in use.


def _random_tcn(causal: bool, bottleneck: int, hidden: int, scale: float) -> TCN:
    generator = torch.Generator().manual_seed(0)
    tcn = TCN(TCNConfig(bottleneck=bottleneck, hidden=hidden, skip=bottleneck, kernel_size=3, n_blocks=3, n_repeats=2,
                        causal=causal))
    with torch.no_grad():  # norms' gains around 1, everything else around 0
        for p in tcn.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * scale + (1.0 if p.dim() == 1 and p.numel() > 1 else 0.0))
    return tcn


def _snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    error = float(((estimate.astype(np.float64) - reference) ** 2).sum())
    return float(10 * np.log10(float((reference.astype(np.float64) ** 2).sum()) / max(error, 1e-30)))


@functools.lru_cache(maxsize=1)
def compiled_stream_available() -> bool:
    """Whether :class:`~voxsep.nn.tcn_compiled.CompiledStream` runs here and agrees with
    the PyTorch step: a small random causal TCN streamed in uneven blocks through both
    forms within ``MIN_SNR_DB`` (60 dB). Compiles on first use (or loads Numba's cache)."""
    try:
        kernel = TCNKernel(_random_tcn(True, 12, 20, 0.3), compiled=False)
        x = torch.randn(40, 12, generator=torch.Generator().manual_seed(1))
        reference = kernel.stream(x, kernel.initial_state()).numpy()
        compiled = CompiledStream(kernel)
        state = compiled.initial_state()
        out = np.concatenate([compiled.run(x[a:b].numpy(), state) for a, b in ((0, 1), (1, 9), (9, 40))])
        snr = _snr_db(reference, out)
    except Exception as failure:  # noqa: BLE001 -- any failure means: not here
        log.warning("compiled TCN stream unavailable (%s: %s); streaming uses the PyTorch step", type(failure).__name__, failure)
        return False
    if not snr >= MIN_SNR_DB:
        log.warning("compiled TCN stream disagrees with the PyTorch step (%.1f dB < %.0f dB); not used", snr, MIN_SNR_DB)
        return False
    return True


@functools.lru_cache(maxsize=1)
def compiled_sequence_available() -> bool:
    """Whether :class:`~voxsep.nn.tcn_compiled.CompiledSequence` runs here within 40 dB
    (the fast paths' quality bound) of the fp32 kernel on a small random gLN TCN; needs
    oneDNN's packed bf16 products."""
    if not packed_bf16_linear_available():
        return False
    try:
        tcn = _random_tcn(False, 32, 64, 0.2)
        x = torch.randn(300, 32, generator=torch.Generator().manual_seed(1))
        reference = TCNKernel(tcn, compiled=False).sequence(x).numpy()
        kernel = TCNKernel(tcn, matmul_dtype=torch.bfloat16, compiled=False)
        snr = _snr_db(reference, CompiledSequence(kernel).run(kernel, x).numpy())
    except Exception as failure:  # noqa: BLE001 -- any failure means: not here
        log.warning("compiled TCN sequence unavailable (%s: %s); the PyTorch form is used", type(failure).__name__, failure)
        return False
    if not snr >= 40.0:
        log.warning("compiled TCN sequence is %.1f dB from fp32 (< 40 dB); not used", snr)
        return False
    return True
