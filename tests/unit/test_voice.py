"""Random voice conversion (``voxsep.data.voice``): the new voice has the drawn pitch,
cross-sex draws move formants the right way, unvoiced input passes unchanged, and
dynamic mixing stays deterministic with mixture == sum(sources)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from voxsep.data.voice import RandomVoice, change_voice, median_pitch_hz


@pytest.fixture(scope="module")
def voice(speech_pool) -> np.ndarray:
    """A real training voice of the tiny corpus (8 kHz), the longest of its files."""
    paths = [p for paths in speech_pool.values() for p in paths]
    audio = max((sf.read(p)[0] for p in paths[:12]), key=len)
    return audio[: 8000 * 3]


def test_the_new_voice_has_the_requested_median_pitch_and_the_same_length(voice):
    for target in (110.0, 220.0):
        changed = change_voice(voice, 8000, 1.0, target, 1.0)
        assert changed.shape == voice.shape
        assert median_pitch_hz(changed, 8000) == pytest.approx(target, rel=0.1)


def test_draws_follow_the_source_sex():
    random_voice = RandomVoice(8000, 1.0)
    rng = np.random.default_rng(0)
    for _ in range(50):
        formant, pitch, spread = random_voice.draw_voice(rng, source_pitch_hz=210.0)  # a woman
        assert (pitch < 160 and 0.82 <= formant <= 0.92) or (pitch > 160 and 0.94 <= formant <= 1.06)
        assert 0.7 <= spread <= 1.3


def test_unvoiced_sources_and_probability_zero_pass_unchanged():
    noise = np.random.default_rng(0).standard_normal((2, 8000)) * 1e-4
    assert np.array_equal(RandomVoice(8000, 1.0)(np.zeros((2, 8000)), np.random.default_rng(0)), np.zeros((2, 8000)))
    assert np.array_equal(RandomVoice(8000, 0.0)(noise, np.random.default_rng(0)), noise)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        RandomVoice(8000, 2.0)


def test_dynamic_mixing_with_new_voices_is_deterministic_and_sums(check_augmented_mixing):
    check_augmented_mixing(index=5, voice=RandomVoice(8000, 1.0))


def test_a_window_praat_cannot_resynthesise_is_kept_and_mixing_goes_on(monkeypatch, voice):
    """Praat raised for one training window after 3775 steps of a real run ("When rounding up
    the real value --undefined--"), which killed the DataLoader worker and the training."""
    import parselmouth

    import voxsep.data.voice as module

    def fails(*args, **kwargs):
        raise parselmouth.PraatError("When rounding up the real value --undefined--, ...")

    monkeypatch.setattr(module, "change_voice", fails)
    sources = np.stack([voice, voice[::-1]])
    assert np.array_equal(RandomVoice(8000, 1.0)(sources, np.random.default_rng(0)), sources)


def _two_pitch_voice(rate: int = 8000) -> np.ndarray:
    """2 s of a harmonic voice at 370 Hz with a 0.25-s stretch at 76 Hz (median 370, lowest ~76)."""
    f0 = np.full(2 * rate, 370.0)
    f0[rate - rate // 8: rate + rate // 8] = 76.0
    phase = 2 * np.pi * np.cumsum(f0) / rate
    return 0.1 * sum(np.sin(h * phase) / h for h in range(1, 6))


def test_safe_pitch_range_keeps_the_lowest_frame_above_the_floor():
    from voxsep.data.voice import MIN_NEW_PITCH_HZ, safe_pitch_range

    def lowest_after(factor, old_median, old_min, new_median):  # Change gender's mapping of a frame's pitch
        return new_median + (old_min * new_median / old_median - new_median) * factor

    # the draw that hung a real training run: a 368 Hz voice with frames down to 75 Hz made a 129 Hz man
    assert lowest_after(1.27, 367.8, 75.0, 129.3) < 0
    capped = safe_pitch_range(1.27, 367.8, 75.0, 129.3)
    assert capped < 1.27 and lowest_after(capped, 367.8, 75.0, 129.3) == pytest.approx(MIN_NEW_PITCH_HZ)
    # safe draws are left alone
    assert safe_pitch_range(1.27, 200.0, 150.0, 120.0) == 1.27
    assert safe_pitch_range(0.7, 367.8, 75.0, 129.3) == 0.7


def test_random_voice_lowers_an_unsafe_pitch_range(monkeypatch):
    """RandomVoice measures the lowest voiced frame and passes Change gender a range that
    keeps it above MIN_NEW_PITCH_HZ (an unsafe range made Praat hang in a real run)."""
    import voxsep.data.voice as module

    source = _two_pitch_voice()
    median, lowest = module.pitch_median_and_minimum(source, 8000)
    assert median == pytest.approx(370, rel=0.02) and lowest == pytest.approx(76, rel=0.05)
    calls = []
    monkeypatch.setattr(module, "change_voice", lambda audio, rate, *args, seed=0: calls.append(args) or audio)
    for seed in range(40):
        RandomVoice(8000, 1.0)(source[None], np.random.default_rng(seed))
    assert len(calls) == 40
    lowest_after = [pitch + (lowest * pitch / median - pitch) * spread for _, pitch, spread in calls]
    assert min(lowest_after) >= module.MIN_NEW_PITCH_HZ - 1e-6
    assert any(spread < 0.7 for _, _, spread in calls)  # some draws were lowered below the drawn range
