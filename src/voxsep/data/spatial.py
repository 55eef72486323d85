"""Head-related impulse responses (HRIRs) and binaural rendering.

* :func:`load_sofa` reads any SOFA ``SimpleFreeFieldHRIR`` file (AES69; HDF5, read with
  h5py): ``Data.IR`` ``(M, 2, N)``, ``SourcePosition`` ``(M, 3)`` (spherical degrees or
  cartesian metres) and ``Data.SamplingRate``. The MIT KEMAR set shipped by Debian's
  ``libmysofa1`` is at :data:`KEMAR_SOFA` (710 directions × 2 ears × 512 taps, 44.1 kHz).
* :func:`load_cipic_wav` reads a CIPIC-style folder of per-direction wav files as used by
  the Binaural-WSJ0Mix scripts (``--hrtf-wav-path``)::

      wav_database/subject_003/neg80azleft.wav   neg80azright.wav ... 80azright.wav

  one file per (interaural-polar azimuth, ear), named ``{az}az{left|right}.wav`` with a
  negative azimuth written ``neg``; each file holds 50 rows, one per CIPIC elevation
  ``-45 + 5.625·k`` degrees, of 200 taps (stored either as 50 frames × 200 channels, as
  the Binaural-WSJ0Mix files are, or as 200 frames × 50 channels). CIPIC's azimuth is
  positive to the listener's **right**; it is converted here.
* :meth:`HRIRSet.resample` brings a set to the model rate with
  :func:`voxsep.core.audio.resample`.
* :func:`render` convolves a source with one HRIR pair (``scipy.signal.oaconvolve``).
* :class:`BinauralSpatializer` is the ``spatializer`` of
  :class:`voxsep.data.datasets.DynamicMixDataset`: every talker at a distinct random
  direction (minimum separation configurable), optionally in a random shoebox room.

Direction convention everywhere (SOFA's): azimuth in degrees counter-clockwise from the
front, so **+90° is the listener's left** and −90° the right; elevation in degrees up
from the horizontal plane. Channel 0 of every binaural signal is the left ear.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

KEMAR_SOFA = Path("/usr/share/libmysofa/MIT_KEMAR_normal_pinna.sofa")
CIPIC_AZIMUTHS = (-80, -65, -55, *range(-45, 50, 5), 55, 65, 80)
CIPIC_ELEVATIONS = tuple(-45 + 5.625 * k for k in range(50))
SPEED_OF_SOUND = 343.0

__all__ = [
    "KEMAR_SOFA",
    "HRIRSet",
    "load_sofa",
    "load_cipic_wav",
    "load_hrirs",
    "render",
    "render_at",
    "BinauralSpatializer",
]


@dataclass
class HRIRSet:
    """A set of HRIR pairs with their directions.

    Attributes:
        irs: ``(n_directions, 2, taps)`` float32, ear 0 = left.
        azimuths: ``(n_directions,)`` degrees, counter-clockwise (+90 = left).
        elevations: ``(n_directions,)`` degrees.
        sample_rate: rate of ``irs``.
        source: where the set was read from (for messages).
        subjects: ``(n_directions,)`` listener of each pair (CIPIC folders hold many).
    """

    irs: np.ndarray
    azimuths: np.ndarray
    elevations: np.ndarray
    sample_rate: int
    source: str = ""
    subjects: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))

    def __post_init__(self) -> None:
        self.irs = np.asarray(self.irs, dtype=np.float32)
        self.azimuths = np.asarray(self.azimuths, dtype=np.float64)
        self.elevations = np.asarray(self.elevations, dtype=np.float64)
        if self.irs.ndim != 3 or self.irs.shape[1] != 2:
            raise ValueError(f"HRIRs from {self.source or 'memory'} must be (directions, 2, taps), got {self.irs.shape}")
        if not len(self.irs) == len(self.azimuths) == len(self.elevations):
            raise ValueError(f"HRIRs from {self.source or 'memory'}: {len(self.irs)} responses but "
                             f"{len(self.azimuths)} azimuths and {len(self.elevations)} elevations")
        if len(self.subjects) == 0:
            self.subjects = np.full(len(self.irs), Path(self.source).stem if self.source else "", dtype=object)

    def __len__(self) -> int:
        return len(self.irs)

    def resample(self, sample_rate: int) -> HRIRSet:
        """The same set at ``sample_rate`` (soxr via :func:`voxsep.core.audio.resample`)."""
        if int(sample_rate) == int(self.sample_rate):
            return self
        from voxsep.core.audio import resample

        irs = resample(self.irs, int(self.sample_rate), int(sample_rate))
        return HRIRSet(irs, self.azimuths, self.elevations, int(sample_rate), self.source, self.subjects)

    def select(
        self,
        azimuth_range: tuple[float, float] = (-90.0, 90.0),
        elevation_range: tuple[float, float] = (-90.0, 90.0),
    ) -> HRIRSet:
        """The directions with azimuth (wrapped to (-180, 180]) and elevation in the ranges.

        Raises:
            ValueError: no direction is left; the message lists the set's ranges.
        """
        az = _wrap(self.azimuths)
        keep = (az >= azimuth_range[0]) & (az <= azimuth_range[1])
        keep &= (self.elevations >= elevation_range[0]) & (self.elevations <= elevation_range[1])
        if not keep.any():
            raise ValueError(
                f"no HRIR of {self.source} has azimuth in {azimuth_range} and elevation in {elevation_range}; "
                f"the set spans azimuth {az.min():.0f}..{az.max():.0f}, elevation "
                f"{self.elevations.min():.0f}..{self.elevations.max():.0f} degrees"
            )
        return HRIRSet(self.irs[keep], az[keep], self.elevations[keep], self.sample_rate, self.source,
                       self.subjects[keep])

    def nearest(self, azimuth: float, elevation: float = 0.0) -> int:
        """Index of the direction closest (great-circle angle) to ``(azimuth, elevation)``."""
        return int(np.argmax(_unit(self.azimuths, self.elevations) @ _unit(np.array([azimuth]), np.array([elevation]))[0]))


def _wrap(azimuth: np.ndarray) -> np.ndarray:
    return -((-np.asarray(azimuth, dtype=np.float64) + 180.0) % 360.0 - 180.0)


def _unit(azimuth: np.ndarray, elevation: np.ndarray) -> np.ndarray:
    az, el = np.radians(azimuth), np.radians(elevation)
    return np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=-1)


def angular_distance(az1: float, el1: float, az2: float, el2: float) -> float:
    """Great-circle angle in degrees between two directions."""
    dot = float(_unit(np.array([az1]), np.array([el1]))[0] @ _unit(np.array([az2]), np.array([el2]))[0])
    return float(np.degrees(np.arccos(np.clip(dot, -1.0, 1.0))))


def load_sofa(path: str | os.PathLike) -> HRIRSet:
    """Read the HRIRs of a SOFA ``SimpleFreeFieldHRIR`` file with h5py.

    Raises:
        FileNotFoundError: the file does not exist (names it; Debian's ``libmysofa1``
            provides :data:`KEMAR_SOFA`).
        ValueError: not an HDF5/SOFA file, or not two receivers (ears).
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SOFA file {path} does not exist; the MIT KEMAR set is installed at {KEMAR_SOFA} "
                                "by the Debian package libmysofa1")
    try:
        with h5py.File(path, "r") as sofa:
            irs = np.asarray(sofa["Data.IR"][:], dtype=np.float32)
            positions = np.asarray(sofa["SourcePosition"][:], dtype=np.float64)
            position_type = sofa["SourcePosition"].attrs.get("Type", b"spherical")
            rate = float(np.asarray(sofa["Data.SamplingRate"][:]).ravel()[0])
            receivers = np.asarray(sofa["ReceiverPosition"][:]).reshape(-1, 3) if "ReceiverPosition" in sofa else None
    except (OSError, KeyError) as error:
        raise ValueError(f"{path} is not a readable SOFA HRIR file (need Data.IR, SourcePosition, "
                         f"Data.SamplingRate): {error}") from error
    if irs.ndim != 3 or irs.shape[1] != 2:
        raise ValueError(f"{path}: Data.IR has shape {irs.shape}; a binaural SOFA file has (M, 2, N)")
    if positions.shape[0] == 1 and irs.shape[0] > 1:
        positions = np.repeat(positions, irs.shape[0], axis=0)
    if isinstance(position_type, bytes):
        position_type = position_type.decode()
    if str(position_type).lower() == "cartesian":
        x, y, z = positions[:, 0], positions[:, 1], positions[:, 2]
        azimuths = np.degrees(np.arctan2(y, x))
        elevations = np.degrees(np.arctan2(z, np.hypot(x, y)))
    else:
        azimuths, elevations = positions[:, 0], positions[:, 1]
    if receivers is not None and len(receivers) == 2 and receivers[0, 1] < receivers[1, 1]:
        irs = irs[:, ::-1]  # receiver 0 is on the right (negative y): make ear 0 the left one
    return HRIRSet(irs, _wrap(azimuths), elevations, int(round(rate)), str(path))


