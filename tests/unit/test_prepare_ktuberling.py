"""KTuberling voices of ``voxsep prepare offline``: sound-theme parts, which folders become
voices (held-out languages, short folders, multi-voice folders), and their place in the
speaker table (training, pool-only, appended). Small fixtures; the check against the real
package runs only where ``ktuberling-data`` is installed."""

from __future__ import annotations

import math

import pytest

from voxsep_corpus.voices.common import MALE_F0_HZ
from voxsep_corpus.voices.ktuberling import (
    _KTUBERLING,
    KTUBERLING_ROOT,
    ktuberling_clip_parts,
    ktuberling_part,
    measure_ktuberling,
    select_ktuberling_voices,
)
from voxsep_corpus.voices.speakers import (
    SPEAKERS,
    heldout_languages,
    training_voice_languages,
)


def _clips(f0: float, n: int = 20, seconds: float = 1.5, spread: float = 0.0) -> list[tuple[float, float]]:
    return [(seconds, f0 * (1 + spread * ((i % 5) - 2) / 2)) for i in range(n)]


def test_parts_of_sound_names():
    assert ktuberling_part("hat") == "potato"
    assert ktuberling_part("pizzeria_olive") == "pizzeria"
    assert ktuberling_part("robot_workshop_arm") == "robot_workshop"
    assert ktuberling_part("tux-apple") == ktuberling_part("Frier-Tux") == "tux"
    assert ktuberling_part("tux-laugh") == ktuberling_part("say-zzz") == "exclamation"


def test_clip_parts_follow_the_sound_theme(tmp_path):
    folder = tmp_path / "ca"
    folder.mkdir()
    for name in ("apple.ogg", "hat.ogg", "say-laugh.ogg", "moon_ufo.wav", "candles-glow.ogg", "notes.txt"):
        (folder / name).write_bytes(b"")
    theme = ('<language code="ca">\n  <sound name="tux-apple" file="ca/apple.ogg" />\n'
             '  <sound name="hat" file="ca/hat.ogg"/>\n  <sound name="tux-laugh" file="ca/say-laugh.ogg" />\n'
             '  <sound name="moon_ufo" file="ca/moon_ufo.wav" />\n</language>\n')
    parts = {path.name: part for path, part in ktuberling_clip_parts(folder, theme)}
    # apple.ogg is a Tux word by its theme entry; candles-glow.ogg is unlisted: classed by its stem.
    assert parts == {"apple.ogg": "tux", "hat.ogg": "potato", "say-laugh.ogg": "exclamation",
                     "moon_ufo.wav": "moon", "candles-glow.ogg": "tux"}


def test_heldout_languages_and_short_or_empty_folders_are_left_out():
    measured = {"fr": {"potato": _clips(120)}, "sr@latin": {"potato": _clips(120, n=10)},
                "nn": {}, "gl": {"potato": _clips(270), "moon": _clips(280)},
                "nl": {"potato": _clips(220)}}
    voices, excluded = select_ktuberling_voices(measured, heldout_languages={"fr", "nl"})
    assert voices == [("gl", "F", pytest.approx(270, abs=10), 60.0)]
    reasons = dict(excluded)
    assert reasons["fr"] == reasons["nl"] == "language of a held-out voice"
    assert reasons["sr@latin"] == "15 s of speech" and reasons["nn"] == "no sound files"


def test_the_real_heldout_languages_come_from_the_valid_and_test_voices():
    assert heldout_languages() == {"en", "fr", "hu", "lt", "nds", "nl", "ru", "uk"}
    assert ("da", "M") in training_voice_languages()


def test_a_borderline_part_does_not_split_a_one_voice_folder():
    # el-like: one man around 150 Hz, one small part a little above the 165 Hz threshold.
    measured = {"el": {"potato": _clips(150), "egypt": _clips(148), "tv": _clips(168, n=5)}}
    voices, excluded = select_ktuberling_voices(measured, heldout_languages=set())
    assert [(v, s) for v, s, _, _ in voices] == [("el", "M")] and not excluded


def test_a_two_voice_folder_is_split_by_part():
    # ca-like: a woman reads most parts, a man the Tux and pizzeria words.
    measured = {"ca": {"potato": _clips(260, n=30), "tv": _clips(250, n=30), "tux": _clips(145, n=12),
                       "pizzeria": _clips(137, n=10), "exclamation": _clips(300, n=5)}}
    voices, _ = select_ktuberling_voices(measured, heldout_languages=set())
    assert [(v, s, secs) for v, s, _, secs in voices] == [("ca:potato+tv", "F", 90.0), ("ca:pizzeria+tux", "M", 33.0)]
    # The second voice needs the minimum speech of its own.
    voices, excluded = select_ktuberling_voices(measured, heldout_languages=set(), min_seconds=40)
    assert [v for v, _, _, _ in voices] == ["ca:potato+tv"] and excluded == [("ca:pizzeria+tux", "33 s of speech")]


def test_a_folder_whose_voices_do_not_separate_is_left_out():
    # Parts of both sexes, but the "male" part's clips straddle the threshold: mixed voices.
    measured = {"xx": {"potato": _clips(250, n=30), "tux": _clips(150, n=30, spread=0.5)}}
    voices, excluded = select_ktuberling_voices(measured, heldout_languages=set())
    assert voices == [] and excluded == [("xx", "several voices that the sound-theme parts do not separate")]


def test_a_folder_whose_main_voice_may_be_a_training_voice_is_left_out_whole():
    # da-like: the man may be klettres_da (same language and sex); his folder's women go too.
    measured = {"da": {"potato": _clips(130, n=40), "tv": _clips(133, n=30), "tux": _clips(245, n=25)}}
    voices, excluded = select_ktuberling_voices(measured, heldout_languages=set(), taken={("da", "M")})
    assert voices == [] and [language for language, _ in excluded] == ["da"]


def test_ktuberling_voices_are_appended_training_pool_only_speakers():
    speakers = SPEAKERS
    kt = [s for s in speakers if s.engine == "ktuberling"]
    assert len(kt) == len(_KTUBERLING) >= 5
    # Appended after the speakers of the mixture sets (which keep their indices, i.e. their
    # seeds), before the later pool-only voices (Tux Paint).
    start = speakers.index(kt[0])
    assert speakers[start:start + len(kt)] == kt and not any(s.pool_only for s in speakers[:start])
    assert all(s.pool_only for s in speakers[start:])
    heldout = heldout_languages()
    for s in kt:
        assert s.split == "train" and s.group == s.name and s.package == "ktuberling-data" and s.human
        assert s.voice.split(":")[0] not in heldout
        assert (s.f0 < MALE_F0_HZ) == (s.sex == "M"), s
    assert not any(s.engine == "derived" and s.voice.startswith("ktuberling") for s in speakers)


@pytest.mark.skipif(not (KTUBERLING_ROOT / "gl.soundtheme").exists(), reason="ktuberling-data not installed")
def test_the_table_is_the_selection_on_the_installed_package():
    measured = measure_ktuberling()
    voices, _ = select_ktuberling_voices(measured, heldout_languages(), training_voice_languages())
    got = sorted((v, s, round(f0), math.floor(secs)) for v, s, f0, secs in voices)
    want = sorted((voice, sex, f0, seconds) for _, voice, sex, f0, seconds, _ in _KTUBERLING)
    assert [(v, s) for v, s, _, _ in got] == [(v, s) for v, s, _, _ in want]
    for (_, _, f0, secs), (_, _, f0_table, secs_table) in zip(got, want):
        assert abs(f0 - f0_table) <= 2 and abs(secs - secs_table) <= 1
