"""Torch datasets: precomputed mixtures (:class:`MixtureDataset`) and dynamic mixing
(:class:`DynamicMixDataset`).

Both return ``(mixture, sources)`` float32 tensors: mixture ``(time,)`` and sources
``(n_src, time)``, or for multichannel data mixture ``(channels, time)`` and sources
``(n_src, channels, time)``. Both are deterministic for a given ``(seed, epoch, index)``
-- the random generator of an example is ``numpy.random.default_rng([seed, epoch,
index])`` -- so a resumed run sees the same data, DataLoader workers share no random
state, and calling ``set_epoch(epoch)`` before each epoch gives new crops/mixtures (the
epoch lives in shared memory, so persistent DataLoader workers see it too).

Dynamic mixing follows Zeghidour & Grangier (2021, "Wavesplit") and the SpeechBrain /
Asteroid recipes: every example draws ``n_src`` different speakers, a random utterance
of each and a random offset, a random relative gain, optionally a speed perturbation,
noise at a random SNR (as WHAM!, Wichern et al. 2019) and room reverberation (as
WHAMR!, Maciejewski et al. 2020, with the reverberant images as targets).

**Variable number of talkers.** Both datasets take ``n_src=(low, high)``: dynamic mixing
draws ``k ~ U{low..high}`` talkers per example, and a manifest (or several, combined)
may hold mixtures of any count in the range. Sources always come as ``(high, ...)``:
the ``k`` talkers first, then ``high - k`` silent (all-zero) targets, which the
``si_snr_var`` / ``snr_var`` losses score (:func:`voxsep.core.pairwise.silent_sources`).
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from voxsep.core.audio import active_rms, audio_info, read_audio, resample
from voxsep.data.background import Background, coloured_noise, scale_background
from voxsep.data.manifest import MixtureRecord, load_manifest, load_speaker_pool

__all__ = ["MixtureDataset", "DynamicMixDataset", "load_speaker_pool", "Spatializer"]

#: ``spatializer(sources (n_src, time), rng) -> images (n_src, channels, time)``.
Spatializer = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _example_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(epoch), int(index)])


class _EpochDataset(Dataset):
    """A dataset whose examples depend on the epoch: ``MixtureDataset``'s random crops,
    ``DynamicMixDataset``'s drawn mixtures. The epoch lives in shared memory, so that
    ``set_epoch`` in the main process also reaches DataLoader workers that outlive an
    epoch (``persistent_workers=True``), which hold copies of the dataset."""

    def __init__(self) -> None:
        self._shared_epoch = torch.zeros((), dtype=torch.int64).share_memory_()

    @property
    def epoch(self) -> int:
        """The epoch whose examples are returned (shared with DataLoader workers)."""
        return int(self._shared_epoch)

    def set_epoch(self, epoch: int) -> None:
        """Choose the examples of ``epoch`` (call before each epoch, before iterating the loader)."""
        self._shared_epoch.fill_(int(epoch))


def _count_range(n_src: int | Sequence[int]) -> tuple[int, int, tuple[int, int] | None]:
    """``(low, high, range or None)`` from ``n_src`` (an int or a ``(low, high)`` pair)."""
    if isinstance(n_src, (tuple, list)):
        if len(n_src) != 2 or not 1 <= int(n_src[0]) <= int(n_src[1]):
            raise ValueError(f"n_src must be a number of talkers or a (low, high) range with 1 <= low <= high, "
                             f"got {n_src}")
        low, high = int(n_src[0]), int(n_src[1])
        return low, high, ((low, high) if low < high else None)
    return int(n_src), int(n_src), None


def _pad_sources(sources: np.ndarray, n_src: int) -> np.ndarray:
    """``(k, ...)`` -> ``(n_src, ...)`` with all-zero (silent) sources appended."""
    missing = n_src - sources.shape[0]
    if missing <= 0:
        return sources
    return np.concatenate([sources, np.zeros((missing, *sources.shape[1:]), dtype=sources.dtype)])


def _to_tensors(mixture: np.ndarray, sources: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.from_numpy(np.ascontiguousarray(mixture, dtype=np.float32)),
            torch.from_numpy(np.ascontiguousarray(sources, dtype=np.float32)))


class MixtureDataset(_EpochDataset):
    """Precomputed mixtures from a manifest (LibriMix CSV, wsj0-mix folder or ``.scp``).

    With ``segment=None`` every example is a whole utterance. With a ``segment``, training
    mode (``train=True``) returns a random crop of ``segment`` seconds -- the same window
    of the mixture, every source and the noise -- and evaluation mode (``train=False``)
    a fixed centre crop (the same every epoch, for validation batches of equal length).
    Utterances shorter than the segment are zero-padded at the end (``short="pad"``) or
    left out (``short="skip"``).

    Args:
        manifest: a manifest path (see :func:`voxsep.data.manifest.load_manifest`), a list
            of manifest paths (read as one set, e.g. a 2- and a 3-speaker set), or records.
        n_src: number of sources (2 or 3); every record must have this many. Or a range
            ``(low, high)``: records may have ``low`` to ``high`` sources, and the
            sources are padded with all-zero (silent) ones up to ``high``.
        sample_rate: the rate the model works at. Files at another rate raise a
            ``ValueError`` unless ``resample=True`` (then they are resampled with soxr).
        segment: crop length in seconds, or ``None`` for whole utterances.
        train: random crops (``True``) or fixed centre crops (``False``).
        short: ``"pad"`` or ``"skip"`` utterances shorter than ``segment``.
        add_noise: add the record's ``noise_path`` to the mixture, as WHAM! does when the
            manifest's mixture is ``mix_clean``; the sources stay clean.
        resample: allow on-the-fly resampling of files at another rate.
        seed: seed of the crop positions.

    Shapes:
        ``__getitem__`` -> mixture ``(time,)`` / ``(channels, time)``,
        sources ``(n_src, time)`` / ``(n_src, channels, time)``.
    """

    def __init__(
        self,
        manifest: str | os.PathLike | Sequence[MixtureRecord] | Sequence[str | os.PathLike],
        n_src: int | tuple[int, int],
        sample_rate: int,
        segment: float | None = None,
        train: bool = True,
        short: str = "pad",
        add_noise: bool = False,
        resample: bool = False,
        seed: int = 0,
    ) -> None:
        low, high, self.n_src_range = _count_range(n_src)
        if low < 1:
            raise ValueError(f"n_src must be >= 1, got {n_src}")
        if short not in ("pad", "skip"):
            raise ValueError(f"short must be 'pad' or 'skip', got {short!r}")
        if segment is not None and segment <= 0:
            raise ValueError(f"segment must be a positive number of seconds or None, got {segment}")
        if isinstance(manifest, (str, os.PathLike)):
            self.source = str(manifest)
            records = load_manifest(manifest)
        elif manifest and all(isinstance(m, (str, os.PathLike)) for m in manifest):
            self.source = " + ".join(str(m) for m in manifest)
            records = [record for m in manifest for record in load_manifest(m)]
        else:
            self.source, records = "records", list(manifest)
        if not records:
            raise ValueError(f"manifest {self.source} has no mixtures")
        for record in records:
            if self.n_src_range is None and record.n_src != high:
                raise ValueError(f"manifest {self.source}: mixture {record.mixture_id!r} has {record.n_src} "
                                 f"sources but n_src={high}; use a {record.n_src}-speaker model or manifest")
            if self.n_src_range is not None and not low <= record.n_src <= high:
                raise ValueError(f"manifest {self.source}: mixture {record.mixture_id!r} has {record.n_src} "
                                 f"sources, outside n_src=[{low}, {high}]")
            if add_noise and record.noise_path is None:
                raise ValueError(f"manifest {self.source}: mixture {record.mixture_id!r} has no noise_path but "
                                 "add_noise=True; use a manifest with a noise_path column")
        self.n_src, self.sample_rate = high, int(sample_rate)
        self.segment, self.train, self.short = segment, bool(train), short
        self.add_noise, self.resample, self.seed = add_noise, resample, int(seed)
        super().__init__()
        self.segment_samples = int(round(segment * sample_rate)) if segment else None
        if self.cropping and short == "skip":
            kept = [r for r in records if self._duration(r) >= segment]
            if not kept:
                raise ValueError(f"manifest {self.source}: every mixture is shorter than segment={segment} s; "
                                 "use a shorter segment or short='pad'")
            self.skipped = len(records) - len(kept)
            records = kept
        else:
            self.skipped = 0
        self.records = records

    @property
    def cropping(self) -> bool:
        """Whether examples are cut to ``segment`` seconds."""
        return self.segment_samples is not None

    def _duration(self, record: MixtureRecord) -> float:
        info = audio_info(record.mixture_path)
        return info.frames / info.sample_rate

    def __len__(self) -> int:
        return len(self.records)

    def _read(self, path: Path, record: MixtureRecord, start: int, frames: int | None, file_rate: int) -> np.ndarray:
        audio, rate = read_audio(path, start=start, frames=frames)
        if rate != file_rate:
            raise ValueError(f"manifest {self.source}, mixture {record.mixture_id!r}: {path} is at {rate} Hz but "
                             f"the mixture is at {file_rate} Hz; sample rates must agree within a record")
        if file_rate != self.sample_rate:
            audio = resample(audio, file_rate, self.sample_rate)
        return audio

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        record = self.records[index]
        info = audio_info(record.mixture_path)
        if info.sample_rate != self.sample_rate and not self.resample:
            raise ValueError(f"manifest {self.source}, mixture {record.mixture_id!r}: {record.mixture_path} is at "
                             f"{info.sample_rate} Hz but sample_rate={self.sample_rate}; pass resample=True to "
                             "resample on the fly, or prepare the set at the model's rate")
        start, frames = 0, None
        if self.cropping:
            wanted = int(math.ceil(self.segment_samples * info.sample_rate / self.sample_rate))
            if info.frames > wanted:
                if self.train:
                    start = int(_example_rng(self.seed, self.epoch, index).integers(0, info.frames - wanted + 1))
                else:
                    start = (info.frames - wanted) // 2
                frames = wanted
        mixture = self._read(record.mixture_path, record, start, frames, info.sample_rate)
        sources = [self._read(p, record, start, frames, info.sample_rate) for p in record.source_paths]
        for path, source in zip(record.source_paths, sources):
            if source.shape != mixture.shape:
                raise ValueError(f"manifest {self.source}, mixture {record.mixture_id!r}: {path} has shape "
                                 f"{source.shape} (channels, samples) but the mixture {record.mixture_path} has "
                                 f"{mixture.shape}; run 'voxsep prepare check' on the manifest")
        if self.add_noise:
            noise = self._read(record.noise_path, record, start, frames, info.sample_rate)
            if noise.shape[-1] < mixture.shape[-1] or noise.shape[0] not in (1, mixture.shape[0]):
                raise ValueError(f"manifest {self.source}, mixture {record.mixture_id!r}: noise {record.noise_path} "
                                 f"has shape {noise.shape}, mixture {mixture.shape}")
            mixture = mixture + noise[..., : mixture.shape[-1]]
        stacked = _pad_sources(np.stack(sources), self.n_src)  # (n_src, channels, time)
        if self.cropping:
            stacked, mixture = stacked[..., : self.segment_samples], mixture[..., : self.segment_samples]
            missing = self.segment_samples - mixture.shape[-1]
            if missing > 0:
                stacked = np.pad(stacked, [(0, 0), (0, 0), (0, missing)])
                mixture = np.pad(mixture, [(0, 0), (0, missing)])
        if mixture.shape[0] == 1:
            return _to_tensors(mixture[0], stacked[:, 0])
        return _to_tensors(mixture, stacked)


class _AudioCache:
    """A small per-process LRU cache of decoded mono audio at one sample rate.

    Each DataLoader worker holds its own copy of the dataset and so its own cache;
    nothing is shared between processes.
    """

    def __init__(self, sample_rate: int, max_bytes: int) -> None:
        self.sample_rate, self.max_bytes = sample_rate, max_bytes
        self._items: OrderedDict[Path, np.ndarray] = OrderedDict()
        self._bytes = 0

    def get(self, path: Path) -> np.ndarray:
        audio = self._items.get(path)
        if audio is not None:
            self._items.move_to_end(path)
            return audio
        audio = read_audio(path, sample_rate=self.sample_rate, channels=1)[0][0]
        if audio.nbytes <= self.max_bytes:
            self._items[path] = audio
            self._bytes += audio.nbytes
            while self._bytes > self.max_bytes:
                _, old = self._items.popitem(last=False)
                self._bytes -= old.nbytes
        return audio

    def __getstate__(self) -> dict[str, Any]:  # start every worker with an empty cache
        return {"sample_rate": self.sample_rate, "max_bytes": self.max_bytes, "_items": OrderedDict(), "_bytes": 0}


class DynamicMixDataset(_EpochDataset):
    """Mixtures drawn on the fly from a speaker-labelled pool of utterances.

    Every example: ``n_src`` different speakers (with ``n_src=(low, high)``: ``k``
    speakers, ``k`` uniform in ``low..high`` or drawn with ``count_weights``, and
    ``high - k`` silent targets after the ``k`` talkers), one random utterance each, a random
    window of ``segment`` seconds (an utterance shorter than the segment is placed at a
    random position in it, zeros around), optional speed perturbation, gains, optional
    spatialization and noise, then ``mixture = sum(sources) (+ noise)``.

    Levels: each source window is scaled to an active-speech RMS
    (:func:`voxsep.core.audio.active_rms`) of ``level_db`` dBFS plus a gain. With
    ``gain_mode="relative"`` (default, as the wsj0-mix MATLAB recipe) source 1 sits at
    ``level_db`` and every other source at ``level_db + g``, ``g ~ U(gain_db)``: the
    relative gain to source 1 is uniform in ``gain_db``. With ``gain_mode="absolute"``
    every source gets its own level ``level_db + g``; LibriMix-style loudness is
    ``level_db=-29, gain_db=(-4, 4), gain_mode="absolute"`` (levels uniform in
    [-33, -25] dB), measured as active RMS instead of LUFS (pyloudnorm is not a
    dependency). If the mixture (or a source) would clip, everything is scaled down
    together, so relative gains and ``sum(sources) == mixture`` still hold.

    Noise (WHAM!-style): a random file of ``noise_pool`` at a random offset (looped if
    short) is scaled so that the louder source is ``snr_db`` (uniform range) above it.
    It is added to the mixture only. Reverberation: ``spatializer(sources, rng)`` returns
    images ``(n_src, channels, time)`` (e.g. :class:`voxsep.data.reverb.RoomReverb`);
    the images are the targets and the mixture is their sum. Single-channel images
    are returned in the single-channel shapes.

    Args:
        pool: ``{speaker: [utterance paths]}`` or an utterance-list CSV
            (:func:`load_speaker_pool`). Files at another rate are resampled with soxr.
        n_src: speakers per mixture (>= 2), or a range ``(low, high)`` with ``low >= 1``
            and ``high >= 2`` (variable count, padded to ``high``); the pool needs at
            least ``high`` speakers.
        sample_rate: output rate.
        segment: example length in seconds.
        examples_per_epoch: ``len(dataset)``.
        seed: base seed; the example RNG is ``default_rng([seed, epoch, index])``.
        gain_db: ``(low, high)`` gain range in dB.
        speed_perturb: ``(low, high)`` speed factors (e.g. ``(0.9, 1.1)``), drawn per
            source and applied by resampling (changes tempo and pitch), or ``None``.
        noise_pool: noise files, or ``None`` for clean mixtures.
        snr_db: ``(low, high)`` SNR range of the louder source over the noise.
        spatializer: callable making multichannel/reverberant images, or ``None``.
        level_db: reference active level in dBFS.
        gain_mode: ``"relative"`` or ``"absolute"`` (see above).
        cache_mb: size of each worker's decoded-audio LRU cache.
        channel: callable ``(images, rng) -> images`` applied to the source images
            ``(n_src, channels, time)`` after spatialization -- one linear recording
            channel for the whole mixture (:class:`voxsep.data.channel.RandomChannel`),
            or ``None``.
        codec: callable ``(images, rng) -> images`` applied after ``channel``: each source
            image through one lossy codec (:class:`voxsep.data.codec.RandomCodec`), or ``None``.
        voice: callable ``(sources, rng) -> sources`` applied to the dry sources
            ``(n_src, time)`` before their levels are set: new voices
            (:class:`voxsep.data.voice.RandomVoice`), or ``None``.
        count_weights: with ``n_src=(low, high)``, relative frequencies of the counts
            ``low..high`` (``None``: uniform).
        same_sex: probability that all talkers of a mixture (of two or more) share one sex;
            the others then hold both sexes (the first talker uniform over the pool, the
            second of the other sex, any further ones uniform over the rest). ``None``:
            talkers uniform over the pool, whatever their sexes (about half of the pairs
            are then of one sex when the pool is balanced). Same-sex pairs are the hard
            ones (Kolbaek et al., 2017, "Multitalker speech separation with utterance-level
            permutation invariant training", report them several dB below mixed pairs; so
            do the bundled model's scores); raising their share trains on them more.
        speaker_sexes: ``{speaker: "F" | "M"}`` for every pool speaker (e.g.
            :func:`voxsep.data.manifest.load_speaker_sexes`); needed by ``same_sex``.
    """

    def __init__(
        self,
        pool: Mapping[str, Sequence[str | os.PathLike]] | str | os.PathLike,
        n_src: int | tuple[int, int],
        sample_rate: int,
        segment: float,
        examples_per_epoch: int,
        seed: int = 0,
        gain_db: tuple[float, float] = (-5.0, 5.0),
        speed_perturb: tuple[float, float] | None = None,
        noise_pool: Sequence[str | os.PathLike] | None = None,
        snr_db: tuple[float, float] = (-6.0, 3.0),
        spatializer: Spatializer | None = None,
        level_db: float = -25.0,
        gain_mode: str = "relative",
        cache_mb: float = 256.0,
        channel: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
        count_weights: Sequence[float] | None = None,
        codec: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
        voice: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
        same_sex: float | None = None,
        speaker_sexes: Mapping[str, str] | None = None,
        background: Background | None = None,
    ) -> None:
        if isinstance(pool, (str, os.PathLike)):
            pool = load_speaker_pool(pool)
        self.pool = {str(s): [Path(p) for p in paths] for s, paths in pool.items() if len(paths) > 0}
        self.speakers = sorted(self.pool)
        low, n_src, self.n_src_range = _count_range(n_src)
        if n_src < 2 or (self.n_src_range is None and low < 2):
            raise ValueError(f"n_src must be >= 2 for mixing (or a range [low, high] with high >= 2), got {n_src}")
        if len(self.speakers) < n_src:
            raise ValueError(f"the pool has {len(self.speakers)} speaker(s) with utterances; n_src={n_src} needs "
                             f"at least {n_src} different speakers")
        if segment <= 0 or examples_per_epoch <= 0:
            raise ValueError(f"segment ({segment}) and examples_per_epoch ({examples_per_epoch}) must be positive")
        for name, value in (("gain_db", gain_db), ("snr_db", snr_db), ("speed_perturb", speed_perturb)):
            if value is not None and (len(value) != 2 or value[0] > value[1]):
                raise ValueError(f"{name} must be a (low, high) pair with low <= high, got {value}")
        if speed_perturb is not None and speed_perturb[0] <= 0:
            raise ValueError(f"speed_perturb factors must be positive, got {speed_perturb}")
        if gain_mode not in ("relative", "absolute"):
            raise ValueError(f"gain_mode must be 'relative' or 'absolute', got {gain_mode!r}")
        self.noise_pool = [Path(p) for p in noise_pool] if noise_pool else []
        for path in self.noise_pool:
            if not path.is_file():
                raise FileNotFoundError(f"noise file not found: {path}")
        self.n_src, self.sample_rate, self.segment = int(n_src), int(sample_rate), float(segment)
        self.segment_samples = int(round(segment * sample_rate))
        self.examples_per_epoch, self.seed = int(examples_per_epoch), int(seed)
        super().__init__()
        self.gain_db, self.speed_perturb, self.snr_db = tuple(gain_db), speed_perturb, tuple(snr_db)
        self.spatializer, self.level_db, self.gain_mode = spatializer, float(level_db), gain_mode
        self._cache = _AudioCache(self.sample_rate, int(cache_mb * 2**20))
        self.channel, self.codec, self.voice = channel, codec, voice
        self.count_probabilities = self._count_probabilities(count_weights)
        self.same_sex = None if same_sex is None else float(same_sex)
        self._by_sex = self._speakers_by_sex(speaker_sexes) if same_sex is not None else {}
        self.background = background

    def _speakers_by_sex(self, speaker_sexes: Mapping[str, str] | None) -> dict[str, list[int]]:
        """Indices into ``self.speakers`` per sex, checked to allow the ``same_sex`` rule."""
        if not 0.0 <= self.same_sex <= 1.0:
            raise ValueError(f"same_sex must be a probability in [0, 1], got {self.same_sex}")
        if speaker_sexes is None:
            raise ValueError("same_sex needs the sex of every pool speaker (speaker_sexes; recipes: "
                             "data.speaker_table, e.g. the speakers.csv of 'voxsep prepare offline')")
        unknown = [s for s in self.speakers if speaker_sexes.get(s) not in ("F", "M")]
        if unknown:
            raise ValueError(f"the speaker table gives no sex (F or M) for {len(unknown)} pool speaker(s): "
                             f"{', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}; use the table "
                             "written with the pool, or leave same_sex unset")
        by_sex = {sex: [i for i, s in enumerate(self.speakers) if speaker_sexes[s] == sex] for sex in ("F", "M")}
        if self.same_sex > 0 and max(len(v) for v in by_sex.values()) < self.n_src:
            raise ValueError(f"same_sex={self.same_sex} needs {self.n_src} speakers of one sex; the pool has "
                             f"{len(by_sex['F'])} F and {len(by_sex['M'])} M")
        if self.same_sex < 1 and min(len(v) for v in by_sex.values()) == 0:
            raise ValueError(f"same_sex={self.same_sex} < 1 needs speakers of both sexes; the pool has "
                             f"{len(by_sex['F'])} F and {len(by_sex['M'])} M")
        return by_sex

    def _choose_speakers(self, rng: np.random.Generator, n_active: int) -> list[int]:
        """Indices of ``n_active`` different speakers (uniform, or by the ``same_sex`` rule)."""
        if self.same_sex is None or n_active < 2:
            return [int(i) for i in rng.choice(len(self.speakers), size=n_active, replace=False)]
        if rng.random() < self.same_sex:
            eligible = [i for group in self._by_sex.values() if len(group) >= n_active for i in group]
            first = eligible[int(rng.integers(len(eligible)))]
            group = next(g for g in self._by_sex.values() if first in g)
            rest = [i for i in group if i != first]
            return [first, *(int(i) for i in rng.choice(rest, size=n_active - 1, replace=False))]
        first = int(rng.integers(len(self.speakers)))
        other = self._by_sex["M" if first in self._by_sex["F"] else "F"]
        second = other[int(rng.integers(len(other)))]
        rest = [i for i in range(len(self.speakers)) if i not in (first, second)]
        return [first, second, *(int(i) for i in rng.choice(rest, size=n_active - 2, replace=False))]

    def __len__(self) -> int:
        return self.examples_per_epoch

    def _count_probabilities(self, weights: Sequence[float] | None) -> np.ndarray | None:
        """``count_weights`` normalised to probabilities of ``low..high`` talkers (``None``: uniform)."""
        if weights is None:
            return None
        if self.n_src_range is None:
            raise ValueError("count_weights needs a range n_src=(low, high)")
        low, high = self.n_src_range
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (high - low + 1,) or (weights < 0).any() or weights.sum() <= 0:
            raise ValueError(f"count_weights must give one non-negative weight per count {low}..{high}, not all zero; "
                             f"got {weights.tolist()}")
        return weights / weights.sum()

    def draw(self, index: int, epoch: int | None = None) -> dict[str, Any]:
        """The random choices of one example, without reading audio.

        Returns:
            A dict with ``speakers``, ``utterances`` (paths), ``positions`` (uniform
            numbers in [0, 1) that place each window), ``speeds``, ``gains_db`` (per
            source, relative to ``level_db``), ``noise`` (path or None), ``noise_position``,
            ``snr_db``, ``rng`` (the generator the spatializer receives) and ``n_active``
            (the number of talkers; ``n_src`` unless it is a range).
        """
        if not 0 <= index < self.examples_per_epoch:
            raise IndexError(f"index {index} out of range for {self.examples_per_epoch} examples per epoch")
        rng = _example_rng(self.seed, self.epoch if epoch is None else epoch, index)
        # A fixed count draws nothing extra, so its examples are those of earlier versions.
        if self.n_src_range is None:
            n_active = self.n_src
        elif self.count_probabilities is None:
            n_active = int(rng.integers(self.n_src_range[0], self.n_src_range[1] + 1))
        else:
            n_active = self.n_src_range[0] + int(rng.choice(len(self.count_probabilities), p=self.count_probabilities))
        speakers = [self.speakers[i] for i in self._choose_speakers(rng, n_active)]
        utterances = [self.pool[s][int(rng.integers(len(self.pool[s])))] for s in speakers]
        positions = rng.random(n_active).tolist()
        speeds = (rng.uniform(*self.speed_perturb, size=n_active).tolist() if self.speed_perturb
                  else [1.0] * n_active)
        gains = rng.uniform(*self.gain_db, size=n_active)
        if self.gain_mode == "relative":
            gains[0] = 0.0
        plan: dict[str, Any] = {"speakers": speakers, "utterances": utterances, "positions": positions,
                                "speeds": speeds, "gains_db": gains.tolist(), "noise": None,
                                "noise_position": 0.0, "snr_db": None, "n_active": n_active}
        if self.noise_pool:
            plan["noise"] = self.noise_pool[int(rng.integers(len(self.noise_pool)))]
            plan["noise_position"] = float(rng.random())
            plan["snr_db"] = float(rng.uniform(*self.snr_db))
        if self.background is not None:
            plan["background"] = self._draw_background(rng, speakers)
        plan["rng"] = rng
        return plan

    def _draw_background(self, rng: np.random.Generator, talkers: Sequence[str]) -> dict[str, Any] | None:
        """The background of one example: :meth:`Background.draw` plus its babble talkers
        (pool speakers other than ``talkers``), their utterances, window positions and gains."""
        others = [s for s in self.speakers if s not in talkers]
        background = self.background.draw(rng, len(others))
        if background is None:
            return None
        chosen = [others[int(i)] for i in rng.choice(len(others), size=background["babble"], replace=False)]
        background["babble_utterances"] = [self.pool[s][int(rng.integers(len(self.pool[s])))] for s in chosen]
        background["babble_positions"] = rng.random(len(chosen)).tolist()
        background["babble_gains_db"] = rng.uniform(*self.gain_db, size=len(chosen)).tolist()
        return background

    def _window(self, audio: np.ndarray, position: float, speed: float) -> np.ndarray:
        """A ``segment_samples`` window of ``audio`` played at ``speed``."""
        seg = self.segment_samples
        out = np.zeros(seg, dtype=np.float32)
        if speed == 1.0:
            n = audio.shape[-1]
            if n >= seg:
                start = int(position * (n - seg + 1))
                return audio[start: start + seg].astype(np.float32, copy=True)
            start = int(position * (seg - n + 1))
            out[start: start + n] = audio
            return out
        # Speed change by resampling: reading at rate sr*speed and playing at sr makes it
        # `speed` times faster (and higher). Only the needed span is resampled.
        orig_rate = int(round(self.sample_rate * speed))
        n_fast = int(audio.shape[-1] * self.sample_rate / orig_rate)
        if n_fast >= seg:
            start_fast = int(position * (n_fast - seg + 1))
            start = int(start_fast * orig_rate / self.sample_rate)
            span = int(math.ceil(seg * orig_rate / self.sample_rate)) + 64
            fast = resample(audio[start: start + span], orig_rate, self.sample_rate, quality="HQ")[:seg]
            out[: fast.shape[-1]] = fast
            return out
        fast = resample(audio, orig_rate, self.sample_rate, quality="HQ")[:seg]
        start = int(position * (seg - fast.shape[-1] + 1))
        out[start: start + fast.shape[-1]] = fast
        return out

    def _noise(self, path: Path, position: float, length: int, channels: int) -> np.ndarray:
        noise = self._cache.get(path)
        reps = int(math.ceil((length * channels + 1) / noise.shape[-1])) + 1
        looped = np.tile(noise, reps)
        start = int(position * noise.shape[-1])
        # Channel c starts length samples after channel c-1: uncorrelated between channels.
        return np.stack([looped[start + c * length: start + (c + 1) * length] for c in range(channels)])

    def _babble(self, background: dict[str, Any]) -> np.ndarray:
        """Dry babble talkers ``(n_babble, time)`` at ``level_db`` plus their gains."""
        babble = np.stack([self._window(self._cache.get(path), position, 1.0) for path, position in
                           zip(background["babble_utterances"], background["babble_positions"])]).astype(np.float64)
        for i, gain in enumerate(background["babble_gains_db"]):
            level = active_rms(babble[i], self.sample_rate)
            if level > 1e-8:
                babble[i] *= 10.0 ** ((self.level_db + gain) / 20.0) / level
        return babble

    def _background_sound(self, background: dict[str, Any], babble: np.ndarray, talkers: np.ndarray) -> np.ndarray:
        """Babble images ``(n_babble, channels, time)`` plus noise, scaled so that the louder
        talker image ``talkers (n_src, channels, time)`` is ``snr_db`` above it: ``(channels, time)``."""
        channels, length = talkers.shape[1], talkers.shape[2]
        if background["noise"] is not None:
            noise = self._noise(background["noise"], background["noise_position"], length, channels)
        else:
            rng = np.random.default_rng(background["noise_seed"])
            noise = np.stack([coloured_noise(length, background["exponent"], rng) for _ in range(channels)])
        return scale_background(talkers, babble, noise, self.sample_rate, background["noise_to_babble_db"],
                                background["snr_db"])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        plan = self.draw(index)
        dry = np.stack([
            self._window(self._cache.get(path), position, speed)
            for path, position, speed in zip(plan["utterances"], plan["positions"], plan["speeds"])
        ]).astype(np.float64)
        if self.voice is not None:
            dry = np.asarray(self.voice(dry, plan["rng"]), dtype=np.float64)
        for i, gain in enumerate(plan["gains_db"]):
            level = active_rms(dry[i], self.sample_rate)
            if level > 1e-8:
                dry[i] *= 10.0 ** ((self.level_db + gain) / 20.0) / level
        n_talkers = dry.shape[0]
        background = plan.get("background")
        if background is not None and background["babble"]:
            dry = np.concatenate([dry, self._babble(background)])
        if self.spatializer is not None:
            images = np.asarray(self.spatializer(dry, plan["rng"]), dtype=np.float64)
            if images.ndim != 3 or images.shape[0] != dry.shape[0]:
                raise ValueError(f"spatializer returned shape {images.shape}; expected (n_src={dry.shape[0]}, "
                                 "channels, time)")
            images = images[..., : self.segment_samples]
            if images.shape[-1] < self.segment_samples:
                images = np.pad(images, [(0, 0), (0, 0), (0, self.segment_samples - images.shape[-1])])
        else:
            images = dry[:, None, :]
        if self.channel is not None:
            images = np.asarray(self.channel(images, plan["rng"]), dtype=np.float64)
        if self.codec is not None:
            images = np.asarray(self.codec(images, plan["rng"]), dtype=np.float64)
        images, babble = images[:n_talkers], images[n_talkers:]
        mixture = images.sum(axis=0)
        if background is not None:
            mixture = mixture + self._background_sound(background, babble, images)
        if plan["noise"] is not None:
            noise = self._noise(plan["noise"], plan["noise_position"], self.segment_samples, images.shape[1])
            speech_level = max(active_rms(image, self.sample_rate) for image in images)
            noise_level = active_rms(noise, self.sample_rate)
            if noise_level > 1e-8 and speech_level > 0:
                mixture = mixture + noise * (speech_level / noise_level * 10.0 ** (-plan["snr_db"] / 20.0))
        peak = max(float(np.abs(mixture).max()), float(np.abs(images).max()))
        if peak > 0.99:  # clipping guard: scale everything together
            mixture, images = mixture * (0.99 / peak), images * (0.99 / peak)
        images = _pad_sources(images, self.n_src)  # silent targets after the talkers (variable count)
        if images.shape[1] == 1:
            return _to_tensors(mixture[0], images[:, 0])
        return _to_tensors(mixture, images)