_CIPIC_NAME = re.compile(r"^(neg)?(\d+)az(left|right)\.wav$")


def load_cipic_wav(folder: str | os.PathLike, subjects: Sequence[str] | None = None) -> HRIRSet:
    """Read a CIPIC-style folder of per-direction wav HRIRs (see the module docstring).

    Args:
        folder: the ``wav_database`` folder (holding ``subject_*`` folders) or one
            subject's folder.
        subjects: subject folder names to keep (default: all).

    Returns:
        All (subject, azimuth, elevation) pairs, directions converted from CIPIC's
        interaural-polar coordinates (azimuth positive to the right, elevation 0 = front,
        90 = above, 180 = behind) to SOFA's (+90 = left).

    Raises:
        FileNotFoundError: no such folder, or no ``*az{left,right}.wav`` files in it.
        ValueError: a file whose shape or sample rate does not match the others.
    """
    import soundfile as sf

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"HRTF wav folder {folder} does not exist; pass the CIPIC 'wav_database' folder "
                                "(subject folders holding files like neg80azleft.wav)")
    subject_dirs = sorted(p for p in folder.iterdir() if p.is_dir()) or [folder]
    if subjects is not None:
        subject_dirs = [p for p in subject_dirs if p.name in set(subjects)]
    irs, azimuths, elevations, names, rate = [], [], [], [], None
    for subject in subject_dirs:
        for left_path in sorted(subject.glob("*azleft.wav")):
            match = _CIPIC_NAME.match(left_path.name)
            if not match:
                continue
            lateral = float(match.group(2)) * (-1 if match.group(1) else 1)
            right_path = left_path.with_name(left_path.name.replace("azleft", "azright"))
            pair = []
            for path in (left_path, right_path):
                if not path.exists():
                    raise FileNotFoundError(f"{path} is missing (its left-ear twin {left_path.name} exists)")
                data, file_rate = sf.read(path, dtype="float32", always_2d=True)
                if data.shape[0] != len(CIPIC_ELEVATIONS) and data.shape[1] == len(CIPIC_ELEVATIONS):
                    data = data.T
                if data.shape[0] != len(CIPIC_ELEVATIONS):
                    raise ValueError(f"{path}: expected {len(CIPIC_ELEVATIONS)} elevation rows of taps, "
                                     f"got an array of shape {data.shape}")
                if rate is not None and file_rate != rate:
                    raise ValueError(f"{path} is at {file_rate} Hz but earlier files are at {rate} Hz")
                rate = file_rate
                pair.append(data)
            for k, polar in enumerate(CIPIC_ELEVATIONS):
                az, el = _interaural_polar_to_sofa(lateral, polar)
                irs.append(np.stack([pair[0][k], pair[1][k]]))
                azimuths.append(az)
                elevations.append(el)
                names.append(subject.name)
    if not irs:
        raise FileNotFoundError(f"no CIPIC HRIR files (e.g. 'neg80azleft.wav') found under {folder}")
    return HRIRSet(np.stack(irs), np.array(azimuths), np.array(elevations), int(rate), str(folder),
                   np.array(names, dtype=object))


