"""The synthetic voices of the offline corpus: espeak-ng variants, flite (kal16, awb, rms, slt) and
festival (kal, ked, slt HTS) speaking generated English sentences (made by
:mod:`voxsep_corpus.tts`)."""

from __future__ import annotations

from pathlib import Path

from voxsep_corpus.voices.common import Speaker, VoiceSource

FESTIVAL_VOICES = Path("/usr/share/festival/voices")


_ESPEAK = [  # (voice, sex, split, pitch, rate)
    ("en+m1", "M", "train", 40, 155), ("en-us+m3", "M", "train", 35, 165), ("en-gb-scotland+m2", "M", "train", 45, 150),
    ("en+m5", "M", "train", 30, 160), ("en+f1", "F", "train", 60, 160), ("en-us+f2", "F", "train", 70, 150),
    ("en+f3", "F", "train", 55, 170), ("en+m7", "M", "valid", 42, 150), ("en-us+f4", "F", "valid", 65, 160),
    ("en-us+m4", "M", "test", 38, 158), ("en+f5", "F", "test", 62, 155), ("en+m6", "M", "train", 48, 145),
]
_FLITE = [("kal16", "M", "train", "kal"), ("slt", "F", "train", "slt"), ("rms", "M", "valid", "rms"),
          ("awb", "M", "test", "awb")]
_FESTIVAL = [("kal_diphone", "M", "train", "kal", "festvox-kallpc16k"),
             ("ked_diphone", "M", "train", "ked", "festvox-kdlpc16k"),
             ("cmu_us_slt_arctic_hts", "F", "train", "slt", "festvox-us-slt-hts")]


def speakers() -> list[Speaker]:
    """The espeak-ng, then flite, then festival voices (a flite and a festival voice of one
    speaker's recordings share a group)."""
    speakers = []
    for voice, sex, split, pitch, rate in _ESPEAK:
        name = "espeak_" + voice.replace("+", "_").replace("-", "_")
        speakers.append(Speaker(name, sex, "synthetic", split, name, "espeak", voice,
                                f"espeak-ng voice {voice}, pitch {pitch}, {rate} wpm", package="espeak-ng",
                                pitch=pitch, rate=rate))
    for voice, sex, split, group in _FLITE:
        speakers.append(Speaker(f"flite_{voice}", sex, "synthetic", split, group, "flite", voice,
                                f"flite voice {voice} (CMU)", package="flite"))
    for voice, sex, split, group, package in _FESTIVAL:
        speakers.append(Speaker(f"festival_{group}", sex, "synthetic", split, group, "festival", voice,
                                f"festival voice {voice} ({package})", package=package))
    return speakers


SOURCE = VoiceSource(
    "synthetic", speakers,
    packages=lambda sample_rate: {
        "espeak-ng": Path("/usr/bin/espeak-ng"),
        "flite": Path("/usr/bin/flite"),
        "festival": Path("/usr/bin/festival"),
        "festvox-kallpc16k": FESTIVAL_VOICES / "english" / "kal_diphone",
        "festvox-kdlpc16k": FESTIVAL_VOICES / "english" / "ked_diphone",
        "festvox-us-slt-hts": FESTIVAL_VOICES / "us" / "cmu_us_slt_arctic_hts",
    },
    engines=("espeak", "flite", "festival"),
    readme_contents=(
        "* Synthetic voices: espeak-ng variants, flite (kal16, awb, rms, slt) and festival",
        "  (kal, ked, slt HTS) speaking generated English sentences.",
    ),
    licences=(
        ("espeak-ng", "espeak-ng: GPL-3.0-or-later (its output is not restricted by the GPL)."),
        ("flite", "flite and its CMU voices (kal16, awb, rms, slt): CMU/BSD-style free licence."),
        ("festival, festvox-*", "festival and festvox voices (kallpc16k, kdlpc16k, us-slt-hts): free, BSD-like "
         "licences (Edinburgh/CMU; see /usr/share/doc/<package>/copyright)."),
    ),
)
