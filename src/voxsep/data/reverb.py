"""Room reverberation for dynamic mixing, simulated with pyroomacoustics.

:class:`RoomReverb` is a spatializer for :class:`voxsep.data.datasets.DynamicMixDataset`:
called with dry sources ``(n_src, time)`` and a ``numpy.random.Generator`` it draws a
random shoebox room, RT60, microphone array and source positions, computes the room
impulse responses with the image-source method (Allen & Berkley, 1979; Scheibler et al.,
2018, "Pyroomacoustics") and returns the reverberant images ``(n_src, n_mics, time)``.

The images -- each source as the microphones hear it, reverberation included -- are the
training targets and the mixture is their sum: the usual WHAMR! choice (Maciejewski et
al., 2020, "WHAMR!: Noisy and reverberant single-channel speech separation"), which
trains separation without dereverberation. The RT60 drawn is the *nominal* (Sabine)
value used to set the wall absorption; the image-source order is capped at
``max_order`` for speed, which shortens the late tail of long RT60s somewhat.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["RoomReverb"]


#: Sabine's constant 24 ln(10) / c (c = 343 m/s), as pyroomacoustics' ``inverse_sabine``.
_SABINE = 24 * np.log(10) / 343.0


def _shortest_rt60(room: np.ndarray) -> float:
    """The shortest RT60 a shoebox ``room`` (x, y, z) can have (walls absorbing everything)."""
    volume = float(np.prod(room))
    surface = 2 * float(room[0] * room[1] + room[0] * room[2] + room[1] * room[2])
    return _SABINE * volume / surface


def _feasible(room: np.ndarray, rt60: float, room_min: np.ndarray) -> tuple[np.ndarray, float]:
    """A room and RT60 that the image-source method can make: a big room cannot ring as briefly
    as a small one (e.g. 0.1 s needs a room smaller than about 6 x 5 x 3 m), so the room is
    shrunk towards ``room_min`` until ``rt60`` fits, and ``rt60`` raised if even that is too big."""
    for shrink in np.linspace(1.0, 0.0, 21):
        candidate = room_min + shrink * (room - room_min)
        if _shortest_rt60(candidate) < 0.98 * rt60:
            return candidate, rt60
    return room_min.copy(), max(rt60, _shortest_rt60(room_min) / 0.98)


class RoomReverb:
    """Random shoebox-room reverberation (a ``spatializer`` for dynamic mixing).

    Args:
        sample_rate: sample rate of the sources.
        rt60: ``(low, high)`` nominal reverberation time in seconds, drawn uniformly.
        room_min: smallest room ``(length, width, height)`` in metres.
        room_max: largest room ``(length, width, height)`` in metres.
        n_mics: microphones (= output channels); 1 gives single-channel data.
        mic_spacing: distance between neighbouring microphones of the linear array (m).
        wall_distance: minimum distance of sources and microphones to the walls (m).
        source_distance: ``(low, high)`` distance of each source to the array centre (m).
        max_order: cap on the image-source order (speed); ``None`` uses the order
            pyroomacoustics derives from the RT60.
        bank_size: ``None`` simulates a new room for every call (about 0.05-0.3 s on
            one core). An integer keeps a bank of that many rooms, each with
            ``2 * n_src`` source positions: a call picks a room and ``n_src`` of its
            positions with ``rng``. Room ``k`` is always the same (drawn from
            ``default_rng([bank_seed, k, n_src])``), so results stay deterministic; each
            process simulates a room the first time it is picked and then only convolves.
        bank_seed: seed of the room bank.
        probability: chance that a call puts the sources in a room; otherwise the dry
            sources come back unchanged as one-microphone images (needs ``n_mics=1``), so
            that one training set holds both dry and reverberant mixtures.
        keep_level: scale each image so that its active level (mean over microphones,
            :func:`voxsep.core.audio.active_rms`) equals its dry source's: the gains set
            before reverberation stay the relative levels of the talkers, whatever the
            distances (the image-source method scales a source by ``1 / (4 pi d)``).

    Shapes:
        ``__call__(sources (n_src, time), rng) -> images (n_src, n_mics, time)``.
    """

    def __init__(
        self,
        sample_rate: int,
        rt60: tuple[float, float] = (0.2, 0.6),
        room_min: Sequence[float] = (3.0, 3.0, 2.5),
        room_max: Sequence[float] = (10.0, 8.0, 4.0),
        n_mics: int = 1,
        mic_spacing: float = 0.05,
        wall_distance: float = 0.5,
        source_distance: tuple[float, float] = (0.75, 2.5),
        max_order: int | None = 40,
        bank_size: int | None = None,
        bank_seed: int = 0,
        probability: float = 1.0,
        keep_level: bool = False,
    ) -> None:
        if not 0 < rt60[0] <= rt60[1]:
            raise ValueError(f"rt60 must be (low, high) seconds with 0 < low <= high, got {rt60}")
        room_min, room_max = np.asarray(room_min, float), np.asarray(room_max, float)
        if room_min.shape != (3,) or room_max.shape != (3,) or (room_min > room_max).any():
            raise ValueError(f"room_min {room_min} and room_max {room_max} must be (x, y, z) with min <= max")
        if (room_min <= 2 * wall_distance + 0.1).any():
            raise ValueError(f"room_min {room_min} leaves no space {wall_distance} m from the walls")
        if n_mics < 1:
            raise ValueError(f"n_mics must be >= 1, got {n_mics}")
        if (n_mics - 1) * mic_spacing >= room_min[:2].min() - 2 * wall_distance:
            raise ValueError(f"a {n_mics}-microphone array with spacing {mic_spacing} m does not fit in {room_min}")
        if not 0 < source_distance[0] <= source_distance[1]:
            raise ValueError(f"source_distance must be (low, high) metres with 0 < low <= high, got {source_distance}")
        self.sample_rate, self.rt60 = int(sample_rate), (float(rt60[0]), float(rt60[1]))
        self.room_min, self.room_max = room_min, room_max
        self.n_mics, self.mic_spacing, self.wall_distance = int(n_mics), float(mic_spacing), float(wall_distance)
        self.source_distance, self.max_order = (float(source_distance[0]), float(source_distance[1])), max_order
        if bank_size is not None and bank_size < 1:
            raise ValueError(f"bank_size must be a positive number of rooms or None, got {bank_size}")
        self.bank_size, self.bank_seed = bank_size, int(bank_seed)
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"probability must be in [0, 1], got {probability}")
        if probability < 1.0 and n_mics != 1:
            raise ValueError(f"probability < 1 returns dry sources as one-microphone images and needs n_mics=1, "
                             f"got n_mics={n_mics}")
        self.probability, self.keep_level = float(probability), bool(keep_level)
        self._bank: dict[tuple[int, int], list[list[np.ndarray]]] = {}

    def __getstate__(self) -> dict[str, Any]:  # each DataLoader worker starts with an empty bank
        return {**self.__dict__, "_bank": {}}

    def _bank_rirs(self, room: int, n_src: int) -> list[list[np.ndarray]]:
        key = (room, n_src)
        if key not in self._bank:
            geometry = self.sample_geometry(2 * n_src, np.random.default_rng([self.bank_seed, room, n_src]))
            self._bank[key] = [[r.astype(np.float32) for r in mic] for mic in self.impulse_responses(geometry)]
        return self._bank[key]

    def sample_geometry(self, n_src: int, rng: np.random.Generator) -> dict[str, Any]:
        """Draw a room: ``{"room": (3,), "rt60": float, "mics": (3, n_mics), "sources": (3, n_src)}``."""
        room = rng.uniform(self.room_min, self.room_max)
        rt60 = float(rng.uniform(*self.rt60))
        room, rt60 = _feasible(room, rt60, self.room_min)
        margin = self.wall_distance
        half = (self.n_mics - 1) * self.mic_spacing / 2
        height = rng.uniform(1.0, min(2.0, room[2] - margin))
        centre = np.array([*rng.uniform(margin + half, room[:2] - margin - half), height])
        angle = rng.uniform(0, np.pi)
        offsets = (np.arange(self.n_mics) - (self.n_mics - 1) / 2) * self.mic_spacing
        mics = centre[:, None] + np.stack([np.cos(angle) * offsets, np.sin(angle) * offsets, 0 * offsets])
        sources = []
        for _ in range(n_src):
            for _attempt in range(100):
                distance = rng.uniform(*self.source_distance)
                azimuth = rng.uniform(0, 2 * np.pi)
                height = rng.uniform(1.2, min(1.9, room[2] - margin))
                position = centre + np.array([distance * np.cos(azimuth), distance * np.sin(azimuth), 0.0])
                position[2] = height
                if (position[:2] >= margin).all() and (position[:2] <= room[:2] - margin).all():
                    break
            else:  # room too small for that distance: place anywhere inside the margins
                position = np.array([*rng.uniform(margin, room[:2] - margin), height])
            sources.append(position)
        return {"room": room, "rt60": rt60, "mics": mics, "sources": np.stack(sources, axis=1)}

    def impulse_responses(self, geometry: dict[str, Any]) -> list[list[np.ndarray]]:
        """Room impulse responses ``rirs[mic][source]`` for a geometry from :meth:`sample_geometry`."""
        import pyroomacoustics as pra

        absorption, order = pra.inverse_sabine(geometry["rt60"], geometry["room"])
        if self.max_order is not None:
            order = min(order, self.max_order)
        room = pra.ShoeBox(geometry["room"], fs=self.sample_rate, materials=pra.Material(absorption),
                           max_order=order)
        for position in geometry["sources"].T:
            room.add_source(position)
        room.add_microphone_array(geometry["mics"])
        room.compute_rir()
        return room.rir

    def __call__(self, sources: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Reverberant images of ``sources`` ``(n_src, time)`` -> ``(n_src, n_mics, time)``."""
        from scipy.signal import oaconvolve

        sources = np.asarray(sources)
        if sources.ndim != 2:
            raise ValueError(f"RoomReverb expects dry sources (n_src, time), got shape {sources.shape}")
        n_src, length = sources.shape
        if self.probability < 1.0 and rng.random() >= self.probability:
            return sources[:, None, :].astype(np.float64, copy=True)
        if self.bank_size is None:
            rirs = self.impulse_responses(self.sample_geometry(n_src, rng))
        else:
            bank = self._bank_rirs(int(rng.integers(self.bank_size)), n_src)
            slots = rng.choice(2 * n_src, size=n_src, replace=False)
            rirs = [[mic[k] for k in slots] for mic in bank]
        images = np.zeros((n_src, self.n_mics, length), dtype=np.float64)
        for m in range(self.n_mics):
            for s in range(n_src):
                images[s, m] = oaconvolve(sources[s], rirs[m][s])[:length]
        if self.keep_level:
            from voxsep.core.audio import active_rms

            for s in range(n_src):
                dry, wet = active_rms(sources[s], self.sample_rate), active_rms(images[s], self.sample_rate)
                if dry > 1e-8 and wet > 1e-12:
                    images[s] *= dry / wet
        return images
