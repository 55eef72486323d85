"""Drascula voices of ``voxsep prepare offline``: how the raw ``.ALS`` lines are found and
read, and their place in the speaker table (training, pool-only, appended after the Tux
Paint voices, one voice per character and dub). The check against the real packages runs
only where ``drascula`` and ``drascula-spanish`` are installed."""

from __future__ import annotations

import numpy as np
import pytest

from voxsep_corpus import offline
from voxsep_corpus.voices.clips import _load_prompt
from voxsep_corpus.voices.drascula import (
    _DRASCULA,
    _DRASCULA_EXCLUDED,
    DRASCULA_RATE,
    DRASCULA_ROOT,
    drascula_clips,
    read_drascula_line,
)
from voxsep_corpus.voices.speakers import SPEAKERS, speaker_clips


def _tone_bytes(seconds: float, frequency: float = 440.0, amplitude: float = 0.5) -> bytes:
    t = np.arange(int(seconds * DRASCULA_RATE)) / DRASCULA_RATE
    return np.round(128 + 127 * amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.uint8).tobytes()


def test_lines_are_grouped_by_prefix_in_line_order(tmp_path):
    (tmp_path / "en").mkdir()
    for name in ("10.ALS", "2.ALS", "1.ALS", "VB3.ALS", "VB12.ALS", "BJ1.ALS", "S4.ALS", "1.ALG", "AUX1.BIN"):
        (tmp_path / "en" / name).write_bytes(b"\x80")
    found = {prefix: [p.name for p in paths] for prefix, paths in drascula_clips("en", tmp_path).items()}
    # Numeric order (2 before 10); images (.ALG) and other data files are not lines.
    assert found == {"": ["1.ALS", "2.ALS", "10.ALS"], "VB": ["VB3.ALS", "VB12.ALS"], "BJ": ["BJ1.ALS"],
                     "S": ["S4.ALS"]}
    assert drascula_clips("es", tmp_path) == {}


def test_a_line_is_unsigned_8_bit_pcm_resampled_to_the_build_rate(tmp_path):
    path = tmp_path / "7.ALS"
    path.write_bytes(b"\x80\xff\x00\xc0")
    assert read_drascula_line(path).tolist() == [0.0, 127 / 128, -1.0, 0.5]
    path.write_bytes(_tone_bytes(1.0))
    audio = _load_prompt(path, 8000)
    assert audio.dtype == np.float32 and abs(audio.size - 8000) <= 1
    spectrum = np.abs(np.fft.rfft(audio))
    assert np.argmax(spectrum) * 8000 / audio.size == pytest.approx(440.0, abs=2.0)
    assert np.sqrt(np.mean(audio ** 2)) == pytest.approx(0.5 * 127 / 128 / np.sqrt(2), rel=0.02)


def test_drascula_voices_are_appended_training_pool_only_speakers():
    speakers = SPEAKERS
    voices = [s for s in speakers if s.engine == "drascula"]
    assert len(voices) == len(_DRASCULA) >= 10
    first = speakers.index(voices[0])
    assert speakers[first:first + len(voices)] == voices and all(s.pool_only for s in speakers[first:])
    assert speakers.index(next(s for s in speakers if s.engine == "tuxpaint")) < first
    for s in voices:
        assert s.split == "train" and s.kind == "real" and s.human and s.group == s.name
        assert s.package == {"en": "drascula", "es": "drascula-spanish"}[s.voice.split(":")[0]]
    # One voice per character and dub; the mixed, unclear, short and sound-effect prefixes stay out.
    characters = [s.voice for s in voices]
    assert len(set(characters)) == len(characters)
    excluded = {p.strip() for prefixes, _ in _DRASCULA_EXCLUDED for p in prefixes.split(",")}
    assert excluded == {"D", "E", "P", "F", "S"} and not excluded & {c.split(":")[1] for c in characters}
    assert {"drascula", "drascula-spanish"} <= set(offline.required_packages(8000))


@pytest.mark.skipif(not (DRASCULA_ROOT / "es" / "1.ALS").exists(),
                    reason="drascula and drascula-spanish not installed")
def test_the_table_matches_the_installed_packages():
    table_prefixes = {prefix for _, _, prefix, *_ in _DRASCULA}
    excluded = {p.strip() for prefixes, _ in _DRASCULA_EXCLUDED for p in prefixes.split(",")}
    for dub in ("en", "es"):
        found = drascula_clips(dub)
        assert set(found) == table_prefixes | excluded  # every prefix is a voice or left out with a reason
        for name, row_dub, prefix, _, _, seconds, lines, _, _ in _DRASCULA:
            if row_dub == dub:
                assert len(found[prefix]) == lines, name
                speaker = next(s for s in SPEAKERS if s.name == name)
                assert speaker_clips(speaker) == found[prefix]
                # Untrimmed length (bytes at 11025 Hz) bounds the trimmed speech of the table.
                raw = sum(path.stat().st_size for path in found[prefix]) / DRASCULA_RATE
                assert seconds <= raw < 2 * seconds, name
