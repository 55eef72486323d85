"""``Separator``: the Python API for separating arrays and files.

::

    from voxsep import Separator
    sep = Separator.from_pretrained()              # the bundled model
    estimates = sep.separate(audio, sample_rate)   # (n_src, time) at sample_rate
    paths = sep.separate_file("meeting.wav", "out/")

Audio at any sample rate is resampled to the model's rate (soxr) and the estimates are
resampled back to the input's rate, same length as the input. Multichannel audio given
to a single-channel model is downmixed (mean of the channels) with a warning; binaural
models keep their channels. Separation runs through ``separate_mixture`` (chunked,
speaker-aligned, least-squares output level; see ``voxsep.inference.separate``).

**How many outputs** (``n_src=``): ``"all"`` returns every output of the model;
``"auto"`` keeps only the outputs that are talkers, decided once for the whole file by
their energy relative to the mixture (:func:`voxsep.inference.separate.count_talkers`;
threshold ``ACTIVITY_THRESHOLD_DB`` = -35 dB per 0.25 s window, at least 0.5 s active),
numbered in order of first activity; an integer keeps that many (the most active).
The default is ``"auto"`` for a model trained on a variable number of talkers (its
checkpoint records ``n_src_range``) and ``"all"`` otherwise. A fixed-count model can
still be asked for ``"auto"``: it then drops silent or near-duplicate (correlated)
outputs, and a warning says which and why (such a model was never taught to be silent,
so the count is a guess).

**Writing files.** Estimates are written as 16-bit wav ``<stem>_spk1.wav``, ... . They
are never clipped: if the loudest estimate of a file peaks above 0.999, *all* estimates
of that file are scaled down by the same factor (so their sum still matches the
mixture's shape and their relative levels are kept) and a warning says by how many dB.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

from voxsep.core.audio import check_finite
from voxsep.core.errors import advised
from voxsep.core.files import MAX_NAME_BYTES, check_distinct, check_writable_dir
from voxsep.inference.separate import (
    TalkerCount,
    count_talkers,
    resolve_chunking,
    separate_mixture,
)

logger = logging.getLogger(__name__)

PEAK_LIMIT = 0.999
BACKENDS = ("torch", "onnxruntime")
MAX_CHANNELS = 8  # the most channels an array may have; tells (channels, time) from (time, channels)


#: Inputs whose peak lies outside this range are separated at a peak of ``LEVEL_PEAK`` and
#: the estimates scaled back (``Separator.separate``): results and counts do not depend on
#: the input's scale.
LEVEL_RANGE = (1e-3, 1.0)
LEVEL_PEAK = 0.5


def output_paths(path: str | os.PathLike, out_dir: str | os.PathLike, n_src: int) -> list[Path]:
    """The files ``separate_file`` writes for ``path``: ``out_dir/<stem>_spk<i>.wav``."""
    stem = Path(path).stem
    return [Path(out_dir) / f"{stem}_spk{i + 1}.wav" for i in range(n_src)]


def peak_normalise(estimates: np.ndarray, path_hint: str = "", in_place: bool = False) -> tuple[np.ndarray, float]:
    """Scale all estimates down together if their peak exceeds ``PEAK_LIMIT``.

    Args:
        estimates: the separated signals (any shape).
        path_hint: the file named in the warning.
        in_place: scale ``estimates`` itself instead of a copy (an hour of audio: no second
            full-length array).

    Returns:
        ``(estimates, gain)`` where ``gain <= 1`` is the factor applied (1: unchanged).
    """
    # max and -min instead of abs().max(): no full-length temporary
    peak = max(float(estimates.max()), -float(estimates.min())) if estimates.size else 0.0
    if peak <= PEAK_LIMIT:
        return estimates, 1.0
    gain = PEAK_LIMIT / peak
    warnings.warn(
        f"{path_hint or 'estimates'}: peak {peak:.3f} would clip; all estimates of this file were scaled "
        f"down together by {20 * np.log10(gain):.1f} dB",
        stacklevel=3,
    )
    if in_place:
        estimates *= np.asarray(gain, dtype=estimates.dtype)
        return estimates, gain
    return estimates * gain, gain


def _take_rows(estimates: np.ndarray, rows: list[int], piece: int = 1 << 18) -> np.ndarray:
    """``estimates[rows]`` (``(n_src, [channels,] time)``) built in ``estimates``' own memory,
    piece by piece along time, so that a long file's outputs are never held twice; the
    input is reused (its first ``len(rows)`` rows returned as a view)."""
    if list(rows) != list(range(len(rows))):
        for start in range(0, estimates.shape[-1], piece):
            estimates[: len(rows), ..., start: start + piece] = estimates[rows, ..., start: start + piece]
    return estimates[: len(rows)]


def _streaming_separator(model: torch.nn.Module, track_talkers: bool) -> Any:
    """A ``StreamingSeparator`` of ``model`` with the output level rule of the offline path
    (``match_level``) that, with ``track_talkers``, tracks talkers by voice, or (with a
    warning) keeps the model's order where the speaker encoder is not installed."""
    from voxsep.inference.speaker import VoiceEncoderUnavailable
    from voxsep.inference.streaming import StreamingSeparator

    try:
        return StreamingSeparator.from_model(model, track_talkers=track_talkers and int(model.n_src) > 1,
                                             match_level=True)
    except VoiceEncoderUnavailable as error:
        warnings.warn(f"the stream keeps the model's talker order (it may swap after pauses): {error}", stacklevel=3)
        return StreamingSeparator.from_model(model, match_level=True)


