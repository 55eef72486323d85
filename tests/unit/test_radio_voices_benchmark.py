"""benchmarks/radio_voices.py: segment cutting, pair drawing and the level rule (synthetic
signals; the codec2-examples package is only needed by the speaker-table check, skipped without it)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from voxsep_corpus.levels import active_level

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import radio_voices as rv


def _voiced(seconds: float, f0: float = 120.0, seed: int = 0) -> np.ndarray:
    """A harmonic tone with a 4 Hz syllable envelope and gaps: speech-like activity."""
    t = np.arange(int(seconds * rv.SAMPLE_RATE)) / rv.SAMPLE_RATE
    tone = sum(np.sin(2 * np.pi * k * f0 * t + k) / k for k in range(1, 8))
    envelope = np.clip(np.sin(2 * np.pi * 2 * t), 0, None)
    return 0.1 * tone * envelope + 1e-4 * np.random.default_rng(seed).standard_normal(t.size)


def test_segments_are_3_to_5_seconds_and_consecutive():
    signal = _voiced(23.0)
    segments = rv.cut_segments(signal)
    lengths = [s.size / rv.SAMPLE_RATE for s in segments]
    assert len(segments) >= 4
    assert all(3.0 <= x <= 5.0 for x in lengths), lengths
    joined = np.concatenate(segments)
    np.testing.assert_array_equal(joined, signal[: joined.size])  # in order, nothing skipped
    assert rv.cut_segments(signal[: 2 * rv.SAMPLE_RATE]) == []  # too short for one segment


def test_pairs_are_two_different_speakers_distinct_and_seeded():
    counts = {"a": 5, "b": 1, "c": 2, "d": 0}
    mixtures = rv.draw_pairs(counts, 17, seed=3)
    assert len(mixtures) == 17 == len({frozenset((x, y)) for x, y, _ in mixtures})  # no segment pair twice
    for (a, i), (b, j), g in mixtures:
        assert a != b and "d" not in (a, b)
        assert i < counts[a] and j < counts[b]
        assert -rv.GAIN_DB <= g <= rv.GAIN_DB
    assert mixtures == rv.draw_pairs(counts, 17, seed=3)
    with pytest.raises(ValueError, match="only 17 pairs"):
        rv.draw_pairs(counts, 18)


def test_mix_pair_follows_the_corpus_level_rule():
    first, second = _voiced(4.0, 110.0, 1), 5.0 * _voiced(3.5, 200.0, 2)
    mixture, s1, s2 = rv.mix_pair(first, second, 2.0)
    assert mixture.size == s1.size == s2.size == second.size  # cut to the shorter
    np.testing.assert_allclose(mixture, s1 + s2)
    assert max(np.abs(mixture).max(), np.abs(s1).max(), np.abs(s2).max()) == pytest.approx(rv.PEAK)
    # Relative level: +2 dB and -2 dB after 0 dB normalisation of the whole segments. The
    # second source is whole, the first is cut, so compare the uncut second with its weight.
    scale = s2[0] / second[0]
    weight_2 = scale * np.sqrt(active_level(second, rv.SAMPLE_RATE)[0])
    weight_1 = (s1 / first[: s1.size])[100]
    weight_1 *= np.sqrt(active_level(first, rv.SAMPLE_RATE)[0])
    assert 20 * np.log10(weight_1 / weight_2) == pytest.approx(4.0, abs=1e-6)


@pytest.mark.skipif(not (rv.CODEC2 / "raw" / "hts.raw").is_file(), reason="codec2-examples is not installed")
def test_recordings_exist_and_are_long_enough():
    for recording in rv.RECORDINGS:
        assert recording.sex in ("F", "M")
        assert (recording.sex == "M") == (recording.f0 < 165)
        signal = rv.read_recording(recording)
        assert signal.size >= 3 * rv.SAMPLE_RATE, recording