def _interaural_polar_to_sofa(lateral: float, polar: float) -> tuple[float, float]:
    """CIPIC (lateral angle to the right, polar angle from the front) → SOFA (az, el)."""
    lat, pol = np.radians(lateral), np.radians(polar)
    x, y, z = np.cos(lat) * np.cos(pol), -np.sin(lat), np.cos(lat) * np.sin(pol)
    return float(np.degrees(np.arctan2(y, x))), float(np.degrees(np.arcsin(np.clip(z, -1, 1))))


def load_hrirs(path: str | os.PathLike, sample_rate: int | None = None) -> HRIRSet:
    """A SOFA file or a CIPIC-style wav folder, resampled to ``sample_rate`` if given."""
    path = Path(path)
    hrirs = load_cipic_wav(path) if path.is_dir() else load_sofa(path)
    return hrirs.resample(sample_rate) if sample_rate else hrirs


def render(source: np.ndarray, hrir: np.ndarray, preserve_energy: bool = True) -> np.ndarray:
    """Two-ear image of a dry source: convolution with an HRIR pair, same length as ``source``.

    The output keeps the first ``time`` samples of the full convolution, so the HRIR's
    propagation delays (and hence the ITD) are kept as they are.

    Args:
        source: ``(time,)`` dry signal.
        hrir: ``(2, taps)`` left/right impulse responses (or a longer binaural room IR).
        preserve_energy: scale so that the two ears together carry twice the source's
            energy (the Binaural-WSJ0Mix convention: talker levels survive rendering).

    Returns:
        ``(2, time)`` float32.
    """
    from scipy.signal import oaconvolve

    source = np.asarray(source, dtype=np.float64)
    hrir = np.asarray(hrir, dtype=np.float64)
    if source.ndim != 1 or hrir.ndim != 2 or hrir.shape[0] != 2:
        raise ValueError(f"render expects source (time,) and hrir (2, taps); got {source.shape} and {hrir.shape}")
    image = oaconvolve(source[None, :], hrir, axes=-1)[:, : source.shape[-1]]
    if preserve_energy:
        energy = float((image**2).sum())
        if energy > 0:
            image *= np.sqrt(2.0 * float((source**2).sum()) / energy)
    return image.astype(np.float32)


