"""ITU-T P.56 active level and wsj0-mix style mixing (voxsep_corpus.levels), on real speech."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voxsep.core.audio import read_audio
from voxsep_corpus.levels import active_level, mix_at_levels, normalise_active_level

PROMPTS = Path("/usr/share/asterisk/sounds")


def _speech(name: str, folder: str = "en_US_f_Allison") -> np.ndarray:
    return read_audio(PROMPTS / folder / name, channels=1)[0][0].astype(np.float64)


def _sv56_reference(x: np.ndarray, fs: int) -> float:
    """Sample-by-sample transcription of the P.56 method-B counters (sv56 ``speech_voltmeter``)."""
    g = np.exp(-1 / (fs * 0.03))
    hangover = int(round(0.2 * fs))
    thresholds = [2.0 ** -j for j in range(15, -1, -1)]
    counts = [0] * 16
    hang = [hangover] * 16
    p = q = 0.0
    for sample in np.abs(x):
        p = g * p + (1 - g) * sample
        q = g * q + (1 - g) * p
        for j, c in enumerate(thresholds):
            if q >= c:
                counts[j] += 1
                hang[j] = 0
            elif hang[j] < hangover:
                counts[j] += 1
                hang[j] += 1
    energy = float(np.dot(x, x))
    deltas, levels = [], []
    for j, c in enumerate(thresholds):
        if counts[j] == 0:
            break
        levels.append(10 * np.log10(energy / counts[j]))
        deltas.append(levels[-1] - 20 * np.log10(c))
    for j in range(1, len(deltas)):
        if deltas[j] <= 15.9:
            t = (deltas[j - 1] - 15.9) / (deltas[j - 1] - deltas[j])
            return 10 ** ((levels[j - 1] + t * (levels[j] - levels[j - 1])) / 10)
    raise AssertionError("no threshold crossing")


def test_active_level_matches_sample_by_sample_p56():
    x = _speech("please-try-again.wav")
    level, activity = active_level(x, 8000)
    assert level == pytest.approx(_sv56_reference(x, 8000), rel=1e-9)
    assert 0.3 < activity <= 1.0


def test_active_level_ignores_silence_and_scales_with_power():
    x = _speech("privacy-prompt.wav")  # 3.5 s: the 0.2 s hangover into the silence hardly counts
    padded = np.concatenate([np.zeros(16000), x, np.zeros(16000)])
    level, activity = active_level(x, 8000)
    padded_level, padded_activity = active_level(padded, 8000)
    # Four seconds of silence barely move the active level (< 0.3 dB) but cut the activity.
    assert abs(10 * np.log10(padded_level / level)) < 0.3
    assert padded_activity < activity * x.size / padded.size * 1.2
    # Thresholds are powers of two: doubling the signal shifts them by one step exactly;
    # other scalings agree to the interpolation error between thresholds.
    assert active_level(2.0 * x, 8000)[0] == pytest.approx(4.0 * level, rel=1e-9)
    assert 10 * np.log10(active_level(3.0 * x, 8000)[0] / (9.0 * level)) == pytest.approx(0.0, abs=0.1)


def test_active_level_of_steady_and_gated_tones():
    fs = 8000
    t = np.arange(2 * fs) / fs
    tone = 0.1 * np.sin(2 * np.pi * 440 * t)
    level, activity = active_level(tone, fs)
    assert 10 * np.log10(level) == pytest.approx(10 * np.log10(0.005), abs=0.1)  # sine power A^2 / 2
    assert activity > 0.97
    tone[fs:] = 0.0  # one second on, one off
    gated_level, gated_activity = active_level(tone, fs)
    # On-time plus the 0.2 s hangover count as active: activity ~0.6, level ~1 dB lower.
    assert 0.55 < gated_activity < 0.65
    assert -1.3 < 10 * np.log10(gated_level / level) < -0.7


def test_normalise_and_errors():
    x = _speech("hello.wav")
    assert 10 * np.log10(active_level(normalise_active_level(x, 8000), 8000)[0]) == pytest.approx(0.0, abs=0.02)
    with pytest.raises(ValueError, match="silent"):
        normalise_active_level(np.zeros(800), 8000)
    with pytest.raises(ValueError, match="non-empty"):
        active_level(np.zeros((2, 10)), 8000)
    with pytest.raises(ValueError, match="one gain per source"):
        mix_at_levels([x, x], [0.0], 8000)
    with pytest.raises(ValueError, match="mode"):
        mix_at_levels([x, x], [0.0, 0.0], 8000, mode="mean")


@pytest.mark.parametrize("mode", ["min", "max"])
def test_mix_at_levels_sums_meets_snrs_and_peak(mode):
    a, b = _speech("please-try-again.wav"), _speech("privacy-prompt.wav", "fr_CA_f_June")
    snrs = [1.7, -1.7]
    mixture, sources = mix_at_levels([a, b], snrs, 8000, mode=mode)
    expected = min(a.size, b.size) if mode == "min" else max(a.size, b.size)
    assert mixture.shape == (expected,) and sources.shape == (2, expected)
    np.testing.assert_allclose(mixture, sources.sum(axis=0), atol=1e-12)
    assert max(np.abs(mixture).max(), np.abs(sources).max()) == pytest.approx(0.9)
    if mode == "max":  # nothing cut: over each source's own extent the level difference is the list's
        ratio = 10 * np.log10(active_level(sources[0, : a.size], 8000)[0] / active_level(sources[1, : b.size], 8000)[0])
        assert ratio == pytest.approx(snrs[0] - snrs[1], abs=0.05)
