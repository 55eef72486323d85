"""Kajongg voices (``kajongg``): the tile names and calls of the game, English and German
folders of four voices each, a folder of each language that may be one person joined into
one voice; training only, pool-only."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from voxsep_corpus.voices.clips import _measure_sample, voiced_f0s
from voxsep_corpus.voices.common import Speaker, VoiceSource, _semitones, audible_clips

KAJONGG_ROOT = Path("/usr/share/kajongg/voices")
KAJONGG_SAME_PERSON_SEMITONES = 1.5  # Kajongg folders of two languages this close in median F0: one person


# Kajongg (``kajongg``, GPL-2+): tile names and claims called out by the game's voices,
# four per language (folders male1, male2, female1, female2), English and German, every
# clip (c) Wolfgang Rohdewald (the author; the speakers are not named). Measured with
# measure_kajongg (measure_clip of every clip: 8 kHz, remove_rumble + trim_silence at -30 dB;
# median F0 of the clips' median F0s, in brackets the clips' interquartile range), per folder:
#   en/male1 168 Hz (160-182), 31 s    de/male1 155 Hz (139-163), 29 s
#   en/male2  98 Hz (89-108),  27 s    de/male2 148 Hz (127-157), 38 s
#   en/female1 170 Hz (167-182), 34 s  de/female1 163 Hz (154-186), 31 s
#   en/female2 222 Hz (211-235), 41 s  de/female2 232 Hz (206-265), 38 s
# Same person (select_kajongg_voices): folders of one language are taken as different people;
# an English and a German folder of one sex whose medians are within 1.5 semitones may be one
# person (the author may have recorded both languages) and are one voice, one speaker name,
# so that the dynamic mixer never mixes a person with himself: female1 (en-de 0.7 semitones),
# female2 (0.7) and male1 (1.49, at the limit) are merged; male2 is not (en 98 Hz, de 148 Hz:
# 7.1 semitones, two men). No other pair of one sex is within 1.5 semitones (closest:
# en/male1 and de/male2, 2.2). Sex: the folder name's. F0 backs it for male2 (both)
# and female2 (both); the male1 and female1 folders all sit at 155-170 Hz, around the
# MALE_F0_HZ threshold (a man calling out loud, a woman with a low voice: pitch alone cannot
# tell), so the folder names are kept for them (like carlo's). Pitch statistics are all that
# was compared (nobody listened); the clip lengths differ between folders, so no folder is a
# pitch-shifted copy of another. Held-out rule (as Tux Paint): a voice with a language and
# the sex of a held-out voice is left out whole: the English men (klettres_en, an English man
# recorded for KLettres, another KDE program, is a test voice), hence also de/male1, merged with en/male1.
# de/male2 is German, not Low German (klettres_nds, valid, M, 104 Hz measured the same way,
# 6 semitones below it). A kept voice shares the group of a KDE volunteer's training voice
# of its language and sex within 1.5 semitones (may be that person): de/male2 (148 Hz) and
# ktuberling_de (140 Hz, 1.0 semitone); klettres_en_gb (258 Hz measured the same way) is
# 7 and 2.6 semitones from the female voices. (Groups only act in the precomputed mixture
# sets, which pool-only voices are not in.) The clips are short words, reused like KLettres
# clips (KLETTRES_PASSES), so a voice makes only ~20-50 utterances. Training, pool-only, no
# derived copies.
# (name, folders, sex, group, F0 Hz, seconds of speech, clips, note)
_KAJONGG = [
    ("kajongg_en_de_female1", "en/female1+de/female1", "F", "kajongg_en_de_female1", 170, 65, 84,
     "female1, English and German folders (one person: medians 170 and 163 Hz); F0 at the sex threshold, "
     "sex from the folder name"),
    ("kajongg_en_de_female2", "en/female2+de/female2", "F", "kajongg_en_de_female2", 222, 79, 84,
     "female2, English and German folders (one person: medians 222 and 232 Hz)"),
    ("kajongg_de_male2", "de/male2", "M", "ktuberling_de", 148, 38, 41,
     "male2, German folder (not the English male2, 98 Hz); grouped with ktuberling_de, which may be the same "
     "person"),
]
_KAJONGG_EXCLUDED = [
    ("en/male1+de/male1", "English male (one person in both folders: medians 168 and 155 Hz, 1.49 semitones): "
     "the language and sex of the held-out klettres_en (test)"),
    ("en/male2", "English male (98 Hz): the language and sex of the held-out klettres_en (test)"),
]


# Kajongg (``kajongg``): the game calls out tiles and claims ("pung", "kong", "mahjongg")
# in four voices per language, English <root>/<folder> and German <root>/de/<folder>,
# folders male1, male2, female1, female2 (41-42 clips of ~0.5-1.5 s each); see _KAJONGG.
_KAJONGG_LANGUAGES = {"en": "", "de": "de"}  # language -> sub-folder of KAJONGG_ROOT


def kajongg_clips(root: Path | None = None) -> dict[str, list[Path]]:
    """``"<language>/<folder>" -> [clip, ...]`` (sorted Ogg files) of an installed ``kajongg``,
    e.g. ``"en/male1"`` (``voices/male1``) and ``"de/male1"`` (``voices/de/male1``)."""
    root = KAJONGG_ROOT if root is None else Path(root)
    clips = {}
    for language, sub in _KAJONGG_LANGUAGES.items():
        for folder in sorted(p for p in (root / sub).glob("*male*") if p.is_dir()):
            clips[f"{language}/{folder.name}"] = sorted(folder.glob("*.ogg"))
    return clips


def _kajongg_clips(voice: str) -> list[Path]:
    """The clips of ``<language>/<folder>[+<language>/<folder>...]`` (one person), in that order."""
    found = kajongg_clips()
    return [clip for folder in voice.split("+") for clip in found.get(folder, [])]


def measure_kajongg(root: Path | None = None) -> dict[str, list[tuple[float, float]]]:
    """``"<language>/<folder>" -> [(seconds, median F0)]`` per clip of an installed ``kajongg``
    (:func:`measure_clip`: 8 kHz, ``remove_rumble`` + ``trim_silence`` at -30 dB)."""
    return {folder: _measure_sample(clips, None) for folder, clips in kajongg_clips(root).items()}


def _voiced_median(clips: Sequence[tuple[float, float]]) -> float:
    """Median of the clips' median F0s (unvoiced clips, ``nan``, left out)."""
    f0s = voiced_f0s(clips)
    return float(np.median(f0s)) if f0s.size else float("nan")


