"""Real-time (streaming) separation: ``StreamingSeparator`` runs a causal model block by block.

::

    from voxsep import StreamingSeparator
    st = StreamingSeparator.from_checkpoint("exp/causal/best.pt")   # or .from_model(model)
    for block in blocks:                 # (n,) mono or (channels, n) float32, any n >= 1
        out = st.process(block)          # (n_src, n) or (n_src, channels, n): the next n samples
    tail = st.flush()                    # the last latency_samples samples; ready for a new stream

**Exactness.** Whatever the block sizes, the concatenated outputs of ``process`` and
``flush`` equal the model's offline forward pass on the whole signal delayed by
``latency_samples`` (the first ``latency_samples`` output samples are zeros), up to
float32 rounding (tests/unit/test_streaming.py checks >= 60 dB SNR for block sizes 1, 7,
80, 160, 1000 and random splits).

**State, not recomputation.** Every block only computes the encoder frames its samples
complete. What the offline model would read from earlier frames is kept: the last
``(P - 1) * d`` frames of each TCN block's depthwise-convolution input and the running
sums of every cumulative layer norm (:meth:`voxsep.nn.tcn_kernel.TCNKernel.stream`, the
one TCN step of the offline fast path, these engines and the ONNX streaming step), the
inter-chunk LSTM states (DPRNN), the decoder's overlap-add tail, the interaural-feature
window (binaural cross / parallel) and the running interaural correlations of the causal
ear alignment (binaural independent / cross). The cost of a block does not grow with the
stream.

**Latency.** ``latency_samples`` is the delay that makes every split exact: an output
sample is final once the last encoder frame covering it has been computed, i.e. up to
``kernel_size - 1`` samples after it (Conv-TasNet and the binaural variants: 15 samples
= 1.9 ms for L=16 at 8 kHz). For causal DPRNN the intra-chunk BiLSTM reads its whole
chunk, so a frame's mask is known only when the *second* 50 %-overlapping chunk holding
it is complete: up to ``chunk_size - 1`` frames later, i.e. ``(chunk_size - 1) * stride +
kernel_size - 1`` samples (250 samples = 31 ms for the paper's K=250, L=2 at 8 kHz). The
time to compute a block adds to this on a real device.

**Talker order.** A model streamed over a long recording may put a talker in the other
output after a pause (a counting model, trained on one or two talkers, may send a lone
voice to either output). ``track_talkers=True`` follows who is talking by voice and keeps one person per
output with no added latency (:class:`voxsep.inference.order.StreamingTalkerOrder`); the
outputs are then no longer the offline forward pass wherever the order was changed.
``voxsep separate --stream --track-talkers`` switches it on; it is off by default, because a
weakly separating model (the bundled causal one) gets more swaps with it than without.

**Output level.** A model trained with a scale-invariant loss (SI-SNR) leaves the level of
each output free: the offline path scales the outputs by least-squares gains so that their
sum best matches the mixture (:func:`voxsep.inference.separate.match_mixture_level`).
``match_level=True`` does the same from the past (:class:`StreamingLevel`: the moments of the
last ``LEVEL_SECONDS``, no added latency); the bundled causal model needs it (one of its
outputs comes out about 50 dB below the mixture), so ``from_pretrained`` and
``voxsep separate --stream`` switch it on. A tracker, where on, judges the levelled outputs.

**Models.** Causal Conv-TasNet (cLN), causal DPRNN and the causal binaural variants
(``binaural_independent``, ``binaural_cross``, ``binaural_parallel``: stereo in, stereo
per talker out). Non-causal models are refused: their output depends on the whole
signal. The stream must be at the model's sample rate — resampling a stream is the
caller's job. The model runs in float32 on the CPU, one stream at a time.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from voxsep.core.audio import hop_pieces
from voxsep.core.pit import best_permutation_tensor
from voxsep.inference.separate import gains_from_moments
from voxsep.nn.filterbank import frames_needed

SUPPORTED = ("conv_tasnet", "dprnn", "binaural_independent", "binaural_cross", "binaural_parallel")


# --------------------------------------------------------------------------- helpers
class _OverlapAdd:
    """Overlap-add of decoder outputs arriving a few frames at a time.

    ``add(wave, frames)``: ``wave (..., (frames - 1) * S + L)`` is the decoder output of the
    next ``frames`` frames; returns the ``frames * S`` samples that no later frame touches
    and keeps the rest (``L - S`` samples) as the tail added to the next call.
    """

    def __init__(self, kernel_size: int, stride: int) -> None:
        self.stride = stride
        self.overlap = kernel_size - stride
        self.tail: torch.Tensor | None = None

    def add(self, wave: torch.Tensor, frames: int) -> torch.Tensor:
        if self.tail is not None:
            wave[..., : self.overlap] += self.tail
        done = frames * self.stride
        self.tail = wave[..., done:]
        return wave[..., :done]

    def finish(self) -> torch.Tensor | None:
        tail, self.tail = self.tail, None
        return tail


def _right_ear_permutation(similarity: torch.Tensor) -> torch.Tensor:
    """The ear alignment's choice (as :func:`voxsep.models.binaural.align_ears`) from similarities."""
    return best_permutation_tensor(-similarity)


def ear_aligner_state(n_src: int, max_lag: int) -> list[torch.Tensor]:
    """The state of :func:`causal_align_step` before the first sample: the last ``2 * max_lag``
    left / ``max_lag`` right samples, the running correlations ``(right i, left j, lag)`` and
    the right / left energies (zeros)."""
    return [torch.zeros(n_src, 2 * max_lag), torch.zeros(n_src, max_lag), torch.zeros(n_src, n_src, 2 * max_lag + 1),
            torch.zeros(n_src, 1), torch.zeros(n_src, 1)]


