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
