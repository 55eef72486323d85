"""Random recording channels for dynamic mixing: band-limiting and equalisation.

Real recordings reach a separation model through microphones, telephone lines and codecs
that colour the spectrum; clean studio prompts do not. :class:`RandomChannel` puts each
training mixture, with probability ``probability``, through one random linear channel:

* ``telephone``: the ITU-T G.712 telephone band, 300–3400 Hz (4th-order Butterworth
  band-pass);
* ``lowpass``: a narrower band, cut-off uniform in [0.5, 0.95] × 4 kHz (so at 8 kHz
  the band ends between 2 and 3.8 kHz) — old radio and low-rate codecs;
* ``eq``: one peaking equaliser (RBJ Audio-EQ-Cookbook biquad), centre log-uniform in
  150 Hz … 0.8 × Nyquist, gain uniform in ±9 dB, Q uniform in [0.5, 2]; and a
  first-order tilt of up to ±6 dB across the band — microphone and room colouration.

The *same* filter is applied to every source image (a mixture is recorded through one
channel), and the filter is linear, so ``mixture == sum(sources)`` still holds and the
targets are the sources as the channel delivers them (as WHAMR!'s reverberant targets).

It plugs into :class:`voxsep.data.datasets.DynamicMixDataset` (``channel=``) and the
``data.channel_augment`` recipe key.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import signal

__all__ = ["RandomChannel", "CHANNEL_KINDS"]

CHANNEL_KINDS = ("telephone", "lowpass", "eq")
TELEPHONE_BAND_HZ = (300.0, 3400.0)


class RandomChannel:
    """With probability ``probability``, filter all source images through one random channel.

    Args:
        sample_rate: rate of the images, Hz.
        probability: chance that a mixture is filtered (0 disables).
        kinds: channel kinds to draw from, uniformly (:data:`CHANNEL_KINDS`).

    Call with ``(images, rng)``: images ``(n_src, channels, time)`` float, returns the
    filtered images, same shape (unchanged when the draw says so).
    """

    def __init__(self, sample_rate: int, probability: float, kinds: tuple[str, ...] = CHANNEL_KINDS) -> None:
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"channel augmentation probability must be in [0, 1], got {probability}")
        unknown = set(kinds) - set(CHANNEL_KINDS)
        if unknown or not kinds:
            raise ValueError(f"unknown channel kind(s) {sorted(unknown)}; choose from {CHANNEL_KINDS}")
        self.sample_rate, self.probability, self.kinds = int(sample_rate), float(probability), tuple(kinds)

    def draw_filter(self, rng: np.random.Generator) -> tuple[str, np.ndarray] | None:
        """The random channel of one mixture as ``(kind, sos)``, or ``None`` (unfiltered)."""
        if rng.random() >= self.probability:
            return None
        kind = self.kinds[int(rng.integers(len(self.kinds)))]
        nyquist = self.sample_rate / 2.0
        if kind == "telephone":
            high = min(TELEPHONE_BAND_HZ[1], 0.95 * nyquist)
            sos = signal.butter(4, [TELEPHONE_BAND_HZ[0], high], btype="bandpass", fs=self.sample_rate, output="sos")
        elif kind == "lowpass":
            cutoff = rng.uniform(0.5, 0.95) * min(4000.0, nyquist)
            sos = signal.butter(6, cutoff, btype="lowpass", fs=self.sample_rate, output="sos")
        else:
            centre = math.exp(rng.uniform(math.log(150.0), math.log(0.8 * nyquist)))
            sos = np.concatenate([
                peaking_eq(centre, rng.uniform(-9.0, 9.0), rng.uniform(0.5, 2.0), self.sample_rate),
                tilt(rng.uniform(-6.0, 6.0), self.sample_rate),
            ])
        return kind, sos

    def __call__(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        drawn = self.draw_filter(rng)
        if drawn is None:
            return images
        return signal.sosfilt(drawn[1], images, axis=-1)


def peaking_eq(centre_hz: float, gain_db: float, q: float, sample_rate: int) -> np.ndarray:
    """One peaking-EQ biquad as a ``(1, 6)`` SOS row (RBJ Audio-EQ-Cookbook)."""
    amplitude = 10.0 ** (gain_db / 40.0)
    omega = 2.0 * math.pi * centre_hz / sample_rate
    alpha = math.sin(omega) / (2.0 * q)
    b = [1 + alpha * amplitude, -2 * math.cos(omega), 1 - alpha * amplitude]
    a = [1 + alpha / amplitude, -2 * math.cos(omega), 1 - alpha / amplitude]
    return np.array([[*(np.array(b) / a[0]), 1.0, a[1] / a[0], a[2] / a[0]]])


def tilt(tilt_db: float, sample_rate: int, pivot_hz: float = 1000.0) -> np.ndarray:
    """A first-order shelf that changes the level by ``tilt_db`` from DC to Nyquist, as a
    ``(1, 6)`` SOS row (bilinear transform of ``(s + w_z) / (s + w_p)``, normalised to
    0 dB at DC)."""
    ratio = 10.0 ** (tilt_db / 20.0)  # gain at Nyquist relative to DC (approximately)
    w_p = 2.0 * math.pi * pivot_hz
    w_z = w_p * ratio ** -1 if ratio > 0 else w_p
    b, a = signal.bilinear([1.0, w_z], [1.0, w_p], fs=sample_rate)
    b = b * (a.sum() / b.sum())  # 0 dB at DC
    return np.array([[b[0], b[1], 0.0, 1.0, a[1], 0.0]]) / np.array([[a[0], a[0], 1.0, 1.0, a[0], 1.0]])
