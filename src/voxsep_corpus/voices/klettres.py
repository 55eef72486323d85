"""KLettres voices (``klettres-data``): one native speaker per language folder reading letters
and syllables, short clips concatenated into utterances (each reused in up to
:data:`KLETTRES_PASSES` utterances, like the KTuberling, Tux Paint and Kajongg clips)."""

from __future__ import annotations

from pathlib import Path

from voxsep_corpus.voices.common import Speaker, VoiceSource, audible_clips

KLETTRES_ROOT = Path("/usr/share/klettres")
KLETTRES_PASSES = 3  # a KLettres (KTuberling, Tux Paint, Kajongg) clip is used in at most this many utterances


# KLettres: one native speaker per language folder reading letters (alpha/) and
# syllables (syllab/); clips concatenated into utterances. F0: median_f0 of up to 40
# alpha and 40 syllab clips (consistent between the two unless noted); speech: seconds
# left after remove_rumble + trim_silence at -30 dB, 8 kHz. Voices with under ~22 s
# of speech are dropped (_KLETTRES_EXCLUDED).
# (folder, sex, split, F0 Hz, seconds of speech, note)
_KLETTRES = [
    ("ar", "F", "train", 276, 50, "Arabic"),
    ("cs", "F", "train", 250, 30, "Czech"),
    ("da", "M", "train", 120, 30, "Danish (creaky syllables)"),
    ("en", "M", "test", 130, 24, "English (US)"),
    ("en_GB", "F", "train", 240, 29, "English (GB)"),
    ("es", "F", "train", 185, 62, "Spanish"),
    ("fr", "M", "valid", 122, 26, "French"),
    ("he", "M", "train", 155, 47, "Hebrew; F0 150-170 Hz with creak: sex uncertain, kept out of test"),
    ("hu", "M", "test", 110, 52, "Hungarian"),
    ("it", "F", "train", 222, 46, "Italian"),
    ("lt", "M", "test", 113, 68, "Lithuanian"),
    ("ml", "M", "train", 113, 731, "Malayalam"),
    ("nds", "M", "valid", 102, 56, "Low German"),
    ("nl", "F", "train", 213, 34, "Dutch"),
    ("pt_BR", "F", "train", 270, 57, "Portuguese (Brazil)"),
    ("ru", "F", "valid", 210, 57, "Russian"),
    ("uk", "F", "test", 232, 59, "Ukrainian"),
]
_KLETTRES_EXCLUDED = [
    ("de", "alpha (F0 216 Hz, 23 s) and syllab (F0 110 Hz, 20 s) are two voices, each short"),
    ("nb", "21 s of speech"),
    ("tn", "19 s of speech; F0 320-364 Hz, probably a child"),
    ("id, nn", "no sound files"),
]


def _klettres_clips(folder: str) -> list[Path]:
    return sorted((KLETTRES_ROOT / folder).rglob("*.ogg"))


def speakers() -> list[Speaker]:
    """The KLettres voices (``_KLETTRES``), no derived copies."""
    speakers = []
    for folder, sex, split, f0, seconds, note in _KLETTRES:
        name = "klettres_" + folder.lower()
        speakers.append(Speaker(name, sex, "real", split, name, "klettres", folder,
                                f"KLettres letters and syllables, {note} ({seconds} s of speech)",
                                package="klettres-data", f0=f0))
    return speakers


def voice_clips(voice: str) -> list[Path]:
    """The Ogg clips of a voice's folder that hold audio."""
    return audible_clips(_klettres_clips(voice))


SOURCE = VoiceSource(
    "klettres", speakers,
    packages=lambda sample_rate: {"klettres-data": KLETTRES_ROOT / "en" / "alpha"},
    clips=voice_clips,
    short_clips=True, ktuberling_reference=True,
    readme_contents=(
        "  * KLettres letters and syllables, one native speaker per language, short clips",
        "    concatenated into utterances (clips are reused in up to",
        f"    {KLETTRES_PASSES} utterances, so these utterances are repetitive);",
    ),
    readme_decisions=(
        "* KLettres folders not used:",
        *[f"  * {folder}: {reason}" for folder, reason in _KLETTRES_EXCLUDED],
    ),
    licences=(
        ("klettres-data", "KLettres sounds (klettres_* voices): GNU GPL version 2 or later, (c) 2001-2011 Anne-Marie "
         "Mahfouf and the KDE contributors."),
    ),
)
