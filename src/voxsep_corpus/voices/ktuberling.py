"""KTuberling voices (``ktuberling-data``): the spoken item names, one KDE volunteer per language
folder (Catalan: two voices, told apart by the sound theme); training only, pool-only."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from voxsep_corpus.voices.clips import measure_clip, voiced_f0s
from voxsep_corpus.voices.common import MALE_F0_HZ, Speaker, VoiceSource, _semitones, audible_clips

KTUBERLING_ROOT = Path("/usr/share/ktuberling/sounds")
KTUBERLING_MIN_SECONDS = 20.0  # a KTuberling voice needs at least this much speech (trimmed)


# KTuberling (``ktuberling-data``): the game says the name of each item, recorded by KDE
# volunteers, one folder per language (sounds/<lang>/), mapped to items by
# sounds/<lang>.soundtheme (<sound name="..." file="<lang>/<file>.ogg"/>). The entries
# fall into sound-theme parts (ktuberling_part): the potato-guy words, the playgrounds
# (pizzeria_, moon_, egypt_, xmas_, tv_, butterflies_, robot_workshop_) and the Tux words
# (hyphenated names); Tux's speech-bubble exclamations (laughs, snoring, "huh") are not
# words and are never used. Which folders are voices follows select_ktuberling_voices on
# measure_ktuberling's numbers (median_f0 and seconds after remove_rumble + trim_silence
# at -30 dB, 8 kHz); the table below is its result (tests check it on the installed
# package). All are training voices, pool-only (see Speaker.pool_only), no derived copies.
# (name, voice, sex, F0 Hz, seconds of speech, note)
_KTUBERLING = [
    ("ktuberling_de", "de", "M", 140, 49, "German"),
    ("ktuberling_el", "el", "M", 153, 59, "Greek; parts 148-167 Hz: sex less certain (like klettres_he)"),
    ("ktuberling_gl", "gl", "F", 276, 59, "Galician"),
    ("ktuberling_sl", "sl", "M", 157, 51, "Slovenian; parts 144-170 Hz: sex less certain"),
    ("ktuberling_wa", "wa", "M", 131, 52, "Walloon"),
    ("ktuberling_ca", "ca:butterflies+egypt+moon+potato+robot_workshop+tv+xmas", "F", 242, 86,
     "Catalan, the female voice (all but the Tux and pizzeria words; parts 221-267 Hz, possibly more "
     "than one session or reader)"),
    ("ktuberling_ca_m", "ca:pizzeria+tux", "M", 143, 34, "Catalan, the male voice (the Tux and pizzeria words)"),
]
_KTUBERLING_EXCLUDED = [
    ("en, fr, lt, nds, nl, ru, uk", "languages of held-out (valid/test) voices: the same volunteers may have "
     "recorded both"),
    ("da", "several voices (the Tux and Christmas words: one or two women, 242-276 Hz; the rest: a man, "
     "~130 Hz, who may be the speaker of klettres_da, a training voice of the same language and sex)"),
    ("es, fi, ga, it, pt, ro, sv, sr, sr@ijekavian, sr@ijekavianlatin, sr@latin",
     "13-15 words each, 8-14 s of speech"),
    ("ca exclamations (and every folder's)", "Tux's speech-bubble sounds (laughs, snoring, 'huh'): not words"),
    ("id, nn", "no sound files in the package"),
]


# Names of Tux's speech-bubble sounds (laughing, snoring, "huh", "wow"...): not words.
_KTUBERLING_EXCLAMATIONS = frozenset(f"tux-{word}" for word in (
    "angry", "huh", "idea", "laugh", "love", "sick", "stare", "what", "wow", "zzz"))
_KTUBERLING_THEMES = ("pizzeria", "moon", "egypt", "xmas", "tv", "butterflies", "robot_workshop")
_SOUND_ENTRY = re.compile(r'<sound\s+name="([^"]*)"\s+file="([^"]*)"')


def ktuberling_part(name: str) -> str:
    """The sound-theme part of a KTuberling sound name (or, for an unlisted file, its stem).

    ``"pizzeria_olive"`` -> ``"pizzeria"`` (a playground), ``"tux-apple"`` or
    ``"Frier-Tux"`` -> ``"tux"``, ``"tux-laugh"`` -> ``"exclamation"`` (not a word),
    ``"hat"`` -> ``"potato"`` (the potato guy).
    """
    name = name.lower()
    if name in _KTUBERLING_EXCLAMATIONS or name.startswith("say-"):
        return "exclamation"
    if "-" in name:
        return "tux"
    for theme in _KTUBERLING_THEMES:
        if name.startswith(theme + "_"):
            return theme
    return "potato"


def ktuberling_clip_parts(folder: Path, theme_text: str) -> list[tuple[Path, str]]:
    """``(clip, part)`` for every sound file (Ogg or wav) of a KTuberling language folder, sorted.

    The part comes from the clip's name in the sound theme (``theme_text``); a file the
    theme does not list (a few folders hold spare recordings) is classed by its stem.
    """
    names = {Path(file).name: name for name, file in _SOUND_ENTRY.findall(theme_text)}
    clips = [path for path in sorted(Path(folder).glob("*.*")) if path.suffix in (".ogg", ".wav")]
    return [(path, ktuberling_part(names.get(path.name, path.stem))) for path in clips]


def _ktuberling_clips(voice: str) -> list[Path]:
    """The clips of ``<language>[:<part>+...]`` (every part but exclamations when none given)."""
    language, _, parts = voice.partition(":")
    wanted = set(parts.split("+")) if parts else None
    theme = KTUBERLING_ROOT / f"{language}.soundtheme"
    text = theme.read_text(encoding="utf-8", errors="replace") if theme.exists() else ""
    return [path for path, part in ktuberling_clip_parts(KTUBERLING_ROOT / language, text)
            if part != "exclamation" and (wanted is None or part in wanted)]


def select_ktuberling_voices(measured: dict[str, dict[str, list[tuple[float, float]]]],
                             heldout_languages: set[str], taken: set[tuple[str, str]] = frozenset(),
                             min_seconds: float = KTUBERLING_MIN_SECONDS
                             ) -> tuple[list[tuple[str, str, float, float]], list[tuple[str, str]]]:
    """Which KTuberling folders (or parts of one) are training voices.

    Args:
        measured: language folder -> sound-theme part -> ``[(seconds, median F0), ...]``
            per clip (F0 ``nan`` when unvoiced); exclamations left out.
        heldout_languages: languages of the valid/test human voices: left out (the same
            volunteer may have recorded both).
        taken: ``(language, sex)`` of the real training voices already in the corpus: a
            folder whose voice of that sex would be one of them is left out.
        min_seconds: the least speech a voice needs.

    Rules: a folder whose parts' median F0s are all within 4 semitones of the folder's
    median F0 is one voice (its sex: that median < :data:`MALE_F0_HZ`: male). Otherwise
    each part gets the sex of its own median F0; a folder with parts of both sexes holds
    several voices:
    it is split by part when the two sets are *cleanly separable* (their median F0s at
    least 5 semitones apart and, in each set, at least 80 % of the voiced clips on its
    side of the threshold); the set with more speech is the folder's main voice, the
    other is kept if it has ``min_seconds`` too. Otherwise the folder is left out. A folder
    whose main voice has the language and sex of a real training voice (``taken``) is left
    out whole (it may be that person).

    Returns:
        ``([(voice, sex, median F0, seconds), ...], [(language, reason), ...])`` where
        ``voice`` is ``<language>`` (all parts) or ``<language>:<part>+<part>...``.
    """
    voices: list[tuple[str, str, float, float]] = []
    excluded: list[tuple[str, str]] = []
    for language in sorted(measured):
        parts = {p: clips for p, clips in measured[language].items() if clips and p != "exclamation"}
        base = language.split("@")[0].split("_")[0].lower()
        seconds = sum(s for clips in parts.values() for s, _ in clips)
        if base in heldout_languages:
            excluded.append((language, "language of a held-out voice"))
            continue
        if not parts:
            excluded.append((language, "no sound files"))
            continue
        if seconds < min_seconds:
            excluded.append((language, f"{seconds:.0f} s of speech"))
            continue

        def f0s(names: Sequence[str]) -> np.ndarray:
            return voiced_f0s([clip for p in names for clip in parts[p]])

        voiced = sorted(p for p in parts if f0s([p]).size)
        folder_f0 = float(np.median(f0s(voiced))) if voiced else float("nan")
        if voiced and all(_semitones(float(np.median(f0s([p]))), folder_f0) <= 4 for p in voiced):
            sex_of = {p: "M" if folder_f0 < MALE_F0_HZ else "F" for p in voiced}
        else:
            sex_of = {p: "M" if np.median(f0s([p])) < MALE_F0_HZ else "F" for p in voiced}
        sets = {sex: sorted(p for p in sex_of if sex_of[p] == sex) for sex in ("F", "M")}
        sets = {sex: names for sex, names in sets.items() if names}
        if not sets:
            excluded.append((language, "no voiced clip"))
            continue
        if len(sets) == 1:
            (sex, names), = sets.items()
            candidates = [(language, sex, names)]
        else:
            medians = {sex: float(np.median(f0s(names))) for sex, names in sets.items()}
            on_side = {sex: float(np.mean((f0s(names) < MALE_F0_HZ) == (sex == "M"))) for sex, names in sets.items()}
            if _semitones(medians["F"], medians["M"]) < 5 or min(on_side.values()) < 0.8:
                excluded.append((language, "several voices that the sound-theme parts do not separate"))
                continue
            ranked = sorted(sets, key=lambda sex: -sum(s for p in sets[sex] for s, _ in parts[p]))
            candidates = [(f"{language}:{'+'.join(sets[sex])}", sex, sets[sex]) for sex in ranked]
        for voice, sex, names in candidates:
            if (base, sex) in taken:
                # The main voice may be a training voice's speaker: the folder is left
                # out (a second voice is only trusted as "the other one" of a kept main voice).
                excluded.append((language, f"its main voice ({sex}) may be the speaker of the {base} training "
                                           f"voice of that sex"))
                break
            speech = sum(s for p in names for s, _ in parts[p])
            if speech < min_seconds:
                excluded.append((voice, f"{speech:.0f} s of speech"))
                continue
            voices.append((voice, sex, float(np.median(f0s(names))), speech))
    return voices, excluded


def measure_ktuberling(root: Path | None = None, languages: Sequence[str] | None = None
                       ) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """``language -> part -> [(seconds, median F0)]`` per clip of an installed ``ktuberling-data``
    (8 kHz, ``remove_rumble`` + ``trim_silence`` at -30 dB, as the utterances are made)."""
    root = KTUBERLING_ROOT if root is None else Path(root)
    found = sorted({p.stem for p in root.glob("*.soundtheme")} | {p.name for p in root.iterdir() if p.is_dir()})
    measured: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for language in languages or found:
        theme = root / f"{language}.soundtheme"
        text = theme.read_text(encoding="utf-8", errors="replace") if theme.exists() else ""
        parts: dict[str, list[tuple[float, float]]] = {}
        for path, part in ktuberling_clip_parts(root / language, text):
            parts.setdefault(part, []).append(measure_clip(path))
        measured[language] = parts
    return measured


def speakers() -> list[Speaker]:
    """The KTuberling voices (``_KTUBERLING``): training, pool-only, no derived copies."""
    return [Speaker(name, sex, "real", "train", name, "ktuberling", voice,
                    f"KTuberling spoken words, {note} ({seconds} s of speech)",
                    package="ktuberling-data", f0=f0, pool_only=True)
            for name, voice, sex, f0, seconds, note in _KTUBERLING]


def voice_clips(voice: str) -> list[Path]:
    """The clips of a voice (its folder, or those sound-theme parts) that hold audio."""
    return audible_clips(_ktuberling_clips(voice))


SOURCE = VoiceSource(
    "ktuberling", speakers,
    packages=lambda sample_rate: {"ktuberling-data": KTUBERLING_ROOT / "gl.soundtheme"},
    clips=voice_clips,
    short_clips=True,
    readme_contents=(
        "  * KTuberling spoken words (item names), one KDE volunteer per language folder",
        "    (Catalan: a female and a male voice, told apart by the game's sound theme), made",
        "    like the KLettres utterances; training only and *pool-only*: listed in",
        "    `utterances_train.csv` (dynamic mixing) but in no precomputed mixture set, so the",
        "    mixture sets are those of a build made before these voices;",
    ),
    readme_decisions=(
        "* KTuberling folders: a folder is one voice when the median F0s of its sound-theme",
        "  parts (potato words, playgrounds, Tux words) agree within 4 semitones; a folder",
        "  with parts of both sexes is split by part when the two sets separate cleanly;",
        "  folders of a held-out voice's language, and voices under "
        f"{KTUBERLING_MIN_SECONDS:.0f} s, are left out. Not used:",
        *[f"  * {folder}: {reason}" for folder, reason in _KTUBERLING_EXCLUDED],
        "* carlo is labelled male from its folder name although its median F0 (~190 Hz) is",
        "  above the threshold; klettres_he (150-170 Hz) is uncertain and kept out of test,",
        "  as are ktuberling_el and ktuberling_sl (all KTuberling voices are training voices).",
    ),
    licences=(
        ("ktuberling-data", "KTuberling sounds (ktuberling_* voices): GNU GPL version 2 or later, (c) 1999-2017 "
         "Eric Bischoff, Albert Astals Cid and the KDE contributors and translators "
         "(/usr/share/doc/ktuberling-data/copyright)."),
    ),
)