def render_at(source: np.ndarray, hrirs: HRIRSet, azimuth: float, elevation: float = 0.0,
              preserve_energy: bool = True) -> np.ndarray:
    """Render ``source`` with the HRIR pair of ``hrirs`` nearest to ``(azimuth, elevation)``."""
    return render(source, hrirs.irs[hrirs.nearest(azimuth, elevation)], preserve_energy)


def binaural_room_ir(
    hrirs: HRIRSet,
    room_dim: Sequence[float],
    listener: Sequence[float],
    source: Sequence[float],
    rt60: float,
    max_order: int = 10,
) -> np.ndarray:
    """Binaural room impulse response by the image-source method (pyroomacoustics).

    Every image source found by ``pyroomacoustics`` (Allen & Berkley 1979) contributes
    its delay and attenuation (band-averaged wall absorption, 1/r) through the HRIR pair
    of its direction as seen by a listener at ``listener`` facing +x.

    Returns:
        ``(2, taps)`` float32 at ``hrirs.sample_rate``.
    """
    import pyroomacoustics as pra

    rate = hrirs.sample_rate
    absorption, order = pra.inverse_sabine(rt60, list(room_dim))
    room = pra.ShoeBox(list(room_dim), fs=rate, materials=pra.Material(absorption), max_order=min(order, max_order))
    room.add_source(list(source))
    room.add_microphone(np.asarray(listener, dtype=float)[:, None])
    room.image_source_model()
    images = np.asarray(room.sources[0].images, dtype=np.float64)  # (3, n_images)
    damping = np.asarray(room.sources[0].damping, dtype=np.float64).reshape(-1, images.shape[1]).mean(0)
    offsets = images - np.asarray(listener, dtype=float)[:, None]
    distance = np.linalg.norm(offsets, axis=0)
    delays = distance / SPEED_OF_SOUND * rate
    gains = damping / (4 * np.pi * np.maximum(distance, 0.1))
    azimuth = np.degrees(np.arctan2(offsets[1], offsets[0]))
    elevation = np.degrees(np.arcsin(np.clip(offsets[2] / np.maximum(distance, 1e-9), -1, 1)))
    # Nearest HRIR of each image, then one impulse train per HRIR used.
    directions = _unit(hrirs.azimuths, hrirs.elevations)
    nearest = np.argmax(_unit(azimuth, elevation) @ directions.T, axis=1)
    start = int(np.floor(delays.min()))
    length = int(np.ceil(delays.max())) - start + hrirs.irs.shape[-1] + 1
    brir = np.zeros((2, length))
    for index in np.unique(nearest):
        chosen = nearest == index
        train = np.zeros(length - hrirs.irs.shape[-1] + 1)
        np.add.at(train, np.round(delays[chosen] - start).astype(int), gains[chosen])
        brir += np.stack([np.convolve(train, hrirs.irs[index, ear]) for ear in range(2)])
    return brir.astype(np.float32)


