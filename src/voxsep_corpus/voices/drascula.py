"""Drascula voices (``drascula``, ``drascula-spanish``): one per character and dub, from the
file-name prefix of the game's raw 8-bit lines; training only, pool-only."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from voxsep_corpus.voices.common import Speaker, VoiceSource

DRASCULA_ROOT = Path("/usr/share/scummvm/drascula")


# Drascula (``drascula`` English dub, ``drascula-spanish`` Spanish dub; other dubs reuse
# the English audio): every spoken line is a raw unsigned 8-bit mono PCM file at 11025 Hz,
# ``<dub>/<prefix><line>.ALS``, whose prefix names the character that says it (ScummVM's
# engines/drascula/talk.cpp builds the names: ``%i.als`` John Hacker, the player,
# ``I`` Igor, ``VB`` Von Braun, ``BJ`` B.J., ``T`` the bartender, ``B`` the drunk, ``L``
# the wolf). The cast is not credited; one actor may voice several characters of a dub,
# so two Drascula voices in one mixture may be one person. The two dubs are different
# casts. Sex is the character's (median F0 of acted voices runs high: John Hacker
# ~190-205 Hz in English). Seconds and F0 measured like the Tux Paint voices (8 kHz,
# remove_rumble + trim_silence at -30 dB, median_f0 of every line).
# (name, dub, prefix, sex, F0 Hz, seconds of speech, lines, scale, character)
_DRASCULA = [
    ("drascula_en_hacker", "en", "", "M", 205, 1218, 463, 2, "John Hacker (the player)"),
    ("drascula_en_vonbraun", "en", "VB", "M", 186, 282, 62, 1, "Von Braun"),
    ("drascula_en_bj", "en", "BJ", "F", 232, 186, 28, 1, "B.J."),
    ("drascula_en_wolf", "en", "L", "M", 80, 138, 30, 1, "the wolf"),
    ("drascula_en_igor", "en", "I", "M", 167, 108, 32, 1, "Igor"),
    ("drascula_en_bartender", "en", "T", "M", 108, 90, 24, 1, "the bartender"),
    ("drascula_en_drunk", "en", "B", "M", 155, 84, 16, 1, "the drunk"),
    ("drascula_es_hacker", "es", "", "M", 155, 1002, 463, 2, "John Hacker (the player)"),
    ("drascula_es_vonbraun", "es", "VB", "M", 193, 348, 62, 1, "Von Braun"),
    ("drascula_es_bj", "es", "BJ", "F", 239, 120, 28, 1, "B.J."),
    ("drascula_es_wolf", "es", "L", "M", 131, 102, 30, 1, "the wolf"),
    ("drascula_es_igor", "es", "I", "M", 242, 144, 32, 1, "Igor"),
    ("drascula_es_bartender", "es", "T", "M", 128, 96, 24, 1, "the bartender"),
    ("drascula_es_drunk", "es", "B", "M", 167, 78, 16, 1, "the drunk"),
]
_DRASCULA_EXCLUDED = [
    ("D", "several characters: Drascula, the blind man (talk_blind reads d<58+>) and one bartender line "
     "(d82); the median F0 jumps between index ranges"),
    ("E", "a minor character (talk_mus) of uncertain sex, 1.2-1.4 min"),
    ("P, F", "under 1 min of speech (the pianist 0.5-0.7 min, F 3 lines)"),
    ("S", "sound effects"),
]


_DRASCULA_LINE = re.compile(r"^([A-Z]*)(\d+)\.ALS$")
DRASCULA_RATE = 11025


def drascula_clips(dub: str, root: Path | None = None) -> dict[str, list[Path]]:
    """``prefix -> [line, ...]`` (sorted by line number) of one Drascula dub (``"en"``, ``"es"``).

    The prefix is the upper-case file-name part before the line number (``""`` for the
    player's lines); see ``_DRASCULA``.
    """
    root = DRASCULA_ROOT if root is None else Path(root)
    clips: dict[str, list[tuple[int, Path]]] = {}
    for path in (root / dub).glob("*.ALS"):
        match = _DRASCULA_LINE.match(path.name)
        if match:
            clips.setdefault(match.group(1), []).append((int(match.group(2)), path))
    return {prefix: [path for _, path in sorted(lines)] for prefix, lines in clips.items()}


def _drascula_clips(voice: str) -> list[Path]:
    dub, prefix = voice.split(":")
    return drascula_clips(dub).get(prefix, [])


def read_drascula_line(path: Path) -> np.ndarray:
    """A Drascula ``.ALS`` line, shape ``(samples,)`` float32 in [-1, 1) at :data:`DRASCULA_RATE`.

    The files are headerless unsigned 8-bit mono PCM (silence is byte 0x80).
    """
    raw = np.fromfile(path, dtype=np.uint8)
    return ((raw.astype(np.float32) - 128.0) / 128.0).astype(np.float32)


def speakers() -> list[Speaker]:
    """The Drascula voices (``_DRASCULA``): training, pool-only, no derived copies."""
    return [Speaker(name, sex, "real", "train", name, "drascula", f"{dub}:{prefix}",
                    f"Drascula, {character}, {'English' if dub == 'en' else 'Spanish'} dub "
                    f"({seconds / 60:.1f} min of speech)",
                    package="drascula" if dub == "en" else "drascula-spanish", scale=scale, f0=f0, pool_only=True)
            for name, dub, prefix, sex, f0, seconds, _, scale, character in _DRASCULA]


def voice_clips(voice: str) -> list[Path]:
    """The non-empty lines of a voice (``<dub>:<prefix>``)."""
    return [path for path in _drascula_clips(voice) if path.stat().st_size > 0]


SOURCE = VoiceSource(
    "drascula", speakers,
    packages=lambda sample_rate: {
        "drascula": DRASCULA_ROOT / "en" / "1.ALS",
        "drascula-spanish": DRASCULA_ROOT / "es" / "1.ALS",
    },
    clips=voice_clips,
    ktuberling_reference=True,
    readme_contents=(
        "  * the lines of the game Drascula (1996, raw 8-bit PCM at 11025 Hz), English and",
        "    Spanish dubs, one voice per character (file-name prefix); training only and",
        "    pool-only;",
    ),
    readme_decisions=(
        "* Drascula: one voice per character and dub, from the file-name prefix of its lines;",
        "  the cast is not credited, so two characters of one dub may be one actor. Not used:",
        *[f"  * {prefix}: {reason}" for prefix, reason in _DRASCULA_EXCLUDED],
    ),
    licences=(
        ("drascula, drascula-spanish", "Drascula: The Vampire Strikes Back (drascula_* voices): (c) 1996-2008 "
         "Alcachofa Soft S.L., freeware licence: may be distributed free of charge, also in aggregate, with its "
         "readme and copyright notices intact; no fee for the game itself (/usr/share/doc/drascula/copyright)."),
    ),
)
