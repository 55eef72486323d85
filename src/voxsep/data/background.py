"""Background sound for dynamic mixing: babble of other talkers and non-speech noise.

Real recordings hold more than the talkers to separate: other people further away
(babble) and machines, rain or crowds. :class:`Background` describes that part of a
dynamically mixed example; :class:`voxsep.data.datasets.DynamicMixDataset` draws it
(which pool talkers babble, which noise), puts the babble talkers in the same room as
the talkers when the mixture is reverberant, and adds the whole background to the
mixture only -- the targets stay the talkers (as in WHAM!/WHAMR!, Wichern et al. 2019;
Maciejewski et al. 2020, where the noise is recorded babble and ambience).

Coloured noise (power spectral density ``1 / f**exponent``: 0 white, 1 pink, 2 brown)
stands in for broadband machine noise when no recorded noise is given.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["Background", "coloured_noise", "scale_background"]


def coloured_noise(length: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise with power spectral density ``1 / f**exponent``, unit RMS.

    Args:
        length: samples.
        exponent: spectral slope (0 white, 1 pink, 2 brown).
        rng: random generator.

    Returns:
        ``(length,)`` float64 noise with RMS 1.
    """
    if length < 1:
        raise ValueError(f"length must be positive, got {length}")
    spectrum = rng.standard_normal(length // 2 + 1) + 1j * rng.standard_normal(length // 2 + 1)
    freqs = np.arange(length // 2 + 1, dtype=np.float64)
    freqs[0] = 1.0  # no DC blow-up: the DC bin gets the lowest frequency's weight
    noise = np.fft.irfft(spectrum / freqs ** (exponent / 2.0), n=length)
    noise -= noise.mean()
    rms = float(np.sqrt(np.mean(noise**2)))
    return noise / rms if rms > 0 else noise


def scale_background(talkers: np.ndarray, babble: np.ndarray, noise: np.ndarray, sample_rate: int,
                     noise_to_babble_db: float, snr_db: float) -> np.ndarray:
    """Babble plus noise, scaled so that the louder talker is ``snr_db`` above the sum.

    Levels are active RMS (:func:`voxsep.core.audio.active_rms`).

    Args:
        talkers: talker images ``(n_src, channels, time)``.
        babble: babble talker images ``(n_babble, channels, time)`` (``n_babble`` may be 0).
        noise: ``(channels, time)``.
        sample_rate: samples per second.
        noise_to_babble_db: level of the noise over the babble sum (when there is babble).
        snr_db: level of the louder talker over the background.

    Returns:
        The background ``(channels, time)`` to add to the mixture (zeros if silent).
    """
    from voxsep.core.audio import active_rms

    sound = noise
    if babble.shape[0]:
        speech = babble.sum(axis=0)
        speech_level, noise_level = active_rms(speech, sample_rate), active_rms(noise, sample_rate)
        if noise_level > 1e-8:
            noise = noise * (speech_level / noise_level * 10.0 ** (noise_to_babble_db / 20.0))
        sound = speech + noise
    talker_level = max(active_rms(image, sample_rate) for image in talkers)
    sound_level = active_rms(sound, sample_rate)
    if sound_level <= 1e-8 or talker_level <= 0:
        return np.zeros_like(noise)
    return sound * (talker_level / sound_level * 10.0 ** (-snr_db / 20.0))


@dataclass
class Background:
    """What a dynamically mixed example may hear besides its talkers.

    Attributes:
        probability: chance that an example gets a background at all.
        babble: ``(low, high)`` number of background talkers (other pool speakers than
            the example's talkers), drawn uniformly; ``(0, 0)`` for noise only.
        noise_files: recorded non-speech noise (machines, rain, crowds); empty to use
            coloured noise only.
        recorded_share: with ``noise_files``, the chance that the noise is a recorded file
            rather than coloured noise.
        noise_to_babble_db: ``(low, high)`` level of the noise relative to the babble
            (when both are present), dB.
        snr_db: ``(low, high)`` level of the louder talker over the whole background
            (active RMS), dB.
        exponent: ``(low, high)`` spectral slope of coloured noise.
    """

    probability: float = 1.0
    babble: tuple[int, int] = (1, 3)
    noise_files: Sequence[str | os.PathLike] = field(default_factory=list)
    recorded_share: float = 0.5
    noise_to_babble_db: tuple[float, float] = (-10.0, 5.0)
    snr_db: tuple[float, float] = (0.0, 15.0)
    exponent: tuple[float, float] = (0.0, 2.0)

    def __post_init__(self) -> None:
        for name in ("probability", "recorded_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        for name in ("babble", "noise_to_babble_db", "snr_db", "exponent"):
            value = getattr(self, name)
            if len(value) != 2 or value[0] > value[1]:
                raise ValueError(f"{name} must be a (low, high) pair with low <= high, got {value}")
        if self.babble[0] < 0:
            raise ValueError(f"babble must count talkers (>= 0), got {self.babble}")
        self.babble = (int(self.babble[0]), int(self.babble[1]))
        self.noise_files = [Path(p) for p in self.noise_files]
        for path in self.noise_files:
            if not path.is_file():
                raise FileNotFoundError(f"noise file not found: {path}")

    def draw(self, rng: np.random.Generator, available_talkers: int) -> dict | None:
        """The random choices of one example's background (``None``: no background).

        Returns:
            ``{"babble": n, "noise": path or None, "noise_position": u, "exponent": e,
            "noise_to_babble_db": r, "snr_db": s, "noise_seed": k}``; the babble talkers themselves are
            chosen by the dataset (it knows the pool).
        """
        if rng.random() >= self.probability:
            return None
        n_babble = min(int(rng.integers(self.babble[0], self.babble[1] + 1)), available_talkers)
        recorded = bool(self.noise_files) and rng.random() < self.recorded_share
        return {
            "babble": n_babble,
            "noise": self.noise_files[int(rng.integers(len(self.noise_files)))] if recorded else None,
            "noise_position": float(rng.random()),
            "exponent": float(rng.uniform(*self.exponent)),
            "noise_to_babble_db": float(rng.uniform(*self.noise_to_babble_db)),
            "snr_db": float(rng.uniform(*self.snr_db)),
            "noise_seed": int(rng.integers(2**32)),
        }