class BinauralSpatializer:
    """Each talker at a distinct random direction, as two-ear images (a ``spatializer``).

    For :class:`voxsep.data.datasets.DynamicMixDataset` and ``voxsep prepare binaural``.
    Directions are drawn uniformly from the HRIR set's directions inside the azimuth /
    elevation ranges, every pair at least ``min_separation`` degrees apart (great-circle
    angle). With ``rt60`` set, a random shoebox room adds reverberation through
    :func:`binaural_room_ir` (source 1–2.5 m from the listener at its direction).

    Args:
        hrirs: an :class:`HRIRSet` or a path for :func:`load_hrirs`.
        sample_rate: the sources' rate; the HRIRs are resampled to it.
        min_separation: minimum angle between talkers, degrees.
        azimuth_range: ``(low, high)`` azimuths allowed (+90 = left).
        elevation_range: ``(low, high)`` elevations allowed.
        rt60: ``None`` (anechoic, as Binaural-WSJ0Mix) or ``(low, high)`` seconds.
        room_min: smallest room ``(x, y, z)`` in metres when ``rt60`` is set.
        room_max: largest room ``(x, y, z)`` in metres.

    Shapes: ``__call__(sources (n_src, time), rng) -> images (n_src, 2, time)``.
    """

    def __init__(
        self,
        hrirs: HRIRSet | str | os.PathLike,
        sample_rate: int,
        min_separation: float = 10.0,
        azimuth_range: tuple[float, float] = (-90.0, 90.0),
        elevation_range: tuple[float, float] = (-45.0, 45.0),
        rt60: tuple[float, float] | None = None,
        room_min: Sequence[float] = (4.0, 4.0, 2.5),
        room_max: Sequence[float] = (10.0, 8.0, 4.0),
    ) -> None:
        if not isinstance(hrirs, HRIRSet):
            hrirs = load_hrirs(hrirs)
        self.hrirs = hrirs.resample(sample_rate).select(azimuth_range, elevation_range)
        self.sample_rate = int(sample_rate)
        self.min_separation = float(min_separation)
        self.rt60 = rt60
        self.room_min, self.room_max = np.asarray(room_min, float), np.asarray(room_max, float)
        self._units = _unit(self.hrirs.azimuths, self.hrirs.elevations)
        self.last_directions: list[tuple[float, float]] = []

    def sample_directions(self, n_src: int, rng: np.random.Generator, max_tries: int = 1000) -> list[int]:
        """Indices of ``n_src`` HRIR directions pairwise >= ``min_separation`` apart.

        Raises:
            ValueError: the ranges cannot hold that many talkers that far apart.
        """
        cos_min = np.cos(np.radians(self.min_separation))
        for _ in range(max_tries):
            chosen: list[int] = []
            for index in rng.permutation(len(self.hrirs)):
                if all(self._units[index] @ self._units[c] <= cos_min + 1e-9 for c in chosen):
                    chosen.append(int(index))
                    if len(chosen) == n_src:
                        return chosen
        raise ValueError(
            f"cannot place {n_src} talkers {self.min_separation} degrees apart within the HRIR directions of "
            f"{self.hrirs.source}; lower min_separation or widen the azimuth/elevation ranges"
        )

    def __call__(self, sources: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        sources = np.asarray(sources)
        if sources.ndim != 2:
            raise ValueError(f"sources must be (n_src, time), got shape {sources.shape}")
        return self.render_directions(sources, self.sample_directions(sources.shape[0], rng), rng)

    def render_directions(self, sources: np.ndarray, indices: Sequence[int], rng: np.random.Generator) -> np.ndarray:
        """Render ``sources (n_src, time)`` at the HRIR directions ``indices`` → ``(n_src, 2, time)``.

        ``rng`` draws the room when ``rt60`` is set.
        """
        self.last_directions = [(float(self.hrirs.azimuths[i]), float(self.hrirs.elevations[i])) for i in indices]
        if self.rt60 is None:
            filters = [self.hrirs.irs[i] for i in indices]
        else:
            filters = self._room_filters(list(indices), rng)
        return np.stack([render(s, h) for s, h in zip(np.asarray(sources), filters)])

    def _room_filters(self, indices: list[int], rng: np.random.Generator) -> list[np.ndarray]:
        room = rng.uniform(self.room_min, self.room_max)
        rt60 = float(rng.uniform(*self.rt60))
        listener = np.array([rng.uniform(1.0, room[0] - 1.0), rng.uniform(1.0, room[1] - 1.0), 1.6])
        filters = []
        for index in indices:
            direction = self._units[index]
            # Farthest distance (<= 2.5 m) that keeps the source 0.3 m inside the room.
            limits = [((room[k] - 0.3 if direction[k] > 0 else 0.3) - listener[k]) / direction[k]
                      for k in range(3) if abs(direction[k]) > 1e-6]
            reach = min([2.5] + [d for d in limits if d > 0])
            distance = rng.uniform(min(1.0, reach), reach)
            filters.append(binaural_room_ir(self.hrirs, room, listener, listener + distance * direction, rt60))
        return filters

    def describe(self) -> dict[str, Any]:
        """Settings, for logs and dataset READMEs."""
        return {
            "hrirs": self.hrirs.source,
            "directions": len(self.hrirs),
            "sample_rate": self.sample_rate,
            "min_separation": self.min_separation,
            "rt60": self.rt60,
        }
