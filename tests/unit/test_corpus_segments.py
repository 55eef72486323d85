"""voxsep_corpus.segments: segment cutting and pair drawing of held-out sets built from long
recordings (benchmarks/radio_voices.py builds the radio-voices set with them; tests never
import benchmarks/). The level rule of those mixtures is voxsep_corpus.levels.mix_at_levels,
tested in test_prepare_levels.py."""

from __future__ import annotations

import numpy as np
import pytest

from voxsep_corpus.segments import cut_segments, draw_pairs

SAMPLE_RATE = 8000


def _voiced(seconds: float, f0: float = 120.0, seed: int = 0) -> np.ndarray:
    """A harmonic tone with a 4 Hz syllable envelope and gaps: speech-like activity."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    tone = sum(np.sin(2 * np.pi * k * f0 * t + k) / k for k in range(1, 8))
    envelope = np.clip(np.sin(2 * np.pi * 2 * t), 0, None)
    return 0.1 * tone * envelope + 1e-4 * np.random.default_rng(seed).standard_normal(t.size)


def test_segments_are_3_to_5_seconds_and_consecutive():
    signal = _voiced(23.0)
    segments = cut_segments(signal, SAMPLE_RATE)
    lengths = [s.size / SAMPLE_RATE for s in segments]
    assert len(segments) >= 4
    assert all(3.0 <= x <= 5.0 for x in lengths), lengths
    joined = np.concatenate(segments)
    np.testing.assert_array_equal(joined, signal[: joined.size])  # in order, nothing skipped
    assert cut_segments(signal[: 2 * SAMPLE_RATE], SAMPLE_RATE) == []  # too short for one segment


def test_pairs_are_two_different_speakers_distinct_and_seeded():
    counts = {"a": 5, "b": 1, "c": 2, "d": 0}
    mixtures = draw_pairs(counts, 17, seed=3, gain_db=2.5)
    assert len(mixtures) == 17 == len({frozenset((x, y)) for x, y, _ in mixtures})  # no segment pair twice
    for (a, i), (b, j), g in mixtures:
        assert a != b and "d" not in (a, b)
        assert i < counts[a] and j < counts[b]
        assert -2.5 <= g <= 2.5
    assert mixtures == draw_pairs(counts, 17, seed=3, gain_db=2.5)
    with pytest.raises(ValueError, match="only 17 pairs"):
        draw_pairs(counts, 18)