class Separator:
    """Separate talkers in arrays or files with a voxsep model.

    Args:
        model: a voxsep model (``nn.Module``), or an ``OnnxModel``.
        device: ``"cpu"``/``"cuda"`` for torch models (default CPU).
        chunk_seconds: chunk length for long inputs (at the model's rate; default
            ``DEFAULT_CHUNK_SECONDS``).
        overlap_seconds: overlap between chunks (default ``DEFAULT_OVERLAP_SECONDS``,
            capped at half a chunk: ``voxsep.inference.separate.resolve_chunking``, the
            rule of ``voxsep separate --chunk-seconds``).
        fast: use the fast inference path when one exists for the model
            (``voxsep.inference.fast.optimize``; holds the 40 dB bound to the fp32 model).
        name: a label for messages (model name or file).
        progress: show a progress bar over the chunks of long inputs.
        n_src_range: ``(low, high)`` talkers the model was trained on (checkpoint meta
            ``n_src_range``; ``from_checkpoint`` reads it), or ``None`` for a fixed count.
            With a range, ``separate`` counts the talkers by default (``n_src="auto"``).
        stream_block_ms: run a causal model through ``StreamingSeparator`` in blocks of
            this many ms (at the model's rate; the input is resampled to it first, and the
            estimates back) instead of the chunked offline pass; the measured block times
            are kept in ``self.last_stream`` (``voxsep.inference.streaming.StreamTimes``).
            The stream's outputs are levelled as the offline path's (``match_level``).
        stream_track_talkers: with ``stream_block_ms``, keep one person per output by voice
            (``StreamingSeparator(track_talkers=True)``; a warning where the speaker encoder
            is not installed). Off by default: it judges who is in which output from the
            outputs themselves, and a weakly separating model (the bundled causal one, which
            swaps little by itself) gets more swaps with it than without (docs/streaming.md).
    """

    def __init__(
        self,
        model: Any,
        device: str | torch.device | None = None,
        chunk_seconds: float | None = None,
        overlap_seconds: float | None = None,
        fast: bool = True,
        name: str = "",
        progress: bool = False,
        n_src_range: tuple[int, int] | list[int] | None = None,
        stream_block_ms: float | None = None,
        stream_track_talkers: bool = False,
    ) -> None:
        chunk_seconds, overlap_seconds = resolve_chunking(chunk_seconds, overlap_seconds)
        self.streaming = None
        if stream_block_ms is not None:
            from voxsep.inference.streaming import check_block_ms

            check_block_ms(stream_block_ms, "stream_block_ms")
            if not isinstance(model, torch.nn.Module) or (device is not None and torch.device(device).type != "cpu"):
                raise ValueError("streaming runs a causal PyTorch model on the CPU; give a .pt checkpoint, "
                                 "not an ONNX file or another backend/device")
            fast = False  # the stream is the model's own causal arithmetic
            self.streaming = _streaming_separator(model, stream_track_talkers)
            self.stream_block = round(stream_block_ms * self.streaming.sample_rate / 1000)
            if self.stream_block < 1:
                raise ValueError(f"a {stream_block_ms:g} ms block holds no sample at {self.streaming.sample_rate} Hz")
        self.last_stream = None
        self.device = torch.device(device or "cpu")
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise advised(ValueError, "device 'cuda' was asked for but no CUDA GPU is available", "device", "cpu")
        if isinstance(model, torch.nn.Module):
            model = model.eval().to(self.device)
            if fast:
                from voxsep.inference.fast import optimize

                model = optimize(model, self.device)
        self.model = model
        self.name = name or getattr(model, "model_name", type(model).__name__)
        self.sample_rate = int(model.sample_rate)
        self.n_src = int(model.n_src)
        self.in_channels = int(getattr(model, "in_channels", 1))
        self.chunk_seconds = float(chunk_seconds)
        self.overlap_seconds = float(overlap_seconds)
        self.progress = progress
        self.n_src_range = (int(n_src_range[0]), int(n_src_range[1])) if n_src_range else None
        self.last_count: TalkerCount | None = None  # the decision of the last n_src="auto"/int call

    @property
    def counts_talkers(self) -> bool:
        """Whether the model was trained on a variable number of talkers (default ``n_src="auto"``)."""
        return self.n_src_range is not None and self.n_src_range[0] < self.n_src_range[1]

    def resolve_n_src(self, n_src: str | int | None) -> str | int:
        """``None`` -> the default (``"auto"`` for variable-count models, else ``"all"``; always
        ``"all"`` for a stream, which outputs every talker channel as it goes: the bundled
        causal model's count drops a present talker in 24 of 500 two-talker test recordings);
        checks ``"auto"``, ``"all"`` or a number of outputs from 1 to the model's."""
        if n_src is None:
            return "auto" if self.counts_talkers and self.streaming is None else "all"
        if isinstance(n_src, str) and n_src.strip().lower() in ("auto", "all"):
            return n_src.strip().lower()
        value = 0
        if isinstance(n_src, (int, np.integer)) and not isinstance(n_src, bool):
            value = int(n_src)
        elif isinstance(n_src, str) and n_src.strip().isdigit():
            value = int(n_src)
        if not 1 <= value <= self.n_src:
            raise ValueError(f"n_src must be 'auto', 'all' or a number of outputs from 1 to {self.n_src} "
                             f"(the model's), got {n_src!r}")
        return value

    # ---------------------------------------------------------------- constructors
    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, **kwargs: Any) -> "Separator":
        """Load a voxsep checkpoint (``.pt``) or a published Asteroid / SpeechBrain /
        ClearerVoice model (``voxsep.interop.load_any``); ``kwargs`` go to ``Separator``."""
        from voxsep.interop import load_any

        hub = {key: kwargs.pop(key) for key in ("download", "revision", "offline") if key in kwargs}
        model, meta = load_any(path, **hub)
        kwargs.setdefault("name", str(path))
        kwargs.setdefault("n_src_range", meta.get("n_src_range"))
        return cls(model, **kwargs)

    @classmethod
    def from_pretrained(cls, name: str | None = None, **kwargs: Any) -> "Separator":
        """Load a model bundled with voxsep (default: ``voxsep.pretrained.DEFAULT_MODEL``; with
        ``stream_block_ms``, the causal ``voxsep.pretrained.STREAMING_MODEL``), or
        a published model by its hub id ``org/name``: from the local Hugging Face cache, else
        downloaded (``revision=`` pins a branch, tag or commit; ``offline=True`` or
        ``HF_HUB_OFFLINE=1`` never touches the network).

        Raises:
            FileNotFoundError: the bundled file is missing (the message names it), or the
                hub model is not cached while offline.
            voxsep.interop.hub.HubDownloadError: the download failed (nothing half-written
                is left in the cache).
        """
        from voxsep import pretrained
        from voxsep.interop.common import HUB_ID

        if name is not None and name not in pretrained.BUNDLED and HUB_ID.match(name) and not Path(name).exists():
            kwargs.setdefault("download", True)
            return cls.from_checkpoint(name, **kwargs)
        for key in ("revision", "offline", "download"):
            kwargs.pop(key, None)  # a bundled model is never downloaded

        name = name or pretrained.default_model(streaming=kwargs.get("stream_block_ms") is not None)
        kwargs.setdefault("name", name)
        return cls.from_checkpoint(pretrained.pretrained_path(name), **kwargs)

    @classmethod
    def from_onnx(cls, path: str | os.PathLike, **kwargs: Any) -> "Separator":
        """Run an exported ONNX model with onnxruntime (``voxsep export``); a model
        exported with ``n_src_range`` in its metadata counts talkers by default."""
        from voxsep.inference.export import OnnxModel

        if kwargs.pop("fast", False):
            logger.info("%s: the fast path is for PyTorch models; onnxruntime runs the ONNX graph with its own "
                        "graph optimisations", path)
        kwargs.setdefault("name", str(path))
        device = kwargs.pop("device", None)
        model = OnnxModel(path, device=device)
        kwargs.setdefault("n_src_range", model.n_src_range)
        return cls(model, **kwargs)

    @classmethod
    def load(cls, spec: str | os.PathLike | None = None, backend: str = "torch", **kwargs: Any) -> "Separator":
        """A bundled model name, a checkpoint ``.pt``, an ``.onnx`` file, a published model's
        file or folder, or a hub id ``org/name`` (downloaded unless cached; ``revision=`` and
        ``offline=`` as ``from_pretrained``) (CLI ``--model``); ``None``: the bundled default
        (``voxsep.pretrained.default_model``: the causal one when ``stream_block_ms`` is given).

        With ``backend="onnxruntime"`` a ``.pt`` checkpoint or bundled model is exported to
        a temporary ONNX file first and run with onnxruntime.
        """
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        from voxsep import pretrained

        hub = {key: kwargs.pop(key) for key in ("revision", "offline") if key in kwargs}

        spec_str = str(spec) if spec is not None else None
        if spec_str is None:
            spec_str = pretrained.default_model(streaming=kwargs.get("stream_block_ms") is not None)
        if spec_str in pretrained.BUNDLED:
            path = pretrained.pretrained_path(spec_str)
        else:
            path = Path(spec_str)
            from voxsep.interop.common import HUB_ID  # a hub id: import_model looks in the local cache

            if not path.exists() and HUB_ID.match(spec_str):
                kwargs.update(download=True, **hub)  # downloaded unless cached (or offline: from the cache only)
            if not path.exists() and not HUB_ID.match(spec_str):
                raise FileNotFoundError(
                    f"model {spec_str!r} is neither a bundled model ({', '.join(pretrained.BUNDLED)}) "
                    "nor an existing checkpoint/ONNX file"
                )
        if path.suffix == ".onnx":
            if backend != "onnxruntime":
                logger.info("%s is an ONNX file: running it with onnxruntime", path)
            return cls.from_onnx(path, **kwargs)
        if backend == "onnxruntime":
            from voxsep.inference.export import export_onnx
            from voxsep.interop import load_any

            import shutil
            import weakref

            hub = {key: kwargs.pop(key) for key in ("download", "revision", "offline") if key in kwargs}
            model, meta = load_any(path, **hub)
            kwargs.setdefault("n_src_range", meta.get("n_src_range"))
            tmp_dir = Path(tempfile.mkdtemp(prefix="voxsep-onnx-"))
            onnx_path = export_onnx(model, tmp_dir / f"{path.stem}.onnx", n_src_range=meta.get("n_src_range"))
            kwargs.setdefault("name", str(path))
            separator = cls.from_onnx(onnx_path, **kwargs)
            weakref.finalize(separator, shutil.rmtree, tmp_dir, True)  # remove the temporary export
            return separator
        return cls.from_checkpoint(path, **kwargs)

    # ---------------------------------------------------------------- separation
    def _prepare(self, audio: np.ndarray, sample_rate: int, source: str) -> np.ndarray:
        """Check and downmix ``audio`` to ``(channels, time)`` as the model takes it, at the input's rate.

        ``(time, channels)`` arrays (what ``soundfile.read`` returns) are accepted when the
        layout is unambiguous: one axis at most ``MAX_CHANNELS`` long, the other longer.
        """
        if audio.ndim == 1:
            audio = audio[None]
        if audio.ndim != 2:
            raise ValueError(f"{source}: audio must be (time,) or (channels, time), got shape {audio.shape}")
        if audio.shape[-1] == 0 or audio.shape[0] == 0:
            raise ValueError(f"{source}: the audio is empty (shape {audio.shape})")
        rows, columns = audio.shape
        if rows <= MAX_CHANNELS and columns <= MAX_CHANNELS:
            raise ValueError(
                f"{source}: the audio is too short to separate ({min(rows, columns)} channel(s) of "
                f"{max(rows, columns)} samples, shape {audio.shape}); give more than {MAX_CHANNELS} samples"
            )
        if rows > MAX_CHANNELS and columns <= MAX_CHANNELS:
            audio = audio.T  # (time, channels)
        elif not (rows <= MAX_CHANNELS < columns):
            raise ValueError(
                f"{source}: cannot tell channels from time in audio of shape {audio.shape}: give (channels, time) "
                f"or (time, channels) with at most {MAX_CHANNELS} channels and more than {MAX_CHANNELS} samples"
            )
        check_finite(audio, f"{source}: the audio")
        if self.in_channels == 1 and audio.shape[0] > 1:
            warnings.warn(
                f"{source}: {audio.shape[0]}-channel audio given to the single-channel model "
                f"{self.name}; downmixed to mono (mean of the channels)",
                stacklevel=3,
            )
            audio = audio.mean(axis=0, keepdims=True)
        elif self.in_channels > 1 and audio.shape[0] != self.in_channels:
            raise ValueError(
                f"{source}: the model {self.name} takes {self.in_channels}-channel audio, got "
                f"{audio.shape[0]} channel(s)"
            )
        return audio

    def __call__(
        self, audio: np.ndarray | torch.Tensor, sample_rate: int, **kwargs: Any
    ) -> np.ndarray | torch.Tensor:
        """``separator(audio, sample_rate)``: the same as :meth:`separate` (as Asteroid's and
        SpeechBrain's separators are called)."""
        return self.separate(audio, sample_rate, **kwargs)

    def separate(
        self, audio: np.ndarray | torch.Tensor, sample_rate: int, keep_model_rate: bool = False, source: str = "audio",
        n_src: str | int | None = None,
    ) -> np.ndarray | torch.Tensor:
        """Separate ``audio`` recorded at ``sample_rate``.

        Args:
            audio: ``(time,)`` or ``(channels, time)``, numpy or torch; ``(time, channels)``
                (as ``soundfile.read`` returns it) is accepted with at most ``MAX_CHANNELS``
                channels. Files: :meth:`separate_file`.
            sample_rate: its rate in Hz, a whole number from ``voxsep.core.audio.MIN_SAMPLE_RATE``
                to ``MAX_SAMPLE_RATE`` (1000 to 384000); resampled to the model's and back.
            keep_model_rate: return the estimates at the model's rate instead.
            source: name used in messages.
            n_src: ``"auto"`` (only the active talkers, in order of first activity),
                ``"all"`` or a number of outputs; default ``"auto"`` for models trained on
                a variable number of talkers, ``"all"`` otherwise (module docstring). The
                decision is kept in ``self.last_count``.

        Returns:
            Estimates of the input's type (float32): ``(n_src, time)`` for single-channel
            models, ``(n_src, channels, time)`` for multichannel ones (channels first, whatever
            the input's layout); with ``n_src="auto"`` the first axis is the number of
            talkers found.

        Raises:
            TypeError: ``audio`` is not an array (a path: use ``separate_file``) or
                ``sample_rate`` not a number.
            ValueError: bad shape, empty or non-finite audio, a rate outside the range.
        """
        from voxsep.core.audio import check_sample_rate, resample

        if isinstance(audio, (str, os.PathLike)):
            raise TypeError(f"audio must be an array of samples, got the path {str(audio)!r}; "
                            "use Separator.separate_file(path, out_dir) for files")
        sample_rate = check_sample_rate(sample_rate, "sample_rate")
        mode = self.resolve_n_src(n_src)
        is_torch = isinstance(audio, torch.Tensor)
        try:
            array = audio.detach().cpu().float().numpy() if is_torch else np.asarray(audio, dtype=np.float32)
        except (TypeError, ValueError) as error:
            raise TypeError(f"audio must be an array of samples (numpy or torch), got {type(audio).__name__}: "
                            f"{error}") from error
        array = self._prepare(array, sample_rate, source)
        length = array.shape[-1]
        model_input = resample(array, int(sample_rate), self.sample_rate)
        if model_input.shape[-1] == 0:
            raise ValueError(f"{source}: too short to resample from {sample_rate} Hz to {self.sample_rate} Hz")
        mixture = model_input[0] if self.in_channels == 1 else model_input
        if self.streaming is not None:
            from voxsep.inference.streaming import stream_signal

            # block by block, as a device would; no whole-file level rule (the stream's own output)
            streamed, self.last_stream = stream_signal(self.streaming, np.ascontiguousarray(mixture), self.stream_block)
            estimates = streamed.numpy()
        else:
            # Far from full scale (a float file scaled by 1e20, or 1e-6), the model's arithmetic
            # (norm epsilons, float32 range) changes its output and the count: it gets the input
            # at a standard level, and the estimates are brought back to the input's.
            peak = float(np.max(np.abs(mixture)))
            gain = LEVEL_PEAK / peak if peak > 0 and not LEVEL_RANGE[0] <= peak <= LEVEL_RANGE[1] else 1.0
            estimates = separate_mixture(
                self.model,
                torch.from_numpy(np.ascontiguousarray(mixture * gain if gain != 1.0 else mixture, dtype=np.float32)),
                chunk_size=int(round(self.chunk_seconds * self.sample_rate)),
                overlap=int(round(self.overlap_seconds * self.sample_rate)),
                device=self.device,
                progress=self.progress,
            ).numpy()
            if gain != 1.0:
                estimates = (estimates.astype(np.float64) / gain).astype(np.float32)
        self.last_count = None
        if mode != "all":
            estimates = self._count(estimates, mixture, mode, source)
        if not keep_model_rate and int(sample_rate) != self.sample_rate:
            estimates = resample(estimates, self.sample_rate, int(sample_rate))
            # soxr rounds the length; pad/trim to the input's exact length.
            if estimates.shape[-1] >= length:
                estimates = estimates[..., :length]
            else:
                pad = [(0, 0)] * (estimates.ndim - 1) + [(0, length - estimates.shape[-1])]
                estimates = np.pad(estimates, pad)
        estimates = np.ascontiguousarray(estimates, dtype=np.float32)
        return torch.from_numpy(estimates) if is_torch else estimates

    def _count(self, estimates: np.ndarray, mixture: np.ndarray, mode: str | int, source: str) -> np.ndarray:
        """Keep the outputs chosen by :func:`count_talkers` (whole file, model rate)."""
        decision = count_talkers(estimates, mixture, self.sample_rate, keep=None if mode == "auto" else int(mode))
        self.last_count = decision
        if mode == "auto" and decision.dropped and not self.counts_talkers:
            reasons = "; ".join(f"output {i + 1}: {why}" for i, why in decision.dropped.items())
            warnings.warn(
                f"{source}: {self.name} was trained on exactly {self.n_src} talkers, so n_src='auto' only drops "
                f"silent or near-duplicate outputs; kept {decision.count} of {self.n_src} ({reasons})",
                stacklevel=3,
            )
        return _take_rows(estimates, decision.kept)

    def separate_file(
        self,
        path: str | os.PathLike,
        out_dir: str | os.PathLike,
        force: bool = False,
        keep_model_rate: bool = False,
        protected: Iterable[str | os.PathLike] = (),
        n_src: str | int | None = None,
    ) -> list[Path]:
        """Separate an audio file into ``out_dir/<stem>_spk1.wav``, ``..._spk2.wav``, ...

        With ``n_src="auto"`` (the default for variable-count models; see :meth:`separate`)
        one file per talker found is written, in order of first activity. The checks
        below cover every name the model could write (``_spk1`` to ``_spk<model n_src>``);
        with ``force``, files of a previous run beyond the talkers found this time
        (``<stem>_spk<k>.wav``, ``k`` > the count) are removed so the folder does not
        claim more talkers than were found.

        Everything is checked before anything is written: the input is read and
        validated, the output folder proven writable, and existing outputs refused
        unless ``force``. An output that would replace the input or one of ``protected``
        (the other inputs of a run) is refused even with ``force``. The outputs are
        written together (:func:`voxsep.core.audio.write_audio_files`): all of them, or on
        any failure -- a full disk included -- none.

        Returns:
            The written paths, in speaker order; none when counting found no talker
            (silence or steady noise: ``self.last_count.dropped`` says why).

        Raises:
            FileNotFoundError: no such input file.
            ValueError (``AudioError``): corrupt, empty or NaN-containing input, or
                wrong channel count for a multichannel model.
            FileExistsError: an output exists and ``force`` is false.
            SameFileError (a ``ValueError``): an output would replace an input.
            OSError: the output folder cannot be written; a full disk (``errno.ENOSPC``).
        """
        from voxsep.core.audio import read_audio, write_audio_files

        path = Path(path)
        targets = output_paths(path, out_dir, self.n_src)
        for target in targets:
            if len(os.fsencode(target.name)) > MAX_NAME_BYTES:
                raise ValueError(f"the output name {target.name} is too long ({len(os.fsencode(target.name))} "
                                 f"bytes, file systems allow {MAX_NAME_BYTES}); rename {path} to a shorter name")
        inputs = [("the input being separated", path), *(("an input of this run", p) for p in protected)]
        check_distinct(targets, inputs, "separate into another output folder")
        if not force:
            existing = [str(p) for p in targets if p.exists()]
            if existing:
                raise advised(FileExistsError, f"{', '.join(existing)} already exist(s)", "force", True, "to overwrite")
        audio, sample_rate = read_audio(path)
        # checked and downmixed here, so that the file's channels are not held while separating
        audio = self._prepare(audio, sample_rate, str(path))
        check_writable_dir(out_dir)
        estimates = self.separate(audio, sample_rate, keep_model_rate=keep_model_rate, source=str(path), n_src=n_src)
        del audio
        out_rate = self.sample_rate if keep_model_rate else sample_rate
        if len(estimates):
            estimates, _ = peak_normalise(estimates, str(path), in_place=True)
            written = write_audio_files(zip(targets, estimates), out_rate, overwrite=force, subtype="PCM_16")
        else:  # counting found no talker (silence or steady noise): no file
            written = []
        if force:
            for stale in targets[len(estimates):]:
                if stale.is_file():
                    stale.unlink()
        return written

    def __repr__(self) -> str:
        return (
            f"Separator({self.name!r}, n_src={self.n_src}, sample_rate={self.sample_rate}, "
            f"in_channels={self.in_channels}, device={self.device})"
        )
