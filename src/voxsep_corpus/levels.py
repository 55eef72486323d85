"""Speech level measurement and wsj0-mix style mixing.

* :func:`active_level` — ITU-T P.56 (method B) active speech level, in numpy.
* :func:`mix_at_levels` — the mixing rule of the wsj0-2mix / wsj0-3mix reference
  MATLAB scripts (``create_wav_2speakers.m``): normalise each source to an active
  level of 0 dB, weight it by ``10 ** (snr / 20)``, cut (``min``) or zero-pad (``max``)
  to a common length, sum, then scale everything by ``0.9 / peak`` where ``peak`` is the
  largest absolute sample of the mixture and of every source.

The reference scripts measure the level with voicebox's ``activlev``. That function
implements P.56 with a finer, interpolated threshold search; this module implements
the P.56 reference algorithm (ITU-T P.56 Annex B / the ``sv56`` C code): an envelope by
two first-order smoothers (time constant 30 ms), a 200 ms hangover, thresholds at
powers of two and a 15.9 dB margin, with linear interpolation between the two
thresholds that bracket the margin. On speech the two agree to a few hundredths of
a dB; the difference only scales a whole mixture and its sources together.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.ndimage import maximum_filter1d
from scipy.signal import lfilter

__all__ = ["active_level", "normalise_active_level", "mix_at_levels"]

_TIME_CONSTANT = 0.03  # s, envelope smoothing (P.56 T)
_HANGOVER = 0.2  # s (P.56 H)
_MARGIN_DB = 15.9  # dB (P.56 M)
_N_THRESHOLDS = 16  # thresholds c_j = 2 ** -j full scale, j = 15 .. 0


def active_level(signal: np.ndarray, sample_rate: int) -> tuple[float, float]:
    """ITU-T P.56 active speech level.

    Args:
        signal: ``(time,)`` float signal (full scale = 1.0).
        sample_rate: samples per second.

    Returns:
        ``(level, activity)``: the active level as a *power* (mean square over the
        active samples, linear; ``10 * log10(level)`` is the level in dB re full
        scale) and the activity factor in ``[0, 1]``. An all-zero signal gives
        ``(0.0, 0.0)``.

    Raises:
        ValueError: the signal is not 1-D or is empty.
    """
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"active_level expects a non-empty (time,) signal, got shape {x.shape}")
    energy = float(np.square(x).sum())  # not np.dot: a BLAS call spins up threads for little work
    if energy == 0.0:
        return 0.0, 0.0
    g = np.exp(-1.0 / (sample_rate * _TIME_CONSTANT))
    # Two cascaded one-pole smoothers of |x|: p = g p + (1 - g)|x|; q = g q + (1 - g) p.
    envelope = lfilter([1.0 - g], [1.0, -g], np.abs(x))
    envelope = lfilter([1.0 - g], [1.0, -g], envelope)
    hangover = int(round(_HANGOVER * sample_rate))
    # A sample counts as active for threshold c if the envelope reached c at it or within
    # the previous `hangover` samples (the sv56 hangover counter), i.e. if the maximum of
    # the envelope over that trailing window is >= c: one running maximum serves all c.
    size = hangover + 1
    padded = np.concatenate([np.zeros(hangover), envelope])
    trailing_max = maximum_filter1d(padded, size=size, mode="constant", cval=0.0, origin=(size - 1) // 2)[hangover:]
    thresholds = 2.0 ** -np.arange(_N_THRESHOLDS - 1, -1, -1, dtype=np.float64)  # ascending
    counts = np.array([np.count_nonzero(trailing_max >= c) for c in thresholds], dtype=np.float64)
    valid = counts > 0
    level_db = np.full(_N_THRESHOLDS, -np.inf)
    level_db[valid] = 10.0 * np.log10(energy / counts[valid])
    threshold_db = 20.0 * np.log10(thresholds)
    delta = level_db - threshold_db  # falls as the threshold rises
    # First threshold at which the level is within the margin of the threshold.
    below = np.nonzero(valid & (delta <= _MARGIN_DB))[0]
    if below.size == 0:
        j = int(np.nonzero(valid)[0][-1])
        chosen_db = level_db[j]
    elif below[0] == 0:
        chosen_db = level_db[0]
    else:
        j = int(below[0])
        d0, d1 = delta[j - 1], delta[j]
        t = 0.0 if not np.isfinite(d1) or d0 == d1 else (d0 - _MARGIN_DB) / (d0 - d1)
        chosen_db = level_db[j - 1] + t * (level_db[j] - level_db[j - 1])
    level = float(10.0 ** (chosen_db / 10.0))
    activity = float(min(1.0, energy / (level * x.size)))
    return level, activity


def normalise_active_level(signal: np.ndarray, sample_rate: int) -> np.ndarray:
    """Scale ``signal`` to an active level of 0 dB (voicebox ``activlev(x, fs, 'n')``).

    Raises:
        ValueError: the signal is silent (all zeros), so it has no level to normalise.
    """
    level, _ = active_level(signal, sample_rate)
    if level <= 0.0:
        raise ValueError("cannot normalise a silent (all-zero) signal to an active level")
    return np.asarray(signal, dtype=np.float64) / np.sqrt(level)


def mix_at_levels(
    sources: Sequence[np.ndarray],
    snrs_db: Sequence[float],
    sample_rate: int,
    mode: str = "min",
    max_amplitude: float = 0.9,
) -> tuple[np.ndarray, np.ndarray]:
    """Mix sources as the wsj0-2mix / wsj0-3mix reference scripts do.

    Args:
        sources: ``n_src`` 1-D signals (at ``sample_rate``), possibly of different lengths.
        snrs_db: one gain in dB per source (the numbers of the mixing list); each source
            is weighted by ``10 ** (snr / 20)`` after normalisation to 0 dB active level.
        sample_rate: samples per second (used by the level measurement).
        mode: ``"min"`` cuts every source to the shortest, ``"max"`` zero-pads to the longest.
        max_amplitude: the final scaling puts the largest absolute sample of the
            mixture and the sources at this value (0.9 in the reference scripts).

    Returns:
        ``(mixture (time,), sources (n_src, time))`` float64, with
        ``mixture == sources.sum(0)`` exactly.

    Raises:
        ValueError: mismatched lengths of ``sources``/``snrs_db``, unknown mode, silent source.
    """
    if len(sources) != len(snrs_db) or len(sources) < 1:
        raise ValueError(f"need one gain per source, got {len(sources)} sources and {len(snrs_db)} gains")
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    scaled = [normalise_active_level(s, sample_rate) * 10.0 ** (snr / 20.0) for s, snr in zip(sources, snrs_db)]
    lengths = [s.size for s in scaled]
    length = min(lengths) if mode == "min" else max(lengths)
    stacked = np.zeros((len(scaled), length))
    for i, s in enumerate(scaled):
        n = min(length, s.size)
        stacked[i, :n] = s[:n]
    mixture = stacked.sum(axis=0)
    peak = max(float(np.abs(mixture).max()), float(np.abs(stacked).max()))
    scale = max_amplitude / peak
    return mixture * scale, stacked * scale
