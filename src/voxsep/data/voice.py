"""Random voice conversion for dynamic mixing: new voices from the few real ones.

A separation model generalises to new talkers only as far as its training voices cover
the space of voices; an offline corpus has a few dozen real people. :class:`RandomVoice`
turns, with probability ``probability``, each source of a training mixture into another
plausible voice with Praat's "Change gender" (PSOLA resynthesis; Boersma & Weenink,
Praat, via the ``praat-parselmouth`` bindings): a new median pitch, a formant shift (the
vocal-tract length) and a new pitch range, drawn per source, so that a woman's recording
can become a man-like voice and the other way round. Unlike speed perturbation
(:class:`voxsep.data.datasets.DynamicMixDataset` ``speed_perturb``), which moves pitch
and formants together and changes the rate, pitch and formants move independently here
and the timing is kept.

The draw: a target sex (even odds); a target median F0 uniform in 85–150 Hz (male) or
165–255 Hz (female); a formant-shift ratio uniform in 0.82–0.92 from a female to a male
voice, 1.09–1.20 from a male to a female one and 0.94–1.06 within a sex (the source's sex
is read from its own median F0: below 160 Hz male); a pitch-range factor uniform in
0.7–1.3. Windows Praat finds no voiced frames in, or cannot resynthesise (Praat raises
for some windows with very little voicing), are returned unchanged.

Change gender maps every voiced frame's pitch ``f`` to
``m' + (f * m' / m - m') * range`` (``m``, ``m'``: old and new medians); when that falls to
0 Hz or below for the lowest frame, Praat's resynthesis may never return (it did not in a
real run: a 368 Hz voice with frames down to 75 Hz drawn into a 129 Hz man with range 1.27,
and the DataLoader worker hung for good). The range factor is therefore lowered, where needed, so
that the lowest voiced frame lands at ``MIN_NEW_PITCH_HZ`` or above (:func:`safe_pitch_range`).

It plugs into :class:`voxsep.data.datasets.DynamicMixDataset` (``voice=``) and the
``data.voice_augment`` recipe key. ``praat-parselmouth`` is a dependency of voxsep.
"""

from __future__ import annotations

import numpy as np
import parselmouth
from parselmouth.praat import call

__all__ = ["RandomVoice", "change_voice", "median_pitch_hz", "pitch_median_and_minimum", "safe_pitch_range"]

PITCH_FLOOR_HZ, PITCH_CEILING_HZ = 75.0, 600.0
MALE_F0_HZ, FEMALE_F0_HZ = (85.0, 150.0), (165.0, 255.0)
SEX_BOUNDARY_HZ = 160.0
FORMANT_RATIO = {("F", "M"): (0.82, 0.92), ("M", "F"): (1.09, 1.20), ("F", "F"): (0.94, 1.06),
                 ("M", "M"): (0.94, 1.06)}
PITCH_RANGE_FACTOR = (0.7, 1.3)
MIN_NEW_PITCH_HZ = 50.0  # lowest pitch a converted voice may reach (Praat hangs at <= 0 Hz)


def _sound(audio: np.ndarray, sample_rate: int) -> parselmouth.Sound:
    return parselmouth.Sound(np.asarray(audio, dtype=np.float64), sampling_frequency=float(sample_rate))


def pitch_median_and_minimum(audio: np.ndarray, sample_rate: int) -> tuple[float, float]:
    """Median and lowest F0 of the voiced frames of ``audio`` ``(time,)`` in Hz (Praat's
    pitch tracker, 75–600 Hz); NaN when nothing is voiced."""
    pitch = call(_sound(audio, sample_rate), "To Pitch", 0.0, PITCH_FLOOR_HZ, PITCH_CEILING_HZ)
    return (float(call(pitch, "Get quantile", 0, 0, 0.5, "Hertz")),
            float(call(pitch, "Get minimum", 0, 0, "Hertz", "Parabolic")))


def median_pitch_hz(audio: np.ndarray, sample_rate: int) -> float:
    """Median F0 of the voiced frames of ``audio`` ``(time,)`` in Hz (Praat's pitch
    tracker, 75–600 Hz); NaN when nothing is voiced."""
    return pitch_median_and_minimum(audio, sample_rate)[0]


