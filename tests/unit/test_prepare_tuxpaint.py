"""Tux Paint voices of ``voxsep prepare offline``: which spoken stamp descriptions are
found, which languages become voices (held-out language *and* sex, short sets, mixed
voices), and their place in the speaker table (training, pool-only, appended after the
KTuberling voices). Small fixtures; the check against the real package (a sample of its
clips, to stay fast) runs only where ``tuxpaint-stamps-default`` is installed."""

from __future__ import annotations

import numpy as np
import pytest

from voxsep_corpus.voices.common import MALE_F0_HZ
from voxsep_corpus.voices.speakers import (
    SPEAKERS,
    speaker_clips,
    _speaker_language,
    heldout_languages,
    heldout_voices,
    training_voice_languages,
)
from voxsep_corpus.voices.tuxpaint import (
    _TUXPAINT,
    TUXPAINT_ROOT,
    measure_tuxpaint,
    select_tuxpaint_voices,
    tuxpaint_clips,
)


def _clips(f0: float, n: int = 100, seconds: float = 1.5, spread: float = 0.0) -> list[tuple[float, float]]:
    return [(seconds, f0 * (1 + spread * ((i % 5) - 2) / 2)) for i in range(n)]


def test_description_clips_are_found_by_language(tmp_path):
    for name in ("animals/cat_desc_ro.ogg", "animals/cat_desc_pt_BR.wav", "town/inukshuk_desc_da.ogg.ogg",
                 "animals/cat_desc.ogg", "animals/cat.ogg", "animals/cat_desc_ro.txt", "food/pie_desc_ro.ogg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    found = {language: [p.relative_to(tmp_path).as_posix() for p in paths]
             for language, paths in tuxpaint_clips(tmp_path).items()}
    # The plain English "_desc.ogg" (no language) and non-audio files are not listed.
    assert found == {"ro": ["animals/cat_desc_ro.ogg", "food/pie_desc_ro.ogg"], "pt_BR": ["animals/cat_desc_pt_BR.wav"],
                     "da": ["town/inukshuk_desc_da.ogg.ogg"]}


def test_heldout_language_and_sex_is_left_out_other_sex_stays():
    measured = {"ru": _clips(128), "fr": _clips(131), "ro": _clips(242)}
    heldout = {("ru", "F"), ("fr", "M"), ("fr", "F")}
    voices, excluded = select_tuxpaint_voices(measured, heldout)
    assert [(v, s) for v, s, _, _ in voices] == [("ro", "F"), ("ru", "M")]
    assert voices[1][2] == pytest.approx(128) and voices[1][3] == pytest.approx(150.0)
    assert excluded == [("fr", "same language and sex (M) as a held-out voice")]


def test_short_empty_and_mixed_sets_are_left_out():
    measured = {"lt": _clips(121, n=30), "ml": [], "xx": _clips(250, n=70) + _clips(120, n=30),
                "un": [(2.0, float("nan"))] * 80}
    voices, excluded = select_tuxpaint_voices(measured, heldout=set())
    assert voices == []
    assert dict(excluded) == {"lt": "45 s of speech", "ml": "no sound files", "un": "no voiced clip",
                              "xx": "several voices (70% of the clips within 5 semitones of the median F0)"}
    # An expressive man (a fifth of the clips above the sex threshold) and a creaky one
    # (octave errors on a tenth of the clips) are each one voice.
    measured = {"ca": _clips(143, n=80) + _clips(180, n=20), "da": _clips(120, n=90) + _clips(60, n=10)}
    voices, _ = select_tuxpaint_voices(measured, heldout=set())
    assert [(v, s) for v, s, _, _ in voices] == [("ca", "M"), ("da", "M")]


def test_the_real_heldout_voices_come_from_the_valid_and_test_voices():
    heldout = heldout_voices()
    assert {("ru", "F"), ("fr", "M"), ("fr", "F"), ("nl", "M")} <= heldout
    assert ("ru", "M") not in heldout
    assert {language for language, _ in heldout} == heldout_languages()


def test_tuxpaint_voices_are_appended_training_pool_only_speakers():
    speakers = SPEAKERS
    by_name = {s.name: s for s in speakers}
    tux = [s for s in speakers if s.engine == "tuxpaint"]
    assert len(tux) == len(_TUXPAINT) >= 6
    first = speakers.index(tux[0])  # appended after the earlier voices: they keep their indices (seeds)
    assert speakers[first:first + len(tux)] == tux and all(s.pool_only for s in speakers[first:])
    assert all(s.pool_only for s in speakers if s.engine in ("ktuberling", "tuxpaint"))
    heldout = heldout_voices()
    for s in tux:
        assert s.split == "train" and s.package == "tuxpaint-stamps-default" and s.human and s.kind == "real"
        assert (s.voice, s.sex) not in heldout
        assert (s.f0 < MALE_F0_HZ) == (s.sex == "M"), s
        # Own group, or that of a training voice of the same language and sex (maybe the same person).
        if s.group != s.name:
            other = by_name[s.group]
            assert other.split == "train" and other.sex == s.sex and _speaker_language(other) == s.voice
    assert not any(s.engine == "derived" and s.voice.startswith("tuxpaint") for s in speakers)
    # The KTuberling selection is checked against the voices that existed before it.
    assert training_voice_languages() == training_voice_languages(
        [s for s in speakers if s.engine != "tuxpaint"])


@pytest.mark.skipif(not (TUXPAINT_ROOT / "animals").exists(), reason="tuxpaint-stamps-default not installed")
def test_the_table_is_the_selection_on_a_sample_of_the_installed_package():
    found = tuxpaint_clips()
    measured = measure_tuxpaint(sample=40)
    # Speech of the whole set, estimated from the sample (its minimum is far from every set's size).
    estimated = {language: [(s * len(found[language]) / len(clips), f) for s, f in clips]
                 for language, clips in measured.items()}
    voices, excluded = select_tuxpaint_voices(estimated, heldout_voices())
    want = {language: (sex, f0) for _, language, sex, _, f0, _, _, _ in _TUXPAINT}
    assert {v: s for v, s, _, _ in voices} == {language: sex for language, (sex, _) in want.items()}
    for language, _, f0, _ in voices:
        assert abs(12 * np.log2(f0 / want[language][1])) < 1  # the sample's median F0 within a semitone
    assert {language for language, _ in excluded} == {"fr", "lt", "nl", "ml", "pt_BR"}
    for speaker in SPEAKERS:
        if speaker.engine == "tuxpaint":  # every clip of the language (none is empty)
            assert speaker_clips(speaker) == found[speaker.voice]
