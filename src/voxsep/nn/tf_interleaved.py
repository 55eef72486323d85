"""Blocks of TIGER (Xu et al., "TIGER: Time-frequency Interleaved Gain Extraction and
Reconstruction for Efficient Speech Separation", ICLR 2025): a real-valued STFT pair that
exports to ONNX, the multi-scale selective-attention block (the paper's MSA) and the
full-frequency-frame attention (FFI).

Shapes use: B batch, C channels, L length of a 1-D sequence, A the attended axis and
R the axis folded into the attention's feature vectors.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


# ----------------------------------------------------------------------------- STFT
class RealSTFT(nn.Module):
    """STFT / inverse STFT with a periodic Hann window, centred frames (reflect padding) and
    one-sided spectra, on real tensors ``(B, 2 [real, imaginary], F, frames)``.

    In PyTorch (inference and training) this is ``torch.stft`` / ``torch.istft`` (FFTs).
    While the model is being exported (``torch.export``, ONNX) it is computed as
    convolutions with fixed DFT bases instead, which need no complex tensors; the two
    agree to float32 rounding. The FFT path is the default because a TIGER model is
    sensitive to rounding in bands that hold almost no energy (e.g. above 4 kHz in speech
    resampled from 8 kHz): with the same FFTs as the published reference code the outputs
    match it to > 80 dB, with the DFT bases to about 57 dB.

    Args:
        n_fft: frame (and window) length in samples; ``n_fft // 2 + 1`` frequency bins.
        hop: frame shift in samples.
    """

    def __init__(self, n_fft: int, hop: int) -> None:
        super().__init__()
        if hop < 1 or hop > n_fft:
            raise ValueError(f"hop must be in 1..n_fft ({n_fft}), got {hop}")
        self.n_fft, self.hop = n_fft, hop
        self.n_bins = n_fft // 2 + 1
        n = torch.arange(n_fft, dtype=torch.float64)
        k = torch.arange(self.n_bins, dtype=torch.float64)
        window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
        angle = 2 * math.pi * torch.outer(k, n) / n_fft  # (F, n_fft)
        analysis = torch.cat([torch.cos(angle), -torch.sin(angle)]) * window  # (2F, n_fft)
        scale = torch.full((self.n_bins, 1), 2.0 / n_fft, dtype=torch.float64)
        scale[0] = 1.0 / n_fft
        if n_fft % 2 == 0:
            scale[-1] = 1.0 / n_fft
        synthesis = torch.cat([torch.cos(angle) * scale, -torch.sin(angle) * scale]) * window  # (2F, n_fft)
        self.register_buffer("analysis", analysis.float().unsqueeze(1), persistent=False)  # (2F, 1, n_fft)
        self.register_buffer("synthesis", synthesis.float().unsqueeze(1), persistent=False)  # (2F, 1, n_fft)
        self.register_buffer("window_sq", (window**2).float().view(1, 1, n_fft), persistent=False)
        # computed in float32 as torch.hann_window does by default: the published reference
        # code's window, bit for bit (this model notices the rounding, class docstring)
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True), persistent=False)

    @staticmethod
    def _exporting() -> bool:
        return bool(torch.compiler.is_exporting() or torch.onnx.is_in_onnx_export())

    def min_length(self) -> int:
        """The shortest signal reflect padding accepts (``n_fft // 2 + 1`` samples)."""
        return self.n_fft // 2 + 1

    def forward(self, signal: torch.Tensor) -> torch.Tensor:
        """``signal`` ``(B, samples)`` → spectrum ``(B, 2, F, frames)`` (real, imaginary),
        ``frames = samples // hop + 1``."""
        if not self._exporting():
            spectrum = torch.stft(signal, self.n_fft, self.hop, window=self.window.to(signal.dtype),
                                  center=True, pad_mode="reflect", return_complex=True)
            return torch.stack([spectrum.real, spectrum.imag], dim=1)
        half = self.n_fft // 2
        padded = F.pad(signal.unsqueeze(1), (half, half), mode="reflect")
        spectrum = F.conv1d(padded, self.analysis, stride=self.hop)  # (B, 2F, frames)
        return spectrum.unflatten(1, (2, self.n_bins))

    def inverse(self, spectrum: torch.Tensor, length: int) -> torch.Tensor:
        """``spectrum`` ``(B, 2, F, frames)`` → signal ``(B, length)`` (overlap-add divided by
        the summed squared window, as ``torch.istft``)."""
        if not self._exporting():
            complex_spectrum = torch.complex(spectrum[:, 0].contiguous(), spectrum[:, 1].contiguous())
            return torch.istft(complex_spectrum, self.n_fft, self.hop, window=self.window.to(spectrum.dtype),
                               center=True, length=length)
        frames = spectrum.shape[-1]
        summed = F.conv_transpose1d(spectrum.flatten(1, 2), self.synthesis, stride=self.hop)  # (B, 1, n)
        ones = torch.ones(1, 1, frames, dtype=spectrum.dtype, device=spectrum.device)
        envelope = F.conv_transpose1d(ones, self.window_sq, stride=self.hop)  # (1, 1, n)
        half = self.n_fft // 2
        signal = (summed / envelope.clamp_min(1e-11))[:, 0, half:half + length]
        if signal.shape[-1] < length:
            signal = F.pad(signal, (0, length - signal.shape[-1]))
        return signal


# ----------------------------------------------------------------------------- MSA
# The multi-scale blocks run on channels-last 4-D tensors ``(B, C, 1, L)`` (memory order
# ``(B, L, C)``): depthwise convolutions are several times faster on CPU in that layout
# than on ``(B, C, L)``, and pointwise ones are plain matrix products. Parameters keep
# the ``Conv1d`` shapes.
def _conv(x: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """``conv`` applied to a channels-last ``(B, C, 1, L)`` tensor (a 1x1 depthwise conv is
    a per-channel scale)."""
    if conv.kernel_size[0] == 1 and conv.groups == conv.in_channels == conv.out_channels:
        y = x * conv.weight.view(1, -1, 1, 1)
        return y + conv.bias.view(1, -1, 1, 1) if conv.bias is not None else y
    return F.conv2d(x, conv.weight.unsqueeze(2), conv.bias, stride=(1, conv.stride[0]),
                    padding=(0, conv.padding[0]), groups=conv.groups)


def _resize(x: torch.Tensor, length: int) -> torch.Tensor:
    """Nearest-neighbour resize of ``(B, C, 1, L')`` to ``(B, C, 1, length)``."""
    return x if x.shape[-1] == length else F.interpolate(x, size=(1, length), mode="nearest")


_RUNS: dict[tuple[int, int], list[tuple[int, int, int]]] = {}


def _nearest_runs(coarse: int, length: int) -> list[tuple[int, int, int]]:
    """``[(source index, start, end), ...]``: the runs of output positions that
    ``F.interpolate(mode="nearest")`` from ``coarse`` to ``length`` samples fills from one
    source sample (computed by interpolate itself, so the mapping is its own)."""
    key = (coarse, length)
    if key not in _RUNS:
        source = F.interpolate(torch.arange(coarse, dtype=torch.float32).view(1, 1, coarse), size=length,
                               mode="nearest").view(-1).long().tolist()
        runs, start = [], 0
        for i in range(1, length + 1):
            if i == length or source[i] != source[start]:
                runs.append((source[start], start, i))
                start = i
        _RUNS[key] = runs
    return _RUNS[key]


#: ``inject`` gathers the coarse tensors to the full length instead of one ``addcmul`` per run
#: of positions when there are more runs than this (each call costs more than its arithmetic).
MAX_RUNS = 8

#: The multi-scale blocks' inference runs its full-resolution stages on this many parts of
#: each piece of ``CACHE_ELEMENTS`` (measured: 3-5 % less time than 1 for TIGER-speech).
SUB_PIECES = 2
_INDEX: dict[tuple[int, int], torch.Tensor] = {}


def _nearest_index(coarse: int, length: int) -> torch.Tensor:
    """The source index of each of ``length`` positions, as ``F.interpolate(mode="nearest")``
    resizes ``coarse`` samples (from ``_nearest_runs``)."""
    key = (coarse, length)
    if key not in _INDEX:
        index = torch.empty(length, dtype=torch.long)
        for source, start, end in _nearest_runs(coarse, length):
            index[start:end] = source
        _INDEX[key] = index
    return _INDEX[key]


def inject(local: torch.Tensor, gate: torch.Tensor, fill: torch.Tensor,
           out: torch.Tensor | None = None) -> torch.Tensor:
    """``local * resize(gate) + resize(fill)`` with nearest-neighbour resizing of the coarser
    ``gate`` and ``fill`` ``(B, C, 1, L')`` to ``local``'s ``(B, C, 1, L)`` (channels last),
    without building the resized tensors: in inference, each run of positions that share
    a source sample is one broadcast ``addcmul`` (a factor-2 resize is one strided
    broadcast; with more than ``MAX_RUNS`` runs, ``gate`` and ``fill`` are gathered to the
    full length instead). Same values as resizing first. In inference the result is
    written into ``out`` (a channels-last tensor like ``local``, or ``local`` itself) when given."""
    coarse, length = gate.shape[-1], local.shape[-1]
    if torch.is_grad_enabled() or coarse >= length or torch.compiler.is_compiling() or torch.compiler.is_exporting():
        return torch.addcmul(_resize(fill, length), local, _resize(gate, length))
    out = torch.empty_like(local) if out is None else out
    # memory order (B, L, C): views (B, L, C) of the channels-last tensors
    o3, l3 = out.squeeze(2).transpose(1, 2), local.squeeze(2).transpose(1, 2)
    g3, f3 = gate.squeeze(2).transpose(1, 2), fill.squeeze(2).transpose(1, 2)
    if length in (2 * coarse, 2 * coarse - 1):  # stride-2 scales: source index = position // 2
        even = length - length % 2
        half = even // 2
        torch.addcmul(f3[:, :half, None], l3[:, :even].unflatten(1, (half, 2)), g3[:, :half, None],
                      out=o3[:, :even].unflatten(1, (half, 2)))
        if length % 2:
            torch.addcmul(f3[:, -1:], l3[:, -1:], g3[:, -1:], out=o3[:, -1:])
        return out
    runs = _nearest_runs(coarse, length)
    if len(runs) > MAX_RUNS:
        index = _nearest_index(coarse, length)
        torch.addcmul(f3.index_select(1, index), l3, g3.index_select(1, index), out=o3)
        return out
    for source, start, end in runs:
        torch.addcmul(f3[:, source:source + 1], l3[:, start:end], g3[:, source:source + 1], out=o3[:, start:end])
    return out


def _conv_norm(module: "ConvGroupNorm", x: torch.Tensor) -> torch.Tensor:
    """``module`` without its activation, as functional calls (no module-call overhead)."""
    norm = module.norm
    return F.group_norm(_conv(x, module.conv), 1, norm.weight, norm.bias, norm.eps)


class ConvGroupNorm(nn.Module):
    """``Conv1d`` ("same" padding) → one-group ``GroupNorm`` (statistics over channels and
    time) → optional single-slope PReLU, on channels-last ``(B, C_in, 1, L)`` →
    ``(B, C_out, 1, ceil(L / stride))``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 groups: int = 1, bias: bool = True, activation: bool = False, eps: float = 1e-8) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride,
                              padding=(kernel_size - 1) // 2, groups=groups, bias=bias)
        self.norm = nn.GroupNorm(1, out_channels, eps=eps)
        self.act = nn.PReLU() if activation else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(_conv(x, self.conv))
        return self.act(y) if self.act is not None else y


class SelectiveInjection(nn.Module):
    """Gate local features with a coarser context and add it (the paper's selective
    attention fusion): ``local' * sigmoid(gate(context)) + fill(context)``, the context
    terms resized to the local length by nearest-neighbour interpolation. Depthwise
    convolutions of ``kernel_size`` samples, each followed by a one-group norm.

    ``local`` ``(B, C, 1, L)``, ``context`` ``(B, C, 1, L')`` → ``(B, C, 1, L)`` (channels last).
    """

    def __init__(self, channels: int, kernel_size: int) -> None:
        super().__init__()
        self.local = ConvGroupNorm(channels, channels, kernel_size, groups=channels, bias=False)
        self.gate = ConvGroupNorm(channels, channels, kernel_size, groups=channels, bias=False)
        self.fill = ConvGroupNorm(channels, channels, kernel_size, groups=channels, bias=False)

    def forward(self, local: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        return inject(self.local(local), torch.sigmoid(self.gate(context)), self.fill(context))


class ContextMLP(nn.Module):
    """Pointwise conv + norm → depthwise conv (5) → ReLU → pointwise conv + norm, with
    dropout; ``(B, C, 1, L)`` → same."""

    def __init__(self, channels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.fc1 = ConvGroupNorm(channels, channels, 1, bias=False)
        self.depthwise = nn.Conv1d(channels, channels, 5, padding=2, groups=channels)
        self.fc2 = ConvGroupNorm(channels, channels, 1, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dropout(torch.relu(_conv(self.fc1(x), self.depthwise)))
        return self.dropout(self.fc2(x))


#: Inference runs a multi-scale block on batches of about this many hidden activations
#: (4 MB of float32): measured on one thread of an AMD EPYC, the published TIGER-speech
#: block took 0.6-0.8x the time of one whole-batch call at 2^19-2^21 (benchmarks/bench_tiger.py).
CACHE_ELEMENTS = 2**20


def eager_inference() -> bool:
    """True when no gradients are recorded and nothing traces the model (``torch.compile``,
    ``torch.export``, ONNX export): the case in which the blocks take their inference paths
    (cache-sized pieces, in-place element-wise steps). Those paths give the same values as
    the whole-tensor ones up to float rounding."""
    return not (torch.is_grad_enabled() or torch.compiler.is_compiling() or torch.compiler.is_exporting()
                or torch.onnx.is_in_onnx_export())


class MultiScaleBlock(nn.Module):
    """Multi-scale selective attention (MSA) on sequences, with a residual.

    Expand ``C → H`` channels, then a pyramid of ``depth`` depthwise convolutions (the
    first at stride 1, the others at stride 2); the scales, average-pooled to the coarsest
    length and summed, pass a small MLP (the global context); each scale but the coarsest
    is gated by that context (``SelectiveInjection``); the gated scales are merged from
    coarse to fine, each gating the next finer one; a pointwise conv back to ``C`` plus the
    input is the output.

    As in the published TIGER models, the first merge gates scale ``depth - 2`` by the
    finer scale ``depth - 3`` (resized down), and the coarsest scale enters only through
    the global context; kept so that published weights give the published function (the
    published files also hold a gate for the coarsest scale whose output is never used; it
    is not built here).

    Args:
        channels: C, input/output channels.
        hidden: H, channels inside the block.
        depth: number of scales (>= 3).
        dropout: dropout of the context MLP.

    ``(B, L, C)`` → ``(B, L, C)`` (channels last).
    """

    def __init__(self, channels: int, hidden: int, depth: int, dropout: float = 0.1) -> None:
        super().__init__()
        if depth < 3:
            raise ValueError(f"depth must be >= 3, got {depth}")
        self.depth = depth
        self.expand = ConvGroupNorm(channels, hidden, 1, activation=True)
        self.down = nn.ModuleList(
            ConvGroupNorm(hidden, hidden, 5, stride=1 if k == 0 else 2, groups=hidden) for k in range(depth)
        )
        self.context = ContextMLP(hidden, dropout)
        self.fuse = nn.ModuleList(SelectiveInjection(hidden, 1) for _ in range(depth - 1))
        self.merge = nn.ModuleList(SelectiveInjection(hidden, 5) for _ in range(depth - 1))
        self.project = nn.Conv1d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``(B, L, C)``, any strides (the inference path reads it a few sequences at a
        time, so a transposed view costs no whole-tensor copy) → ``(B, L, C)`` contiguous."""
        if not eager_inference():
            return self._forward(x)
        # Inference: a few sequences at a time, so that the block's many element-wise passes
        # (group norms, gates) work on tensors that stay in the CPU caches instead of
        # streaming the whole (B, H, L) activations through memory once per pass. Every
        # operation is per sequence, so the result is the same.
        rows = max(1, CACHE_ELEMENTS // (self.expand.conv.out_channels * x.shape[1]))
        out = torch.empty(x.shape, dtype=x.dtype, device=x.device)
        piece = self._forward if self.training else self._forward_inference
        for start in range(0, x.shape[0], rows):
            piece(x[start:start + rows], out=out[start:start + rows])
        return out

    def _forward_inference(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """``_forward`` (eval mode, no autograd) with fewer, in-place operations: functional
        calls instead of module calls, the expansion's PReLU in place, each gating written
        into its local features, the full-resolution stages in ``SUB_PIECES`` parts. The same
        function; bitwise the same values with ``SUB_PIECES = 1`` (with more parts the 1x1
        convolutions may round differently for a smaller batch)."""
        x4 = x.transpose(1, 2).unsqueeze(2).contiguous(memory_format=torch.channels_last)  # (B, C, 1, L)
        slope = self.expand.act.weight
        # the full-resolution stages before and after the coarser scales run on SUB_PIECES
        # parts of the piece (their intermediates stay in the inner caches)
        sub = -(-x.shape[0] // SUB_PIECES)
        first = torch.empty((x.shape[0], self.expand.conv.out_channels, 1, x.shape[1]), dtype=x.dtype,
                            device=x.device, memory_format=torch.channels_last)
        for i in range(0, x.shape[0], sub):
            expanded = _conv_norm(self.expand, x4[i:i + sub])
            if slope.numel() == 1:
                F.leaky_relu_(expanded, float(slope))
            else:
                expanded = self.expand.act(expanded)
            first[i:i + sub] = _conv_norm(self.down[0], expanded)
        del expanded
        scales = [first]
        for down in self.down[1:]:
            scales.append(_conv_norm(down, scales[-1]))
        coarsest = scales[-1].shape[-1]
        context = scales[-1] + F.adaptive_avg_pool2d(scales[-2], (1, coarsest))
        for scale in scales[-3::-1]:
            context.add_(F.adaptive_avg_pool2d(scale, (1, coarsest)))
        mlp = self.context
        hidden = _conv(_conv_norm(mlp.fc1, context), mlp.depthwise)
        context = _conv_norm(mlp.fc2, torch.relu_(hidden))
        # with depth >= 4 only the last merge uses the finest scale: its fuse runs in the parts below
        split = self.depth >= 4
        fused, gates, fills = [], [], []
        for k, (fuse, scale) in enumerate(zip(self.fuse, scales)):
            gates.append(torch.sigmoid_(_conv_norm(fuse.gate, context)))
            fills.append(_conv_norm(fuse.fill, context))
            local = _conv_norm(fuse.local, scale) if k or not split else None
            fused.append(inject(local, gates[k], fills[k], out=local) if local is not None else None)
        merged = self.merge[-1](fused[-1], fused[-2])
        if not split:
            for k in range(self.depth - 3, -1, -1):
                merged = self.merge[k](fused[k], merged)
            y = _conv(merged, self.project).squeeze(2).transpose(1, 2)  # (B, L, C)
            return torch.add(y, x, out=out)
        for k in range(self.depth - 3, 0, -1):
            merge = self.merge[k]
            local = _conv_norm(merge.local, fused[k])
            merged = inject(local, torch.sigmoid_(_conv_norm(merge.gate, merged)), _conv_norm(merge.fill, merged),
                            out=local)
        merge = self.merge[0]
        gate, fill = torch.sigmoid_(_conv_norm(merge.gate, merged)), _conv_norm(merge.fill, merged)
        for i in range(0, x.shape[0], sub):
            local = _conv_norm(self.fuse[0].local, first[i:i + sub])
            local = _conv_norm(merge.local, inject(local, gates[0][i:i + sub], fills[0][i:i + sub], out=local))
            finest = inject(local, gate[i:i + sub], fill[i:i + sub], out=local)
            y = _conv(finest, self.project).squeeze(2).transpose(1, 2)  # (B', L, C)
            torch.add(y, x[i:i + sub], out=out[i:i + sub])
        return out

    def _forward(self, x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        x4 = x.transpose(1, 2).unsqueeze(2).contiguous(memory_format=torch.channels_last)  # (B, C, 1, L)
        scales = [self.down[0](self.expand(x4))]
        for down in self.down[1:]:
            scales.append(down(scales[-1]))
        coarsest = scales[-1].shape[-1]
        context = scales[-1]
        for scale in scales[-2::-1]:
            context = context + F.adaptive_avg_pool2d(scale, (1, coarsest))
        context = self.context(context)
        fused = [fuse(scale, context) for fuse, scale in zip(self.fuse, scales)]
        merged = self.merge[-1](fused[-1], fused[-2])
        for k in range(self.depth - 3, -1, -1):
            merged = self.merge[k](fused[k], merged)
        y = _conv(merged, self.project).squeeze(2).transpose(1, 2)  # (B, L, C)
        return y + x if out is None else torch.add(y, x, out=out)


# ----------------------------------------------------------------------------- FFI
class FoldedAttention(nn.Module):
    """Multi-head self-attention along axis A of a ``(B, A, R, C)`` feature map whose
    query/key/value vectors are the whole slices ``(R, ·)`` (the paper's full-frequency-
    frame attention: attend over frames with every band in the vector, or over bands with
    every frame in it), with a residual.

    Per head: pointwise projections to ``head_dim`` (queries, keys) and ``C / n_heads``
    (values) channels, each with its own PReLU slope and a layer norm over its channels;
    scaled dot-product attention (scale ``1/sqrt(R * head_dim)``); the heads concatenated,
    projected (pointwise, PReLU, channel layer norm) and added to the input.

    The projections of all heads are one matrix: rows ``[queries of head 0..n-1, keys of
    head 0..n-1, values of head 0..n-1]``.

    ``(B, A, R, C)`` → ``(B, A, R, C)``.
    """

    def __init__(self, channels: int, n_heads: int = 4, head_dim: int = 4, eps: float = 1e-5) -> None:
        super().__init__()
        if channels % n_heads:
            raise ValueError(f"channels ({channels}) must be divisible by n_heads ({n_heads})")
        self.channels, self.n_heads, self.head_dim = channels, n_heads, head_dim
        self.value_dim = channels // n_heads
        self.eps = eps
        rows = 2 * n_heads * head_dim + channels
        self.qkv = nn.Linear(channels, rows)
        self.qkv_slopes = nn.Parameter(torch.full((3 * n_heads,), 0.25))  # one PReLU slope per projection
        self.qkv_gamma = nn.Parameter(torch.ones(rows))
        self.qkv_beta = nn.Parameter(torch.zeros(rows))
        self.out = nn.Linear(channels, channels)
        self.out_slope = nn.Parameter(torch.full((1,), 0.25))
        self.out_norm = nn.LayerNorm(channels, eps=eps)
        sizes = [head_dim] * (2 * n_heads) + [self.value_dim] * n_heads
        self.register_buffer("slope_of_row", torch.repeat_interleave(torch.arange(3 * n_heads), torch.tensor(sizes)),
                             persistent=False)  # (rows,): the projection each row belongs to

    def _slopes(self) -> torch.Tensor:
        """Per-row PReLU slopes ``(rows,)`` from the per-projection ones."""
        return self.qkv_slopes[self.slope_of_row]

    def _queries_keys_values(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows ``(N, C)`` of the input → normalised ``(N, 2 * heads * head_dim)`` queries and
        keys, and ``(N, C)`` values (PReLU per projection, then a layer norm per projection =
        a group norm of each row with one group per projection)."""
        qk_rows = 2 * self.n_heads * self.head_dim
        z = F.prelu(self.qkv(rows), self._slopes())
        qk = F.group_norm(z[:, :qk_rows], 2 * self.n_heads, self.qkv_gamma[:qk_rows], self.qkv_beta[:qk_rows],
                          self.eps)
        v = F.group_norm(z[:, qk_rows:], self.n_heads, self.qkv_gamma[qk_rows:], self.qkv_beta[qk_rows:], self.eps)
        return qk, v

    def _queries_keys_values_by_channel(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``_queries_keys_values`` computed on the transpose, channels first: rows ``(N, C)``
        → ``(2 * heads, head_dim, N)`` queries and keys, ``(heads, value_dim, N)`` values.
        A group norm over a few channels of each row is slow on CPU (one short reduction per
        row and group); channels first, each statistic is a sum of a few whole rows of N
        (vectorised). Same values up to float rounding."""
        z = F.linear(rows, self.qkv.weight, self.qkv.bias).T.contiguous()  # (rows, N)
        z = F.prelu(z.unsqueeze(0), self._slopes()).squeeze(0)
        qk_rows = 2 * self.n_heads * self.head_dim
        return (self._norm_by_channel(z[:qk_rows].view(2 * self.n_heads, self.head_dim, -1), slice(0, qk_rows)),
                self._norm_by_channel(z[qk_rows:].view(self.n_heads, self.value_dim, -1), slice(qk_rows, None)))

    def _norm_by_channel(self, z: torch.Tensor, rows: slice) -> torch.Tensor:
        """Layer norm over dim 1 of ``(projections, channels, N)`` with the affine of ``rows``."""
        centred = z - z.mean(1, keepdim=True)
        centred.mul_(torch.rsqrt(centred.square().mean(1, keepdim=True).add_(self.eps)))
        shape = (z.shape[0], z.shape[1], 1)
        return torch.addcmul(self.qkv_beta[rows].view(shape), centred, self.qkv_gamma[rows].view(shape), out=centred)

    def _output(self, attended: torch.Tensor, x: torch.Tensor, by_channel: bool = False) -> torch.Tensor:
        """Heads ``(B', heads, A', R * value_dim)`` (``by_channel``: ``value_dim * R``, the
        order ``forward``'s inference path keeps the values in) → projection, PReLU, layer
        norm, plus the input ``x`` ``(B', A', R, C)``."""
        if by_channel:
            y = attended.unflatten(-1, (self.value_dim, x.shape[2])).permute(0, 2, 4, 1, 3).reshape(x.shape)
        else:
            y = attended.unflatten(-1, (x.shape[2], self.value_dim)).permute(0, 2, 3, 1, 4).reshape(x.shape)
        if eager_inference() and self.out_slope.numel() == 1:  # in place: the same values
            h = F.leaky_relu_(self.out(y), float(self.out_slope))
            return self.out_norm(h).add_(x)
        return self.out_norm(F.prelu(self.out(y), self.out_slope)) + x

    def forward(self, x: torch.Tensor, norm: nn.Module | None = None,
                residual: torch.Tensor | None = None) -> torch.Tensor:
        """The attention of ``x`` ``(B, A, R, C)``; with ``norm`` (a module on the channels) and
        ``residual`` (``(B, A, R, C)``, any strides), ``norm(attention(x)) + residual``, which
        inference computes a few slices at a time with the attention's output stage."""
        batch, axis, fold, channels = x.shape
        heads, hd, vd = self.n_heads, self.head_dim, self.value_dim
        if not eager_inference():
            qk, v = self._queries_keys_values(x.reshape(-1, channels))
            # (B, A, R, heads, d) -> (B, heads, A, R * d)
            qk = qk.view(batch, axis, fold, 2, heads, hd).permute(3, 0, 4, 1, 2, 5).reshape(2, batch, heads, axis,
                                                                                            fold * hd)
            v = v.view(batch, axis, fold, heads, vd).permute(0, 3, 1, 2, 4).reshape(batch, heads, axis, fold * vd)
            y = self._output(F.scaled_dot_product_attention(qk[0], qk[1], v), x)
            y = norm(y) if norm is not None else y
            return y + residual if residual is not None else y
        # Inference: the row-wise projections and norms before and after the attention run on
        # a few slices of A at a time (tensors that stay in the CPU caches), channels first
        # (``_queries_keys_values_by_channel``), writing straight into heads-major layouts.
        # The vectors of a head keep their (R, channel) entries in channel-major order
        # (R * d entries each): a dot product or a weighted sum of vectors does not depend on
        # the order of the entries, and this order is a cheap copy from channels first.
        # The same values as the whole-tensor path up to float rounding.
        step = max(1, CACHE_ELEMENTS // (fold * channels))  # slices of A per piece
        qk = x.new_empty(2, batch, heads, axis, hd, fold)
        v = x.new_empty(batch, heads, axis, vd, fold)
        for b in range(batch):
            for a in range(0, axis, step):
                piece = x[b, a:a + step]  # (A', R, C)
                part_qk, part_v = self._queries_keys_values_by_channel(piece.reshape(-1, channels))
                qk[:, b, :, a:a + step] = part_qk.view(2, heads, hd, -1, fold).permute(0, 1, 3, 2, 4)
                v[b, :, a:a + step] = part_v.view(heads, vd, -1, fold).permute(0, 2, 1, 3)
        attended = F.scaled_dot_product_attention(qk[0].flatten(-2), qk[1].flatten(-2), v.flatten(-2))
        del qk, v
        out = torch.empty_like(x)  # x's memory layout (a transposed view gives a transposed result)
        for a in range(0, axis, step):
            y = self._output(attended[:, :, a:a + step], x[:, a:a + step], by_channel=True)
            if norm is not None:
                y = norm(y)
            if residual is not None:
                torch.add(y, residual[:, a:a + step], out=out[:, a:a + step])
            else:
                out[:, a:a + step] = y
        return out
