"""Tux Paint voices (``tuxpaint-stamps-default``): the spoken stamp descriptions, one adult
volunteer per language; training only, pool-only."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from voxsep_corpus.voices.clips import _measure_sample, voiced_f0s
from voxsep_corpus.voices.common import MALE_F0_HZ, Speaker, VoiceSource, audible_clips

TUXPAINT_ROOT = Path("/usr/share/tuxpaint/stamps")
TUXPAINT_MIN_SECONDS = 120.0  # a Tux Paint voice needs at least this much speech (trimmed)


# Tux Paint (``tuxpaint-stamps-default``): every stamp may have a spoken description,
# <stamp>_desc_<language>.ogg, a word or short phrase (~0.5-2 s trimmed) read by one
# volunteer per language (credited in the package's changelog.gz: ro Tabbytha, es
# Estefanía Ortiz, ru Edwin Veber, bg Krasimir Petkov, el Kiriaki Serafeim, be Kseniya
# Buraya, ca most likely Pere Pujal (the Catalan translator), da Joe Dalton; fr Jacques
# Chion and PaulK). Which languages are voices follows select_tuxpaint_voices on
# measure_tuxpaint's numbers (median_f0 of every clip, seconds after remove_rumble +
# trim_silence at -30 dB, 8 kHz); the table below is its result (tests check it on a
# sample of the installed package). All are training voices, pool-only, no derived
# copies. A voice with the language and sex of a training voice that may be the same
# person shares that voice's group: es (klettres_es, uncredited; july is July Jiménez,
# another person), ca M (ktuberling_ca_m, same median F0), da M (klettres_da, same median
# F0; neither KDE voice is credited). Groups only keep voices
# apart in the precomputed mixture sets, which pool-only voices are not in. Voices with
# at least 15 min of speech get twice the utterances (scale 2), so that most clips are used.
# (name, language, sex, group, F0 Hz, seconds of speech, scale, note)
_TUXPAINT = [
    ("tuxpaint_ro", "ro", "F", "tuxpaint_ro", 242, 1673, 2, "Romanian (Tabbytha)"),
    ("tuxpaint_es", "es", "F", "klettres_es", 258, 1469, 2,
     "Spanish (Estefania Ortiz); grouped with klettres_es, which may be the same person"),
    ("tuxpaint_ru", "ru", "M", "tuxpaint_ru", 128, 1366, 2,
     "Russian (Edwin Veber); a man: the held-out Russian voices are women"),
    ("tuxpaint_bg", "bg", "M", "tuxpaint_bg", 116, 1216, 2, "Bulgarian (Krasimir Petkov)"),
    ("tuxpaint_el", "el", "F", "tuxpaint_el", 205, 1005, 2,
     "Greek (Kiriaki Serafeim); a woman, not the ktuberling_el man"),
    ("tuxpaint_be", "be", "F", "tuxpaint_be", 239, 816, 1, "Belarusian (Kseniya Buraya)"),
    ("tuxpaint_ca", "ca", "M", "ktuberling_ca_m", 143, 804, 1,
     "Catalan, a man (probably Pere Pujal); grouped with ktuberling_ca_m, which may be the same person"),
    ("tuxpaint_da", "da", "M", "klettres_da", 119, 282, 1,
     "Danish (Joe Dalton); grouped with klettres_da, which may be the same person"),
]
_TUXPAINT_EXCLUDED = [
    ("fr", "a man (median F0 131 Hz; Jacques Chion's and PaulK's recordings, and ~7 % of the clips above "
     "200 Hz, possibly a woman): the language and sex of the held-out klettres_fr (and, for a woman, of june "
     "and armelle)"),
    ("lt, nl, ml, pt_BR", "under 1 min of speech each (lt 48 s, nl 35 s, ml 9 s, pt_BR 10 s: Brazilian "
     "school children, wav)"),
    ("<stamp>_desc.ogg (no language)", "English descriptions from mixed sources, no language suffix"),
]


_TUXPAINT_DESC = re.compile(r"_desc_([A-Za-z]{2,3}(?:_[A-Z]{2})?)\.(?:ogg|wav)(?:\.ogg)?$")


def tuxpaint_clips(root: Path | None = None) -> dict[str, list[Path]]:
    """``language -> [clip, ...]`` (sorted) of the spoken stamp descriptions
    ``<stamp>_desc_<language>.ogg`` (also ``.wav``, and the one ``..._desc_da.ogg.ogg``)
    under an installed ``tuxpaint-stamps-default``. The plain ``<stamp>_desc.ogg`` files
    (English, from mixed sources) have no language suffix and are not listed."""
    root = TUXPAINT_ROOT if root is None else Path(root)
    clips: dict[str, list[Path]] = {}
    for path in sorted(root.rglob("*_desc_*")):
        match = _TUXPAINT_DESC.search(path.name)
        if match and path.is_file():
            clips.setdefault(match.group(1), []).append(path)
    return clips


def _tuxpaint_clips(language: str) -> list[Path]:
    return tuxpaint_clips().get(language, [])


def measure_tuxpaint(root: Path | None = None, languages: Sequence[str] | None = None, sample: int | None = None
                     ) -> dict[str, list[tuple[float, float]]]:
    """``language -> [(seconds, median F0)]`` per clip of an installed ``tuxpaint-stamps-default``
    (8 kHz, ``remove_rumble`` + ``trim_silence`` at -30 dB, as the utterances are made).
    ``sample``: measure only that many clips per language, evenly spread (a quick check)."""
    found = tuxpaint_clips(root)
    measured: dict[str, list[tuple[float, float]]] = {}
    for language in languages or sorted(found):
        measured[language] = _measure_sample(found.get(language, []), sample)
    return measured


def select_tuxpaint_voices(measured: dict[str, list[tuple[float, float]]], heldout: set[tuple[str, str]],
                           min_seconds: float = TUXPAINT_MIN_SECONDS
                           ) -> tuple[list[tuple[str, str, float, float]], list[tuple[str, str]]]:
    """Which Tux Paint languages are training voices.

    Args:
        measured: language -> ``[(seconds, median F0), ...]`` per clip (F0 ``nan`` when unvoiced).
        heldout: ``(language, sex)`` of the valid/test human voices (:func:`heldout_voices`):
            a voice of the same language and sex is left out (the volunteer may be that
            person); one of the other sex is a different person and stays.
        min_seconds: the least speech a voice needs.

    Rules: a language is one voice when at least 85 % of its voiced clips have a median F0
    within 5 semitones of the language's median F0 (an expressive reader, or octave errors
    on creaky clips, stay within that; a man and a woman in similar shares do not); its
    sex: that median < :data:`MALE_F0_HZ`: male. Otherwise it is left out.

    Returns:
        ``([(language, sex, median F0, seconds), ...], [(language, reason), ...])``.
    """
    voices: list[tuple[str, str, float, float]] = []
    excluded: list[tuple[str, str]] = []
    for language in sorted(measured):
        clips = measured[language]
        seconds = sum(s for s, _ in clips)
        f0s = voiced_f0s(clips)
        if not clips:
            excluded.append((language, "no sound files"))
            continue
        if seconds < min_seconds:
            excluded.append((language, f"{seconds:.0f} s of speech"))
            continue
        if not f0s.size:
            excluded.append((language, "no voiced clip"))
            continue
        f0 = float(np.median(f0s))
        sex = "M" if f0 < MALE_F0_HZ else "F"
        near = float(np.mean(np.abs(12 * np.log2(f0s / f0)) <= 5))
        if near < 0.85:
            excluded.append((language, f"several voices ({near:.0%} of the clips within 5 semitones of the median F0)"))
            continue
        if (language.split("_")[0].lower(), sex) in heldout:
            excluded.append((language, f"same language and sex ({sex}) as a held-out voice"))
            continue
        voices.append((language, sex, f0, seconds))
    return voices, excluded


def speakers() -> list[Speaker]:
    """The Tux Paint voices (``_TUXPAINT``): training, pool-only, no derived copies."""
    return [Speaker(name, sex, "real", "train", group, "tuxpaint", language,
                    f"Tux Paint spoken stamp descriptions ({seconds / 60:.1f} min of speech), {note}",
                    package="tuxpaint-stamps-default", scale=scale, f0=f0, pool_only=True)
            for name, language, sex, group, f0, seconds, scale, note in _TUXPAINT]


def voice_clips(voice: str) -> list[Path]:
    """The description clips of a voice's language that hold audio."""
    return audible_clips(_tuxpaint_clips(voice))


