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
``(P - 1) * d`` frames of each TCN block's depthwise-convolution input
(:meth:`voxsep.nn.tcn.TemporalBlock.step`), the running sums of every cumulative layer
norm (:meth:`voxsep.nn.norms.CumulativeLayerNorm.step`), the inter-chunk LSTM states
(DPRNN), the decoder's overlap-add tail, the interaural-feature window (binaural cross /
parallel) and the running interaural correlations of the causal ear alignment (binaural
independent / cross). The cost of a block does not grow with the stream.

**Latency.** ``latency_samples`` is the delay that makes every split exact: an output
sample is final once the last encoder frame covering it has been computed, i.e. up to
``kernel_size - 1`` samples after it (Conv-TasNet and the binaural variants: 15 samples
= 1.9 ms for L=16 at 8 kHz). For causal DPRNN the intra-chunk BiLSTM reads its whole
chunk, so a frame's mask is known only when the *second* 50 %-overlapping chunk holding
it is complete: up to ``chunk_size - 1`` frames later, i.e. ``(chunk_size - 1) * stride +
kernel_size - 1`` samples (250 samples = 31 ms for the paper's K=250, L=2 at 8 kHz). The
time to compute a block adds to this on a real device.

**Models.** Causal Conv-TasNet (cLN), causal DPRNN and the causal binaural variants
(``binaural_independent``, ``binaural_cross``, ``binaural_parallel``: stereo in, stereo
per talker out). Non-causal models are refused: their output depends on the whole
signal. The stream must be at the model's sample rate — resampling a stream is the
caller's job. The model runs in float32 on the CPU, one stream at a time.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from voxsep.core.pit import best_permutation_tensor
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


class _CausalEarAligner:
    """Streaming form of ``align_ears(estimates, max_lag, causal=True)``.

    The running correlations of :func:`voxsep.models.binaural.causal_ear_similarity` are
    carried from block to block (per right/left pair and lag), with the energies and the
    last ``2 * max_lag`` left / ``max_lag`` right samples they still need; the right-ear
    permutation is then chosen per sample exactly as offline.
    """

    def __init__(self, n_src: int, max_lag: int) -> None:
        self.n_src, self.max_lag = n_src, max_lag
        lags = 2 * max_lag + 1
        self.left = torch.zeros(n_src, 2 * max_lag)
        self.right = torch.zeros(n_src, max_lag)
        self.correlation = torch.zeros(n_src, n_src, lags)
        self.energy_right = torch.zeros(n_src, 1)
        self.energy_left = torch.zeros(n_src, 1)

    def __call__(self, estimates: torch.Tensor) -> torch.Tensor:
        """``(n_src, 2, m)`` → the same with the right ear reordered per sample."""
        m = estimates.shape[-1]
        if self.n_src == 1 or m == 0:
            return estimates
        from voxsep.models.binaural import EPS

        left, right = estimates[:, 0].float(), estimates[:, 1].float()
        lag = self.max_lag
        left_ext = torch.cat([self.left, left], dim=-1)  # samples t0 - 2 lag .. t0 + m - 1
        right_ext = torch.cat([self.right, right], dim=-1)  # samples t0 - lag .. t0 + m - 1
        right_delayed = right_ext[:, :m]  # sample u = t - lag for t in the block
        lagged = torch.stack([left_ext[:, w : w + m] for w in range(2 * lag + 1)], dim=-1)  # (n, m, lags)
        products = right_delayed[:, None, :, None] * lagged[None]  # (right i, left j, m, lags)
        correlation = products.cumsum(2) + self.correlation[:, :, None]
        energy_right = right_delayed.pow(2).cumsum(-1) + self.energy_right
        energy_left = left_ext[:, lag : lag + m].pow(2).cumsum(-1) + self.energy_left
        energy = energy_right[:, None] * energy_left[None]  # (i, j, m)
        similarity = correlation.amax(-1) / (energy.sqrt() + EPS)
        perm = _right_ear_permutation(similarity.permute(2, 0, 1))  # (m, n_src)
        self.left, self.right = left_ext[:, -2 * lag :], right_ext[:, -lag:]
        self.correlation = correlation[:, :, -1]
        self.energy_right, self.energy_left = energy_right[:, -1:], energy_left[:, -1:]
        aligned_right = torch.gather(estimates[:, 1], 0, perm.T)
        return torch.stack([estimates[:, 0], aligned_right], dim=1)


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


class _TasNetEngine(_Engine):
    """Causal Conv-TasNet; ``binaural_independent`` runs its Conv-TasNet on both ears as a batch."""

    def __init__(self, model: nn.Module, channels: int = 1, tasnet: nn.Module | None = None) -> None:
        from voxsep.inference.fast_conv_tasnet import FastDecoder, FastEncoder

        super().__init__(model, channels)
        self.tasnet = tasnet or model
        # the encoder and decoder as matrix products (the fast inference path's, same
        # weights): PyTorch's strided / transposed convolutions cost ~100-200 µs per
        # call on a few frames
        self.encoder, self.decoder = FastEncoder(self.tasnet.encoder), FastDecoder(self.tasnet.decoder)
        self.aligner = None
        self.reset()

    def reset(self) -> None:
        self.state = self.tasnet.masker.initial_state(self.channels)
        self.ola = _OverlapAdd(self.kernel_size, self.stride)
        if self.channels == 2:
            self.aligner = _CausalEarAligner(self.model.n_src, self.model.max_lag)

    def push(self, segment: torch.Tensor, frames: int) -> torch.Tensor:
        representation = self.encoder(segment.unsqueeze(1))  # (channels, N, frames)
        masks, self.state = self.tasnet.masker.step(representation, self.state)
        masked = masks.mul_(representation.unsqueeze(1))  # as EncoderMaskerDecoder.decode
        wave = self.decoder(masked.flatten(0, 1)).view(self.channels, self.model.n_src, -1).transpose(0, 1)
        return self._align(self.ola.add(wave, frames))

    def finish(self) -> torch.Tensor:
        tail = self.ola.finish()
        return self._empty() if tail is None else self._align(tail)

    def _align(self, out: torch.Tensor) -> torch.Tensor:
        return self.aligner(out) if self.aligner is not None else out


class _BinauralFeatureEngine(_Engine):
    """Causal ``binaural_cross`` and ``binaural_parallel`` (encoders + interaural features + one TCN)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model, 2)
        features = getattr(model, "features", None)
        self.context = features.window - features.kernel_size if features is not None else 0
        self.cross = model.model_name == "binaural_cross"
        self.reset()

    def reset(self) -> None:
        batch = 2 if self.cross else 1  # cross: the two ears are a batch of the shared masker
        self.state = self.model.masker.initial_state(batch)
        self.ola = _OverlapAdd(self.kernel_size, self.stride)
        self.aligner = _CausalEarAligner(self.model.n_src, self.model.max_lag) if self.cross else None

    def push(self, segment: torch.Tensor, frames: int) -> torch.Tensor:
        x = segment[None, :, self.context :]
        context = segment[None, :, : self.context] if self.context else None
        encoded, masker_input = self.model.encode(x, context)
        masks, self.state = self.model.masker.step(masker_input, self.state)
        wave = self.model.decode(masks, encoded)[0]  # (n_src, 2, samples)
        return self._align(self.ola.add(wave, frames))

    def finish(self) -> torch.Tensor:
        tail = self.ola.finish()
        return self._empty() if tail is None else self._align(tail)

    def _align(self, out: torch.Tensor) -> torch.Tensor:
        return self.aligner(out) if self.aligner is not None else out


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
        for i, block in enumerate(masker.blocks):
            chunks, self.rnn_states[i] = block.step(chunks, self.rnn_states[i])
        chunks = masker.to_sources(chunks)
        chunks = chunks.reshape(masker.n_src, -1, self.chunk, n_chunks)  # (n_src, C, K, n_chunks)
        # overlap-add (voxsep.nn.dual_path.overlap_add): the frames of a hop are the mean of
        # this chunk's first half and the previous chunk's second half
        first, second = chunks[..., : self.hop, :], chunks[..., self.hop :, :]
        previous = second[..., :-1]
        if self.second_half is not None:
            previous = torch.cat([self.second_half, previous], dim=-1)
        else:  # the very first chunk's first half is segment()'s front padding
            first = first[..., 1:]
        self.second_half = second[..., -1:]
        done = (first + previous) * 0.5  # (n_src, C, hop, n)
        n_src, channels, _, n_done = done.shape
        return done.permute(0, 1, 3, 2).reshape(n_src, channels, n_done * self.hop)

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
class StreamingSeparator:
    """Block-by-block separation with a causal voxsep model (see the module docstring).

    Args:
        model: a causal voxsep model (``causal=True``).
        sample_rate: the stream's sample rate; must be the model's (checked when given).

    Attributes:
        latency_samples: output delay, in samples, at which any block split is exact.
        sample_rate, n_src, in_channels: the model's.

    Raises:
        ValueError: the model is not causal or cannot stream, or the rates differ.
    """

    def __init__(self, model: nn.Module, sample_rate: int | None = None) -> None:
        model_rate = int(model.sample_rate)
        if sample_rate is not None and int(sample_rate) != model_rate:
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
        self._numpy = True  # flush() answers in the type of the last block
        self.reset()

    @classmethod
    def from_model(cls, model: nn.Module, sample_rate: int | None = None) -> "StreamingSeparator":
        """Stream with ``model`` (a causal voxsep model); ``sample_rate`` is checked against it."""
        return cls(model, sample_rate)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, sample_rate: int | None = None) -> "StreamingSeparator":
        """Load a voxsep checkpoint (``.pt``) of a causal model."""
        from voxsep import checkpoint

        model, _ = checkpoint.load(path)
        return cls(model, sample_rate)

    def reset(self) -> None:
        """Forget the stream: the next ``process`` starts a new one."""
        self.engine.reset()
        self._buffer = torch.zeros(self.in_channels, self.engine.context)  # samples of frames not yet run
        self._samples = 0  # samples received
        self._frames = 0  # encoder frames run
        self._queue = torch.zeros(self.n_src, self.in_channels, self.latency_samples)  # finished, not yet returned

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
        return tensor.detach().to("cpu", torch.float32)

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
        """
        samples = self._as_block(block)
        self._numpy = not isinstance(block, torch.Tensor)
        n = samples.shape[-1]
        with torch.inference_mode():
            self._buffer = torch.cat([self._buffer, samples], dim=-1)
            self._samples += n
            if self._samples >= self.kernel_size:
                self._run((self._samples - self.kernel_size) // self.stride + 1)
            out, self._queue = self._queue[..., :n], self._queue[..., n:]
        assert out.shape[-1] == n, "internal error: the latency does not cover this block"
        return self._output(out.clone(), block)

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
            out = self._queue[..., : self.latency_samples].clone()
        self.reset()
        return self._output(out, None if self._numpy else out)

    def __repr__(self) -> str:
        return (
            f"StreamingSeparator({self.model.model_name}, sample_rate={self.sample_rate}, n_src={self.n_src}, "
            f"latency_samples={self.latency_samples})"
        )
