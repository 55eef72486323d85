"""Flight of the Amazon Queen voices (``flight-of-the-amazon-queen``): one per credited actor,
the speaker of each line from its resource name; training only, pool-only. The game's data
file (``queen.1c``, :data:`.queen.FOTAQ_DATA`) is read by :mod:`.queen`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from voxsep_corpus.voices import queen
from voxsep_corpus.voices.clips import _measure_sample
from voxsep_corpus.voices.common import Speaker, VoiceSource

# Flight of the Amazon Queen (``flight-of-the-amazon-queen``, talkie version, 1995): the
# speech is 16 kbit/s MP3 at 11025 Hz (about 4.5 kHz of bandwidth) inside queen.1c (see
# queen_table, fotaq_clips). The game's own credits (CREDIT2.CRD in queen.1c) name the
# actor of every character; a voice is one actor: the characters the credits give that
# actor which have lines in the dialogue files (<PERSON><n>.DOG; the person of a DOG file,
# e.g. DEATH = Charon, ORACLE = the Temple Guardian, APE = the man in the gorilla suit,
# TAM = Mary-Lou Cook, was read off its lines), so that the dynamic mixer, which only keeps
# speaker names apart, never mixes an actor with himself. Professional actors recorded in
# London: none is a voice of another package (the English held-out voices are a KDE
# volunteer and TTS). Sex: the actor's (every male voice's median F0 is under
# MALE_F0_HZ, every female one's above). Seconds of speech and F0 measured like the Tux
# Paint voices (measure_fotaq: 8 kHz, remove_rumble + trim_silence at -30 dB, median_f0 of
# every clip); a voice needs 2 min of speech. Scale: about one utterance set (~11.5 min)
# per 11.5 min of speech, so that most lines are used (Joe: 6). Training, pool-only,
# each voice its own group, no derived copies.
# (name, characters, sex, F0 Hz, seconds of speech, clips, scale, actor and characters)
_FOTAQ = [
    ("fotaq_lavelle", "joe", "M", 138, 4182, 1930, 6, "Brad Lavelle: Joe King, the lead"),
    ("fotaq_hill", "sparky+jim+ape", "M", 141, 1110, 450, 2,
     "Tom Hill: Sparky, Jimmy Cook, the gorilla (F0 of the three 82-178 Hz: character voices)"),
    ("fotaq_reagan", "tam+witch", "F", 189, 930, 302, 1, "Regina Reagan: Mary-Lou Cook, the witch doctor"),
    ("fotaq_reitel", "death+henry+and", "M", 100, 677, 256, 1, "Enn Reitel: Charon, Henry, Anderson"),
    ("fotaq_hootkins", "bud+frank+chef+john", "M", 107, 603, 213, 1,
     "Bill Hootkins: Bud, Frank Ironstein, the chef, John"),
    ("fotaq_coleman", "bob", "M", 129, 593, 217, 1, "Jon Coleman: Trader Bob"),
    ("fotaq_martin", "naomi+sec", "F", 216, 530, 201, 1, "Jessica Martin: Naomi, the secretary"),
    ("fotaq_james", "chief+ian", "M", 155, 427, 164, 1, "Barry James: the pygmy chief, Ian"),
    ("fotaq_valdez", "faye", "F", 195, 301, 134, 1, "Lisa Valdez: Faye Russell"),
    ("fotaq_keith", "oracle", "F", 200, 246, 96, 1, "Penelope Keith: the Temple Guardian"),
    ("fotaq_arnold", "prin+showeram", "F", 222, 178, 86, 1, "Debbie Arnold: Princess Azura, the showering Amazon"),
]
_FOTAQ_EXCLUDED = [
    ("klunk (4.6 min)", "credited to two actors (Enn Reitel and Mike Hurley); Mike Hurley's other role, Big "
     "Hugh, has no dialogue file"),
    ("lola (1.1 min)", "credited to two actors (Debbie Arnold and Regina Reagan)"),
    ("zombie (5.5 min)", "the credits name only a zombie woman (Jessica Martin); these lines' median F0 is "
     "145 Hz, so some or all are another, uncredited zombie"),
    ("laris (3.4 min), lou (3.8 min), man (2.9 min)", "the hotel clerk, the comic-book reader and the "
     "explorer Bertrand Smith: not in the credits, so any of the actors (who play several parts each)"),
    ("wedge (0.4 min), dog (0.3 min)", "Tom Hill's parrot Wedgewood (squawked, median F0 291 Hz) and the guard "
     "dog"),
    ("tallpyg", "the tall pygmy has no recorded lines"),
    ("cutaway lines C*.SB (2036 clips, ~78 min of MP3)", "the speaker of a cutaway line is in the .CUT "
     "scripts, which are not parsed"),
    ("sound effects and the odd names (*SSSS*, MIK_*, TOM_*, UNTITLE*, BLUEP*, ...)", "not dialogue, or no "
     "speaker in the name"),
]


# Flight of the Amazon Queen (``flight-of-the-amazon-queen``): one rebuilt data file,
# queen.1c, a resource table followed by the resources (layout: queen_table). Speech is
# <name>.SB, each a 16 kbit/s MP3 at 11025 Hz, one segment of a line; the name says who
# speaks (ScummVM engines/queen/talk.cpp, logic.cpp):
#   KKhhhhP<n> / KKhhhhJ<n>  a conversation line of talk key KK (hhhh: dialogue node in hex,
#       XXXX / SSSS: repeat / greeting lines); P: the person talked to, J: Joe. The key
#       names a dialogue file <PERSON><n>.DOG (its int16 at byte 24), hence the person;
#   JOE<nnnnn>               Joe describing things;
#   C<cutaway>...            cutaway scenes: the speaker is in the .CUT scripts, not parsed,
#       so these (~78 min) are not used; nor are the sound effects (*SSSS*) and the few odd
#       names (MIK_*, TOM_*, UNTITLE*, ...).
_QUEEN_TALK = re.compile(r"^(\d\d)(?:[0-9A-F]{4}|XXXX|SSSS)([PJ])[0-9A-Z]\.SB$")  # the engine pads with 0
_QUEEN_JOE = re.compile(r"^JOE\d{5}\.SB$")
_QUEEN_DOG_TALK_KEY = 24  # 20-byte DOG header, then int16 levels, unique key, talk key


def fotaq_labels(names: Sequence[str], talk_keys: dict[int, str]) -> dict[str, str]:
    """``speech resource -> character`` (lower case; ``"joe"`` for Joe) for the resource names
    that say who speaks (see the comment above ``_QUEEN_TALK``); ``talk_keys``: talk key ->
    dialogue file (``SPARKY3.DOG``), whose name less its digits is the person. Other names
    (cutaways, sound effects) are left out."""
    labels = {}
    for name in names:
        talk = _QUEEN_TALK.match(name)
        if _QUEEN_JOE.match(name) or (talk and talk.group(2) == "J"):
            labels[name] = "joe"
        elif talk and int(talk.group(1)) in talk_keys:
            labels[name] = re.sub(r"\d*\.DOG$", "", talk_keys[int(talk.group(1))]).lower()
    return labels


@lru_cache(maxsize=2)
def fotaq_clips(path: Path | None = None) -> dict[str, list[Path]]:
    """``character -> [clip, ...]`` (sorted by name) of an installed FOTAQ (see :func:`fotaq_labels`).
    A clip is named ``<queen.1c>/<resource>``: not a real path, :func:`_load_prompt` reads it from
    the data file. Empty resources are not listed."""
    path = queen.FOTAQ_DATA if path is None else Path(path)
    names, talk_keys = [], {}
    for name, (_, size) in queen._queen_offsets(path).items():  # only the dialogue files are read
        if name.endswith(".DOG") and size >= _QUEEN_DOG_TALK_KEY + 2:
            key = queen.queen_payload(path, name)[_QUEEN_DOG_TALK_KEY:_QUEEN_DOG_TALK_KEY + 2]
            talk_keys[int.from_bytes(key, "big", signed=True)] = name
        elif size:
            names.append(name)
    clips: dict[str, list[Path]] = {}
    for name, character in sorted(fotaq_labels(names, talk_keys).items()):
        clips.setdefault(character, []).append(path / name)
    return clips


def _fotaq_clips(characters: str) -> list[Path]:
    """The clips of ``<character>[+<character>...]`` (one actor's characters), in that order."""
    found = fotaq_clips()
    return [clip for character in characters.split("+") for clip in found.get(character, [])]


def measure_fotaq(path: Path | None = None, characters: Sequence[str] | None = None, sample: int | None = None
                  ) -> dict[str, list[tuple[float, float]]]:
    """``character -> [(seconds, median F0)]`` per clip of an installed FOTAQ (8 kHz,
    ``remove_rumble`` + ``trim_silence`` at -30 dB, as measured for the table). A
    ``"<character>+<character>"`` key measures those characters' clips together (one voice).
    ``sample``: measure only that many clips per key, evenly spread (a quick check)."""
    found = fotaq_clips(path)
    measured: dict[str, list[tuple[float, float]]] = {}
    for character in characters or sorted(found):
        measured[character] = _measure_sample([clip for one in character.split("+") for clip in found.get(one, [])],
                                              sample)
    return measured


def speakers() -> list[Speaker]:
    """The FOTAQ voices (``_FOTAQ``): training, pool-only, each its own group, no derived copies."""
    return [Speaker(name, sex, "real", "train", name, "fotaq", f"en:{characters}",
                    f"Flight of the Amazon Queen, {actor} ({seconds / 60:.1f} min of speech, {clips} clips)",
                    package="flight-of-the-amazon-queen", scale=scale, f0=f0, pool_only=True)
            for name, characters, sex, f0, seconds, clips, scale, actor in _FOTAQ]


def voice_clips(voice: str) -> list[Path]:
    """The clips of a voice (``en:<characters>``); empty resources are not listed."""
    return _fotaq_clips(voice.partition(":")[2])


SOURCE = VoiceSource(
    "fotaq", speakers,
    packages=lambda sample_rate: {"flight-of-the-amazon-queen": queen.FOTAQ_DATA},
    clips=voice_clips,
    readme_contents=(
        "  * the dialogue of the game Flight of the Amazon Queen (1995, 16 kbit/s MP3 at",
        "    11 kHz: about 4.5 kHz of bandwidth), one voice per credited actor (the lead, Joe,",
        "    and 10 others), the speaker of each line from its resource name and the game's",
        "    credits; training only and pool-only;",
    ),
    readme_decisions=(
        "* FOTAQ voices: one per actor of the game's credits (CREDIT2.CRD), made of the lines",
        "  of the characters credited to that actor, so that no actor is mixed with himself;",
        "  sex from the actor, voices with under 2 min of speech left out. Not used:",
        *[f"  * {what}: {reason}" for what, reason in _FOTAQ_EXCLUDED],
    ),
    licences=(
        ("flight-of-the-amazon-queen", "Flight of the Amazon Queen speech (fotaq_* voices): (c) 1995 John Passfield "
         "and Steven Stamatiadis; Flight of the Amazon Queen licence: free distribution (a reasonable copying fee "
         "allowed, no fee for the game itself), modified versions allowed if prominently marked as modified, "
         "copyright notices and the readme kept; voices by the actors credited in the game "
         "(/usr/share/doc/flight-of-the-amazon-queen/copyright)."),
    ),
)