SOURCE = VoiceSource(
    "tuxpaint", speakers,
    packages=lambda sample_rate: {"tuxpaint-stamps-default": TUXPAINT_ROOT / "animals"},
    clips=voice_clips,
    short_clips=True,
    readme_contents=(
        "  * Tux Paint spoken stamp descriptions (a word or short phrase per clip), one adult",
        "    volunteer per language, made like the KLettres utterances; training only and",
        "    pool-only like the KTuberling voices;",
    ),
    readme_decisions=(
        "* Tux Paint languages (`<stamp>_desc_<language>.ogg`): one voice each when at least",
        "  85 % of the voiced clips are within 5 semitones of its median F0; a voice with the",
        "  language and sex of a held-out (valid/test) voice is left out (the volunteer may be",
        "  that person; the other sex is a different person and stays), as are languages with",
        f"  under {TUXPAINT_MIN_SECONDS:.0f} s of speech. Where a training voice of the same language and",
        "  sex may be the same person, the Tux Paint voice shares its group (tuxpaint_es,",
        "  tuxpaint_ca, tuxpaint_da). Voices with 15 min of speech or more get twice the",
        "  utterances. Not used:",
        *[f"  * {language}: {reason}" for language, reason in _TUXPAINT_EXCLUDED],
    ),
    licences=(
        ("tuxpaint-stamps-default", "Tux Paint stamp sounds (tuxpaint_* voices): GNU GPL version 2 or later, "
         "(c) 2002-2022 Bill Kendrick and the Tux Paint contributors; descriptive sounds recorded by the volunteers "
         "credited in /usr/share/doc/tuxpaint-stamps-default/changelog.gz "
         "(/usr/share/doc/tuxpaint-stamps-default/copyright)."),
    ),
)
