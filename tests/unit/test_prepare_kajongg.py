"""Kajongg voices of ``voxsep prepare offline``: how the clips are found per language folder,
which folders are one person (an English and a German folder of one sex with close median
F0s), the held-out rule, and their place in the speaker table (training, pool-only,
appended after the FOTAQ voices). The check against the real package (every clip measured:
335 short clips) runs only where ``kajongg`` is installed."""

from __future__ import annotations

from collections import Counter

import pytest

from voxsep_corpus import offline
from voxsep_corpus.voices.clips import measure_clip
from voxsep_corpus.voices.common import MALE_F0_HZ, _semitones
from voxsep_corpus.voices.kajongg import (
    _KAJONGG,
    _KAJONGG_EXCLUDED,
    KAJONGG_ROOT,
    KAJONGG_SAME_PERSON_SEMITONES,
    _voiced_median,
    kajongg_clips,
    measure_kajongg,
    select_kajongg_voices,
)
from voxsep_corpus.voices.klettres import KLETTRES_PASSES
from voxsep_corpus.voices.speakers import (
    SPEAKERS,
    speaker_clips,
    _speaker_language,
    heldout_voices,
    training_voice_languages,
)


def _clips(f0: float, n: int = 40, seconds: float = 0.8) -> list[tuple[float, float]]:
    return [(seconds, f0 * 2 ** (((i % 5) - 2) / 12)) for i in range(n)]  # +-2 semitones around f0


def test_clips_are_found_per_language_folder(tmp_path):
    for name in ("male1/b1.ogg", "male1/pung.ogg", "male1/COPYRIGHT", "male1/md5sum", "female2/kong.ogg",
                 "de/male1/c9.ogg", "de/female1/s1.ogg", "de/female1/b2.ogg", "de/notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    found = {folder: [p.relative_to(tmp_path).as_posix() for p in paths]
             for folder, paths in kajongg_clips(tmp_path).items()}
    # English folders sit at the top, German ones under de/; only the Ogg clips are listed.
    assert found == {"en/female2": ["female2/kong.ogg"], "en/male1": ["male1/b1.ogg", "male1/pung.ogg"],
                     "de/female1": ["de/female1/b2.ogg", "de/female1/s1.ogg"], "de/male1": ["de/male1/c9.ogg"]}
    assert kajongg_clips(tmp_path / "missing") == {}


def test_folders_of_one_sex_and_close_f0_in_two_languages_are_one_voice():
    measured = {"en/male1": _clips(168), "de/male1": _clips(155), "en/male2": _clips(98), "de/male2": _clips(148),
                "en/female1": _clips(170), "de/female1": _clips(163), "en/female2": _clips(222),
                "de/female2": _clips(232, n=42), "de/empty": []}
    voices, excluded = select_kajongg_voices(measured, heldout=set())
    by_folders = {folders: (sex, f0, seconds) for folders, sex, f0, seconds in voices}
    # male1 (1.4 semitones), female1 and female2 (< 1) merge; male2 (7 semitones) does not, and
    # en/male1 is not joined with de/female1 (0.5 semitones, but the other sex).
    assert list(by_folders) == ["en/female1+de/female1", "en/female2+de/female2", "en/male1+de/male1", "en/male2",
                                "de/male2"] and excluded == []
    assert by_folders["en/female2+de/female2"][0] == "F" and by_folders["en/female2+de/female2"][2] == \
        pytest.approx(82 * 0.8)
    assert by_folders["en/male1+de/male1"][0] == by_folders["de/male2"][0] == "M"
    assert 155 <= by_folders["en/male1+de/male1"][1] <= 168
    # A tighter limit keeps male1 apart.
    voices, _ = select_kajongg_voices(measured, heldout=set(), semitones=1.0)
    assert "en/male1" in [v[0] for v in voices] and "de/male1" in [v[0] for v in voices]


def test_a_voice_with_the_language_and_sex_of_a_heldout_voice_is_left_out_whole():
    measured = {"en/male1": _clips(168), "de/male1": _clips(155), "en/male2": _clips(98), "de/male2": _clips(148),
                "en/female1": _clips(170)}
    voices, excluded = select_kajongg_voices(measured, heldout={("en", "M"), ("nds", "M"), ("fr", "F")})
    assert [v[0] for v in voices] == ["en/female1", "de/male2"]
    # de/male1 goes with en/male1: they may be one person, and that person may be the held-out one.
    assert [folders for folders, _ in excluded] == ["en/male1+de/male1", "en/male2"]
    assert all("(en, M)" in reason for _, reason in excluded)