def select_kajongg_voices(measured: dict[str, list[tuple[float, float]]], heldout: set[tuple[str, str]],
                          semitones: float = KAJONGG_SAME_PERSON_SEMITONES
                          ) -> tuple[list[tuple[str, str, float, float]], list[tuple[str, str]]]:
    """Which Kajongg folders are training voices, and which folders are one person.

    Args:
        measured: ``"<language>/<folder>"`` -> ``[(seconds, median F0), ...]`` per clip.
        heldout: ``(language, sex)`` of the valid/test human voices (:func:`heldout_voices`).
        semitones: folders of different languages and one sex whose median F0s are at most
            this far apart may be one person (the author may have recorded both languages).

    Rules: the sex is the folder name's (``male*``/``female*``, the author's label). Folders
    of one language are different people; folders of different languages and the same sex
    within ``semitones`` are one voice (joined transitively). A voice with a language and the
    sex of a held-out voice is left out whole (Tux Paint rule: the volunteer may be that person).

    Returns:
        ``([(folders, sex, median F0, seconds), ...], [(folders, reason), ...])``; ``folders``
        is ``<language>/<folder>[+...]`` in language order (English first).
    """
    order = list(_KAJONGG_LANGUAGES)
    folders = sorted((f for f in measured if measured[f]), key=lambda f: (order.index(f.split("/")[0]), f))
    sex = {f: "F" if f.split("/")[1].startswith("female") else "M" for f in folders}
    f0 = {f: _voiced_median(measured[f]) for f in folders}
    people: list[list[str]] = []
    for folder in folders:
        same = [p for p in people if any(sex[o] == sex[folder] and o.split("/")[0] != folder.split("/")[0]
                                         and _semitones(f0[o], f0[folder]) <= semitones for o in p)]
        people = [p for p in people if p not in same] + [[o for p in same for o in p] + [folder]]
    voices, excluded = [], []
    for person in sorted((sorted(p, key=folders.index) for p in people), key=lambda p: folders.index(p[0])):
        name, clips = "+".join(person), [c for f in person for c in measured[f]]
        languages = sorted({f.split("/")[0] for f in person if (f.split("/")[0], sex[person[0]]) in heldout})
        if languages:
            excluded.append((name, f"the language and sex ({', '.join(languages)}, {sex[person[0]]}) of a held-out "
                                   f"voice"))
            continue
        voices.append((name, sex[person[0]], _voiced_median(clips), sum(s for s, _ in clips)))
    return voices, excluded


def speakers() -> list[Speaker]:
    """The Kajongg voices (``_KAJONGG``): training, pool-only, no derived copies."""
    return [Speaker(name, sex, "real", "train", group, "kajongg", folders,
                    f"Kajongg tile names and calls, {note} ({seconds} s of speech, {clips} clips)",
                    package="kajongg", f0=f0, pool_only=True)
            for name, folders, sex, group, f0, seconds, clips, note in _KAJONGG]


def voice_clips(voice: str) -> list[Path]:
    """The clips of a voice's folders that hold audio."""
    return audible_clips(_kajongg_clips(voice))


SOURCE = VoiceSource(
    "kajongg", speakers,
    packages=lambda sample_rate: {"kajongg": KAJONGG_ROOT / "de"},
    clips=voice_clips,
    short_clips=True,
    readme_contents=(
        "  * the tile names and calls of the game Kajongg (English and German, a few words",
        "    each), one voice per person (an English and a German folder of one sex whose",
        "    median F0s agree are one voice), made like the KLettres utterances; training",
        "    only and pool-only;",
    ),
    readme_decisions=(
        "* Kajongg voices: sex from the folder name (male*/female*); an English and a German",
        f"  folder of one sex within {KAJONGG_SAME_PERSON_SEMITONES:g} semitones of median F0 are one voice",
        "  (one person);",
        "  a voice with a language and the sex of a held-out voice is left out (Tux Paint rule).",
        "  Not used:",
        *[f"  * {what}: {reason}" for what, reason in _KAJONGG_EXCLUDED],
    ),
    licences=(
        ("kajongg", "Kajongg voices (kajongg_* voices): GNU GPL version 2 or later, (c) Wolfgang Rohdewald "
         "(/usr/share/kajongg/voices/*/COPYRIGHT, /usr/share/doc/kajongg/copyright)."),
    ),
)
