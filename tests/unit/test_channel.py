"""Random recording channels (``voxsep.data.channel``): the filters do what their names
say, the same channel colours every source, and dynamic mixing keeps mixture == sum."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from voxsep.data.channel import RandomChannel, peaking_eq, tilt


def _gain_db(sos: np.ndarray, freq_hz: float, sample_rate: int) -> float:
    _, response = signal.sosfreqz(sos, worN=[freq_hz], fs=sample_rate)
    return float(20 * np.log10(np.abs(response[0])))


def test_telephone_channel_passes_the_voice_band_and_stops_outside():
    channel = RandomChannel(8000, 1.0, kinds=("telephone",))
    kind, sos = channel.draw_filter(np.random.default_rng(0))
    assert kind == "telephone"
    assert abs(_gain_db(sos, 1000, 8000)) < 1.0
    assert _gain_db(sos, 100, 8000) < -15 and _gain_db(sos, 3900, 8000) < -10


def test_lowpass_cutoff_is_inside_the_documented_range():
    channel = RandomChannel(8000, 1.0, kinds=("lowpass",))
    for seed in range(20):
        _, sos = channel.draw_filter(np.random.default_rng(seed))
        assert abs(_gain_db(sos, 500, 8000)) < 1.0
        assert _gain_db(sos, 3990, 8000) < -3.0


def test_peaking_eq_and_tilt_gains():
    assert _gain_db(peaking_eq(1000, 6.0, 1.0, 8000), 1000, 8000) == pytest.approx(6.0, abs=0.05)
    assert _gain_db(peaking_eq(1000, -6.0, 1.0, 8000), 100, 8000) == pytest.approx(0.0, abs=0.5)
    assert _gain_db(tilt(6.0, 16000), 5, 16000) == pytest.approx(0.0, abs=0.05)
    assert _gain_db(tilt(6.0, 16000), 7900, 16000) > 4.5


def test_same_channel_for_every_source_and_probability_zero_is_identity():
    rng_images = np.random.default_rng(1)
    images = rng_images.standard_normal((2, 1, 4000))
    assert RandomChannel(8000, 0.0)(images, np.random.default_rng(0)) is images
    filtered = RandomChannel(8000, 1.0)(images, np.random.default_rng(3))
    # linear and shared: filtering the sum equals the sum of the filtered sources
    summed = RandomChannel(8000, 1.0)(images.sum(0, keepdims=True), np.random.default_rng(3))
    assert np.allclose(filtered.sum(0), summed[0], atol=1e-9)
    assert not np.allclose(filtered, images)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        RandomChannel(8000, 1.5)
    with pytest.raises(ValueError, match="unknown channel kind"):
        RandomChannel(8000, 0.5, kinds=("gsm",))


def test_dynamic_mixing_with_a_channel_keeps_mixture_equal_to_sum(check_augmented_mixing):
    check_augmented_mixing(channel=RandomChannel(8000, 1.0))