def causal_align_step(estimates: torch.Tensor, max_lag: int, left_past: torch.Tensor, right_past: torch.Tensor,
                      correlation: torch.Tensor, energy_right: torch.Tensor,
                      energy_left: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Streaming form of ``align_ears(estimates, max_lag, causal=True)``, as a pure function
    (nothing written in place; exportable to ONNX).

    The running correlations of :func:`voxsep.models.binaural.causal_ear_similarity` are
    carried from block to block (per right/left pair and lag), with the energies and the
    last ``2 * max_lag`` left / ``max_lag`` right samples they still need; the right-ear
    permutation is then chosen per sample exactly as offline.

    Args:
        estimates: ``(n_src, 2, m)`` the next ``m`` samples of both ears.
        max_lag: largest interaural lag, in samples.
        left_past, right_past, correlation, energy_right, energy_left: the state
            (:func:`ear_aligner_state`, then the previous call's).

    Returns:
        ``(aligned (n_src, 2, m), *next state)``.
    """
    from voxsep.models.binaural import EPS

    m = estimates.shape[-1]
    left, right = estimates[:, 0].float(), estimates[:, 1].float()
    lag = max_lag
    left_ext = torch.cat([left_past, left], dim=-1)  # samples t0 - 2 lag .. t0 + m - 1
    right_ext = torch.cat([right_past, right], dim=-1)  # samples t0 - lag .. t0 + m - 1
    right_delayed = right_ext[:, :m]  # sample u = t - lag for t in the block
    lagged = torch.stack([left_ext[:, w : w + m] for w in range(2 * lag + 1)], dim=-1)  # (n, m, lags)
    products = right_delayed[:, None, :, None] * lagged[None]  # (right i, left j, m, lags)
    running = products.cumsum(2) + correlation[:, :, None]
    running_right = right_delayed.pow(2).cumsum(-1) + energy_right
    running_left = left_ext[:, lag : lag + m].pow(2).cumsum(-1) + energy_left
    energy = running_right[:, None] * running_left[None]  # (i, j, m)
    similarity = running.amax(-1) / (energy.sqrt() + EPS)
    perm = _right_ear_permutation(similarity.permute(2, 0, 1))  # (m, n_src)
    aligned_right = torch.gather(estimates[:, 1], 0, perm.T)
    aligned = torch.stack([estimates[:, 0], aligned_right], dim=1)
    return (aligned, left_ext[:, left_ext.shape[-1] - 2 * lag :], right_ext[:, right_ext.shape[-1] - lag :],
            running[:, :, -1], running_right[:, -1:], running_left[:, -1:])


class _CausalEarAligner:
    """:func:`causal_align_step` with its state kept here (the streaming engines)."""

    def __init__(self, n_src: int, max_lag: int) -> None:
        self.n_src, self.max_lag = n_src, max_lag
        self.state = ear_aligner_state(n_src, max_lag)

    def __call__(self, estimates: torch.Tensor) -> torch.Tensor:
        """``(n_src, 2, m)`` → the same with the right ear reordered per sample."""
        if self.n_src == 1 or estimates.shape[-1] == 0:
            return estimates
        aligned, *self.state = causal_align_step(estimates, self.max_lag, *self.state)
        return aligned


# --------------------------------------------------------------------------- engines
class _Engine:
    """Frames in, finished output samples out, for one model family.

    ``push(segment, frames)``: ``segment (channels, context + (frames - 1) * S + L)`` holds
    the samples of the next ``frames`` encoder frames, preceded by ``context`` earlier
    samples (the interaural-feature window); returns the output samples ``(n_src,
    channels, k)`` that are now final (contiguous with the previous call's).
    ``finish()`` after the last frame returns the rest.
    """

    context = 0  # samples before a frame's encoder window that the engine reads
    lookahead_frames = 0  # frames after a frame needed before its mask is known

    def __init__(self, model: nn.Module, channels: int) -> None:
        self.model, self.channels = model, channels
        self.kernel_size, self.stride = int(model.kernel_size), int(model.stride)

    def _empty(self) -> torch.Tensor:
        return torch.zeros(self.model.n_src, self.channels, 0)


class _MaskingEngine(_Engine):
    """An engine whose output goes through an overlap-add (``self.ola``) and, for two-ear
    models, the running ear alignment (``self.aligner``, or ``None``)."""

    ola: _OverlapAdd
    aligner: _CausalEarAligner | None = None

    def finish(self) -> torch.Tensor:
        tail = self.ola.finish()
        return self._empty() if tail is None else self._align(tail)

    def _align(self, out: torch.Tensor) -> torch.Tensor:
        return self.aligner(out) if self.aligner is not None else out


class _TasNetEngine(_MaskingEngine):
    """Causal Conv-TasNet; ``binaural_independent`` runs its Conv-TasNet on each ear.

    The masker runs on its inference kernel (:meth:`voxsep.nn.tcn_kernel.TCNKernel.stream`,
    one state per ear); the encoder and decoder are single matrix products over the few
    frames of a block, frames-major as the kernel (PyTorch's strided / transposed
    convolutions cost ~100-200 µs per call on a few frames).
    """

    def __init__(self, model: nn.Module, channels: int = 1, tasnet: nn.Module | None = None) -> None:
        super().__init__(model, channels)
        tasnet = tasnet or model
        self.kernel = tasnet.masker.kernel()
        self.activation = tasnet.masker.activation
        self.encoder_weight = tasnet.encoder.conv.weight.detach()[:, 0, :].T.contiguous()  # (L, N)
        self.encoder_relu = isinstance(tasnet.encoder.activation, nn.ReLU)
        self.basis = tasnet.decoder.conv.weight.detach()[:, 0, :].contiguous()  # (N, L)
        self.reset()

    def reset(self) -> None:
        self.states = [self.kernel.initial_state() for _ in range(self.channels)]
        self.ola = _OverlapAdd(self.kernel_size, self.stride)
        self.aligner = _CausalEarAligner(self.model.n_src, self.model.max_lag) if self.channels == 2 else None

    def push(self, segment: torch.Tensor, frames: int) -> torch.Tensor:
        n_src = self.model.n_src
        length = (frames - 1) * self.stride + self.kernel_size
        waves = []
        for channel, state in enumerate(self.states):
            windows = segment[channel].unfold(-1, self.kernel_size, self.stride)  # (k, L)
            representation = windows @ self.encoder_weight  # (k, N)
            if self.encoder_relu:
                representation = representation.relu_()
            masks = self.activation(self.kernel.stream(representation, state).view(frames, n_src, -1))  # dim 1: sources
            pieces = masks.mul_(representation[:, None]).permute(1, 0, 2) @ self.basis  # (n_src, k, L)
            wave = F.fold(pieces.transpose(1, 2), output_size=(1, length), kernel_size=(1, self.kernel_size),
                          stride=(1, self.stride))  # (n_src, 1, 1, length): the overlap-add of the frames
            waves.append(wave.view(n_src, length))
        wave = waves[0][:, None] if len(waves) == 1 else torch.stack(waves, dim=1)  # (n_src, channels, length)
        return self._align(self.ola.add(wave, frames))


class _BinauralFeatureEngine(_MaskingEngine):
    """Causal ``binaural_cross`` and ``binaural_parallel`` (encoders + interaural features + one TCN)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model, 2)
        features = getattr(model, "features", None)
        self.context = features.window - features.kernel_size if features is not None else 0
        self.cross = model.model_name == "binaural_cross"
        self.kernel = model.masker.kernel()
        self.activation = model.masker.activation
        self.mask_channels = model.masker.mask_channels
        self.reset()

    def reset(self) -> None:
        batch = 2 if self.cross else 1  # cross: the two ears are a batch of the shared masker
        self.states = [self.kernel.initial_state() for _ in range(batch)]
        self.ola = _OverlapAdd(self.kernel_size, self.stride)
        self.aligner = _CausalEarAligner(self.model.n_src, self.model.max_lag) if self.cross else None

    def push(self, segment: torch.Tensor, frames: int) -> torch.Tensor:
        x = segment[None, :, self.context :]
        context = segment[None, :, : self.context] if self.context else None
        encoded, masker_input = self.model.encode(x, context)  # masker_input (batch, C, k)
        masks = torch.stack([self.kernel.stream(example.T, state).T for example, state in zip(masker_input, self.states)])
        masks = self.activation(masks.reshape(len(self.states), self.model.n_src, self.mask_channels, frames))
        wave = self.model.decode(masks, encoded)[0]  # (n_src, 2, samples)
        return self._align(self.ola.add(wave, frames))


def dprnn_chunks_step(masker: nn.Module, chunks: torch.Tensor, states: list[Any],
                      first_is_padding: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, list[Any]]:
    """The chunks of a causal DPRNN stream through its dual-path blocks: the step of the
    PyTorch streaming engine and of the fixed-block (ONNX) step.

    Args:
        masker: the DPRNN's masker.
        chunks: ``(1, C, K, n)`` the next ``n`` chunks of bottleneck features.
        states: each block's inter-chunk RNN state (``None``: zeros); a new list is returned.
        first_is_padding: see :meth:`voxsep.models.dprnn.DualPathRNNBlock.step`.

    Returns:
        the chunks' per-source outputs split in halves, ``first`` and ``second`` ``(n_src,
        C, K/2, n)``, and the new states.
    """
    states = list(states)
    for i, block in enumerate(masker.blocks):
        chunks, states[i] = block.step(chunks, states[i], first_is_padding)
    n_chunks, hop = chunks.shape[-1], chunks.shape[2] // 2
    chunks = masker.to_sources(chunks).reshape(masker.n_src, -1, 2 * hop, n_chunks)  # (n_src, C, K, n)
    return chunks[..., :hop, :], chunks[..., hop:, :], states


def _hops_done(first: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
    """Overlap-add (:func:`voxsep.nn.dual_path.overlap_add`): the frames of a hop are the mean
    of a chunk's first half and the previous chunk's second half; ``(n_src, C, hop, n)`` →
    ``(n_src, C, n * hop)``."""
    done = (first + previous) * 0.5
    n_src, channels, hop, n_done = done.shape
    return done.permute(0, 1, 3, 2).reshape(n_src, channels, n_done * hop)


class _DPRNNEngine(_Engine):
    """Causal DPRNN: chunks of K frames (hop K/2) are run when complete; the inter-chunk
    (unidirectional) RNN of every block carries its state from chunk to chunk."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model, 1)
        masker = model.masker
        self.chunk = masker.chunk_size
        self.hop = self.chunk // 2
        self.lookahead_frames = self.chunk - 1
        self.reset()

    def reset(self) -> None:
        masker = self.model.masker
        channels = masker.bottleneck.out_channels
        self.features = torch.zeros(1, channels, self.hop)  # segment()'s front padding: frames -hop..-1
        self.pending = torch.zeros(1, self.model.encoder.conv.out_channels, 0)  # encoder frames awaiting masks
        self.second_half: torch.Tensor | None = None  # previous chunk's second half (to_sources output)
        self.rnn_states: list[Any] = [None] * len(masker.blocks)
        self.ola = _OverlapAdd(self.kernel_size, self.stride)
        self.frames_in = 0
        self.chunks_done = 0

    def _run_chunks(self) -> torch.Tensor:
        """Run every complete chunk; return the bottleneck features of the frames now final."""
        masker = self.model.masker
        n_chunks = (self.features.shape[-1] - self.chunk) // self.hop + 1 if self.features.shape[-1] >= self.chunk else 0
        if n_chunks <= 0:
            return self.features.new_zeros(masker.n_src, self.features.shape[1], 0)
        chunks = torch.stack(
            [self.features[..., s * self.hop : s * self.hop + self.chunk] for s in range(n_chunks)], dim=-1
        )  # (1, C, K, n_chunks), as voxsep.nn.dual_path.segment
        self.features = self.features[..., n_chunks * self.hop :]
        self.chunks_done += n_chunks
        first, second, self.rnn_states = dprnn_chunks_step(masker, chunks, self.rnn_states)
        previous = second[..., :-1]
        if self.second_half is not None:
            previous = torch.cat([self.second_half, previous], dim=-1)
        else:  # the very first chunk's first half is segment()'s front padding
            first = first[..., 1:]
        self.second_half = second[..., -1:]
        return _hops_done(first, previous)

    def _decode(self, features: torch.Tensor, limit: int | None = None) -> torch.Tensor:
        if limit is not None:
            features = features[..., :limit]
        frames = features.shape[-1]
        if frames == 0:
            return self._empty()
        masks = self.model.masker.output(features, self.model.masker.n_src)  # (1, n_src, N, frames)
        representation, self.pending = self.pending[..., :frames], self.pending[..., frames:]
        wave = self.model.decode(masks, representation)[0]  # (n_src, 1, samples)
        return self.ola.add(wave, frames)

    def push(self, segment: torch.Tensor, frames: int) -> torch.Tensor:
        masker = self.model.masker
        representation = self.model.encoder(segment[None])  # (1, N, frames)
        self.pending = torch.cat([self.pending, representation], dim=-1)
        self.features = torch.cat([self.features, masker.bottleneck(masker.input_norm(representation))], dim=-1)
        self.frames_in += frames
        return self._decode(self._run_chunks())

    def finish(self) -> torch.Tensor:
        # segment() pads the features with zeros to ceil(frames / hop) + 1 whole chunks
        total_chunks = -(-self.frames_in // self.hop) + 1
        # the feature buffer starts at frame (chunks_done - 1) * hop; chunk s ends at (s + 1) * hop
        missing = (total_chunks - self.chunks_done + 1) * self.hop - self.features.shape[-1]
        self.features = F.pad(self.features, (0, max(missing, 0)))
        out = self._decode(self._run_chunks(), limit=self.pending.shape[-1])
        tail = self.ola.finish()
        return out if tail is None else torch.cat([out, tail], dim=-1)


def _engine_for(model: nn.Module) -> _Engine:
    name = getattr(model, "model_name", "") or type(model).__name__
    if name not in SUPPORTED:
        raise ValueError(
            f"streaming is not available for {name!r}; it supports the causal models {', '.join(SUPPORTED)}"
        )
    if not getattr(model, "causal", False):
        raise ValueError(
            f"{name} is not causal: its output depends on the whole signal, so it cannot stream; "
            f"build and train it with causal=True (e.g. models.build({name!r}, causal=True))"
        )
    if name == "conv_tasnet":
        return _TasNetEngine(model)
    if name == "binaural_independent":
        return _TasNetEngine(model, channels=2, tasnet=model.tasnet)
    if name == "dprnn":
        return _DPRNNEngine(model)
    return _BinauralFeatureEngine(model)


# --------------------------------------------------------------------------- API
def check_block_ms(block_ms: object, name: str = "block_ms") -> float:
    """``block_ms`` as a float if it is a finite number of milliseconds above 0.

    Raises:
        ValueError: naming the setting (``name``, e.g. the CLI option) and the value.
    """
    if isinstance(block_ms, bool) or not isinstance(block_ms, (int, float)) or not math.isfinite(block_ms) \
            or block_ms <= 0:
        raise ValueError(f"{name} must be a finite number of milliseconds above 0 (e.g. 10), got {block_ms!r}")
    return float(block_ms)


#: Time constant (s) of the running moments of the stream's output level rule.
LEVEL_SECONDS = 5.0
#: The stream's output gains are solved once per hop of this many seconds.
LEVEL_HOP_SECONDS = 0.01


class StreamingLevel:
    """The offline output level rule (:func:`voxsep.inference.separate.least_squares_gains`:
    one gain per output, shared by its channels, so that the outputs' sum best matches the
    mixture), decided causally for a stream.

    The Gram matrix of the outputs and their products with the mixture are kept as running
    sums that forget with time constant ``seconds``; at the end of each ``LEVEL_HOP_SECONDS``
    hop the gains are solved from the sums so far, and the next hop's samples ramp linearly
    from the previous gains to these (no click). Nothing after a sample is used for it (no
    added latency), and the decisions fall on hops of the stream, not on its blocks, so any
    block split gives the same output. The stream passes unscaled until it carries a signal.

    Args:
        n_src: outputs of the stream.
        sample_rate: rate of the stream.
        seconds: time constant of the running moments (default ``LEVEL_SECONDS``).
    """

    def __init__(self, n_src: int, sample_rate: int, seconds: float = LEVEL_SECONDS) -> None:
        self.n_src, self.sample_rate = int(n_src), int(sample_rate)
        self.hop = max(1, int(round(LEVEL_HOP_SECONDS * sample_rate)))
        self.forget = math.exp(-self.hop / (float(seconds) * self.sample_rate))
        self.reset()

    def reset(self) -> None:
        """Forget the stream."""
        self._gram = torch.zeros(self.n_src, self.n_src, dtype=torch.float64)  # running sums
        self._cross = torch.zeros(self.n_src, dtype=torch.float64)
        self._filled = 0  # samples of the current hop heard
        self.gains = torch.ones(self.n_src, dtype=torch.float64)  # reached at the end of this hop's ramp
        self._start = self.gains.clone()  # the ramp's start

    def process(self, outputs: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
        """Scale the next samples: ``outputs (n_src, [channels,] n)``, ``mixture ([channels,] n)``
        (the input the outputs were made from, aligned with them) -> a new tensor like ``outputs``."""
        out = torch.empty_like(outputs)
        for piece in hop_pieces(outputs.shape[-1], self.hop, self._filled):
            out[..., piece] = self._scaled(outputs[..., piece])
            if self._filled == 0:  # a new hop: the sums so far fade by one hop
                self._gram *= self.forget
                self._cross *= self.forget
            flat = outputs[..., piece].reshape(self.n_src, -1).double()
            self._gram += flat @ flat.T
            self._cross += flat @ mixture[..., piece].reshape(-1).double()
            self._filled += piece.stop - piece.start
            if self._filled == self.hop:
                self._solve()
        return out

    def _scaled(self, piece: torch.Tensor) -> torch.Tensor:
        steps = torch.arange(self._filled + 1, self._filled + piece.shape[-1] + 1, dtype=torch.float64) / self.hop
        gains = self._start[:, None] + (self.gains - self._start)[:, None] * steps  # (n_src, n)
        return piece * gains.to(piece.dtype).view((self.n_src,) + (1,) * (piece.dim() - 2) + (-1,))

    def _solve(self) -> None:
        self._filled = 0
        heard = float(self._gram.diagonal().sum()) > 1e-20  # before any signal: keep the gains
        self._start, self.gains = self.gains, gains_from_moments(self._gram, self._cross) if heard else self.gains


class StreamingSeparator:
    """Block-by-block separation with a causal voxsep model (see the module docstring).

    Args:
        model: a causal voxsep model (``causal=True``).
        sample_rate: the stream's sample rate; must be the model's (checked when given).
        track_talkers: keep one person per output by voice (module docstring, "Talker
            order"); needs the speaker encoder (``resemblyzer``).
        match_level: scale the outputs so that their sum matches the mixture, from the past
            (module docstring, "Output level"; :class:`StreamingLevel`).

    Attributes:
        latency_samples: output delay, in samples, at which any block split is exact.
        sample_rate, n_src, in_channels: the model's.
        talker_order: the :class:`~voxsep.inference.order.StreamingTalkerOrder` of the
            stream, or ``None`` without ``track_talkers``.
        level: the :class:`StreamingLevel` of the stream, or ``None`` without ``match_level``.

    Raises:
        ValueError: the model is not causal or cannot stream, or the rates differ (or
            ``sample_rate`` is not a whole number of Hz in voxsep's range).
        VoiceEncoderUnavailable: ``track_talkers`` without the speaker encoder.
    """

    #: ``process`` runs longer blocks in pieces of this many seconds (memory stays bounded).
    MAX_PIECE_SECONDS = 1.0

    def __init__(self, model: nn.Module, sample_rate: int | None = None, track_talkers: bool = False,
                 match_level: bool = False) -> None:
        from voxsep.core.audio import check_sample_rate

        model_rate = int(model.sample_rate)
        if sample_rate is not None:
            sample_rate = check_sample_rate(sample_rate, "the stream's sample_rate")  # 8000.7 is not 8000
        if sample_rate is not None and sample_rate != model_rate:
            raise ValueError(
                f"the stream is at {sample_rate} Hz but the model works at {model_rate} Hz; resample the "
                f"stream to {model_rate} Hz before process() (resampling a stream is the caller's job)"
            )
        self.model = model.eval().float().cpu()
        self.engine = _engine_for(self.model)
        self.sample_rate = model_rate
        self.n_src = int(model.n_src)
        self.in_channels = int(getattr(model, "in_channels", 1))
        self.kernel_size, self.stride = self.engine.kernel_size, self.engine.stride
        self.latency_samples = self.engine.lookahead_frames * self.stride + self.kernel_size - 1
        self.talker_order = None
        if track_talkers:
            from voxsep.inference.order import StreamingTalkerOrder

            self.talker_order = StreamingTalkerOrder(self.n_src, self.sample_rate)
        self.level = StreamingLevel(self.n_src, self.sample_rate) if match_level else None
        self._numpy = True  # flush() answers in the type of the last block
        self.reset()

    @classmethod
    def from_model(cls, model: nn.Module, sample_rate: int | None = None, track_talkers: bool = False,
                   match_level: bool = False) -> "StreamingSeparator":
        """Stream with ``model`` (a causal voxsep model); ``sample_rate`` is checked against it."""
        return cls(model, sample_rate, track_talkers, match_level)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, sample_rate: int | None = None,
                        track_talkers: bool = False, match_level: bool = False) -> "StreamingSeparator":
        """Load a voxsep checkpoint (``.pt``) of a causal model."""
        from voxsep import checkpoint

        model, _ = checkpoint.load(path)
        return cls(model, sample_rate, track_talkers, match_level)

    @classmethod
    def from_pretrained(cls, name: str | None = None, track_talkers: bool = False,
                        match_level: bool = True) -> "StreamingSeparator":
        """A causal model bundled with voxsep (default: ``voxsep.pretrained.STREAMING_MODEL``),
        with the output level rule on by default (its outputs' levels are otherwise arbitrary)."""
        from voxsep import pretrained

        return cls.from_checkpoint(pretrained.pretrained_path(name or pretrained.STREAMING_MODEL),
                                   track_talkers=track_talkers, match_level=match_level)

    def reset(self) -> None:
        """Forget the stream: the next ``process`` starts a new one."""
        self.engine.reset()
        self._buffer = torch.zeros(self.in_channels, self.engine.context)  # samples of frames not yet run
        self._samples = 0  # samples received
        self._frames = 0  # encoder frames run
        self._queue = torch.zeros(self.n_src, self.in_channels, self.latency_samples)  # finished, not yet returned
        self._heard = torch.zeros(self.in_channels, self.latency_samples)  # input of the queued outputs
        if self.talker_order is not None:
            self.talker_order.reset()
        if self.level is not None:
            self.level.reset()

    def _as_block(self, block: Any) -> torch.Tensor:
        tensor = torch.as_tensor(block) if not isinstance(block, torch.Tensor) else block
        if not tensor.is_floating_point():
            raise ValueError(f"the block must hold floating-point samples, got {tensor.dtype}")
        expected = "(n,) or (1, n)" if self.in_channels == 1 else f"({self.in_channels}, n)"
        if self.in_channels == 1 and tensor.dim() == 1:
            tensor = tensor.unsqueeze(0)
        if tensor.dim() != 2 or tensor.shape[0] != self.in_channels:
            raise ValueError(
                f"{self.model.model_name} streams {self.in_channels}-channel audio: a block must have shape "
                f"{expected}, got {tuple(tensor.shape)}"
            )
        if tensor.shape[-1] < 1:
            raise ValueError("a block must hold at least one sample per channel, got 0")
        tensor = tensor.detach().to("cpu", torch.float32)
        finite = tensor.isfinite()
        if not bool(finite.all()):  # one NaN would spoil every later output through the model's state
            bad = int((~finite).sum())
            raise ValueError(
                f"the block contains {bad} NaN or infinite sample(s) (as float32); it was not used and the stream "
                "goes on as before it: clean the samples and give the block again, or reset()"
            )
        return tensor

    def _output(self, out: torch.Tensor, like: Any) -> Any:
        if self.in_channels == 1:
            out = out[:, 0]
        return out if isinstance(like, torch.Tensor) else out.numpy()

    def _run(self, frames_total: int) -> None:
        frames = frames_total - self._frames
        if frames <= 0:
            return
        used = self.engine.context + (frames - 1) * self.stride + self.kernel_size
        finished = self.engine.push(self._buffer[:, :used], frames)
        self._buffer = self._buffer[:, frames * self.stride :]
        self._frames = frames_total
        self._queue = torch.cat([self._queue, finished], dim=-1)

    def process(self, block: Any) -> Any:
        """Separate the next block: ``(n,)`` mono (or ``(channels, n)``), any ``n >= 1``.

        Returns the next ``n`` output samples, ``(n_src, n)`` (``(n_src, channels, n)``
        for multichannel models), a numpy array for a numpy block, a tensor for a tensor.
        Output sample ``i`` of the stream is the offline output at ``i - latency_samples``.
        A block longer than ``MAX_PIECE_SECONDS`` is run in pieces of that length (same
        output, bounded memory). A block with NaN or infinite samples is refused
        (``ValueError``) and leaves the stream as it was.
        """
        samples = self._as_block(block)
        self._numpy = not isinstance(block, torch.Tensor)
        n = samples.shape[-1]
        piece = max(int(self.sample_rate * self.MAX_PIECE_SECONDS), 1)
        if n > piece:  # a long block runs in pieces: memory bounded, the same output (any split is exact)
            outs = [self._process(samples[:, start:start + piece]) for start in range(0, n, piece)]
            return self._output(torch.cat(outs, dim=-1), block)
        return self._output(self._process(samples), block)

    def _process(self, samples: torch.Tensor) -> torch.Tensor:
        n = samples.shape[-1]
        with torch.inference_mode():
            self._buffer = torch.cat([self._buffer, samples], dim=-1)
            self._samples += n
            if self._samples >= self.kernel_size:
                self._run((self._samples - self.kernel_size) // self.stride + 1)
            out, self._queue = self._queue[..., :n], self._queue[..., n:]
            assert out.shape[-1] == n, "internal error: the latency does not cover this block"
            return self._finished(out, samples)

    def _finished(self, out: torch.Tensor, samples: torch.Tensor) -> torch.Tensor:
        """``out`` (a copy) with the output level and then the talker order applied;
        ``samples``: the input just received."""
        if self.talker_order is None and self.level is None:
            return out.clone()
        self._heard = torch.cat([self._heard, samples], dim=-1)
        heard, self._heard = self._heard[..., : out.shape[-1]], self._heard[..., out.shape[-1]:]
        if self.level is not None:
            out = self.level.process(out, heard)
        return out if self.talker_order is None else self.talker_order.process(out, heard)

    def flush(self) -> Any:
        """End the stream: the last ``latency_samples`` output samples, then ``reset()``.

        The stream's end is padded as the offline model pads a signal (zeros up to the
        length the encoder tiles), so the whole stream equals the offline output.
        """
        with torch.inference_mode():
            if self._samples:
                padded = frames_needed(self._samples, self.kernel_size, self.stride)
                self._buffer = F.pad(self._buffer, (0, padded - self._samples))
                self._run((padded - self.kernel_size) // self.stride + 1)
                self._queue = torch.cat([self._queue, self.engine.finish()], dim=-1)
            out = self._finished(self._queue[..., : self.latency_samples], torch.zeros(self.in_channels, 0))
        self.reset()
        return self._output(out, None if self._numpy else out)

    def __repr__(self) -> str:
        return (
            f"StreamingSeparator({self.model.model_name}, sample_rate={self.sample_rate}, n_src={self.n_src}, "
            f"latency_samples={self.latency_samples})"
        )


# --------------------------------------------------------------------------- fixed-block step
STEP_MODELS = ("conv_tasnet", "binaural_independent", "binaural_cross", "binaural_parallel")
EARS = ("left", "right")


class TasNetBlockStep(nn.Module):
    """One streaming step of a causal TCN model on a block of a fixed size, as a pure function.

    Models: causal Conv-TasNet and the causal binaural variants (``binaural_independent``,
    ``binaural_cross``, ``binaural_parallel``).

    ``forward(block, *state) -> (output, *next_state)``: ``block`` ``(channels, block_size)``
    (``channels`` = 1, or 2 for the binaural models), ``output`` ``(n_src, channels,
    block_size)``; every state tensor is read and a new one returned (nothing is written in
    place), so the step can be exported (ONNX, see
    :func:`voxsep.inference.export.export_streaming_onnx`) or compiled with static shapes.
    :attr:`state_names` / :meth:`initial_state` give the state in order.

    **Fixed frames per step.** ``block_size`` must be a multiple of the encoder stride S
    (and L a multiple of S); the state keeps the last ``L - S`` input samples (binaural
    cross / parallel: also the interaural-feature window's ``window - L`` before them), so
    every step runs exactly ``block_size / S`` encoder frames. At the start of the stream
    these samples are zeros: the first ``L / S - 1`` frames (``frame_index`` below) lie
    before the stream and are *masked*: they do not enter the cumulative-norm statistics,
    their depthwise-convolution history is zero (the offline causal padding) and their
    masks are zero, so they add nothing to the output. The output is therefore the offline
    causal forward of the stream delayed by ``latency_samples = L - S`` (8 samples, 1 ms,
    for L=16 at 8 kHz): shorter than :class:`StreamingSeparator`'s ``L - 1``, which holds
    for any block split. **End of a stream**: a step whose frames are all masked
    (``frame_index`` = :attr:`END_FRAME_INDEX`, any block) adds nothing, so its output
    begins with the stream's last ``L - S`` samples (ear-aligned where the model aligns).

    The masker is :meth:`voxsep.nn.tcn_kernel.TCNKernel.step`, the pure form of the TCN
    step the streaming engines run in place; the binaural cross / parallel encoders,
    interaural features and decoders are the model's own ``encode`` / ``decode``, as in
    the PyTorch streaming engine; the per-ear alignment is :func:`causal_align_step`.

    State: ``samples`` (channels, context + L - S) input samples, ``frame_index`` (1,) int64
    frames run (masked ones included), ``norm_stats`` (2 * layers + 1, 2) running sums and
    sums of squares of every cLN, ``ola`` (n_src, channels, L - S) decoder overlap-add
    tail, ``history<i>`` ((P - 1) d_i, H) the depthwise-convolution input of TCN layer i
    (frames-major). A model that runs its TCN once per ear (``binaural_independent``,
    ``binaural_cross``) has one ``norm_stats`` and ``history<i>`` per ear, named
    ``left_...`` and ``right_...``; one that aligns the ears adds the ear alignment's
    state ``align_left``, ``align_right``, ``align_correlation``, ``align_energy_right``,
    ``align_energy_left`` (:func:`ear_aligner_state`).
    """

    #: ``frame_index`` that masks every frame of a step (the end of a stream, see above).
    END_FRAME_INDEX = -(2**40)

    def __init__(self, model: nn.Module, block_size: int) -> None:
        super().__init__()
        name = getattr(model, "model_name", "") or type(model).__name__
        if name not in STEP_MODELS:
            raise ValueError(
                f"a fixed-block streaming step (ONNX streaming export) is available for "
                f"{', '.join(STEP_MODELS + ('dprnn',))} only (DPRNN: DPRNNBlockStep), not {name!r}; "
                f"StreamingSeparator streams {name!r} in PyTorch"
                + ("" if name in SUPPORTED else f" (if causal; it supports {', '.join(SUPPORTED)})")
            )
        _engine_for(model)  # refuses a non-causal model, naming causal=True
        self.model = model.eval()
        self.kernel_size, self.stride = int(model.kernel_size), int(model.stride)
        if self.kernel_size % self.stride:
            raise ValueError(f"the encoder kernel ({self.kernel_size}) must be a multiple of its stride ({self.stride})")
        if block_size < self.stride or block_size % self.stride:
            raise ValueError(
                f"the block ({block_size} samples) must be a positive multiple of the encoder stride "
                f"({self.stride} samples = {self.stride / model.sample_rate * 1e3:g} ms at {model.sample_rate} Hz)"
            )
        self.block_size = int(block_size)
        self.frames = self.block_size // self.stride
        self.overlap = self.kernel_size - self.stride
        self.masked_frames = self.kernel_size // self.stride - 1
        self.latency_samples = self.overlap
        self.n_src = int(model.n_src)
        self.channels = int(getattr(model, "in_channels", 1))
        # Conv-TasNet and binaural_independent: a Conv-TasNet per channel (encoder and
        # decoder as matrix products); cross / parallel: the model's encode / decode
        self.per_channel = name in ("conv_tasnet", "binaural_independent")
        tasnet = model.tasnet if name == "binaural_independent" else model
        features = getattr(model, "features", None)
        self.context = features.window - features.kernel_size if features is not None else 0
        self.streams = 2 if name in ("binaural_independent", "binaural_cross") else 1  # TCN runs per step
        self.align = name in ("binaural_independent", "binaural_cross") and self.n_src > 1
        self.max_lag = int(getattr(model, "max_lag", 0))
        self.kernel = tasnet.masker.kernel()  # the streaming engines' TCN step, in its pure form
        self.activation = tasnet.masker.activation
        self.mask_channels = tasnet.masker.mask_channels
        if self.per_channel:
            detach = lambda t: t.detach().clone()
            self.register_buffer("encoder_weight", detach(tasnet.encoder.conv.weight[:, 0, :].T), persistent=False)
            self.register_buffer("decoder_basis", detach(tasnet.decoder.conv.weight[:, 0, :].T), persistent=False)
            self.encoder_relu = isinstance(tasnet.encoder.activation, nn.ReLU)

    # ------------------------------------------------------------------ state
    def _prefixes(self) -> list[str]:
        return [""] if self.streams == 1 else [f"{ear}_" for ear in EARS]

    @property
    def state_names(self) -> list[str]:
        layers = len(self.kernel.blocks)
        names = ["samples", "frame_index", *(f"{p}norm_stats" for p in self._prefixes()), "ola"]
        names += [f"{p}history{i}" for p in self._prefixes() for i in range(layers)]
        if self.align:
            names += ["align_left", "align_right", "align_correlation", "align_energy_right", "align_energy_left"]
        return names

    def initial_state(self) -> list[torch.Tensor]:
        stats, *histories = self.kernel.step_state()
        state = [torch.zeros(self.channels, self.context + self.overlap), torch.zeros(1, dtype=torch.int64)]
        state += [stats.clone() for _ in range(self.streams)]
        state.append(torch.zeros(self.n_src, self.channels, self.overlap))
        state += [h.clone() for _ in range(self.streams) for h in histories]
        if self.align:
            state += ear_aligner_state(self.n_src, self.max_lag)
        return state

    # ------------------------------------------------------------------ step
    def forward(self, block: torch.Tensor, samples: torch.Tensor, frame_index: torch.Tensor,
                *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        k, stride, streams, layers = self.frames, self.stride, self.streams, len(self.kernel.blocks)
        stats, ola = state[:streams], state[streams]
        histories = [state[streams + 1 + s * layers : streams + 1 + (s + 1) * layers] for s in range(streams)]
        align_state = state[streams + 1 + streams * layers :]
        segment = torch.cat([samples, block], dim=-1)  # (channels, context + L - S + block)
        index = (frame_index + torch.arange(k, dtype=torch.int64))[:, None]  # (k, 1) incl. masked frames
        valid = (index >= self.masked_frames).to(torch.float32)  # frames before the stream (or after its end): 0
        count = (index - self.masked_frames + 1).clamp_min(1).to(torch.float32)  # valid frames so far

        def masker(x: torch.Tensor, s: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
            features, new_stats, *new_histories = self.kernel.step(x, count, valid, stats[s], *histories[s])
            return features, [new_stats, *new_histories]

        if self.per_channel:
            waves, new = [], []
            for channel in range(self.channels):
                # encoder: frames as one matrix product, frames-major (as the streaming engines)
                representation = segment[channel].unfold(-1, self.kernel_size, stride) @ self.encoder_weight  # (k, N)
                if self.encoder_relu:
                    representation = representation.relu()
                features, stream_state = masker(representation, channel)
                new.append(stream_state)
                masks = self.activation(features.view(k, self.n_src, -1)) * valid[:, :, None]  # masked frames: 0
                masked = (masks * representation[:, None]).permute(1, 2, 0)  # (n_src, N, k)
                waves.append(self._overlap_add(torch.matmul(self.decoder_basis, masked)))  # (n_src, (k-1) S + L)
            wave = torch.stack(waves, dim=1)  # (n_src, channels, (k - 1) S + L)
        else:
            x = segment[None, :, self.context :]
            context = segment[None, :, : self.context] if self.context else None
            encoded, masker_input = self.model.encode(x, context)  # masker_input (streams, C, k)
            outputs, new = [], []
            for s in range(streams):
                features, stream_state = masker(masker_input[s].T, s)
                outputs.append(features.T)
                new.append(stream_state)
            masks = self.activation(torch.stack(outputs).reshape(streams, self.n_src, self.mask_channels, k))
            wave = self.model.decode(masks * valid[:, 0], encoded)[0]  # (n_src, channels, (k - 1) S + L)
        wave = wave + F.pad(ola, (0, k * stride))
        output = wave[..., : k * stride]
        if self.align:
            output, *align_state = causal_align_step(output, self.max_lag, *align_state)
        next_state = [segment[:, k * stride :], frame_index + k, *(n[0] for n in new), wave[..., k * stride :]]
        next_state += [h for n in new for h in n[1:]]
        return (output, *next_state, *align_state)

    def _overlap_add(self, pieces: torch.Tensor) -> torch.Tensor:
        """``(n_src, L, k)`` decoder frames → ``(n_src, (k - 1) S + L)`` overlap-added (L = m S)."""
        n_src, _, k = pieces.shape
        stride, parts = self.stride, self.kernel_size // self.stride
        chunks = pieces.view(n_src, parts, stride, k).permute(0, 1, 3, 2).reshape(n_src, parts, k * stride)
        wave = F.pad(chunks[:, 0], (0, (parts - 1) * stride))
        for r in range(1, parts):
            wave = wave + F.pad(chunks[:, r], (r * stride, (parts - 1 - r) * stride))
        return wave


class DPRNNBlockStep(nn.Module):
    """One streaming step of a causal DPRNN on a block of a fixed size, as a pure function.

    ``forward(block, *state) -> (output, *next_state)`` as :class:`TasNetBlockStep`:
    ``block`` ``(1, block_size)``, ``output`` ``(n_src, 1, block_size)``, every state tensor
    read and a new one returned (exportable to ONNX with the inter-chunk LSTM states
    explicit). The chunks go through :func:`dprnn_chunks_step`, as in the PyTorch
    streaming engine.

    **Fixed chunks per step.** ``block_size`` must be a multiple of the chunk hop
    (``K/2`` frames, ``K/2 * S`` samples) and L of S: every step runs ``block_size / S``
    encoder frames (the first ``L / S - 1`` of the stream lie before it, as in
    :class:`TasNetBlockStep`) and ``m = block_size / (K/2 * S)`` chunks, the last of which
    ends with the newest complete hop. A chunk reads its whole K frames (bidirectional
    intra-chunk RNN), so a frame is final one chunk after it arrived: the output is the
    offline causal forward delayed by ``latency_samples = K * S`` (as
    :class:`StreamingSeparator`'s ``(K - 1) S + L - 1`` for L = 2 S). The very first
    chunk of a stream (chunk -1, before segment()'s front padding) is run and then
    forgotten: the inter-chunk state after it is the initial one again. Frames before the
    stream, or after its end (``frame_index`` = :attr:`END_FRAME_INDEX`), are *invalid*:
    zero features (as the offline padding) and zero masks. A stream ends with
    ``ceil(latency_samples / block_size)`` such steps; their output begins with the
    stream's last ``latency_samples`` samples.

    State: ``samples`` (1, L - S), ``frame_index`` (1,) int64, ``features`` (1, C, K - L/S
    + 1) the bottleneck features of the frames not yet in a whole chunk's first half,
    ``representation`` (1, N, same) their encoder output and ``valid`` (same,) their
    validity, ``second_half`` (n_src, C, K/2) the last chunk's second half, ``ola`` (n_src,
    1, L - S), then ``inter_h<i>`` (and ``inter_c<i>`` for LSTMs) (1, K, hidden) per block.
    """

    END_FRAME_INDEX = TasNetBlockStep.END_FRAME_INDEX

    def __init__(self, model: nn.Module, block_size: int) -> None:
        super().__init__()
        name = getattr(model, "model_name", "") or type(model).__name__
        if name != "dprnn":
            raise ValueError(f"DPRNNBlockStep runs a causal DPRNN, not {name!r}")
        _engine_for(model)  # refuses a non-causal model, naming causal=True
        self.model = model.eval()
        masker = model.masker
        self.kernel_size, self.stride = int(model.kernel_size), int(model.stride)
        self.chunk = int(masker.chunk_size)
        self.hop = self.chunk // 2
        if self.kernel_size % self.stride:
            raise ValueError(f"the encoder kernel ({self.kernel_size}) must be a multiple of its stride ({self.stride})")
        hop_samples = self.hop * self.stride
        if block_size < hop_samples or block_size % hop_samples:
            raise ValueError(
                f"the block ({block_size} samples) must be a positive multiple of the chunk hop "
                f"({self.hop} frames = {hop_samples} samples = {hop_samples / model.sample_rate * 1e3:g} ms at "
                f"{model.sample_rate} Hz)"
            )
        self.masked_frames = self.kernel_size // self.stride - 1
        if self.masked_frames > self.hop:
            raise ValueError(f"the encoder kernel ({self.kernel_size}) is longer than a chunk hop plus a stride")
        self.block_size = int(block_size)
        self.frames = self.block_size // self.stride
        self.chunks = self.frames // self.hop
        self.keep = 2 * self.hop - self.masked_frames  # frames carried to the next step
        self.overlap = self.kernel_size - self.stride
        self.latency_samples = self.chunk * self.stride
        self.n_src = int(model.n_src)
        self.channels = 1
        self.features = int(masker.bottleneck.out_channels)
        self.n_filters = int(model.encoder.conv.out_channels)
        rnn = masker.blocks[0].inter_rnn
        self.lstm = isinstance(rnn, nn.LSTM) or isinstance(getattr(rnn, "rnn", None), nn.LSTM)
        self.hidden = int(getattr(rnn, "rnn", rnn).hidden_size)

    @property
    def state_names(self) -> list[str]:
        names = ["samples", "frame_index", "features", "representation", "valid", "second_half", "ola"]
        for i in range(len(self.model.masker.blocks)):
            names += [f"inter_h{i}"] + ([f"inter_c{i}"] if self.lstm else [])
        return names

    def initial_state(self) -> list[torch.Tensor]:
        state = [
            torch.zeros(1, self.overlap),
            torch.zeros(1, dtype=torch.int64),
            torch.zeros(1, self.features, self.keep),
            torch.zeros(1, self.n_filters, self.keep),
            torch.zeros(self.keep),
            torch.zeros(self.n_src, self.features, self.hop),
            torch.zeros(self.n_src, 1, self.overlap),
        ]
        per_block = 2 if self.lstm else 1
        state += [torch.zeros(1, self.chunk, self.hidden) for _ in range(per_block * len(self.model.masker.blocks))]
        return state

    def forward(self, block: torch.Tensor, samples: torch.Tensor, frame_index: torch.Tensor, features: torch.Tensor,
                representation: torch.Tensor, valid: torch.Tensor, second_half: torch.Tensor, ola: torch.Tensor,
                *rnn_state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        masker, k, hop, stride = self.model.masker, self.frames, self.hop, self.stride
        segment = torch.cat([samples, block], dim=-1)  # (1, L - S + block)
        new_representation = self.model.encoder(segment[None])  # (1, N, k)
        index = frame_index + torch.arange(k, dtype=torch.int64) - self.masked_frames  # offline frame of each
        new_valid = (index >= 0).to(torch.float32)  # before the stream (or after its end): invalid
        new_features = masker.bottleneck(masker.input_norm(new_representation)) * new_valid
        features = torch.cat([features, new_features], dim=-1)  # (1, C, keep + k)
        representation = torch.cat([representation, new_representation], dim=-1)
        valid = torch.cat([valid, new_valid])
        # m chunks (as voxsep.nn.dual_path.segment): the first starts one hop before the frames output now
        hops = features[..., : k + hop].reshape(1, self.features, self.chunks + 1, hop)
        chunks = torch.cat([hops[:, :, :-1], hops[:, :, 1:]], dim=-1).transpose(2, 3)  # (1, C, K, m)
        per_block = 2 if self.lstm else 1
        states = [tuple(rnn_state[i : i + 2]) if self.lstm else rnn_state[i] for i in range(0, len(rnn_state), per_block)]
        first, second, states = dprnn_chunks_step(masker, chunks, states, frame_index[0] == 0)
        previous = torch.cat([second_half[..., None], second[..., :-1]], dim=-1)
        done = _hops_done(first, previous)  # (n_src, C, k): the frames k - keep... before the newest
        masks = masker.output(done, self.n_src) * valid[:k]  # (1, n_src, N, k); invalid frames add nothing
        wave = self.model.decode(masks, representation[..., :k])[0] + F.pad(ola, (0, k * stride))
        output = wave[..., : k * stride]
        next_state = [segment[:, k * stride :], frame_index + k, features[..., k:], representation[..., k:], valid[k:],
                      second[..., -1], wave[..., k * stride :]]
        for state in states:
            next_state += list(state) if self.lstm else [state]
        return (output, *next_state)


def block_step(model: nn.Module, block_size: int) -> nn.Module:
    """The fixed-block streaming step of a causal model: :class:`DPRNNBlockStep` for DPRNN,
    :class:`TasNetBlockStep` otherwise (it names the models it takes)."""
    if (getattr(model, "model_name", "") or type(model).__name__) == "dprnn":
        return DPRNNBlockStep(model, block_size)
    return TasNetBlockStep(model, block_size)


# --------------------------------------------------------------------------- whole signals
class StreamTimes:
    """What :func:`stream_signal` measured: per-block compute times and the latency."""

    def __init__(self, times: list[float], block_size: int, sample_rate: int, latency_samples: int) -> None:
        self.times_ms = np.asarray(times, dtype=np.float64) * 1e3
        self.block_size, self.sample_rate, self.latency_samples = block_size, sample_rate, latency_samples
        self.block_ms = block_size / sample_rate * 1e3
        full = self.times_ms if len(self.times_ms) < 2 else self.times_ms[:-1]  # the last block may be short
        self.median_ms = float(np.median(full)) if len(full) else 0.0
        self.p99_ms = float(np.percentile(full, 99)) if len(full) else 0.0
        self.rtf = float(self.times_ms.sum() / max(len(self.times_ms), 1) / self.block_ms) if len(self.times_ms) else 0.0
        self.latency_ms = latency_samples / sample_rate * 1e3

    def summary(self) -> str:
        return (
            f"{self.block_ms:g} ms blocks ({self.block_size} samples, {len(self.times_ms)} blocks): RTF {self.rtf:.3f}, "
            f"block time median {self.median_ms:.2f} ms, p99 {self.p99_ms:.2f} ms; latency {self.latency_samples} "
            f"samples ({self.latency_ms:.2f} ms) algorithmic, {self.latency_ms + self.block_ms:.2f} ms with the block"
        )


def stream_signal(st: StreamingSeparator, mixture: Any, block_size: int) -> tuple[torch.Tensor, StreamTimes]:
    """Run a whole ``mixture`` (``(n,)`` or ``(channels, n)``, the model's rate) through ``st``
    in blocks of ``block_size`` samples, timing each ``process`` call.

    Returns the estimates ``(n_src, n)`` (``(n_src, channels, n)``) aligned with the input
    (the stream's first ``latency_samples`` are dropped and ``flush`` completes the end, so
    they equal the offline causal forward) and the :class:`StreamTimes`.
    """
    if block_size < 1:
        raise ValueError(f"the block must hold at least one sample, got {block_size}")
    mixture = torch.as_tensor(mixture, dtype=torch.float32)
    st.reset()
    outputs, times = [], []
    for start in range(0, mixture.shape[-1], block_size):
        block = mixture[..., start : start + block_size]
        begin = time.perf_counter()
        outputs.append(st.process(block))
        times.append(time.perf_counter() - begin)
    outputs.append(st.flush())
    estimates = torch.cat(outputs, dim=-1)[..., st.latency_samples :]
    return estimates, StreamTimes(times, block_size, st.sample_rate, st.latency_samples)
