"""Flight of the Amazon Queen voices of ``voxsep prepare offline``: the ``queen.1c``
container (built here, synthetic), which resource names say who speaks, and the voices'
place in the speaker table (training, pool-only, one per credited actor, appended after
the Tux Paint voices). The check against the real game data (clip counts, a sample of the
measurements, two utterances made) runs only where ``flight-of-the-amazon-queen`` is installed."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
import soundfile as sf

from voxsep_corpus import offline
from voxsep_corpus.voices.clips import _load_prompt
from voxsep_corpus.voices.common import MALE_F0_HZ, median_f0
from voxsep_corpus.voices.fotaq import (
    _FOTAQ,
    fotaq_clips,
    fotaq_labels,
    measure_fotaq,
)
from voxsep_corpus.voices.queen import FOTAQ_DATA, queen_payload, queen_table
from voxsep_corpus.voices.speakers import SPEAKERS, training_voice_languages


def _container(resources: dict[str, bytes]) -> bytes:
    """A rebuilt FOTAQ data file: QTBL, version, 2 bytes, compression (1: MP3), table, payloads."""
    head = b"QTBL" + b"CEM10\0" + b"\0\0" + b"\1" + struct.pack(">H", len(resources))
    offset = len(head) + 21 * len(resources)
    table, body = b"", b""
    for name, payload in resources.items():
        table += struct.pack(">12sBII", name.encode(), 1, offset + len(body), len(payload))
        body += payload
    return head + table + body


def _dog(talk_key: int) -> bytes:
    """A dialogue file's start: 20-byte header, then levels, unique key and the talk key (int16)."""
    return b"\0" * 20 + struct.pack(">hhh", 1, talk_key, talk_key) + b"\0" * 10


def _mp3(seconds: float, f0: float, rate: int = 11025) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    buffer = io.BytesIO()
    sf.write(buffer, (0.3 * np.sin(2 * np.pi * f0 * t)).astype(np.float32), rate, format="MP3")
    return buffer.getvalue()


def test_queen_table_and_resources_read_a_synthetic_container(tmp_path):
    resources = {"QUEEN.JAS": b"jas", "020006P1.SB": b"\xff\xe3 mp3", "EMPTY.SB": b""}
    path = tmp_path / "queen.1c"
    path.write_bytes(_container(resources))
    with open(path, "rb") as handle:
        table = queen_table(handle)
    assert [(name, queen_payload(path, name)) for name in table] == list(resources.items())
    assert table["020006P1.SB"] == (15 + 3 * 21 + 3, 6) and table["EMPTY.SB"][1] == 0
    path.write_bytes(b"RIFF" + bytes(40))
    with pytest.raises(ValueError, match="QTBL"), open(path, "rb") as handle:
        queen_table(handle)


def test_resource_names_give_the_speaker():
    names = ["020006J1.SB", "020006P1.SB", "02XXXXP2.SB", "02SSSSJ1.SB", "1200B3PA.SB", "JOE04951.SB",
             "990001P1.SB", "C18B_381.SB", "1015SSSS.SB", "73ASSSSS.SB", "MIK_0019.SB", "SPARKY3.DOG"]
    labels = fotaq_labels(names, {2: "SPARKY3.DOG", 12: "TAM1.DOG"})
    # Joe's conversation lines (J), greetings and descriptions; the person's lines (P) by the
    # dialogue file of the talk key. Unknown keys, cutaways, sound effects and odd names: none.
    assert labels == {"020006J1.SB": "joe", "02SSSSJ1.SB": "joe", "JOE04951.SB": "joe", "020006P1.SB": "sparky",
                      "02XXXXP2.SB": "sparky", "1200B3PA.SB": "tam"}


def test_clips_of_a_synthetic_container_decode_at_8k(tmp_path):
    path = tmp_path / "queen.1c"
    path.write_bytes(_container({"SPARKY3.DOG": _dog(2), "020006J1.SB": _mp3(1.0, 120), "020006P1.SB": _mp3(0.5, 220),
                                 "020007P1.SB": b"", "C18B_381.SB": _mp3(0.5, 300)}))
    found = fotaq_clips(path)
    assert {c: [p.name for p in clips] for c, clips in found.items()} == {"joe": ["020006J1.SB"],
                                                                          "sparky": ["020006P1.SB"]}
    audio = _load_prompt(found["joe"][0], 8000)
    assert audio.dtype == np.float32 and abs(audio.size - 8000) < 800  # MP3 adds encoder delay/padding
    assert median_f0(audio, 8000) == pytest.approx(120, rel=0.03)
    measured = measure_fotaq(path, ["joe+sparky"])
    assert len(measured["joe+sparky"]) == 2 and measured["joe+sparky"][1][1] == pytest.approx(220, rel=0.03)


def test_fotaq_voices_are_appended_training_pool_only_actors():
    speakers = SPEAKERS
    fotaq = [s for s in speakers if s.engine == "fotaq"]
    assert len(fotaq) == len(_FOTAQ) == 11
    first = speakers.index(fotaq[0])
    tux = [i for i, s in enumerate(speakers) if s.engine == "tuxpaint"]
    assert first > max(tux) and speakers[first:first + len(fotaq)] == fotaq
    assert all(s.pool_only for s in speakers[first:])
    characters = [c for s in fotaq for c in s.voice.partition(":")[2].split("+")]
    assert len(characters) == len(set(characters))  # each character in one voice (one actor)
    assert fotaq[0].voice == "en:joe" and fotaq[0].sex == "M" and fotaq[0].scale > 1
    for s in fotaq:
        assert s.split == "train" and s.group == s.name and s.human and s.package == "flight-of-the-amazon-queen"
        assert s.voice.startswith("en:") and (s.f0 < MALE_F0_HZ) == (s.sex == "M"), s
    assert not any(s.engine == "derived" and s.voice.startswith("fotaq") for s in speakers)
    assert "flight-of-the-amazon-queen" in offline.required_packages(8000)
    # The KTuberling selection's reference set does not change.
    assert training_voice_languages() == training_voice_languages(
        [s for s in speakers if s.engine not in ("tuxpaint", "fotaq")])


@pytest.mark.skipif(not FOTAQ_DATA.exists(), reason="flight-of-the-amazon-queen not installed")
def test_the_table_matches_the_installed_game(tmp_path):
    found = fotaq_clips()
    used = {c for row in _FOTAQ for c in row[1].split("+")}
    assert used <= set(found) and "klunk" in set(found) - used and "zombie" in set(found) - used
    voices = [row[1] for row in _FOTAQ]
    measured = measure_fotaq(characters=voices, sample=40)
    for name, voice, sex, f0, seconds, clips, _, _ in _FOTAQ:
        assert sum(len(found[c]) for c in voice.split("+")) == clips, name
        speech = sum(s for s, _ in measured[voice]) * clips / len(measured[voice])
        assert abs(speech / seconds - 1) < 0.25, (name, speech, seconds)  # estimated from 40 clips
        f0s = np.array([f for _, f in measured[voice]])
        assert (np.nanmedian(f0s) < MALE_F0_HZ) == (sex == "M"), (name, np.nanmedian(f0s))
    # Two utterances of the shortest voice, made as the build makes them.
    speaker = next(s for s in SPEAKERS if s.name == "fotaq_arnold")
    rows = offline._make_speaker({"speaker": speaker, "index": SPEAKERS.index(speaker), "seed": 0,
                                  "sample_rate": 8000, "count": 2, "speech_dir": str(tmp_path)})
    assert len(rows) == 2 and all(4.0 * 8000 < row[3] < 8.5 * 8000 for row in rows)
