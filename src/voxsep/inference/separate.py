"""Chunked separation of recordings of any length: ``separate_mixture``.

One function serves the Python API (``voxsep.Separator``), the ``voxsep separate``
command and the evaluator (docs/architecture.md, "One chunked inference function").

Long recordings are cut into overlapping chunks at the model's rate. Each chunk is
separated on its own, so memory is bounded by the chunk length, not the file length
(only the input, the preallocated output and one chunk's overlap are held). Because a
separation model may emit its talkers in any order, the order of every chunk is aligned
to the previous chunk on their common overlap: the permutation maximising the summed
normalised correlation between the two chunks' estimates there
(:func:`voxsep.core.pit.align_by_correlation`). The two chunks are
then cross-faded over the overlap with complementary raised-cosine (Hann) windows that
sum to one. Files no longer than one chunk are separated whole.

**One person per output over the whole file.** Correlation on the overlap cannot keep
the order where the model itself changes it -- after a pause, inside a chunk -- nor
decide it when an output is near-silent on the overlap. Recordings longer than
``TRACK_MIN_SECONDS`` therefore go through :func:`voxsep.inference.order.track_talkers`
after separation: who is talking (speaker embeddings) decides which output holds whom,
block by block (that module's docstring gives the rule).

**Output level rule.** Models trained with a scale-invariant loss (SI-SNR) return
estimates of arbitrary gain and sign. Every chunk's estimates are rescaled by the
least-squares gains ``g`` that make their sum best match the chunk's mixture,
``g = argmin ||mixture - sum_i g_i * estimate_i||^2`` (one gain per source, shared by all
channels of a multichannel estimate so interaural level differences are kept; a tiny
ridge term keeps silent chunks at zero). The estimates therefore come out at the level
of the talkers in the input, the same in every chunk, and with the right sign. Nothing
is clipped here; writers that need ``[-1, 1]`` (16-bit wav) scale all estimates of a
file down together (see ``voxsep.inference.api``).

**Counting talkers** (:func:`count_talkers`, ``Separator.separate(..., n_src="auto")``).
After the whole file is separated, each output is kept or dropped once for the whole
file -- never per chunk, so a talker who is silent in one chunk but speaks elsewhere
keeps the output. The rule: the file is cut into ``ACTIVITY_WINDOW_SECONDS`` windows;
an output is *active* in a window when its energy there is at most
``-ACTIVITY_THRESHOLD_DB`` dB below the mixture's energy in the same window (windows
where the mixture itself is more than ``SILENCE_FLOOR_DB`` below the file's loudest
window are ignored); an output is a talker when it is active for at least
``MIN_ACTIVE_SECONDS`` in total (or in every usable window of a shorter file). A kept
output whose normalised correlation with a louder kept output is at least
``DUPLICATE_CORRELATION`` in magnitude is dropped as a near-duplicate. A mixture of
silence or steady noise (:mod:`voxsep.inference.no_speech`) has no talker: every output
is dropped. Otherwise at least one output is always kept (the most active). The kept outputs are ordered by their first
active window. A model trained on a variable number of talkers (``data.n_src: [low,
high]``, ``si_snr_var`` loss) emits near-silence (about ``-snr_max`` dB) on its unused
outputs, well under the threshold.

The model is any ``torch.nn.Module`` with the voxsep contract
(``(batch, [channels,] time) -> (batch, n_src, [channels,] time)``) or any object with
``n_src``/``sample_rate`` that is callable on numpy arrays of that shape (``OnnxModel``).
"""

from __future__ import annotations

import ctypes
import functools
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from voxsep.core.audio import check_finite
from voxsep.core.pit import align_by_correlation

DEFAULT_CHUNK_SECONDS = 10.0
#: Recordings longer than this get their talker order restored by voice
#: (:func:`voxsep.inference.order.track_talkers`); shorter ones keep the model's order,
#: as a model keeps it over a few seconds of speech (and evaluation sets of single
#: utterances score the model itself).
TRACK_MIN_SECONDS = 10.0
DEFAULT_OVERLAP_SECONDS = 2.0
MIN_CHUNK_SECONDS = 0.5  # shorter chunks give the model too little context to tell the talkers apart
_RIDGE = 1e-6

