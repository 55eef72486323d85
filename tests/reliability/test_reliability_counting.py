"""Counting talkers (issue 27, item 8, the parts outside the long-recording issue): silence
and steady noise give 0 talkers and no file, said clearly; the count does not depend on
the input's scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from faults import speech
from voxsep.cli import main
from voxsep.inference.api import Separator
from voxsep.inference.no_speech import no_speech_reason

pytestmark = pytest.mark.usefixtures("one_thread")
EXAMPLE = Path(__file__).resolve().parents[2] / "src" / "voxsep" / "pretrained" / "example_mix.wav"


@pytest.fixture(scope="module")
def bundled():
    return Separator.from_pretrained()


@pytest.fixture(scope="module")
def two_talkers() -> np.ndarray:
    audio, rate = sf.read(EXAMPLE, dtype="float32")
    assert rate == 8000
    return audio[: 4 * rate]


def _noises() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    white = rng.standard_normal(3 * 8000)
    pink = np.fft.irfft(np.fft.rfft(white) / np.maximum(np.sqrt(np.arange(white.size // 2 + 1)), 1), white.size)
    return {"silence": np.zeros(3 * 8000), "dither": np.round(rng.standard_normal(3 * 8000) * 0.5) / 32768,
            "white noise": 0.1 * white, "pink noise": 0.3 * pink / pink.std(), "hum": 0.2 * np.sin(np.arange(24000) * 0.04)}


@pytest.mark.parametrize("kind", list(_noises()))
def test_silence_and_steady_noise_have_no_talker(bundled, kind):
    out = bundled.separate(_noises()[kind].astype(np.float32), 8000, n_src="auto")
    assert out.shape == (0, 3 * 8000) and bundled.last_count.count == 0
    assert all("silence" in why for why in bundled.last_count.dropped.values())


def test_speech_is_not_mistaken_for_noise(bundled, two_talkers):
    rng = np.random.default_rng(1)
    one = speech("en", "agent-alreadyon")
    assert no_speech_reason(one, 8000) is None
    noisy = two_talkers / two_talkers.std() + rng.standard_normal(two_talkers.size) * 10 ** (-5 / 20)  # 5 dB SNR
    assert no_speech_reason(noisy, 8000) is None
    assert bundled.separate(one, 8000, n_src="auto").shape[0] == 1


def test_the_cli_says_no_talker_and_writes_nothing(tmp_path, capsys):
    for name, audio in _noises().items():
        sf.write(tmp_path / f"{name.replace(' ', '_')}.wav", audio.astype(np.float32), 8000, subtype="FLOAT")
    code = main(["separate", *sorted(str(p) for p in tmp_path.glob("*.wav")), "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0 and out.count("no talker found, no file written") == 5, out
    assert not list((tmp_path / "out").glob("*.wav"))


@pytest.mark.parametrize("scale", [1e-6, 1e-4, 1e3, 1e20, 1e30])
def test_the_count_does_not_depend_on_the_input_scale(bundled, two_talkers, scale):
    reference = bundled.separate(two_talkers, 8000, n_src="auto")
    assert reference.shape[0] == 2
    scaled = bundled.separate((two_talkers.astype(np.float64) * scale).astype(np.float32), 8000, n_src="auto")
    assert scaled.shape[0] == 2 and np.isfinite(scaled).all()
    error = scaled.astype(np.float64) / scale - reference
    snr = 10 * np.log10(np.sum(reference.astype(np.float64) ** 2) / np.sum(error ** 2))
    assert snr > 30, f"the estimates of the scaled input differ from the original's by {snr:.1f} dB SNR"


@pytest.fixture(scope="module")
def long_two_talkers() -> np.ndarray:
    """20 s of two asterisk voices (a woman, a man) taking turns with pauses and overlaps."""
    from voxsep.data.conversation import make_conversation

    sounds = Path("/usr/share/asterisk/sounds")
    voices = []
    for folder in ("en_US_f_Allison", "it_IT_m_Carlo"):
        clips = [sf.read(p, dtype="float32")[0] for p in sorted((sounds / folder).glob("*.wav"))[30:60]]
        voices.append([c for c in clips if c.size > 8000])
    return make_conversation(voices, 20.0, 8000, np.random.default_rng(1)).sum(0).astype(np.float32)


@pytest.mark.parametrize("chunk_seconds", [3.0, 5.0, 10.0, 15.0, 30.0])
def test_the_count_does_not_depend_on_the_chunk_length(long_two_talkers, chunk_seconds):
    """Item 8: the count of a 20-s two-talker file must not depend on the chunk length. (The
    file of the report, which counted 2 with 5-10 s chunks and 1 with 15 s or more, is not
    in the repository; this conversation counts 2 at every chunk length on the code before
    the talker tracking as well, so it guards the rule rather than reproduces the report.)"""
    separator = Separator.from_pretrained(chunk_seconds=chunk_seconds, overlap_seconds=min(2.0, chunk_seconds / 2))
    assert separator.separate(long_two_talkers, 8000).shape[0] == 2