def safe_pitch_range(pitch_range_factor: float, old_median_hz: float, old_minimum_hz: float,
                     new_median_hz: float) -> float:
    """The largest pitch-range factor up to ``pitch_range_factor`` that keeps the lowest
    voiced frame at ``MIN_NEW_PITCH_HZ`` or above after Change gender, which maps a frame's
    pitch ``f`` to ``new + (f * new / old - new) * range``."""
    lowest = old_minimum_hz * new_median_hz / old_median_hz  # the lowest frame moved with the median
    if new_median_hz <= MIN_NEW_PITCH_HZ or lowest >= new_median_hz:
        return pitch_range_factor
    return min(pitch_range_factor, (new_median_hz - MIN_NEW_PITCH_HZ) / (new_median_hz - lowest))


def change_voice(audio: np.ndarray, sample_rate: int, formant_ratio: float, pitch_median_hz: float,
                 pitch_range_factor: float, seed: int = 0) -> np.ndarray:
    """``audio`` ``(time,)`` with its formants scaled by ``formant_ratio``, its median pitch
    moved to ``pitch_median_hz`` and its pitch range scaled by ``pitch_range_factor``
    (Praat "Change gender", duration unchanged); same length.

    Praat's resynthesis draws random numbers: they are seeded with ``seed`` (so a result
    is reproducible), and Praat's generator is reseeded unpredictably afterwards.
    """
    parselmouth.praat.run(f"random_initializeWithSeedUnsafelyButPredictably ({int(seed)})")
    try:
        changed = call(_sound(audio, sample_rate), "Change gender", PITCH_FLOOR_HZ, PITCH_CEILING_HZ,
                       float(formant_ratio), float(pitch_median_hz), float(pitch_range_factor), 1.0)
    finally:
        parselmouth.praat.run("random_initializeSafelyAndUnpredictably ()")
    out = np.asarray(changed.values[0], dtype=np.float64)[: audio.shape[-1]]
    return np.pad(out, (0, audio.shape[-1] - out.shape[-1]))


class RandomVoice:
    """With probability ``probability`` per source, convert the source to a random new voice.

    Args:
        sample_rate: rate of the sources, Hz.
        probability: chance that each source is converted (0 disables).

    Call with ``(sources, rng)``: dry sources ``(n_src, time)`` float, returns the
    converted sources, same shape.
    """

    def __init__(self, sample_rate: int, probability: float) -> None:
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"voice augmentation probability must be in [0, 1], got {probability}")
        self.sample_rate, self.probability = int(sample_rate), float(probability)

    def draw_voice(self, rng: np.random.Generator, source_pitch_hz: float) -> tuple[float, float, float]:
        """``(formant_ratio, pitch_median_hz, pitch_range_factor)`` for a source whose median
        pitch is ``source_pitch_hz``."""
        source_sex = "M" if source_pitch_hz < SEX_BOUNDARY_HZ else "F"
        target_sex = "M" if rng.random() < 0.5 else "F"
        pitch = rng.uniform(*(MALE_F0_HZ if target_sex == "M" else FEMALE_F0_HZ))
        formant = rng.uniform(*FORMANT_RATIO[(source_sex, target_sex)])
        return formant, pitch, rng.uniform(*PITCH_RANGE_FACTOR)

    def __call__(self, sources: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = np.array(sources, dtype=np.float64, copy=True)
        for i, source in enumerate(sources):
            if rng.random() >= self.probability:
                continue
            draw_seed = int(rng.integers(2**31))  # the draws do not depend on the audio's pitch
            try:
                pitch, lowest = pitch_median_and_minimum(source, self.sample_rate)
                if np.isfinite(pitch) and np.isfinite(lowest):
                    formant, new_pitch, spread = self.draw_voice(np.random.default_rng(draw_seed), pitch)
                    spread = safe_pitch_range(spread, pitch, lowest, new_pitch)
                    out[i] = change_voice(source, self.sample_rate, formant, new_pitch, spread, seed=draw_seed)
            except parselmouth.PraatError:  # e.g. too few voiced frames to resynthesise: keep the voice
                continue
        return out
