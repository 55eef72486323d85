"""Fish Fillets NG voices (``fillets-ng-data``, ``-cs``, ``-nl``): the fish of the Czech and Dutch
dubbing and three Czech minor characters, the speaker of each line from the game's Lua scripts."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from voxsep_corpus.voices.common import Speaker, VoiceSource, _derived, audible_clips

FILLETS_ROOT = Path("/usr/share/games/fillets-ng")
LONG_FORM_SCALE = 3  # the four fish actors (~40 min each) get 3x the utterances per speaker


# Fish Fillets NG dialogue. The game names the speaker of every line in
# script/<level>/dialogs_<lang>.lua: dialogId("<sound stem>", "font_<character>", ...).
# Only Czech (fillets-ng-data-cs) and Dutch (fillets-ng-data-nl) are dubbed; Dutch has
# the two fish only. F0: median of voiced 10 ms frames (median_f0) over up to 40 lines.
# (name, language, characters, levels (None: all), sex, split, group, F0 Hz, description)
_FILLETS = [
    ("fillets_cs_small", "cs", ("small",), None, "F", "train", "fillets_cs_small", 276,
     "small fish (female actor), Czech dubbing of Fish Fillets"),
    ("fillets_cs_big", "cs", ("big",), None, "M", "train", "fillets_cs_big", 138,
     "big fish (male actor), Czech dubbing of Fish Fillets"),
    # Minor characters: the cast is not credited and the main actors may well voice some
    # of them, so each kept one shares the group of the Czech fish actor of its sex
    # (same split, never mixed with it in the mixture sets). All are in training.
    ("fillets_cs_linuxer1", "cs", ("linuxer1",), ("linux",), "M", "train", "fillets_cs_big", 151,
     "'linuxer 1' (level linux, 54 s), Czech Fish Fillets; may be the big-fish actor"),
    ("fillets_cs_linuxer2", "cs", ("linuxer2",), ("linux",), "F", "train", "fillets_cs_small", 308,
     "'linuxer 2' (level linux, 62 s), Czech Fish Fillets; may be the small-fish actor"),
    ("fillets_cs_statue", "cs", ("statue",), ("city",), "M", "train", "fillets_cs_big", 136,
     "statue of the city level (138 s), Czech Fish Fillets; may be the big-fish actor"),
    ("fillets_nl_small", "nl", ("small",), None, "F", "test", "fillets_nl_small", 222,
     "small fish (female actor), Dutch dubbing of Fish Fillets"),
    ("fillets_nl_big", "nl", ("big",), None, "M", "test", "fillets_nl_big", 151,
     "big fish (male actor), Dutch dubbing of Fish Fillets"),
]
# (language, character[@level], reason): voiced lines that are NOT used.
_FILLETS_EXCLUDED = [
    ("cs", "robodog", "robot voice: constant pitch (F0 IQR 1.2 semitones) with moving formants, processed"),
    ("cs", "parrot", "squawked/processed: under a quarter of the frames voiced"),
    ("cs", "cyan, yellow (gods) and unlabelled gods lines", "heavy echo (long reverberant tails)"),
    ("cs", "viking1..viking8", "several voices (F0 87-235 Hz), each under 60 s, with ambient noise and echo"),
    ("cs", "statue@pavement, statue@music, statue@bathyscaph",
     "other statues (pavement: F0 163 Hz, with hum), under 30 s each"),
    ("cs", "lightgrey, white, darkgrey, green",
     "the colour names different characters in different levels (skull, elevator, ...), each under 30 s; "
     "some whispered"),
    ("cs", "crab, pizla, snail, brown, magenta, both", "under 30 s each"),
    ("cs", "unlabelled ending lines", "number announcements of the ending credits, no character"),
    ("en", "all (fillets-ng-data)", "no English dubbing: the 'en' folder holds sound effects, a stylised sung "
     "elk (Russian phrases, long tails) and the processed parrot; only the Lua scripts are used"),
]


_DIALOG_ID = re.compile(r'^\s*dialogId\(\s*"([^"]*)"\s*,\s*"([^"]*)"')


def parse_fillets_dialogs(text: str) -> dict[str, str]:
    """Sound stem -> character of a Fish Fillets ``dialogs_<lang>.lua`` script.

    A line ``dialogId("let-m-oko", "font_small", "This is not a glass eye...")`` says
    that ``sound/<level>/<lang>/let-m-oko.ogg`` is spoken by ``small``. Lines with an
    empty font (sound effects: ``dialogId("bar-x-gr0", "", "")``) map to ``""``;
    Lua comments (``-- ...``) are ignored.
    """
    lines = {}
    for line in text.splitlines():
        match = _DIALOG_ID.match(line)
        if match:
            stem, font = match.groups()
            lines[stem] = font[len("font_"):] if font.startswith("font_") else font
    return lines


@lru_cache(maxsize=8)
def fillets_lines(language: str, root: Path | None = None) -> dict[tuple[str, str], str]:
    """``(level, sound stem) -> character`` for every dialogue line of one language."""
    root = FILLETS_ROOT if root is None else root
    lines = {}
    for script in sorted((root / "script").glob(f"*/dialogs_{language}.lua")):
        for stem, character in parse_fillets_dialogs(script.read_text(encoding="utf-8", errors="replace")).items():
            lines[(script.parent.name, stem)] = character
    return lines


def _fillets_clips(voice: str) -> list[Path]:
    """The Ogg lines of ``<language>:<char>[+<char>...][@<level>[+<level>...]]`` that exist."""
    language, _, rest = voice.partition(":")
    characters, _, levels = rest.partition("@")
    wanted, places = set(characters.split("+")), set(levels.split("+")) if levels else None
    clips = []
    for (level, stem), character in sorted(fillets_lines(language, FILLETS_ROOT).items()):
        if character in wanted and (places is None or level in places):
            path = FILLETS_ROOT / "sound" / level / language / f"{stem}.ogg"
            if path.is_file():
                clips.append(path)
    return clips


def speakers() -> list[Speaker]:
    """The Fish Fillets voices (``_FILLETS``); the Czech fish (training) are followed by their derived copies."""
    speakers = []
    for name, language, characters, levels, sex, split, group, f0, description in _FILLETS:
        voice = f"{language}:{'+'.join(characters)}" + (f"@{'+'.join(levels)}" if levels else "")
        main = levels is None
        origin = Speaker(name, sex, "real", split, group, "fillets", voice, description,
                         package=f"fillets-ng-data-{language}", scale=LONG_FORM_SCALE if main else 1, f0=f0)
        # Derived copies of the Czech fish (training): they add lower and higher voices.
        speakers += [origin] + (_derived(origin) if main and split == "train" else [])
    return speakers


def voice_clips(voice: str) -> list[Path]:
    """The Ogg lines of a voice that hold audio."""
    return audible_clips(_fillets_clips(voice))


SOURCE = VoiceSource(
    "fillets", speakers,
    packages=lambda sample_rate: {
        "fillets-ng-data": FILLETS_ROOT / "script" / "airplane" / "dialogs_cs.lua",
        "fillets-ng-data-cs": FILLETS_ROOT / "sound" / "airplane" / "cs",
        "fillets-ng-data-nl": FILLETS_ROOT / "sound" / "airplane" / "nl",
    },
    clips=voice_clips,
    ktuberling_reference=True,
    readme_contents=(
        "  * the acted dialogue of the game Fish Fillets NG: the two fish of the Czech and of",
        "    the Dutch dubbing (four actors, ~35-45 min each) and three Czech minor characters;",
        "    the speaker of each line comes from the game's Lua scripts",
        "    (`dialogId(\"<sound>\", \"font_<character>\", ...)`);",
    ),
    readme_decisions=(
        "* Fish Fillets minor characters are not credited; the kept ones (`fillets_cs_linuxer1`,",
        "  `fillets_cs_linuxer2`, `fillets_cs_statue`) share the group of the Czech fish",
        "  actor of their sex in case the same actor voiced them, and stay in training.",
        "* Fish Fillets lines not used:",
        *[f"  * {language} {character}: {reason}" for language, character, reason in _FILLETS_EXCLUDED],
    ),
    licences=(
        ("fillets-ng-data, fillets-ng-data-cs, fillets-ng-data-nl", "Fish Fillets NG (fillets_* voices): GNU GPL "
         "version 2, (c) ALTAR interactive (original game, 1998, released under the GPL in 2004), Ivo and Pavel "
         "Danihelka and the translators; Dutch translation by Astrid de Wijn."),
    ),
)