#: Talker counting (:func:`count_talkers`): an output is active in a window when its
#: energy is within this many dB of the mixture's there (i.e. above ``-35 dB`` relative).
#: Chosen on validation voices with the bundled model (170 one-talker and 167 two-talker
#: recordings of ``1speaker/`` and ``2speakers/valid_real.csv``): -25 dB dropped the
#: second talker of 9 two-talker recordings (all one-talker ones right), -35 dB of 5
#: (one one-talker recording counted as two); lower thresholds drop fewer talkers but
#: count many more lone talkers twice (-50 dB: none dropped, 2.4 % of one-talker files
#: wrong on validation, 28 % on test). When in doubt an extra output costs a user less
#: than a lost person, hence -35 dB. A model trained on a range of counts leaves an
#: unused output about 55 dB down; a poorly separated real talker can sit 20-40 dB down.
ACTIVITY_THRESHOLD_DB = -35.0
ACTIVITY_WINDOW_SECONDS = 0.25
#: An output needs this much active time in the file to count as a talker.
MIN_ACTIVE_SECONDS = 0.5
#: Windows where the mixture is this far (dB) below its loudest window are not judged.
SILENCE_FLOOR_DB = -50.0
#: Outputs correlated at least this much (|normalised correlation|) are near-duplicates.
DUPLICATE_CORRELATION = 0.9


