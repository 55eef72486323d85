"""Asterisk prompt voices (``asterisk-core-sounds-*``, ``asterisk-prompt-*``): one professional
speaker per prompt folder (Allison's ``en`` and ``es`` folders are one person), most with
derived copies; the table (``_REAL``) and the prompts of a voice."""

from __future__ import annotations

from pathlib import Path

from voxsep_corpus.voices.common import Speaker, VoiceSource, _derived

ASTERISK_ROOT = Path("/usr/share/asterisk/sounds")
# Prompts that are not speech (tones, beeps, silence, animal noises).
_NOT_SPEECH = ("beep", "tone", "silence", "monkeys", "weasels")


# (name, sex, split, folders, description, package, derived copies, median F0 Hz)
_REAL = [
    ("allison", "F", "train", "en_US_f_Allison,es_MX_f_Allison",
     "Allison, asterisk English and Spanish prompts (one speaker)", "asterisk-core-sounds-en-wav", True, 200),
    ("menardi", "F", "train", "it_IT_f_Menardi", "Menardi, asterisk Italian prompt set",
     "asterisk-prompt-it-menardi-wav", True, 178),
    # Carlo's median F0 (~190 Hz on these prompts) is above the male threshold; the folder
    # name (it_IT_m_Carlo) says male, and that label is kept.
    ("carlo", "M", "train", "it_IT_m_Carlo", "Carlo, asterisk Italian core prompts", "asterisk-core-sounds-it-wav",
     True, 190),
    ("june", "F", "valid", "fr_CA_f_June", "June, asterisk French (Canada) prompts", "asterisk-core-sounds-fr-wav",
     True, 200),
    ("ivr_ru", "F", "test", "ru_RU_f_IvrvoiceRU", "IvrvoiceRU, asterisk Russian prompts",
     "asterisk-core-sounds-ru-wav", True, 216),
    ("july", "F", "train", "es/*.gsm", "July E. Jimenez (Avatar Ltda.), asterisk Colombian Spanish prompts (GSM)",
     "asterisk-prompt-es-co", True, 222),
    ("armelle", "F", "test", "fr/*.gsm", "Armelle Desjardins, asterisk French prompts (GSM)",
     "asterisk-prompt-fr-armelle", False, 200),
]


_WAV_HEADER_BYTES = 64  # a RIFF/WAVE header with no samples


def _asterisk_prompts(folders: str, sample_rate: int) -> list[Path]:
    """Prompt files of comma-separated asterisk folders (``folder`` is ``*.wav``; ``folder/*.gsm`` as given)."""
    prompts = []
    for spec in folders.split(","):
        folder, _, pattern = spec.partition("/")
        for path in sorted((ASTERISK_ROOT / folder).rglob(pattern or "*.wav")):
            relative = path.relative_to(ASTERISK_ROOT / folder).as_posix()
            # Debian ships a few header-only prompts (e.g. ru_RU_f_IvrvoiceRU/is.wav): skip them.
            if not any(word in relative for word in _NOT_SPEECH) and path.stat().st_size > _WAV_HEADER_BYTES:
                prompts.append(path)
    return prompts


def speakers() -> list[Speaker]:
    """The asterisk voices (``_REAL``), each followed by its derived copies if it has them."""
    speakers = []
    for name, sex, split, folders, description, package, derive, f0 in _REAL:
        origin = Speaker(name, sex, "real", split, name, "asterisk", folders, description, package=package, f0=f0)
        speakers += [origin] + (_derived(origin) if derive else [])
    return speakers


def voice_clips(voice: str) -> list[Path]:
    """The prompt files of a voice (8 kHz wav or GSM; the G.722 twins are found beside them)."""
    return _asterisk_prompts(voice, 8000)


def _packages(sample_rate: int) -> dict[str, Path]:
    """Debian package -> a path it installs (read at check time: a patched root counts)."""
    needs = {
        "asterisk-core-sounds-en-wav": ASTERISK_ROOT / "en_US_f_Allison" / "hello.wav",
        "asterisk-core-sounds-es-wav": ASTERISK_ROOT / "es_MX_f_Allison",
        "asterisk-core-sounds-fr-wav": ASTERISK_ROOT / "fr_CA_f_June",
        "asterisk-core-sounds-it-wav": ASTERISK_ROOT / "it_IT_m_Carlo",
        "asterisk-core-sounds-ru-wav": ASTERISK_ROOT / "ru_RU_f_IvrvoiceRU",
        "asterisk-prompt-it-menardi-wav": ASTERISK_ROOT / "it_IT_f_Menardi",
        "asterisk-prompt-es-co": ASTERISK_ROOT / "es" / "agent-pass.gsm",
        "asterisk-prompt-fr-armelle": ASTERISK_ROOT / "fr" / "agent-pass.gsm",
    }
    if sample_rate > 8000:
        needs["asterisk-core-sounds-en-g722"] = ASTERISK_ROOT / "en_US_f_Allison" / "hello.g722"
    return needs


SOURCE = VoiceSource(
    "asterisk", speakers,
    packages=_packages,  # the G.722 twins are needed at 16 kHz only
    clips=voice_clips,
    plan_from_headers=True, ktuberling_reference=True,
    readme_contents=(
        "  * the professional voices of the asterisk prompt packages (one speaker per",
        "    language folder; Allison's `en` and `es` folders are one person), 8 kHz",
        "    telephone-band recordings (wav, or GSM 6.10 for `july` and `armelle`); in a 16 kHz",
        "    build only the English prompts are wideband (decoded from G.722);",
    ),
    licences=(
        ("asterisk-core-sounds-*", "asterisk core sounds (allison, carlo, june, ivr_ru): Creative Commons "
         "Attribution-ShareAlike 3.0 (CC BY-SA 3.0), (c) Digium, Inc. and the voice talents; derived files keep that "
         "licence."),
        ("asterisk-prompt-it-menardi-wav", "Italian prompts (menardi and the voices derived from it): CC BY-SA 3.0 "
         "Italy, (c) 2006-2011 Marco Menardi and Paola Dal Zot; attribution required: the voice files were made by "
         "them, http://www.voip.ammdomus.it (English text of the prompts (c) Digium)."),
        ("asterisk-prompt-es-co", "Colombian Spanish prompts (july and derived): GNU GPL version 2, (c) 2006 Avatar "
         "Ltda. (http://www.avatar.com.co/), voice of July E. Jimenez."),
        ("asterisk-prompt-fr-armelle", "French prompts (armelle): (c) 2006 Michel Gutierrez, voice of Armelle "
         "Desjardins; BSD-style licence: redistributions must retain the copyright notice, the list of conditions "
         "and the disclaimer (/usr/share/doc/asterisk-prompt-fr-armelle/copyright)."),
    ),
)