def test_kajongg_voices_are_appended_training_pool_only_speakers():
    speakers = SPEAKERS
    by_name = {s.name: s for s in speakers}
    voices = [s for s in speakers if s.engine == "kajongg"]
    assert len(voices) == len(_KAJONGG) == 3
    first = speakers.index(voices[0])
    assert first > max(i for i, s in enumerate(speakers) if s.engine == "fotaq")
    assert speakers[first:first + len(voices)] == voices and all(s.pool_only for s in speakers[first:])
    heldout = heldout_voices()
    folders = [f for s in voices for f in s.voice.split("+")]
    assert len(folders) == len(set(folders))  # a folder is in one voice
    excluded = [f for what, _ in _KAJONGG_EXCLUDED for f in what.split("+")]
    assert sorted(folders + excluded) == sorted(f"{language}/{sex}{n}" for language in ("en", "de")
                                                for sex in ("male", "female") for n in (1, 2))
    for s in voices:
        assert s.split == "train" and s.kind == "real" and s.human and s.package == "kajongg"
        assert s.name == "kajongg_" + "_".join(f.split("/")[0] for f in s.voice.split("+")) + "_" + \
            s.voice.split("/")[-1]
        assert all(s.sex == ("F" if f.split("/")[1].startswith("female") else "M") for f in s.voice.split("+"))
        assert not any((f.split("/")[0], s.sex) in heldout for f in s.voice.split("+"))
        if s.group != s.name:  # a KDE volunteer's training voice of its language and sex, close in F0
            other = by_name[s.group]
            assert other.split == "train" and other.sex == s.sex and other.engine in ("klettres", "ktuberling")
            assert _speaker_language(other) in {f.split("/")[0] for f in s.voice.split("+")}
    assert not any(s.engine == "derived" and s.voice.startswith("kajongg") for s in speakers)
    assert offline.required_packages(8000)["kajongg"] == KAJONGG_ROOT / "de"
    assert any(package == "kajongg" for package, _ in offline._LICENCES)
    # The KTuberling selection's reference set does not change.
    assert training_voice_languages() == training_voice_languages(
        [s for s in speakers if s.engine not in ("tuxpaint", "fotaq", "kajongg")])


needs_kajongg = pytest.mark.skipif(not (KAJONGG_ROOT / "de" / "male2").is_dir(),
                                   reason="kajongg not installed (apt-get install kajongg)")


@pytest.fixture(scope="module")
def measured() -> dict[str, list[tuple[float, float]]]:
    return measure_kajongg()


@needs_kajongg
def test_the_table_is_the_selection_on_the_installed_package(measured):
    found = kajongg_clips()
    assert sorted(found) == sorted(f"{language}/{sex}{n}" for language in ("en", "de") for sex in ("male", "female")
                                   for n in (1, 2))
    assert all(40 <= len(clips) <= 42 for clips in found.values())
    voices, excluded = select_kajongg_voices(measured, heldout_voices())
    assert [v[0] for v in voices] == [row[1] for row in _KAJONGG]
    assert [what for what, _ in excluded] == [what for what, _ in _KAJONGG_EXCLUDED]
    for (folders, sex, f0, seconds), row in zip(voices, _KAJONGG):
        name, _, want_sex, _, want_f0, want_seconds, clips, _ = row
        assert sex == want_sex and _semitones(f0, want_f0) < 0.2 and abs(seconds - want_seconds) < 1.5, name
        speaker = next(s for s in SPEAKERS if s.name == name)
        assert speaker_clips(speaker) == [c for f in folders.split("+") for c in found[f]]
        assert len(speaker_clips(speaker)) == clips


@needs_kajongg
def test_the_merge_and_sex_decisions_follow_the_measured_f0(measured):
    f0 = {folder: _voiced_median(clips) for folder, clips in measured.items()}
    limit = KAJONGG_SAME_PERSON_SEMITONES
    voices = [row[1] for row in _KAJONGG] + [what for what, _ in _KAJONGG_EXCLUDED]
    for n in (1, 2):
        for sex in ("male", "female"):
            en, de = f"en/{sex}{n}", f"de/{sex}{n}"
            merged = f"{en}+{de}" in voices
            assert merged == (_semitones(f0[en], f0[de]) <= limit), (en, de, f0[en], f0[de])
    assert _semitones(f0["en/male2"], f0["de/male2"]) > 5  # two men
    # Folder names the F0 does not back are within a semitone of the threshold (the male1
    # and female1 folders, 155-171 Hz); the others agree with it clearly.
    for folder, value in f0.items():
        if (value < MALE_F0_HZ) != ("/male" in folder):
            assert _semitones(value, MALE_F0_HZ) < 1, (folder, value)
    for folder in ("en/male2", "de/male2"):
        assert f0[folder] < MALE_F0_HZ * 2 ** (-1 / 12)
    for folder in ("en/female2", "de/female2"):
        assert f0[folder] > MALE_F0_HZ * 2 ** (2 / 12)


@needs_kajongg
def test_utterances_reuse_each_clip_a_few_times_at_most(tmp_path):
    speaker = next(s for s in SPEAKERS if s.name == "kajongg_de_male2")
    clips = speaker_clips(speaker)
    index = SPEAKERS.index(speaker)
    rows = offline._make_speaker({"speaker": speaker, "index": index, "seed": 0, "sample_rate": 8000, "count": 120,
                                  "speech_dir": str(tmp_path)})
    # ~38 s of words (41 clips) make ~20 utterances (each word in at most KLETTRES_PASSES), not 120.
    assert 10 <= len(rows) <= 3 * (38 + 41 * 0.25) / 4.5 and all(4.0 * 8000 < row[3] < 8.5 * 8000 for row in rows)
    lengths = {i: measure_clip(clip)[0] for i, clip in enumerate(clips)}
    plan = offline._plan_utterances(len(clips), lambda i: lengths[i] + 0.25, 120, 0, index,
                                    passes=KLETTRES_PASSES)
    assert len(plan) == len(rows)
    assert max(Counter(i for utterance in plan for i in utterance).values()) <= KLETTRES_PASSES