def check_chunking(
    chunk_seconds: float, overlap_seconds: float, chunk_name: str = "chunk_seconds",
    overlap_name: str = "overlap_seconds",
) -> None:
    """Refuse chunk settings that cannot work: ``chunk_seconds`` must be a finite number
    of at least ``MIN_CHUNK_SECONDS``, ``overlap_seconds`` between 0 and half a chunk.

    Raises:
        ValueError: naming the setting (``chunk_name`` / ``overlap_name``, e.g. the CLI option).
    """
    for name, value in ((chunk_name, chunk_seconds), (overlap_name, overlap_seconds)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number of seconds, got {value!r}")
    if chunk_seconds < MIN_CHUNK_SECONDS:
        raise ValueError(f"{chunk_name} must be at least {MIN_CHUNK_SECONDS} s (shorter chunks give the model too "
                         f"little context), got {chunk_seconds}")
    if not 0 <= overlap_seconds <= chunk_seconds / 2:
        raise ValueError(f"{overlap_name} must be between 0 and half the chunk length ({chunk_seconds / 2:g} s), "
                         f"got {overlap_seconds}")


def resolve_chunking(
    chunk_seconds: float | None = None, overlap_seconds: float | None = None, chunk_name: str = "chunk_seconds",
    overlap_name: str = "overlap_seconds",
) -> tuple[float, float]:
    """The one chunking rule: ``(chunk_seconds, overlap_seconds)`` with the defaults filled in.

    ``None`` takes ``DEFAULT_CHUNK_SECONDS`` / ``DEFAULT_OVERLAP_SECONDS``; an overlap
    left to its default is capped at half the chunk (a 3 s chunk overlaps by 1.5 s), an
    overlap given explicitly must fit (:func:`check_chunking`). Used by ``voxsep
    separate``, ``Separator``, ``evaluate`` and :func:`separate_mixture`.

    Raises:
        ValueError: as :func:`check_chunking`, naming ``chunk_name`` / ``overlap_name``.
    """
    chunk = DEFAULT_CHUNK_SECONDS if chunk_seconds is None else chunk_seconds
    overlap = DEFAULT_OVERLAP_SECONDS if overlap_seconds is None else overlap_seconds
    if overlap_seconds is None and isinstance(chunk, (int, float)) and math.isfinite(chunk):
        overlap = min(overlap, chunk / 2)
    check_chunking(chunk, overlap, chunk_name, overlap_name)
    return float(chunk), float(overlap)


def chunk_samples(sample_rate: int, chunk_seconds: float | None = None,
                  overlap_seconds: float | None = None) -> tuple[int, int]:
    """``(chunk_size, overlap)`` in samples at ``sample_rate`` of :func:`resolve_chunking`."""
    chunk, overlap = resolve_chunking(chunk_seconds, overlap_seconds)
    return int(round(chunk * sample_rate)), int(round(overlap * sample_rate))


def chunk_bounds(length: int, chunk_size: int, overlap: int) -> list[tuple[int, int]]:
    """Start/end sample of each chunk covering ``length`` samples.

    Chunks are ``chunk_size`` long with hop ``chunk_size - overlap``; the last chunk ends
    at ``length``. A last chunk shorter than half a chunk is merged into the one before
    it (which then grows to at most 1.5 chunks), so no chunk is tiny and no sample lies
    in more than two chunks.

    Raises:
        ValueError: ``overlap`` not in ``[0, chunk_size / 2]``.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1 sample, got {chunk_size}")
    if not 0 <= overlap <= chunk_size // 2:
        raise ValueError(
            f"overlap must be between 0 and half the chunk size ({chunk_size // 2} samples), got {overlap}"
        )
    if length <= chunk_size:
        return [(0, length)]
    hop = chunk_size - overlap
    n_chunks = max(1, math.ceil((length - overlap) / hop))
    if n_chunks > 1 and length - (n_chunks - 1) * hop < chunk_size // 2:
        n_chunks -= 1
    bounds = [(i * hop, i * hop + chunk_size) for i in range(n_chunks)]
    bounds[-1] = (bounds[-1][0], length)
    return bounds


def match_mixture_level(mixture: torch.Tensor, estimates: torch.Tensor) -> torch.Tensor:
    """The output level rule: ``estimates`` scaled by :func:`least_squares_gains`.

    Args:
        mixture: ``([channels,] samples)``.
        estimates: ``(n_src, [channels,] samples)``.

    Returns:
        The estimates, each multiplied by its gain (shared by its channels), so that
        their sum best matches the mixture.
    """
    n_src = estimates.shape[0]
    gains = least_squares_gains(mixture.reshape(-1), estimates.reshape(n_src, -1))
    return estimates * gains.to(estimates.dtype).view(n_src, *([1] * (estimates.dim() - 1)))


def least_squares_gains(mixture: torch.Tensor, estimates: torch.Tensor) -> torch.Tensor:
    """Gains ``g`` (n_src,) minimising ``||mixture - sum_i g_i estimates_i||^2``.

    Args:
        mixture: ``(samples,)`` (channels flattened).
        estimates: ``(n_src, samples)``.
    """
    est = estimates.double()
    return gains_from_moments(est @ est.T, est @ mixture.double())


def gains_from_moments(gram: torch.Tensor, cross: torch.Tensor) -> torch.Tensor:
    """:func:`least_squares_gains` from the moments of the signals: ``gram (n_src, n_src)``
    = ``estimates @ estimates.T`` and ``cross (n_src,)`` = ``estimates @ mixture`` (float64),
    so that a stream can keep running sums instead of the samples."""
    # Solve on unit-norm columns (estimates may differ in level by orders of magnitude),
    # with a small ridge so silent or duplicate estimates get finite gains.
    norms = gram.diagonal().clamp_min(0).sqrt().clamp_min(1e-12)
    unit_gram = gram / (norms[:, None] * norms[None, :])
    unit_gram = unit_gram + _RIDGE * torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
    return torch.linalg.solve(unit_gram, cross / norms) / norms


@functools.lru_cache(maxsize=1)
def _malloc_trim() -> Callable[[], None]:
    """glibc's ``malloc_trim(0)``, or a no-op where there is no glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return lambda: None
    return lambda: trim(0) and None


def _fade_in(length: int, device: torch.device) -> torch.Tensor:
    """Raised-cosine fade-in of ``length`` samples; ``1 - fade_in`` is its fade-out."""
    n = torch.arange(length, dtype=torch.float32, device=device)
    return 0.5 - 0.5 * torch.cos(math.pi * (n + 0.5) / length)


def _model_runner(model: Any, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function mapping a ``(1, [channels,] time)`` tensor to the model's estimates."""
    if isinstance(model, torch.nn.Module):
        model.to(device)
        model.eval()
        return lambda chunk: model(chunk.to(device)).float()

    def run_numpy(chunk: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.asarray(model(chunk.cpu().numpy()), dtype=np.float32)).to(device)

    return run_numpy


def _check_mixture(model: Any, mixture: torch.Tensor) -> int:
    channels = int(getattr(model, "in_channels", 1))
    if channels == 1 and mixture.dim() != 1:
        raise ValueError(
            f"this single-channel model expects a mixture of shape (time,), got {tuple(mixture.shape)}; "
            "downmix multichannel audio first (voxsep.Separator does this for you)"
        )
    if channels > 1 and (mixture.dim() != 2 or mixture.shape[0] != channels):
        raise ValueError(
            f"this {channels}-channel model expects a mixture of shape ({channels}, time), "
            f"got {tuple(mixture.shape)}"
        )
    if mixture.shape[-1] < 1:
        raise ValueError("the mixture is empty (0 samples)")
    check_finite(mixture, "the mixture")
    return channels


def separate_mixture(
    model: Any,
    mixture: torch.Tensor | np.ndarray,
    chunk_size: int | None = None,
    overlap: int | None = None,
    device: str | torch.device | None = None,
    *,
    progress: bool = False,
    track: bool | None = None,
) -> torch.Tensor:
    """Separate one recording of any length in overlapping, speaker-aligned chunks.

    Args:
        model: a voxsep model (``nn.Module``) or a numpy-callable such as ``OnnxModel``;
            it must have ``n_src`` and ``sample_rate`` and the mixture must be at that rate.
        mixture: ``(time,)`` for single-channel models or ``(channels, time)`` for
            multichannel (binaural) models, at ``model.sample_rate``.
        chunk_size: samples per chunk (default: :func:`chunk_samples` at the model's
            rate); recordings no longer than this are separated whole.
        overlap: samples shared by consecutive chunks, at most ``chunk_size / 2``
            (default ``DEFAULT_OVERLAP_SECONDS``, capped at half a chunk).
        device: where the model runs (default: the model's device, or CPU).
        progress: show a tqdm progress bar over the chunks (long recordings).
        track: restore one person per output by voice
            (:func:`voxsep.inference.order.track_talkers`); ``None``: for recordings longer
            than ``TRACK_MIN_SECONDS``.

    Returns:
        Estimates on CPU, float32, ``(n_src, time)`` or ``(n_src, channels, time)``,
        scaled by the least-squares output level rule of the module docstring.

    Raises:
        ValueError: wrong shape, empty mixture, NaN/inf samples, bad chunk settings.
    """
    if isinstance(mixture, np.ndarray):
        mixture = torch.from_numpy(np.ascontiguousarray(mixture))
    mixture = mixture.detach().to("cpu", torch.float32)
    _check_mixture(model, mixture)
    sample_rate = int(model.sample_rate)
    n_src = int(model.n_src)
    if chunk_size is None or overlap is None:
        default_chunk, default_overlap = chunk_samples(sample_rate)
        chunk_size = default_chunk if chunk_size is None else chunk_size
        overlap = min(default_overlap, chunk_size // 2) if overlap is None else overlap
    if device is None:
        params = next(model.parameters(), None) if isinstance(model, torch.nn.Module) else None
        device = params.device if params is not None else torch.device("cpu")
    device = torch.device(device)
    run = _model_runner(model, device)

    length = mixture.shape[-1]
    bounds = chunk_bounds(length, chunk_size, overlap)
    release_freed_memory = _malloc_trim() if len(bounds) > 1 else (lambda: None)
    output = torch.zeros((n_src, *mixture.shape), dtype=torch.float32)
    previous_tail: torch.Tensor | None = None  # previous chunk's estimates on the next overlap
    if progress and len(bounds) > 1:
        from tqdm import tqdm

        chunks = tqdm(bounds, desc="chunks", unit="chunk", leave=False)
    else:
        chunks = bounds
    with torch.inference_mode():
        for index, (start, end) in enumerate(chunks):
            chunk = mixture[..., start:end]
            estimates = run(chunk.unsqueeze(0))[0].cpu()  # (n_src, [channels,] samples)
            if estimates.shape != (n_src, *chunk.shape):
                raise ValueError(
                    f"the model returned estimates of shape {tuple(estimates.shape)} for a chunk of "
                    f"shape {tuple(chunk.shape)}; expected {(n_src, *chunk.shape)}"
                )
            estimates = match_mixture_level(chunk, estimates)
            if previous_tail is None:
                output[..., start:end] = estimates
            else:
                shared = previous_tail.shape[-1]
                head = estimates[..., :shared]
                perm = align_by_correlation(previous_tail.reshape(n_src, -1), head.reshape(n_src, -1))
                estimates = estimates[perm]
                fade = _fade_in(shared, estimates.device)
                output[..., start : start + shared] = previous_tail * (1 - fade) + estimates[..., :shared] * fade
                output[..., start + shared : end] = estimates[..., shared:]
            if index + 1 < len(bounds):
                next_start = bounds[index + 1][0]
                previous_tail = estimates[..., next_start - start :].clone()
            del estimates
            # Each chunk frees and reallocates the same large activation buffers; without
            # this, glibc's heap fragments and the resident size creeps up chunk after chunk
            # (measured: +60 MB per 10 minutes of audio with the paper Conv-TasNet).
            release_freed_memory()
    if track or (track is None and length > TRACK_MIN_SECONDS * sample_rate):
        output = _track(output, mixture, sample_rate)
    return output


def separate_batch(
    model: Any,
    mixtures: torch.Tensor,
    device: str | torch.device | None = None,
    *,
    track: bool | None = None,
) -> torch.Tensor:
    """:func:`separate_mixture` of several recordings of one length that each fit one chunk,
    in one call of the model (evaluation batches its sets with it): the same output level
    rule and, for recordings longer than ``TRACK_MIN_SECONDS`` (or ``track=True``), the
    same talker tracking, so each item equals ``separate_mixture`` of it up to float rounding.

    Args:
        model: as :func:`separate_mixture`.
        mixtures: ``(batch, time)`` or ``(batch, channels, time)``.
        device: where the model runs (default: the model's device, or CPU).
        track: as :func:`separate_mixture`.

    Returns:
        ``(batch, n_src, [channels,] time)`` estimates on CPU, float32.
    """
    mixtures = mixtures.detach().to("cpu", torch.float32)
    for mixture in mixtures:
        _check_mixture(model, mixture)
    if device is None:
        params = next(model.parameters(), None) if isinstance(model, torch.nn.Module) else None
        device = params.device if params is not None else torch.device("cpu")
    run = _model_runner(model, torch.device(device))
    with torch.inference_mode():
        estimates = run(mixtures).cpu()
    expected = (mixtures.shape[0], int(model.n_src), *mixtures.shape[1:])
    if tuple(estimates.shape) != expected:
        raise ValueError(f"the model returned estimates of shape {tuple(estimates.shape)} for mixtures of shape "
                         f"{tuple(mixtures.shape)}; expected {expected}")
    out = torch.stack([match_mixture_level(mixture, estimate) for mixture, estimate in zip(mixtures, estimates)])
    if track or (track is None and mixtures.shape[-1] > TRACK_MIN_SECONDS * int(model.sample_rate)):
        out = torch.stack([_track(estimate, mixture, int(model.sample_rate)) for mixture, estimate in zip(mixtures, out)])
    return out


def _track(estimates: torch.Tensor, mixture: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """:func:`voxsep.inference.order.track_talkers`, or the estimates unchanged (with a
    warning) where the speaker encoder is not installed."""
    from voxsep.inference.order import track_talkers
    from voxsep.inference.speaker import VoiceEncoderUnavailable

    try:
        return track_talkers(estimates, mixture, sample_rate)[0]
    except VoiceEncoderUnavailable as error:
        warnings.warn(f"talker order over the file is kept by chunk overlap only: {error}", stacklevel=3)
        return estimates


def _correlations(estimates: torch.Tensor | np.ndarray, piece: int = 1 << 20) -> np.ndarray:
    """Normalised correlations ``(n_src, n_src)`` of the outputs (channels pooled), piece by piece."""
    n_src = estimates.shape[0]
    flat = estimates.reshape(n_src, -1)
    gram = np.zeros((n_src, n_src))
    for start in range(0, flat.shape[-1], piece):
        part = flat[:, start: start + piece]
        part = (part.detach().cpu().numpy() if isinstance(part, torch.Tensor) else np.asarray(part)).astype(np.float64)
        gram += part @ part.T
    norms = np.sqrt(np.maximum(np.diag(gram), 1e-24))
    return gram / norms[:, None] / norms[None, :]


@dataclass
class TalkerCount:
    """What :func:`count_talkers` decided for one file.

    Attributes:
        kept: indices of the outputs kept, ordered by first activity.
        first_active: seconds of each kept output's first active window (same order).
        dropped: ``{output index: reason}`` for every output left out.
        active_seconds: active time of every output (indexed like the model's outputs).
    """

    kept: list[int]
    first_active: list[float]
    dropped: dict[int, str] = field(default_factory=dict)
    active_seconds: list[float] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.kept)


def count_talkers(
    estimates: torch.Tensor | np.ndarray,
    mixture: torch.Tensor | np.ndarray,
    sample_rate: int,
    threshold_db: float = ACTIVITY_THRESHOLD_DB,
    duplicates: bool = True,
    keep: int | None = None,
) -> TalkerCount:
    """Which outputs of a separated file are talkers (module docstring, "Counting talkers").

    Args:
        estimates: ``(n_src, [channels,] time)`` from :func:`separate_mixture` (whole file).
        mixture: ``([channels,] time)``, the input at the same rate.
        sample_rate: their rate.
        threshold_db: activity threshold relative to the mixture, per window.
        duplicates: also drop near-duplicate outputs (correlation).
        keep: keep exactly this many outputs instead (the most active ones), still ordered
            by first activity.

    Returns:
        A :class:`TalkerCount`.
    """
    from voxsep.core.audio import frame_energies

    n_src, length = estimates.shape[0], estimates.shape[-1]
    if tuple(estimates.shape[1:]) != tuple(mixture.shape):
        raise ValueError(f"estimates {tuple(estimates.shape)} and mixture {tuple(mixture.shape)} do not fit: expected "
                         "(n_src, [channels,] time) and ([channels,] time)")
    if keep is not None and not 1 <= keep <= n_src:
        raise ValueError(f"keep must be between 1 and the model's {n_src} outputs, got {keep}")
    window = max(1, int(round(ACTIVITY_WINDOW_SECONDS * sample_rate)))
    # Frame energies piece by piece: a long file is never copied whole (1 h at 8 kHz would
    # cost 0.7 GB more in float64).
    est_energy = torch.from_numpy(frame_energies(estimates, window))
    mix_energy = torch.from_numpy(frame_energies(mixture[None], window))[0]
    usable = mix_energy > max(float(mix_energy.max()) * 10.0 ** (SILENCE_FLOOR_DB / 10.0), 1e-20)
    active = (est_energy >= mix_energy * 10.0 ** (threshold_db / 10.0)) & usable  # (n_src, frames)
    active_frames = active.sum(-1)
    seconds = (active_frames * window / sample_rate).tolist()
    needed = max(1, min(math.ceil(MIN_ACTIVE_SECONDS * sample_rate / window), int(usable.sum())))
    energy = est_energy.sum(-1)
    if keep is None:  # silence or steady noise: no talker at all
        from voxsep.inference.no_speech import no_speech_reason

        reason = no_speech_reason(mixture, sample_rate)
        if reason:
            return TalkerCount(kept=[], first_active=[], dropped={i: reason for i in range(n_src)},
                               active_seconds=seconds)
    # most active first (ties: louder first)
    ranking = sorted(range(n_src), key=lambda i: (-int(active_frames[i]), -float(energy[i])))
    dropped: dict[int, str] = {}
    if keep is not None:
        kept = ranking[:keep]
        dropped = {i: f"not among the {keep} most active outputs" for i in ranking[keep:]}
    else:
        kept = [i for i in ranking if int(active_frames[i]) >= needed]
        for i in ranking:
            if i not in kept:
                dropped[i] = (f"silent (active {seconds[i]:.2f} s, less than {MIN_ACTIVE_SECONDS} s within "
                              f"{-threshold_db:g} dB of the mixture)")
        if duplicates and len(kept) > 1:
            rho = _correlations(estimates)
            by_energy = sorted(kept, key=lambda i: -float(energy[i]))
            for position, i in enumerate(by_energy):
                for j in by_energy[:position]:
                    if j in dropped:
                        continue
                    if abs(rho[i, j]) >= DUPLICATE_CORRELATION:
                        dropped[i] = f"near-duplicate of output {j + 1} (correlation {rho[i, j]:.2f})"
                        break
            kept = [i for i in kept if i not in dropped]
        if not kept:  # keep the most active output: a file has at least one
            kept = [ranking[0]]
            dropped.pop(ranking[0], None)
    first = {i: (int(torch.nonzero(active[i])[0]) * window / sample_rate if int(active_frames[i]) else math.inf)
             for i in kept}
    kept.sort(key=lambda i: (first[i], i))
    return TalkerCount(kept=kept, first_active=[first[i] for i in kept], dropped=dict(sorted(dropped.items())),
                       active_seconds=seconds)
