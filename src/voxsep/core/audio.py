"""Audio file I/O and resampling: ``read_audio``, ``write_audio``, ``resample``, ``audio_info``.

Everything libsndfile reads (wav, flac, ogg/vorbis, aiff, ...) is read to ``float32``
arrays shaped ``(channels, time)``. Resampling uses soxr (libsoxr, "VHQ" quality).
Writes are atomic: a temporary file in the destination folder renamed into place, so
an interrupted write never leaves a truncated file behind, and nothing existing is
overwritten unless ``overwrite=True``.

Every problem with a file raises :class:`AudioError` (a ``ValueError``) whose message
names the file and says what to do; a missing file raises :class:`AudioFileNotFoundError`,
which is both an ``AudioError`` and a ``FileNotFoundError``.

**Sample rates.** voxsep takes audio at ``MIN_SAMPLE_RATE`` (1000 Hz) to
``MAX_SAMPLE_RATE`` (384000 Hz), the range of real recordings (telephone speech is 8000
Hz, studio audio at most 384 kHz). A file or array outside it is refused by
:func:`check_sample_rate` (a header saying 1 Hz is a damaged file, and resampling it
would make thousands of samples of each one); within it, resampling changes the length
by a factor of at most 384, which bounds its time and memory.

**Full disks.** Audio is encoded in memory and written with ordinary file writes, so a
full disk raises ``OSError(errno.ENOSPC)`` ("no space left on device", see
:class:`voxsep.core.files.DiskFullError`) rather than libsndfile's unspecific "System
error.", and nothing is left under the destination's name.
"""

from __future__ import annotations

import io
import numbers
import os
import warnings
from pathlib import Path
from typing import Any, Iterable, Iterator, NamedTuple

import numpy as np
import soundfile as sf
import soxr

from voxsep.core.files import atomic_write_many

__all__ = [
    "frame_energies",
    "AudioError",
    "AudioFileNotFoundError",
    "AudioInfo",
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "active_rms",
    "audio_info",
    "check_sample_rate",
    "read_audio",
    "resample",
    "write_audio",
    "write_audio_files",
]

MIN_SAMPLE_RATE = 1_000
"""Lowest sample rate voxsep accepts, in Hz."""
MAX_SAMPLE_RATE = 384_000
"""Highest sample rate voxsep accepts, in Hz."""

#: File extensions voxsep treats as audio (what libsndfile reads, MP3 and Opus included);
#: the one list used by manifests, folder scans and ``voxsep separate``.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".aiff", ".aif", ".au", ".snd", ".w64", ".caf",
                    ".sph")
_SUBTYPES = ("PCM_16", "PCM_24", "PCM_32", "FLOAT", "VORBIS")


class AudioError(ValueError):
    """An audio file that cannot be used as asked; the message names the file."""


class AudioFileNotFoundError(AudioError, FileNotFoundError):
    """The audio file does not exist (also a ``FileNotFoundError``)."""


class AudioInfo(NamedTuple):
    """Header information of an audio file.

    Attributes:
        sample_rate: samples per second.
        frames: number of samples per channel.
        channels: number of channels.
    """

    sample_rate: int
    frames: int
    channels: int

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def check_sample_rate(sample_rate: object, what: str = "sample_rate") -> int:
    """``sample_rate`` as an ``int``, if it is a whole number of Hz in the accepted range.

    Args:
        sample_rate: the rate to check (an ``int``, or a float with no fraction).
        what: how to name it in the message (the argument, or the file it came from).

    Raises:
        TypeError: not a number (``None``, a string, ...).
        ValueError: not a whole number, or outside ``MIN_SAMPLE_RATE..MAX_SAMPLE_RATE``.
    """
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, numbers.Real):
        raise TypeError(f"{what} must be a number of samples per second (an int), got {sample_rate!r}")
    if sample_rate != sample_rate or abs(sample_rate) == float("inf") or sample_rate != int(sample_rate):  # NaN, inf, a fraction
        raise ValueError(f"{what} must be a whole number of Hz, got {sample_rate!r}")
    rate = int(sample_rate)
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise ValueError(
            f"{what} is {rate} Hz, outside the range voxsep accepts ({MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz)"
        )
    return rate


