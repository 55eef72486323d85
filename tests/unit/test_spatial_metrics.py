"""ITD / ILD metrics on real speech with known fractional delays and gains."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from voxsep.metrics.spatial import delta_ild, delta_itd, ild, itd

SPEECH = Path("/usr/share/asterisk/sounds/en/agent-alreadyon.wav")


@pytest.fixture(scope="module")
def speech() -> tuple[np.ndarray, int]:
    if not SPEECH.exists():
        pytest.skip(f"{SPEECH} missing: install asterisk-core-sounds-en-wav (make test does)")
    audio, rate = sf.read(SPEECH, dtype="float64")
    return audio[: 2 * rate], rate


def fractional_delay(x: np.ndarray, delay: float) -> np.ndarray:
    """Delay by ``delay`` samples (band-limited, exact for a zero-padded signal)."""
    pad = 64
    padded = np.concatenate([np.zeros(pad), x, np.zeros(pad)])
    n = len(padded)
    spectrum = np.fft.rfft(padded)
    spectrum *= np.exp(-2j * np.pi * np.fft.rfftfreq(n) * delay)
    return np.fft.irfft(spectrum, n)


def binaural(x: np.ndarray, left_lead: float, right_gain: float = 1.0) -> np.ndarray:
    """Left ear hears x; right ear hears x ``left_lead`` samples later (scaled)."""
    return np.stack([fractional_delay(x, 0.0), right_gain * fractional_delay(x, left_lead)])


@pytest.mark.parametrize("delay", [0.0, 0.3, -0.5, 1.25, -2.7, 4.6])
def test_itd_recovers_fractional_delays_within_10_microseconds(speech, delay):
    x, rate = speech
    value = itd(binaural(x, delay), rate)
    assert abs(value - delay / rate) < 10e-6, (value * 1e6, delay / rate * 1e6)


def test_itd_sign_left_leads_positive_and_batch_shapes(speech):
    x, rate = speech
    batch = np.stack([binaural(x, 3.0), binaural(x, -3.0)])[None]  # (1, 2, 2, time)
    values = itd(batch, rate)
    assert values.shape == (1, 2)
    assert values[0, 0] > 0 > values[0, 1]


def test_integer_lag_variant_matches_pyroomacoustics_gcc_phat(speech):
    from pyroomacoustics.experimental.localization import tdoa

    x, rate = speech
    for delay in (2.4, -3.0, 5.0):
        signal = binaural(x, delay)
        ours = itd(signal, rate, interpolate=False)
        assert ours * rate == pytest.approx(round(delay), abs=1e-9)
        theirs = tdoa(signal[0], signal[1], fs=rate)
        assert abs(abs(ours) - abs(theirs)) < 0.5 / rate


def test_torch_input_gives_torch_output(speech):
    x, rate = speech
    signal = torch.from_numpy(binaural(x, 1.5, right_gain=0.5)).float()
    value = itd(signal, rate)
    assert isinstance(value, torch.Tensor) and value.dtype == torch.float32
    assert abs(float(value) - 1.5 / rate) < 10e-6
    assert isinstance(ild(signal), torch.Tensor)


@pytest.mark.parametrize("gain_db", [0.0, 3.0, -6.0, 17.5])
def test_ild_of_a_known_gain_within_0_05_db(speech, gain_db):
    x, _ = speech
    signal = binaural(x, 2.2, right_gain=10 ** (-gain_db / 20))
    assert abs(ild(signal) - gain_db) < 0.05


def test_deltas(speech):
    x, rate = speech
    reference = binaural(x, 2.0, right_gain=0.5)
    estimate = binaural(x, 1.0, right_gain=1.0)
    assert delta_itd(reference, estimate, rate) == pytest.approx(1e6 / rate, abs=10)
    assert delta_ild(reference, estimate) == pytest.approx(20 * np.log10(2), abs=0.05)
    assert delta_itd(reference, reference, rate) < 1e-6
    # Integer-lag variant as reported by the SpeechBrain recipe.
    assert delta_itd(reference, estimate, rate, interpolate=False) == pytest.approx(1e6 / rate, abs=1e-6)


def test_bad_shapes_raise_clear_errors(speech):
    x, rate = speech
    with pytest.raises(ValueError, match=r"\(\.\.\., 2, time\)"):
        itd(np.stack([x, x, x]), rate)
    with pytest.raises(ValueError, match="same shape"):
        delta_ild(binaural(x, 1.0), binaural(x, 1.0)[:, :-1])