def _check_file_rate(path: Path, rate: int) -> None:
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioError(
            f"audio file {path} says its sample rate is {rate} Hz, outside the range voxsep accepts "
            f"({MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz); its header is probably damaged: re-create the file "
            "(or fix its rate with e.g. sox)"
        )


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise AudioFileNotFoundError(f"audio file not found: {path}; check the path (and the manifest it came from)")
    if path.is_dir():
        raise AudioError(f"{path} is a folder, not an audio file")


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Read the header of an audio file without decoding it.

    Args:
        path: the audio file.

    Returns:
        ``AudioInfo(sample_rate, frames, channels)``.

    Raises:
        AudioFileNotFoundError: the file does not exist.
        AudioError: the file is not a readable audio file.
    """
    path = Path(path)
    _check_exists(path)
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        raise AudioError(f"cannot read audio file {path}: {error}; is it a corrupt or unsupported file?") from error
    return AudioInfo(int(info.samplerate), int(info.frames), int(info.channels))


def read_audio(
    path: str | os.PathLike,
    sample_rate: int | None = None,
    channels: int | None = None,
    *,
    start: int = 0,
    frames: int | None = None,
) -> tuple[np.ndarray, int]:
    """Read an audio file as ``float32`` in ``[-1, 1]``, shaped ``(channels, time)``.

    Args:
        path: any file libsndfile reads (wav, flac, ogg, ...).
        sample_rate: resample to this rate with soxr if the file's rate differs;
            ``None`` keeps the file's rate.
        channels: expected channel count. ``1`` downmixes a multichannel file by
            averaging its channels; any other mismatch raises. ``None`` keeps all.
        start: first sample to read, at the file's own rate (for random crops
            without decoding the whole file).
        frames: number of samples to read from ``start`` at the file's rate;
            ``None`` reads to the end.

    Returns:
        ``(audio, sample_rate)``: audio ``(channels, time)`` float32 and its rate.

    Raises:
        AudioFileNotFoundError: the file does not exist.
        AudioError: unreadable/corrupt file, 0 samples, wrong channel count,
            NaN or infinite samples, a read window outside the file, or a sample
            rate outside ``MIN_SAMPLE_RATE..MAX_SAMPLE_RATE``.
    """
    path = Path(path)
    _check_exists(path)
    if start < 0 or (frames is not None and frames < 0):
        raise ValueError(f"start ({start}) and frames ({frames}) must be >= 0 when reading {path}")
    try:
        with sf.SoundFile(str(path)) as handle:
            file_rate, file_channels, total = int(handle.samplerate), int(handle.channels), int(handle.frames)
            _check_file_rate(path, file_rate)
            if total == 0:
                raise AudioError(f"audio file {path} is empty (0 samples); re-create or remove it")
            if start > total:
                raise AudioError(f"cannot read from sample {start} of {path}: it has only {total} samples")
            if start:
                handle.seek(start)
            data = handle.read(frames=-1 if frames is None else frames, dtype="float32", always_2d=True)
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        raise AudioError(f"cannot read audio file {path}: {error}; is it a corrupt or unsupported file?") from error
    if data.shape[0] == 0 and (frames is None or frames > 0):
        raise AudioError(f"audio file {path} has no samples to read from sample {start} (corrupt or truncated file?)")
    audio = np.ascontiguousarray(data.T)
    if not np.isfinite(audio).all():
        bad = int(np.count_nonzero(~np.isfinite(audio)))
        raise AudioError(f"audio file {path} contains {bad} NaN or infinite samples; re-create or remove it")
    if channels is not None:
        if channels == 1 and file_channels > 1:
            audio = audio.mean(axis=0, keepdims=True)
        elif channels != file_channels:
            raise AudioError(
                f"audio file {path} has {file_channels} channel(s), expected {channels}"
                + ("" if channels == 1 else "; only a downmix to mono (channels=1) is done automatically")
            )
    if sample_rate is not None and int(sample_rate) != file_rate:
        audio = resample(audio, file_rate, int(sample_rate))
        file_rate = int(sample_rate)
    return audio, file_rate


def resample(audio: np.ndarray, orig_sr: int, target_sr: int, quality: str = "VHQ") -> np.ndarray:
    """Resample along the last axis with soxr.

    Args:
        audio: array ``(..., time)``; a torch tensor is accepted and returned as one.
        orig_sr: its sample rate.
        target_sr: the wanted sample rate.
        quality: soxr quality, ``"VHQ"`` (default) or ``"HQ"`` (faster; used for
            on-the-fly speed perturbation).

    Returns:
        Array ``(..., round(time * target_sr / orig_sr))`` of the input dtype
        (float32 unless the input was float64).

    Raises:
        TypeError, ValueError: a rate that is not a whole number of Hz in
            ``MIN_SAMPLE_RATE..MAX_SAMPLE_RATE`` (:func:`check_sample_rate`).
    """
    orig_sr = check_sample_rate(orig_sr, "orig_sr")
    target_sr = check_sample_rate(target_sr, "target_sr")
    is_torch = type(audio).__module__.startswith("torch")
    if is_torch:
        import torch

        tensor = audio
        array = tensor.detach().cpu().numpy()
    else:
        array = np.asarray(audio)
    if int(orig_sr) == int(target_sr):
        return audio
    dtype = np.float64 if array.dtype == np.float64 else np.float32
    shape = array.shape
    rows = array.reshape(-1, shape[-1])
    # one signal at a time into one output array: a long file is never held transposed or
    # twice at the new rate (soxr resamples the channels of a (time, channels) array alike)
    out = None
    for i, row in enumerate(rows):
        resampled = soxr.resample(np.ascontiguousarray(row, dtype=dtype), int(orig_sr), int(target_sr), quality=quality)
        if out is None:
            out = np.empty((rows.shape[0], resampled.shape[0]), dtype=dtype)
        out[i] = resampled
    out = out.reshape(*shape[:-1], out.shape[-1])
    if is_torch:
        return torch.from_numpy(out).to(tensor.device)
    return out


def write_audio(
    path: str | os.PathLike,
    audio: np.ndarray,
    sample_rate: int,
    overwrite: bool = False,
    subtype: str = "PCM_16",
) -> Path:
    """Write audio atomically (temporary file in the same folder, then rename).

    The format follows the file extension (``.wav``, ``.flac``, ...). For integer
    subtypes, samples outside ``[-1, 1]`` are clipped with a warning naming the file
    (rescale first, or use ``subtype="FLOAT"`` to keep them).

    Args:
        path: destination; its folder is created.
        audio: ``(time,)`` or ``(channels, time)`` float array (or torch tensor).
        sample_rate: samples per second.
        overwrite: replace an existing file; otherwise an existing file raises.
        subtype: ``"PCM_16"`` (default), ``"PCM_24"``, ``"PCM_32"``, ``"FLOAT"``, or
            ``"VORBIS"`` for ``.ogg``.

    Returns:
        The written path.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false.
        ValueError: bad shape, empty or non-finite audio, unknown subtype/format.
        OSError: the write failed; a full disk is ``errno.ENOSPC`` ("no space left on
            device"). Nothing is left under ``path``'s name (a previous file is kept).
    """
    return write_audio_files([(path, audio)], sample_rate, overwrite=overwrite, subtype=subtype)[0]


def write_audio_files(
    items: Iterable[tuple[str | os.PathLike, np.ndarray]],
    sample_rate: int,
    overwrite: bool = False,
    subtype: str = "PCM_16",
) -> list[Path]:
    """Write several audio files that belong together: all of them, or none.

    Every file is checked and encoded first; then all are written to temporaries and
    renamed into place only once every one is complete (:func:`voxsep.core.files.
    atomic_write_many`). A failure -- a full disk included -- leaves none of them
    behind and any previous files untouched. Arguments and errors as :func:`write_audio`.

    Returns:
        The written paths, in order.
    """
    items = [(Path(path), audio) for path, audio in items]
    if subtype not in _SUBTYPES:
        raise ValueError(f"unknown subtype {subtype!r} for {items[0][0]}; use one of {', '.join(_SUBTYPES)}")
    if not overwrite:
        for path, _ in items:
            if path.exists():
                raise FileExistsError(f"{path} already exists (another run may have written it meanwhile); "
                                      "not replaced (overwrite=True replaces it)")
    sample_rate = check_sample_rate(sample_rate, f"sample_rate of {items[0][0]}")
    encoded = [_encode(path, audio, sample_rate, subtype) for path, audio in items]
    paths = [path for path, _ in items]
    with atomic_write_many(paths, overwrite=overwrite) as temps:
        for tmp, data in zip(temps, encoded):
            with open(tmp, "wb") as handle:
                handle.write(data)
    return paths


def check_finite(audio: Any, what: str) -> None:
    """Raise ``ValueError`` naming ``what`` when ``audio`` (a numpy array or torch tensor, any shape) holds
    NaN or infinite samples -- the one rule for audio handed to separation."""
    finite = np.isfinite(audio) if isinstance(audio, np.ndarray) else audio.isfinite()
    if not bool(finite.all()):
        bad = int((~finite).sum())
        raise ValueError(f"{what} contains {bad} NaN or infinite sample(s); clean or re-record it")


_ENCODE_BLOCK = 1 << 18  # samples per channel encoded at once


def _encode(path: Path, audio: np.ndarray, sample_rate: int, subtype: str) -> memoryview:
    """The bytes of ``path``'s audio file (format from the extension); checks the audio."""
    if type(audio).__module__.startswith("torch"):
        audio = audio.detach().cpu().numpy()
    audio = np.asarray(audio)
    if audio.ndim not in (1, 2):
        raise ValueError(f"audio for {path} must be (time,) or (channels, time), got shape {audio.shape}")
    if audio.shape[-1] == 0:
        raise ValueError(f"refusing to write empty audio (shape {audio.shape}) to {path}")
    if not all(np.isfinite(audio[..., start: start + _ENCODE_BLOCK]).all()
               for start in range(0, audio.shape[-1], _ENCODE_BLOCK)):
        raise ValueError(f"audio for {path} contains NaN or infinite samples; nothing was written")
    clip = False
    if subtype.startswith("PCM"):
        peak = max(float(audio.max()), -float(audio.min()))  # no full-length temporary
        if peak > 1.0:
            warnings.warn(f"clipping {path}: peak {peak:.3f} > 1.0 (rescale, or write with subtype='FLOAT')",
                          stacklevel=4)
            clip = True
    extension = path.suffix.lstrip(".").upper()
    if extension not in sf.available_formats():
        raise ValueError(f"cannot tell the audio format of {path} from its extension; use .wav, .flac, ...")
    # Encoded in memory, so that the file itself is written by Python, whose errors say what
    # happened (ENOSPC), where libsndfile only says "System error.". Block by block: only one
    # block is ever held as float64 (an hour of audio is not copied whole).
    frames = audio.T  # (time, channels) or (time,)
    buffer = io.BytesIO()
    try:
        with sf.SoundFile(buffer, "w", samplerate=sample_rate, channels=1 if audio.ndim == 1 else audio.shape[0],
                          subtype=subtype, format=extension) as handle:
            for start in range(0, frames.shape[0], _ENCODE_BLOCK):
                block = frames[start: start + _ENCODE_BLOCK].astype(np.float32 if subtype == "FLOAT" else np.float64)
                handle.write(np.clip(block, -1.0, 1.0, out=block) if clip else block)
    except (sf.LibsndfileError, ValueError, TypeError) as error:
        raise ValueError(f"cannot write {path} as {extension} with subtype {subtype}: {error}") from error
    return buffer.getbuffer()


def hop_pieces(n: int, hop: int, filled: int) -> Iterator[slice]:
    """Cut ``n`` new samples of a stream at the boundaries of its ``hop``-sample hops, the
    current hop already holding ``filled`` samples: the pieces a hop-wise rule processes one
    by one (deciding at each hop's end), so its output does not depend on the block sizes."""
    position = 0
    while position < n:
        take = min(n - position, hop - filled)
        yield slice(position, position + take)
        position, filled = position + take, (filled + take) % hop


def frame_energies(audio: Any, frame: int, difference: bool = False, piece_samples: int = 1 << 18) -> np.ndarray:
    """Energy of every ``frame``-sample frame, computed piece by piece (bounded memory).

    Args:
        audio: ``(k, [channels,] time)`` numpy array or torch tensor; channels are pooled
            (their energies summed), or averaged into one signal first with ``difference``.
        frame: frame length in samples; the last frame is zero-padded.
        difference: the energy of the first difference of the channel average
            (``x[t + 1] - x[t]``, a first-order high-pass) instead of the signal's.
        piece_samples: samples per signal computed at once (rounded to whole frames, at
            least one): the float64 copies held are this long, whatever the frame length.

    Returns:
        ``(k, n_frames)`` float64 with ``n_frames = ceil(time / frame)`` (``ceil((time - 1)
        / frame)`` with ``difference``).
    """
    k, length = audio.shape[0], audio.shape[-1]
    data = audio.reshape(k, -1, length)
    if difference:
        length -= 1
    n_frames = max(1, -(-length // frame))
    out = np.zeros((k, n_frames))
    step = max(1, piece_samples // frame) * frame
    for start in range(0, max(length, 1), step):
        stop = min(start + step, length)
        piece = data[..., start: stop + (1 if difference else 0)]
        piece = piece.detach().cpu().numpy() if hasattr(piece, "detach") else np.asarray(piece)
        piece = piece.astype(np.float64)
        if difference:
            piece = np.diff(piece.mean(axis=1, keepdims=True), axis=-1)
        n = -(-(stop - start) // frame)
        padded = np.zeros((k, piece.shape[1], n * frame))
        padded[..., : piece.shape[-1]] = piece
        out[:, start // frame: start // frame + n] = (padded ** 2).reshape(k, piece.shape[1], n, frame).sum((1, 3))
    return out


def active_rms(audio: np.ndarray, sample_rate: int, frame: float = 0.02, threshold_db: float = 40.0) -> float:
    """RMS over the active frames of a signal (a simple speech-level estimate).

    Frames of ``frame`` seconds whose energy is within ``threshold_db`` of the loudest
    frame count as active, so leading/trailing silence and pauses do not lower the
    level. A simplified stand-in for ITU-T P.56 active speech level (no hangover,
    fixed threshold relative to the peak frame instead of an adaptive one). It costs
    well under a millisecond per 4-s signal, which dynamic mixing needs; the dataset
    preparers use the full P.56 measure (:func:`voxsep_corpus.levels.active_level`,
    several hundred times slower) to reproduce the reference corpora.

    Args:
        audio: ``(..., time)``; all leading axes (channels) are pooled.
        sample_rate: samples per second.
        frame: frame length in seconds.
        threshold_db: frames quieter than the loudest by more than this are inactive.

    Returns:
        The active RMS (linear); 0.0 for an all-zero signal.
    """
    x = np.asarray(audio, dtype=np.float64)
    x = x.reshape(-1, x.shape[-1])
    hop = max(1, int(round(frame * sample_rate)))
    n_frames = max(1, -(-x.shape[-1] // hop))
    padded = np.zeros((x.shape[0], n_frames * hop))
    padded[:, : x.shape[-1]] = x
    energy = (padded.reshape(x.shape[0], n_frames, hop) ** 2).sum(axis=(0, 2))
    peak = energy.max()
    if peak <= 0.0:
        return 0.0
    active = energy >= peak * 10.0 ** (-threshold_db / 10.0)
    # Average over the real samples of the active frames (the last frame may be short).
    counts = np.full(n_frames, hop)
    counts[-1] = x.shape[-1] - (n_frames - 1) * hop
    return float(np.sqrt(energy[active].sum() / (counts[active].sum() * x.shape[0])))
