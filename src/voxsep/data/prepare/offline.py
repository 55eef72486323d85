"""``voxsep prepare offline``: a speech-separation corpus built from Debian packages only.

Speakers (see ``SPEAKERS``, ``speakers.csv`` and the README the build writes):

* **real** — recorded human voices, one *group* per person:

  - the professional voices of the asterisk prompt packages (8 kHz wav; the English
    prompts also as 16 kHz G.722, decoded with the ``G722`` package for 16 kHz builds;
    ``asterisk-prompt-es-co`` (July Jiménez) and ``asterisk-prompt-fr-armelle`` (Armelle
    Desjardins) as headerless 8 kHz GSM 6.10, read by libsndfile). The ``en`` and ``es``
    Allison folders are the same person and count as one speaker;
  - the acted dialogue of the game Fish Fillets NG (``fillets-ng-data-cs``/``-nl``, Ogg
    Vorbis), speaker of each line from the game's Lua scripts (``fillets-ng-data``):
    the two fish of the Czech and of the Dutch dubbing (four actors) and three Czech
    minor characters. Which minor characters were dropped, and why, is in
    ``_FILLETS_EXCLUDED``; the kept minor characters share the group of the Czech main
    actor of their sex (the cast is not credited, so they may be the same person);
  - the letters and syllables of KLettres (``klettres-data``), one native speaker per
    language folder, clips concatenated into utterances (``_KLETTRES``);
  - the spoken words of KTuberling (``ktuberling-data``), one KDE volunteer per language
    folder (Catalan: a female and a male voice, told apart by the game's sound theme),
    clips concatenated like KLettres ones (``_KTUBERLING``);
  - the spoken stamp descriptions of Tux Paint (``tuxpaint-stamps-default``), one adult
    volunteer per language, clips concatenated likewise (``_TUXPAINT``); a language whose
    voice has the language and sex of a held-out voice is left out;
  - the acted lines of the game Drascula (``drascula``, ``drascula-spanish``): the
    characters of the English and of the Spanish dubbing, one voice per character and
    dub (``_DRASCULA``), from the file-name prefix of the raw 8-bit 11025 Hz ``.ALS``
    lines (mostly men);
  - the spoken lines of the game Flight of the Amazon Queen (``flight-of-the-amazon-queen``,
    MP3 inside the game's ``queen.1c``): one voice per credited actor (the lead, Joe, and
    10 others, each the characters the game's credits give that actor), speaker of each
    line from its resource name (``_FOTAQ``);
  - the tile names and calls of the game Kajongg (``kajongg``), English and German folders
    of four voices each, an English and a German folder that may be one person (same sex,
    median F0 within 1.5 semitones) joined into one voice, clips concatenated like KLettres
    ones (``_KAJONGG``); English men are left out (held-out klettres_en).

  The KTuberling, Tux Paint, Drascula, FOTAQ and Kajongg voices are training-only and *pool-only*: in
  ``utterances_train.csv`` (dynamic mixing) but in no precomputed mixture set, so the
  fixed mixture sets are those of a build made before them.

  An utterance is ~4.5–7 s of consecutive prompts/lines/clips of one speaker with short
  pauses. Sex: from the asterisk folder names, else from the median F0 measured with
  :func:`median_f0` (< 165 Hz: male), listed in the tables.
* **derived** (``kind=real``, ``engine=derived``) — some real training voices (and the
  original asterisk ones) sped down (x0.8: lower pitch and formants) and up (x1.18) by
  resampling; a derived speaker shares its origin's group and split.
* **synthetic** — espeak-ng voice variants, flite (kal16, awb, rms, slt) and festival
  (kal, ked, slt HTS) speaking generated English sentences. flite ``kal16`` and festival
  ``kal`` are one speaker's recordings, as are flite ``slt`` and festival ``slt``; each
  such pair is one group.

Splits are fixed by speaker group and disjoint (no person in two splits). The test
split holds 8 real human voices (4 female, 4 male: Dutch fish actors, asterisk Russian
and French prompt voices, KLettres Ukrainian, Hungarian, Lithuanian and English), the
asterisk Russian voice's derived copies and synthetic male and female voices; valid
holds 4 real voices; training gets the other 19 real voices (real voices, with their
derived copies, are 31 of the 44 training speakers of the mixture sets) and, in the
dynamic-mixing pool only (``utterances_train.csv``), 7 KTuberling, 8 Tux Paint, 14 Drascula,
11 FOTAQ and 3 Kajongg voices.
``test_real.csv`` and ``valid_real.csv`` mix only two held-out *human* voices (no derived
or synthetic speaker) of different groups: the real-voice benchmark of the bundled model.
``1speaker/{valid,test}_real.csv`` hold one held-out human utterance each (the mixture
is its only source, at the same level rule; each utterance at most once), to score
talker counting on one-talker recordings. Run on a complete build made before these
sets existed, ``build_offline`` adds only them (nothing else is rewritten); run on a
complete build made before the KTuberling, Tux Paint, Drascula, FOTAQ or Kajongg voices existed,
it makes their utterances, appends them to ``speakers.csv`` and ``utterances_train.csv``
and rewrites the README (every other file is left alone).

Mixtures follow wsj0-2mix: each utterance normalised to 0 dB ITU-T P.56 active level,
weighted by ``10 ** (g / 20)`` with ``g`` uniform in [-2.5, 2.5] dB (a relative gain of
up to ±5 dB between two talkers), cut to the shortest (``min``), scaled so the largest
peak is 0.9 (see :func:`voxsep.data.prepare.levels.mix_at_levels`).

Layout (``OUT/wav8k`` or ``OUT/wav16k``)::

    README.md  speakers.csv  voxsep_prepare.json
    wav8k/speech/<speaker>/<utterance_id>.wav
    wav8k/utterances_{train,valid,test}.csv       utterance_id,speaker,path,length,sample_rate
    wav8k/{2speakers,3speakers}/{train,valid,test}/{mix,s1,s2[,s3]}/<name>.wav
    wav8k/{2speakers,3speakers}/{train,valid,test}.csv     LibriMix-format manifests
    wav8k/{2speakers,3speakers}/mix_{2,3}_spk_{split}.txt  wsj0-mix style mixing lists
    wav8k/2speakers/{valid,test}_real/{mix,s1,s2}/<name>.wav   two held-out human voices
    wav8k/2speakers/{valid,test}_real.csv, mix_2_spk_{valid,test}_real.txt
    wav8k/1speaker/{valid,test}_real/{mix,s1}/<name>.wav       one held-out human voice
    wav8k/1speaker/{valid,test}_real.csv, mix_1_spk_{valid,test}_real.txt
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO, Callable, Sequence

import numpy as np


ASTERISK_ROOT = Path("/usr/share/asterisk/sounds")
FESTIVAL_VOICES = Path("/usr/share/festival/voices")
FILLETS_ROOT = Path("/usr/share/games/fillets-ng")
KLETTRES_ROOT = Path("/usr/share/klettres")
KTUBERLING_ROOT = Path("/usr/share/ktuberling/sounds")
TUXPAINT_ROOT = Path("/usr/share/tuxpaint/stamps")
DRASCULA_ROOT = Path("/usr/share/scummvm/drascula")
FOTAQ_DATA = Path("/usr/share/scummvm/flight-of-the-amazon-queen/queen.1c")
KAJONGG_ROOT = Path("/usr/share/kajongg/voices")
SPLITS = ("train", "valid", "test")
FORMAT_VERSION = 3  # bump when the generated audio changes, so old partial builds are not resumed
DEFAULTS = {"utterances_per_speaker": 120, "n_train_mixtures": 5000, "n_valid_mixtures": 500,
            "n_test_mixtures": 500}
TINY = {"utterances_per_speaker": 3, "n_train_mixtures": 12, "n_valid_mixtures": 4, "n_test_mixtures": 4}
UTTERANCE_SECONDS = (4.5, 7.0)  # planned from untrimmed prompts; min-mode mixtures of ~4-6 s
DERIVED_FACTORS = (0.8, 1.18)
GAIN_DB = 2.5
MALE_F0_HZ = 165.0  # median F0 below this: labelled male
LONG_FORM_SCALE = 3  # the four fish actors (~40 min each) get 3x the utterances per speaker
KLETTRES_PASSES = 3  # a KLettres (KTuberling, Tux Paint, Kajongg) clip is used in at most this many utterances
KTUBERLING_MIN_SECONDS = 20.0  # a KTuberling voice needs at least this much speech (trimmed)
TUXPAINT_MIN_SECONDS = 120.0  # a Tux Paint voice needs at least this much speech (trimmed)
KAJONGG_SAME_PERSON_SEMITONES = 1.5  # Kajongg folders of two languages this close in median F0: one person
# Prompts that are not speech (tones, beeps, silence, animal noises).
_NOT_SPEECH = ("beep", "tone", "silence", "monkeys", "weasels")


@dataclass(frozen=True)
class Speaker:
    """One talker of the offline corpus.

    Attributes:
        name: speaker id (folder name, utterance-id prefix).
        sex: ``"F"`` or ``"M"`` (for derived speakers: the origin's).
        kind: ``"real"`` (recorded speech, including speed-shifted copies) or ``"synthetic"``.
        split: ``"train"``, ``"valid"`` or ``"test"``.
        group: speakers of one group are (or may be) one person, or derived from one; a
            group is in one split and never mixed with itself in the mixture sets.
        engine: ``"asterisk"``, ``"fillets"``, ``"klettres"``, ``"ktuberling"``, ``"tuxpaint"``,
            ``"fotaq"``, ``"kajongg"``, ``"derived"``, ``"espeak"``, ``"flite"`` or ``"festival"``.
        voice: asterisk folders (comma-separated, ``folder/*.gsm`` for GSM prompt sets),
            ``<language>:<characters>[@<levels>]`` (fillets), the KLettres folder,
            ``<language>[:<part>+<part>...]`` (KTuberling folder, optionally only those
            sound-theme parts, see :func:`ktuberling_part`), the Tux Paint language
            (``<stamp>_desc_<language>.ogg``), ``en:<character>[+<character>...]`` (FOTAQ,
            see :func:`fotaq_clips`), ``<language>/<folder>[+<language>/<folder>]`` (Kajongg,
            see :func:`kajongg_clips`), the origin speaker (derived)
            or the TTS voice name.
        description: human-readable origin.
        package: the Debian package the audio comes from.
        pitch: espeak-ng pitch; rate: espeak-ng words per minute; factor: speed factor.
        scale: utterances made for this speaker = ``scale`` x utterances per speaker.
        f0: median F0 (Hz) measured with :func:`median_f0` at 8 kHz (0: not measured).
        pool_only: in ``utterances_<split>.csv`` (dynamic mixing) but never drawn into the
            precomputed mixture sets (voices added after those sets were fixed).
    """

    name: str
    sex: str
    kind: str
    split: str
    group: str
    engine: str
    voice: str
    description: str
    package: str = ""
    pitch: int = 50
    rate: int = 160
    factor: float = 1.0
    scale: int = 1
    f0: float = 0.0
    pool_only: bool = False

    @property
    def human(self) -> bool:
        """A recording of a person as they spoke (not a speed-shifted copy, not TTS)."""
        return self.kind == "real" and self.engine != "derived"


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


def _semitones(a: float, b: float) -> float:
    return abs(12 * np.log2(a / b))


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
            values = np.array([f for p in names for _, f in parts[p]], dtype=float)
            return values[~np.isnan(values)]

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


def measure_clip(path: Path) -> tuple[float, float]:
    """``(seconds of speech, median F0)`` of one clip as the utterances are made from it:
    8 kHz, ``remove_rumble`` + ``trim_silence`` at -30 dB."""
    signal = trim_silence(remove_rumble(_load_prompt(path, 8000), 8000), 8000, threshold_db=-30.0)
    return signal.size / 8000, median_f0(signal, 8000)


def _measure_sample(paths: Sequence[Path], sample: int | None) -> list[tuple[float, float]]:
    """:func:`measure_clip` of every path, or of ``sample`` of them evenly spread (a quick check)."""
    if sample is not None and len(paths) > sample:
        paths = [paths[i] for i in np.linspace(0, len(paths) - 1, sample).round().astype(int)]
    return [measure_clip(path) for path in paths]


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


def _speaker_language(speaker: Speaker) -> str:
    """The language of a real human voice (from its asterisk folder, Fish Fillets or KLettres voice)."""
    first = re.split(r"[,:/]", speaker.voice)[0]
    return first.split("_")[0].lower()


def heldout_languages(speakers: Sequence[Speaker] | None = None) -> set[str]:
    """Languages of the valid/test human voices (KTuberling folders of these are left out)."""
    return {_speaker_language(s) for s in (SPEAKERS if speakers is None else speakers)
            if s.human and s.split != "train"}


def training_voice_languages(speakers: Sequence[Speaker] | None = None) -> set[tuple[str, str]]:
    """``(language, sex)`` of the real human training voices other than KTuberling (and the
    later Tux Paint, FOTAQ and Kajongg) ones: what the KTuberling selection was made against."""
    return {(_speaker_language(s), s.sex) for s in (SPEAKERS if speakers is None else speakers)
            if s.human and s.split == "train" and s.engine not in ("ktuberling", "tuxpaint", "fotaq", "kajongg")}


def heldout_voices(speakers: Sequence[Speaker] | None = None) -> set[tuple[str, str]]:
    """``(language, sex)`` of the valid/test human voices (Tux Paint voices like these are left out)."""
    return {(_speaker_language(s), s.sex) for s in (SPEAKERS if speakers is None else speakers)
            if s.human and s.split != "train"}


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
        f0s = np.array([f for _, f in clips], dtype=float)
        f0s = f0s[~np.isnan(f0s)]
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


def queen_table(handle: BinaryIO) -> dict[str, tuple[int, int]]:
    """``name -> (offset, size)`` of the resources of a rebuilt FOTAQ data file (``queen.1c``).

    Layout (ScummVM engines/queen/resource.cpp, detectVersion and readTableEntries): ``QTBL``,
    a 6-byte version (``CEM10`` and a NUL: CD, English), 2 unused bytes, 1 byte of sound compression
    (1: MP3), then a big-endian uint16 entry count and per entry a 12-byte NUL-padded name, a
    1-byte bundle number (always 1: one file), big-endian uint32 offset (from the start of
    the file) and uint32 size.
    """
    import struct

    head = handle.read(15)
    if head[:4] != b"QTBL":
        raise ValueError("not a rebuilt Flight of the Amazon Queen data file (no QTBL table)")
    (count,) = struct.unpack(">H", head[13:15])
    table = {}
    for _ in range(count):
        name, _bundle, offset, size = struct.unpack(">12sBII", handle.read(21))
        table[name.split(b"\0")[0].decode("ascii")] = (offset, size)
    return table


@lru_cache(maxsize=2)
def _queen_offsets(path: Path) -> dict[str, tuple[int, int]]:
    """The resource table of a ``queen.1c`` file (:func:`queen_table`), read once per process."""
    with open(path, "rb") as handle:
        return queen_table(handle)


def queen_payload(path: Path, name: str) -> bytes:
    """The bytes of resource ``name`` of a ``queen.1c`` file (only that resource is read)."""
    offset, size = _queen_offsets(path)[name]
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.read(size)


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
    path = FOTAQ_DATA if path is None else Path(path)
    names, talk_keys = [], {}
    for name, (_, size) in _queen_offsets(path).items():  # only the dialogue files are read
        if name.endswith(".DOG") and size >= _QUEEN_DOG_TALK_KEY + 2:
            key = queen_payload(path, name)[_QUEEN_DOG_TALK_KEY:_QUEEN_DOG_TALK_KEY + 2]
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


def _read_fotaq(clip: Path, sample_rate: int) -> np.ndarray:
    """Decode one speech resource ``<queen.1c>/<name>.SB`` (MP3) to mono float32 at ``sample_rate``."""
    import io

    import soundfile as sf

    from voxsep.core.audio import resample

    audio, rate = sf.read(io.BytesIO(queen_payload(clip.parent, clip.name)), dtype="float32", always_2d=True)
    return resample(np.ascontiguousarray(audio.mean(axis=1)), rate, sample_rate)


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
    f0s = np.array([f for _, f in clips], dtype=float)
    f0s = f0s[~np.isnan(f0s)]
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


def _derived(origin: Speaker) -> list[Speaker]:
    speakers = []
    for factor in DERIVED_FACTORS:
        change = "lowered" if factor < 1 else "raised"
        speakers.append(Speaker(f"{origin.name}_x{factor:g}".replace(".", "p"), origin.sex, "real", origin.split,
                                origin.group, "derived", origin.name,
                                f"{origin.name} resampled x{factor:g} (pitch and formants {change} "
                                f"{abs(1 - factor) * 100:.0f}%); derived, same split as {origin.name}",
                                package=origin.package, factor=factor))
    return speakers


def _speaker_table() -> list[Speaker]:
    speakers = []
    for name, sex, split, folders, description, package, derive, f0 in _REAL:
        origin = Speaker(name, sex, "real", split, name, "asterisk", folders, description, package=package, f0=f0)
        speakers += [origin] + (_derived(origin) if derive else [])
    for name, language, characters, levels, sex, split, group, f0, description in _FILLETS:
        voice = f"{language}:{'+'.join(characters)}" + (f"@{'+'.join(levels)}" if levels else "")
        main = levels is None
        origin = Speaker(name, sex, "real", split, group, "fillets", voice, description,
                         package=f"fillets-ng-data-{language}", scale=LONG_FORM_SCALE if main else 1, f0=f0)
        # Derived copies of the Czech fish (training): they add lower and higher voices.
        speakers += [origin] + (_derived(origin) if main and split == "train" else [])
    for folder, sex, split, f0, seconds, note in _KLETTRES:
        name = "klettres_" + folder.lower()
        speakers.append(Speaker(name, sex, "real", split, name, "klettres", folder,
                                f"KLettres letters and syllables, {note} ({seconds} s of speech)",
                                package="klettres-data", f0=f0))
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
    # Added after the table above was fixed: appended at the end so that every earlier
    # speaker keeps its index (its random seeds), training only, pool-only.
    for name, voice, sex, f0, seconds, note in _KTUBERLING:
        speakers.append(Speaker(name, sex, "real", "train", name, "ktuberling", voice,
                                f"KTuberling spoken words, {note} ({seconds} s of speech)",
                                package="ktuberling-data", f0=f0, pool_only=True))
    for name, language, sex, group, f0, seconds, scale, note in _TUXPAINT:
        speakers.append(Speaker(name, sex, "real", "train", group, "tuxpaint", language,
                                f"Tux Paint spoken stamp descriptions ({seconds / 60:.1f} min of speech), {note}",
                                package="tuxpaint-stamps-default", scale=scale, f0=f0, pool_only=True))
    for name, dub, prefix, sex, f0, seconds, _, scale, character in _DRASCULA:
        speakers.append(Speaker(name, sex, "real", "train", name, "drascula", f"{dub}:{prefix}",
                                f"Drascula, {character}, {'English' if dub == 'en' else 'Spanish'} dub "
                                f"({seconds / 60:.1f} min of speech)",
                                package="drascula" if dub == "en" else "drascula-spanish", scale=scale, f0=f0,
                                pool_only=True))
    for name, characters, sex, f0, seconds, clips, scale, actor in _FOTAQ:
        speakers.append(Speaker(name, sex, "real", "train", name, "fotaq", f"en:{characters}",
                                f"Flight of the Amazon Queen, {actor} ({seconds / 60:.1f} min of speech, "
                                f"{clips} clips)", package="flight-of-the-amazon-queen", scale=scale, f0=f0,
                                pool_only=True))
    for name, folders, sex, group, f0, seconds, clips, note in _KAJONGG:
        speakers.append(Speaker(name, sex, "real", "train", group, "kajongg", folders,
                                f"Kajongg tile names and calls, {note} ({seconds} s of speech, {clips} clips)",
                                package="kajongg", f0=f0, pool_only=True))
    return speakers


SPEAKERS: list[Speaker] = _speaker_table()


# --------------------------------------------------------------------------- packages
def required_packages(sample_rate: int) -> dict[str, Path]:
    """Debian package -> a path it installs, for everything the build reads."""
    needs = {
        "asterisk-core-sounds-en-wav": ASTERISK_ROOT / "en_US_f_Allison" / "hello.wav",
        "asterisk-core-sounds-es-wav": ASTERISK_ROOT / "es_MX_f_Allison",
        "asterisk-core-sounds-fr-wav": ASTERISK_ROOT / "fr_CA_f_June",
        "asterisk-core-sounds-it-wav": ASTERISK_ROOT / "it_IT_m_Carlo",
        "asterisk-core-sounds-ru-wav": ASTERISK_ROOT / "ru_RU_f_IvrvoiceRU",
        "asterisk-prompt-it-menardi-wav": ASTERISK_ROOT / "it_IT_f_Menardi",
        "asterisk-prompt-es-co": ASTERISK_ROOT / "es" / "agent-pass.gsm",
        "asterisk-prompt-fr-armelle": ASTERISK_ROOT / "fr" / "agent-pass.gsm",
        "fillets-ng-data": FILLETS_ROOT / "script" / "airplane" / "dialogs_cs.lua",
        "fillets-ng-data-cs": FILLETS_ROOT / "sound" / "airplane" / "cs",
        "fillets-ng-data-nl": FILLETS_ROOT / "sound" / "airplane" / "nl",
        "klettres-data": KLETTRES_ROOT / "en" / "alpha",
        "ktuberling-data": KTUBERLING_ROOT / "gl.soundtheme",
        "tuxpaint-stamps-default": TUXPAINT_ROOT / "animals",
        "drascula": DRASCULA_ROOT / "en" / "1.ALS",
        "drascula-spanish": DRASCULA_ROOT / "es" / "1.ALS",
        "flight-of-the-amazon-queen": FOTAQ_DATA,
        "kajongg": KAJONGG_ROOT / "de",
        "espeak-ng": Path("/usr/bin/espeak-ng"),
        "flite": Path("/usr/bin/flite"),
        "festival": Path("/usr/bin/festival"),
        "festvox-kallpc16k": FESTIVAL_VOICES / "english" / "kal_diphone",
        "festvox-kdlpc16k": FESTIVAL_VOICES / "english" / "ked_diphone",
        "festvox-us-slt-hts": FESTIVAL_VOICES / "us" / "cmu_us_slt_arctic_hts",
    }
    if sample_rate > 8000:
        needs["asterisk-core-sounds-en-g722"] = ASTERISK_ROOT / "en_US_f_Allison" / "hello.g722"
    return needs


def check_packages(sample_rate: int) -> None:
    """Raise :class:`MissingPackageError` with the exact ``apt-get install`` line if anything is missing."""
    from voxsep.data.prepare.common import MissingPackageError, apt_install_line

    # The GSM prompt packages install straight into sounds/es and sounds/fr; there a symlink
    # is the asterisk-core-sounds-{es,fr} alternative (Allison, June): not the voice wanted.
    missing = [package for package, path in required_packages(sample_rate).items()
               if not path.exists() or (path.suffix == ".gsm" and path.parent.is_symlink())]
    if missing:
        raise MissingPackageError(f"the offline corpus needs Debian package(s) that are not installed: "
                                  f"{', '.join(sorted(missing))}. Install them with:\n  {apt_install_line(missing)}")
    if sample_rate > 8000:
        try:
            import G722  # noqa: F401
        except ImportError as error:
            raise MissingPackageError("16 kHz builds decode the G.722 prompts with the PyPI package G722: "
                                      "pip install G722") from error


# --------------------------------------------------------------------------- audio helpers
def trim_silence(signal: np.ndarray, sample_rate: int, threshold_db: float = -40.0, pad: float = 0.05) -> np.ndarray:
    """Cut leading/trailing parts quieter than ``threshold_db`` below the peak (10 ms frames), keeping ``pad`` s."""
    frame = max(1, sample_rate // 100)
    n = signal.size // frame
    if n == 0:
        return signal
    energy = (signal[: n * frame].reshape(n, frame).astype(np.float64) ** 2).mean(axis=1)
    active = np.nonzero(energy >= energy.max() * 10 ** (threshold_db / 10))[0]
    if active.size == 0:
        return signal
    keep = int(pad * sample_rate)
    start = max(0, active[0] * frame - keep)
    stop = min(signal.size, (active[-1] + 1) * frame + keep)
    return signal[start:stop]


def remove_rumble(signal: np.ndarray, sample_rate: int, cutoff: float = 70.0) -> np.ndarray:
    """Remove DC and hum below ``cutoff`` Hz (mean removal + 4th-order Butterworth high-pass).

    Some KLettres clips carry a DC offset of ~-37 dBFS and low hum that hide their silences
    from :func:`trim_silence`; speech has no energy below ~70 Hz worth keeping.
    """
    from scipy.signal import butter, sosfilt

    x = np.asarray(signal, dtype=np.float64)
    return sosfilt(butter(4, cutoff, "highpass", fs=sample_rate, output="sos"), x - x.mean()).astype(np.float32)


def median_f0(signal: np.ndarray, sample_rate: int, fmin: float = 60.0, fmax: float = 400.0) -> float:
    """Median F0 (Hz) of the voiced frames of ``signal``, by YIN (de Cheveigné & Kawahara 2002).

    40 ms frames every 10 ms; frames more than 30 dB below the loudest are skipped; a
    frame is voiced when the cumulative-mean-normalised difference dips below 0.15. This
    is how the F0 column of the speaker tables was measured (on 8 kHz audio); it is a
    coarse check (sex, obviously processed voices), not a pitch tracker.

    Returns:
        The median F0, or ``nan`` when no frame is voiced.
    """
    x = np.asarray(signal, dtype=np.float64)
    n, hop = int(0.04 * sample_rate), int(0.01 * sample_rate)
    tau_min, tau_max = int(sample_rate / fmax), int(sample_rate / fmin)
    width = n - tau_max
    if x.size < n or width <= 0:
        return float("nan")
    frames = np.lib.stride_tricks.sliding_window_view(x, n)[::hop]
    energy = (frames[:, :width] ** 2).mean(axis=1)
    frames = frames[energy > energy.max() * 1e-3]
    lags = np.arange(tau_max + 1)
    f0 = []
    for frame in frames:
        power = np.concatenate([[0.0], np.cumsum(frame ** 2)])
        corr = np.correlate(frame, frame[:width], "valid")[: tau_max + 1]
        diff = power[width] + (power[lags + width] - power[lags]) - 2 * corr
        cmnd = diff[1:] * lags[1:] / np.maximum(np.cumsum(diff[1:]), 1e-12)
        dips = np.nonzero(cmnd[tau_min - 1:] < 0.15)[0]
        if dips.size:
            tau = dips[0] + tau_min
            while tau < tau_max and cmnd[tau] < cmnd[tau - 1]:  # cmnd[tau - 1] is lag tau
                tau += 1
            f0.append(sample_rate / tau)
    return float(np.median(f0)) if f0 else float("nan")


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


def _klettres_clips(folder: str) -> list[Path]:
    return sorted((KLETTRES_ROOT / folder).rglob("*.ogg"))


def _speaker_clips(speaker: Speaker) -> list[Path]:
    """The source files of a clip-based (asterisk, fillets, klettres, ktuberling, tuxpaint, drascula, fotaq,
    kajongg) speaker (FOTAQ: ``<queen.1c>/<resource>`` names, see :func:`fotaq_clips`)."""
    from voxsep.core.audio import audio_info

    if speaker.engine == "asterisk":
        return _asterisk_prompts(speaker.voice, 8000)
    if speaker.engine == "fillets":
        clips = _fillets_clips(speaker.voice)
    elif speaker.engine == "klettres":
        clips = _klettres_clips(speaker.voice)
    elif speaker.engine == "ktuberling":
        clips = _ktuberling_clips(speaker.voice)
    elif speaker.engine == "tuxpaint":
        clips = _tuxpaint_clips(speaker.voice)
    elif speaker.engine == "drascula":
        return [path for path in _drascula_clips(speaker.voice) if path.stat().st_size > 0]
    elif speaker.engine == "fotaq":
        return _fotaq_clips(speaker.voice.partition(":")[2])  # empty resources are not listed
    elif speaker.engine == "kajongg":
        clips = _kajongg_clips(speaker.voice)
    else:
        raise ValueError(f"{speaker.name} ({speaker.engine}) is not made of recorded clips")
    # fillets-ng-data-nl 1.0.1 ships two empty Ogg files (elevator1/zd1-m-cesta, gems/zav-v-sto).
    return [path for path in clips if audio_info(path).frames > 0]


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


def _load_prompt(path: Path, sample_rate: int) -> np.ndarray:
    """A prompt or clip at ``sample_rate``, mono; 16 kHz+ builds use the wideband G.722 file when there is one."""
    from voxsep.core.audio import read_audio, resample

    if path.parent.name == FOTAQ_DATA.name:
        return _read_fotaq(path, sample_rate)
    g722_path = path.with_suffix(".g722")
    if sample_rate > 8000 and g722_path.exists():
        import G722

        decoded = np.asarray(G722.G722(16000, 64000).decode(g722_path.read_bytes()), dtype=np.float32) / 32768.0
        return resample(decoded, 16000, sample_rate)
    if path.suffix == ".gsm":
        # Headerless GSM 6.10 at 8 kHz: libsndfile decodes it but cannot seek in it, which read_audio does.
        import soundfile as sf

        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
        return resample(np.ascontiguousarray(audio.mean(axis=1)), rate, sample_rate)
    if path.suffix == ".ALS":
        return resample(read_drascula_line(path), DRASCULA_RATE, sample_rate)
    audio, _ = read_audio(path, sample_rate=sample_rate, channels=1)
    return audio[0]


def _vary_channel_and_level(signal: np.ndarray, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """Random channel colouration and level, so talkers do not all sound like one studio.

    The colouration is a first-order FIR ``y[n] = x[n] + a x[n-1]``, ``a`` uniform in
    [-0.3, 0.3]: a spectral tilt of up to ±5.4 dB between DC and Nyquist. The level is a
    random active level in [-28, -20] dBFS, with the peak kept below 0.95.
    """
    from scipy.signal import lfilter

    from voxsep.data.prepare.levels import normalise_active_level

    coloured = lfilter([1.0, rng.uniform(-0.3, 0.3)], [1.0], np.asarray(signal, dtype=np.float64))
    out = normalise_active_level(coloured, sample_rate) * 10 ** (rng.uniform(-28.0, -20.0) / 20)
    peak = np.abs(out).max()
    if peak > 0.95:
        out *= 0.95 / peak
    return out.astype(np.float32)


# --------------------------------------------------------------------------- utterances
def _speaker_rng(seed: int, speaker_index: int, *more: int) -> np.random.Generator:
    return np.random.default_rng([seed, 1000 + speaker_index, *more])


def _utterance_path(speech_dir: Path, speaker: str, index: int) -> tuple[str, Path]:
    utterance_id = f"{speaker}-{index:04d}"
    return utterance_id, speech_dir / speaker / f"{utterance_id}.wav"


def _plan_utterances(n_clips: int, duration: Callable[[int], float], count: int, seed: int, index: int,
                     passes: int = 1) -> list[list[int]]:
    """Group clips (indices) into ``count`` utterances of ~``UTTERANCE_SECONDS`` (fewer if the clips run out).

    Clips are visited in random order (``passes`` successive permutations; a clip is not
    repeated within an utterance). ``duration(i)`` is clip ``i``'s length plus its pause.
    The plan of utterance k does not depend on ``count``, so a resumed build (same
    settings) plans every utterance as the first run did.
    """
    order = [int(p) for k in range(passes)
             for p in _speaker_rng(seed, index, 2, *([k] if k else [])).permutation(n_clips)]
    plan: list[list[int]] = []
    current: list[int] = []
    seconds = 0.0
    target = _speaker_rng(seed, index, 3, 0).uniform(*UTTERANCE_SECONDS)
    for p in order:
        if len(plan) == count:
            break
        if p in current:
            continue
        length = duration(p)
        if length > UTTERANCE_SECONDS[1] + 0.5:
            continue  # longer than an utterance on its own (menus, long announcements)
        if current and seconds + length > UTTERANCE_SECONDS[1] + 0.5:
            if seconds < UTTERANCE_SECONDS[0]:
                continue  # would overshoot, and the utterance is still short: try the next clip
            plan.append(current)  # long enough: close it and start the next with this clip
            current, seconds = [], 0.0
            target = _speaker_rng(seed, index, 3, len(plan)).uniform(*UTTERANCE_SECONDS)
            if len(plan) == count:
                break
        current.append(p)
        seconds += length
        if seconds >= target:
            plan.append(current)
            current, seconds = [], 0.0
            target = _speaker_rng(seed, index, 3, len(plan)).uniform(*UTTERANCE_SECONDS)
    return plan


def _make_speaker(task: dict[str, Any]) -> list[tuple[str, str, str, int, int]]:
    """Build (or find) the utterances of one speaker; returns utterance-list rows (paths as str)."""
    from voxsep.core.audio import audio_info, resample, write_audio
    from voxsep.data.prepare.tts import make_sentence_text, synthesize

    speaker: Speaker = task["speaker"]
    index, seed, sample_rate = task["index"], task["seed"], task["sample_rate"]
    count = task["count"] * speaker.scale
    speech_dir = Path(task["speech_dir"])
    targets = [_utterance_path(speech_dir, speaker.name, k) for k in range(count)]
    todo = [k for k, (_, path) in enumerate(targets) if not path.exists()]

    if todo and speaker.engine in ("asterisk", "fillets", "klettres", "ktuberling", "tuxpaint", "drascula", "fotaq",
                                   "kajongg", "derived"):
        origin = speaker if speaker.engine != "derived" else next(s for s in SPEAKERS if s.name == speaker.voice)
        clips = _speaker_clips(origin)
        factor = speaker.factor
        keep = origin.engine in ("klettres", "ktuberling", "tuxpaint", "kajongg")  # short clips, reused: keep decoded
        decoded: dict[int, np.ndarray] = {}
        lengths: dict[int, int] = {}

        def load(i: int) -> np.ndarray:
            if i in decoded:
                return decoded[i]
            # KLettres (KTuberling, Tux Paint, Kajongg) clips: a noise floor ~40 dB below the word (hiss,
            # hum) -> trim at -30 dB.
            signal = trim_silence(remove_rumble(_load_prompt(clips[i], sample_rate), sample_rate), sample_rate,
                                  threshold_db=-30.0 if keep else -40.0)
            lengths[i] = signal.size
            if keep:
                decoded[i] = signal
            return signal

        def seconds(i: int) -> float:
            if i not in lengths:
                load(i)
            return lengths[i] / sample_rate / factor + 0.25  # + the mean pause

        if origin.engine == "asterisk":
            # Prompts are mostly speech: plan from header lengths (cheap).
            plan = _plan_utterances(len(clips), lambda i: audio_info(clips[i]).duration / factor + 0.25, count,
                                    seed, index)
        else:
            # Game lines (the Dutch ones ~20% silence) and letter clips (mostly silence): plan
            # from trimmed lengths, decoded lazily as far as the plan goes. KLettres clips are
            # reused in up to KLETTRES_PASSES utterances.
            plan = _plan_utterances(len(clips), seconds, count, seed, index, passes=KLETTRES_PASSES if keep else 1)
        for k in todo:
            if k >= len(plan):
                break  # this voice has no more clips; fewer utterances for it
            rng = _speaker_rng(seed, index, 4, k)
            pieces = []
            for i in plan[k]:
                pieces.append(load(i))
                pieces.append(np.zeros(int(rng.uniform(0.1, 0.4) * sample_rate), dtype=np.float32))
            signal = np.concatenate(pieces[:-1])
            if factor != 1.0:
                # Speed change by resampling: played back at the original rate, a signal
                # resampled to rate/factor is 1/factor longer with pitch and formants x factor.
                signal = resample(signal, sample_rate, int(round(sample_rate / factor)))
            write_audio(targets[k][1], _vary_channel_and_level(signal, rng, sample_rate), sample_rate, overwrite=True)
    elif todo:
        texts, stretches = [], []
        for k in todo:
            rng = _speaker_rng(seed, index, 5, k)
            texts.append(make_sentence_text(rng))
            stretches.append(float(rng.uniform(0.9, 1.1)))
        voices = synthesize(speaker.engine, speaker.voice, texts, stretches, pitch=speaker.pitch, rate=speaker.rate)
        for k, (signal, rate) in zip(todo, voices):
            rng = _speaker_rng(seed, index, 6, k)
            signal = trim_silence(resample(signal, rate, sample_rate), sample_rate)
            write_audio(targets[k][1], _vary_channel_and_level(signal, rng, sample_rate), sample_rate, overwrite=True)
    rows = []
    for utterance_id, path in targets:
        if path.exists():
            rows.append((utterance_id, speaker.name, str(path), audio_info(path).frames, sample_rate))
    return rows


# --------------------------------------------------------------------------- mixtures
def _gain_name(gain: float) -> str:
    text = f"{gain:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def plan_mixtures(utterances: dict[str, list[tuple[str, Path]]], groups: dict[str, str], n_src: int,
                  count: int, rng: np.random.Generator) -> list[tuple[list[tuple[str, Path]], list[float]]]:
    """Draw ``count`` mixtures of ``n_src`` speakers from different groups.

    Args:
        utterances: speaker -> list of ``(utterance_id, path)``.
        groups: speaker -> group (speakers of a group are never mixed together).
        n_src: talkers per mixture.
        count: number of mixtures.
        rng: random generator.

    Returns:
        ``[(utterances [(id, path)] * n_src, gains_db [n_src]), ...]``; names are unique.

    Raises:
        ValueError: fewer than ``n_src`` speaker groups have utterances.
    """
    speakers = sorted(s for s, u in utterances.items() if u)
    if len({groups[s] for s in speakers}) < n_src:
        raise ValueError(f"need speakers from at least {n_src} groups to make {n_src}-speaker mixtures, "
                         f"have {speakers}")
    plans, names = [], set()
    attempts = 0
    while len(plans) < count and attempts < 20 * count + 100:
        attempts += 1
        chosen: list[str] = []
        for s in rng.permutation(speakers):
            if groups[s] not in {groups[c] for c in chosen}:
                chosen.append(str(s))
            if len(chosen) == n_src:
                break
        picked = [utterances[s][rng.integers(len(utterances[s]))] for s in chosen]
        if n_src == 1:
            gains = [0.0]  # one talker: the peak scaling sets the level
        elif n_src == 2:
            g = float(np.round(rng.uniform(-GAIN_DB, GAIN_DB), 4))
            gains = [g, -g]
        else:
            gains = [float(np.round(rng.uniform(-GAIN_DB, GAIN_DB), 4)) for _ in range(n_src)]
        name = "_".join(f"{u}_{_gain_name(g)}" for (u, _), g in zip(picked, gains))
        if name not in names:
            names.add(name)
            plans.append((picked, gains))
    return plans


def mixture_name(picked: Sequence[tuple[str, Path]], gains: Sequence[float]) -> str:
    """wsj0-mix style name ``<utt1>_<gain1>_<utt2>_<gain2>[...]`` (no extension)."""
    return "_".join(f"{u}_{_gain_name(g)}" for (u, _), g in zip(picked, gains))


def _make_mixtures(task: dict[str, Any]) -> list[dict[str, Any]]:
    """Write one chunk of mixtures (skipping complete ones); returns manifest rows."""
    from voxsep.core.audio import audio_info, read_audio, write_audio
    from voxsep.data.prepare.levels import mix_at_levels

    sample_rate, folder, n_src = task["sample_rate"], Path(task["folder"]), task["n_src"]
    rows = []
    for picked, gains in task["plans"]:
        name = mixture_name(picked, gains)
        mix_path = folder / "mix" / f"{name}.wav"
        source_paths = [folder / f"s{i + 1}" / f"{name}.wav" for i in range(n_src)]
        if not (mix_path.exists() and all(p.exists() for p in source_paths)):
            signals = [read_audio(path, sample_rate=sample_rate, channels=1)[0][0] for _, path in picked]
            mixture, sources = mix_at_levels(signals, gains, sample_rate, mode="min")
            for path, source in zip(source_paths, sources):
                write_audio(path, source, sample_rate, overwrite=True)
            write_audio(mix_path, mixture, sample_rate, overwrite=True)  # last: marks the mixture complete
        rows.append({"mixture_ID": name, "mixture_path": mix_path, "source_paths": source_paths,
                     "length": audio_info(mix_path).frames})
    return rows


REAL_SETS = ("valid", "test")  # splits with real-voice evaluation sets (<split>_real.csv)


def _heldout_humans(split: str) -> list[Speaker]:
    """The recorded human voices of a held-out split (no derived copy, no TTS)."""
    return [s for s in SPEAKERS if s.split == split and s.human]


def _one_speaker_manifest(rate_dir: Path, split: str) -> Path:
    return rate_dir / "1speaker" / f"{split}_real.csv"


def _mixture_set(rate_dir: Path, set_dir: Path, name: str, n: int,
                 rows_by_speaker: dict[str, list[tuple[str, str, str, int, int]]], speakers: Sequence[Speaker],
                 count: int, rng: np.random.Generator, sample_rate: int, jobs: int, stats: dict[str, Any]) -> None:
    """Plan, write (skipping finished mixtures) and list one mixture set ``set_dir/<name>``:
    ``set_dir/<name>/{mix,s1..}/``, ``set_dir/<name>.csv`` and ``set_dir/mix_<n>_spk_<name>.txt``."""
    from voxsep.core.files import write_text_atomic
    from voxsep.data.prepare.common import relpath, run_tasks, write_mixture_manifest

    groups = {s.name: s.group for s in SPEAKERS}
    utterances = {s.name: [(u, Path(p)) for u, _, p, _, _ in rows_by_speaker.get(s.name, [])] for s in speakers}
    plans = plan_mixtures(utterances, groups, n, count, rng)
    lines = [" ".join(f"{relpath(path, rate_dir)} {_gain_name(g)}" for (_, path), g in zip(picked, gains))
             for picked, gains in plans]
    write_text_atomic(set_dir / f"mix_{n}_spk_{name}.txt", "".join(line + "\n" for line in lines))
    chunk = 50
    mix_tasks = [{"plans": plans[i:i + chunk], "sample_rate": sample_rate, "folder": str(set_dir / name),
                  "n_src": n} for i in range(0, len(plans), chunk)]
    mixtures = [row for part in run_tasks(_make_mixtures, mix_tasks, jobs, f"{n}spk {name}") for row in part]
    write_mixture_manifest(set_dir / f"{name}.csv", mixtures, n_src=n)
    hours = sum(r["length"] for r in mixtures) / sample_rate / 3600
    stats[f"{n}-speaker {name} mixtures"] = f"{len(mixtures)} ({hours:.2f} h)"


def _one_speaker_sets(rate_dir: Path, rows_by_speaker: dict[str, list[tuple[str, str, str, int, int]]],
                      split_counts: dict[str, int], seed: int, sample_rate: int, jobs: int,
                      stats: dict[str, Any]) -> None:
    """``1speaker/{valid,test}_real``: one held-out human utterance per "mixture" (the
    mixture is its only source), made by the mixing rule of the other sets (0 dB active
    level, peak 0.9); each utterance at most once. For counting talkers."""
    for split in REAL_SETS:
        _mixture_set(rate_dir, rate_dir / "1speaker", f"{split}_real", 1, rows_by_speaker, _heldout_humans(split),
                     split_counts[split], np.random.default_rng([seed, 8, 1, SPLITS.index(split)]), sample_rate, jobs, stats)


def _split_rows(rows_by_speaker: dict[str, list[tuple[str, str, str, int, int]]], split: str
                ) -> list[tuple[str, str, Path, int, int]]:
    """The utterance-list rows of a split, in speaker-table order."""
    return [(u, s, Path(p), n, sr) for speaker in SPEAKERS if speaker.split == split
            for u, s, p, n, sr in rows_by_speaker.get(speaker.name, [])]


def _utterance_stats(rows_by_speaker: dict[str, list[tuple[str, str, str, int, int]]], sample_rate: int
                     ) -> dict[str, str]:
    """``<split> utterances`` lines and the total ``speech`` of the README."""
    stats, total = {}, 0
    human = {s.name for s in SPEAKERS if s.human}
    for split in SPLITS:
        rows = _split_rows(rows_by_speaker, split)
        total += sum(r[3] for r in rows)
        human_hours = sum(r[3] for r in rows if r[1] in human) / sample_rate / 3600
        stats[f"{split} utterances"] = (f"{len(rows)} from {len({r[1] for r in rows})} speakers "
                                        f"({human_hours:.2f} h of real human speech)")
    stats["speech"] = f"{total / sample_rate / 3600:.2f} h of utterances"
    return stats


def _listed_speakers(output: Path) -> list[str]:
    import csv

    with open(Path(output) / "speakers.csv", newline="") as handle:
        return [row["speaker"] for row in csv.DictReader(handle)]


def _missing_pool_voices(output: Path) -> list[Speaker]:
    """Pool-only speakers that a complete build's ``speakers.csv`` does not list yet."""
    listed = set(_listed_speakers(output))
    return [s for s in SPEAKERS if s.pool_only and s.name not in listed]


def _readme_stats(text: str) -> dict[str, str]:
    """The ``* key: value`` lines of a README's "This build" section (settings left out)."""
    section = text.split("## This build", 1)[-1].split("## Licences", 1)[0]
    stats = {}
    for line in section.splitlines():
        if line.startswith("* ") and ": " in line and not line.startswith("* settings:"):
            key, value = line[2:].split(": ", 1)
            stats[key] = value
    return stats


def _add_pool_voices(output: Path, rate_dir: Path, config: dict[str, Any], utterances_per_speaker: int, jobs: int,
                     started: float) -> dict[str, Any]:
    """Extend a complete build with the pool-only voices it lacks (KTuberling, Tux Paint, Drascula, FOTAQ,
    Kajongg).

    Their utterances are made (resumable: finished files are kept), their rows are added
    to ``utterances_<split>.csv`` and ``speakers.csv`` (earlier rows unchanged: the files
    are those a fresh build writes) and the README is rewritten. Mixture sets, other
    utterances and the stored settings are not touched. ``speakers.csv`` is written last:
    an interrupted extension is taken up again by the next run.
    """
    from voxsep.core.files import write_text_atomic
    from voxsep.data.prepare.common import run_tasks, write_csv_atomic, write_utterance_list

    listed = _listed_speakers(output)
    if listed != [s.name for s in SPEAKERS[:len(listed)]]:
        raise FileExistsError(f"{output}/speakers.csv is not a prefix of this version's speaker table; "
                              f"rebuild with --overwrite")
    new = _missing_pool_voices(output)
    sample_rate, seed = config["sample_rate"], config["seed"]
    tasks = [{"speaker": s, "index": SPEAKERS.index(s), "seed": seed, "sample_rate": sample_rate,
              "count": utterances_per_speaker, "speech_dir": str(rate_dir / "speech")} for s in new]
    results = run_tasks(_make_speaker, tasks, jobs, "new voices")
    rows_by_speaker = _utterance_rows(rate_dir, SPLITS)
    for speaker, rows in zip(new, results):
        rows_by_speaker[speaker.name] = rows
    for split in sorted({s.split for s in new}, key=SPLITS.index):
        write_utterance_list(rate_dir / f"utterances_{split}.csv", _split_rows(rows_by_speaker, split))
    stats = _readme_stats((output / "README.md").read_text()) if (output / "README.md").exists() else {}
    build_time = stats.pop("build time", None)  # kept last, after the recomputed speech line
    added = {"voices added": ", ".join(f"{s.name} ({len(rows)} utterances)" for s, rows in zip(new, results))}
    stats.update(_utterance_stats(rows_by_speaker, sample_rate))
    stats["speakers"] = "; ".join(_speaker_counts(SPEAKERS))
    stats["speech"] = stats.pop("speech")
    if build_time is not None:
        stats["build time"] = build_time
    key = "pool-only voices added to this build"
    done = (f"{', '.join(s.name for s in new)} in "
            f"{time.perf_counter() - started:.0f} s with {jobs} job(s)")
    stats[key] = f"{stats[key]}; then {done}" if stats.get(key) else done  # earlier extensions kept
    write_text_atomic(output / "README.md", _readme(config, SPEAKERS, stats))
    write_csv_atomic(output / "speakers.csv", ["speaker", "sex", "kind", "split", "group", "engine", "description"],
                     [(s.name, s.sex, s.kind, s.split, s.group, s.engine, s.description) for s in SPEAKERS])
    added.update({k: stats[k] for k in ("train utterances", "speech")})
    added["build time"] = f"{time.perf_counter() - started:.0f} s with {jobs} job(s) (pool-only voices added)"
    return added


def _utterance_rows(rate_dir: Path, splits: Sequence[str]) -> dict[str, list[tuple[str, str, str, int, int]]]:
    """Speaker -> utterance-list rows (absolute paths) read back from ``utterances_<split>.csv``."""
    import csv

    rows: dict[str, list[tuple[str, str, str, int, int]]] = {}
    for split in splits:
        with open(rate_dir / f"utterances_{split}.csv", newline="") as handle:
            for row in csv.DictReader(handle):
                rows.setdefault(row["speaker"], []).append(
                    (row["utterance_id"], row["speaker"], str(rate_dir / row["path"]), int(row["length"]),
                     int(row["sample_rate"])))
    return rows


# --------------------------------------------------------------------------- README
_LICENCES = [
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
    ("fillets-ng-data, fillets-ng-data-cs, fillets-ng-data-nl", "Fish Fillets NG (fillets_* voices): GNU GPL "
     "version 2, (c) ALTAR interactive (original game, 1998, released under the GPL in 2004), Ivo and Pavel "
     "Danihelka and the translators; Dutch translation by Astrid de Wijn."),
    ("klettres-data", "KLettres sounds (klettres_* voices): GNU GPL version 2 or later, (c) 2001-2011 Anne-Marie "
     "Mahfouf and the KDE contributors."),
    ("ktuberling-data", "KTuberling sounds (ktuberling_* voices): GNU GPL version 2 or later, (c) 1999-2017 "
     "Eric Bischoff, Albert Astals Cid and the KDE contributors and translators "
     "(/usr/share/doc/ktuberling-data/copyright)."),
    ("tuxpaint-stamps-default", "Tux Paint stamp sounds (tuxpaint_* voices): GNU GPL version 2 or later, "
     "(c) 2002-2022 Bill Kendrick and the Tux Paint contributors; descriptive sounds recorded by the volunteers "
     "credited in /usr/share/doc/tuxpaint-stamps-default/changelog.gz "
     "(/usr/share/doc/tuxpaint-stamps-default/copyright)."),
    ("drascula, drascula-spanish", "Drascula: The Vampire Strikes Back (drascula_* voices): (c) 1996-2008 "
     "Alcachofa Soft S.L., freeware licence: may be distributed free of charge, also in aggregate, with its "
     "readme and copyright notices intact; no fee for the game itself (/usr/share/doc/drascula/copyright)."),
    ("flight-of-the-amazon-queen", "Flight of the Amazon Queen speech (fotaq_* voices): (c) 1995 John Passfield "
     "and Steven Stamatiadis; Flight of the Amazon Queen licence: free distribution (a reasonable copying fee "
     "allowed, no fee for the game itself), modified versions allowed if prominently marked as modified, "
     "copyright notices and the readme kept; voices by the actors credited in the game "
     "(/usr/share/doc/flight-of-the-amazon-queen/copyright)."),
    ("kajongg", "Kajongg voices (kajongg_* voices): GNU GPL version 2 or later, (c) Wolfgang Rohdewald "
     "(/usr/share/kajongg/voices/*/COPYRIGHT, /usr/share/doc/kajongg/copyright)."),
    ("espeak-ng", "espeak-ng: GPL-3.0-or-later (its output is not restricted by the GPL)."),
    ("flite", "flite and its CMU voices (kal16, awb, rms, slt): CMU/BSD-style free licence."),
    ("festival, festvox-*", "festival and festvox voices (kallpc16k, kdlpc16k, us-slt-hts): free, BSD-like "
     "licences (Edinburgh/CMU; see /usr/share/doc/<package>/copyright)."),
]


def _speaker_counts(speakers: Sequence[Speaker]) -> list[str]:
    """Per split: speakers by kind (human / derived / synthetic) and sex."""
    lines = []
    for split in SPLITS:
        parts = []
        for label, keep in (("real human", lambda s: s.human), ("derived", lambda s: s.engine == "derived"),
                            ("synthetic", lambda s: s.kind == "synthetic")):
            chosen = [s for s in speakers if s.split == split and keep(s)]
            sexes = {sex: sum(s.sex == sex for s in chosen) for sex in ("F", "M")}
            parts.append(f"{len(chosen)} {label} ({sexes['F']} F, {sexes['M']} M)")
        lines.append(f"{split}: " + ", ".join(parts))
    return lines


def _readme(config: dict[str, Any], speakers: list[Speaker], stats: dict[str, Any]) -> str:
    rate_dir = f"wav{config['sample_rate'] // 1000}k"
    lines = [
        "# voxsep offline speech-separation corpus",
        "",
        "Built by `voxsep prepare offline` from audio in Debian packages only (no download).",
        "It is meant for demos, tests and smoke-training on machines without the standard",
        "corpora. It is **not** a benchmark: numbers measured on it are not comparable with",
        "wsj0-2mix or LibriMix results.",
        "",
        "## What it contains",
        "",
        "* Real recorded speech (`kind=real`, one `group` per person):",
        "  * the professional voices of the asterisk prompt packages (one speaker per",
        "    language folder; Allison's `en` and `es` folders are one person), 8 kHz",
        "    telephone-band recordings (wav, or GSM 6.10 for `july` and `armelle`); in a 16 kHz",
        "    build only the English prompts are wideband (decoded from G.722);",
        "  * the acted dialogue of the game Fish Fillets NG: the two fish of the Czech and of",
        "    the Dutch dubbing (four actors, ~35-45 min each) and three Czech minor characters;",
        "    the speaker of each line comes from the game's Lua scripts",
        "    (`dialogId(\"<sound>\", \"font_<character>\", ...)`);",
        "  * KLettres letters and syllables, one native speaker per language, short clips",
        "    concatenated into utterances (clips are reused in up to",
        f"    {KLETTRES_PASSES} utterances, so these utterances are repetitive);",
        "  * KTuberling spoken words (item names), one KDE volunteer per language folder",
        "    (Catalan: a female and a male voice, told apart by the game's sound theme), made",
        "    like the KLettres utterances; training only and *pool-only*: listed in",
        "    `utterances_train.csv` (dynamic mixing) but in no precomputed mixture set, so the",
        "    mixture sets are those of a build made before these voices;",
        "  * Tux Paint spoken stamp descriptions (a word or short phrase per clip), one adult",
        "    volunteer per language, made like the KLettres utterances; training only and",
        "    pool-only like the KTuberling voices;",
        "  * the lines of the game Drascula (1996, raw 8-bit PCM at 11025 Hz), English and",
        "    Spanish dubs, one voice per character (file-name prefix); training only and",
        "    pool-only;",
        "  * the dialogue of the game Flight of the Amazon Queen (1995, 16 kbit/s MP3 at",
        "    11 kHz: about 4.5 kHz of bandwidth), one voice per credited actor (the lead, Joe,",
        "    and 10 others), the speaker of each line from its resource name and the game's",
        "    credits; training only and pool-only;",
        "  * the tile names and calls of the game Kajongg (English and German, a few words",
        "    each), one voice per person (an English and a German folder of one sex whose",
        "    median F0s agree are one voice), made like the KLettres utterances; training",
        "    only and pool-only;",
        "  * utterances are ~4.5-7 s of consecutive prompts/lines/clips of one speaker with",
        "    0.1-0.4 s pauses.",
        "* Derived voices: some real voices resampled x0.8 and x1.18 (pitch and formants",
        "  shifted). They are labelled `kind=real`, `engine=derived`, share their origin's",
        "  group and split, and are never used in `*_real.csv`.",
        "* Synthetic voices: espeak-ng variants, flite (kal16, awb, rms, slt) and festival",
        "  (kal, ked, slt HTS) speaking generated English sentences.",
        "* Every utterance has a random level (active level -28 to -20 dBFS) and a random",
        "  channel colouration (first-order spectral tilt of up to +-5 dB).",
        "* No noise recordings of any kind (some game and KLettres clips have a little",
        "  background hiss of their own).",
        "",
        "Splits are speaker-disjoint by group (see `speakers.csv`). Mixtures follow",
        "wsj0-2mix: each utterance normalised to 0 dB ITU-T P.56 active level, gains",
        "uniform in [-2.5, 2.5] dB per talker (relative gain up to 5 dB), `min` mode, peak",
        "scaled to 0.9. `2speakers/test_real.csv` and `valid_real.csv` are made the same way",
        "from two held-out *human* voices of different groups only (no derived or synthetic",
        "voice): judge a model on real speech with `test_real.csv`.",
        "`1speaker/test_real.csv` and `valid_real.csv` hold one held-out human utterance",
        "each (mixture = its only source, peak 0.9): for talker counting on one-talker",
        "recordings.",
        "",
        "## Speakers",
        "",
        *[f"* {line}" for line in _speaker_counts(speakers)],
        "",
        "Real human voices (sex: asterisk folder name, else median F0 < "
        f"{MALE_F0_HZ:.0f} Hz = male; F0 measured by YIN on 8 kHz audio):",
        "",
        "| speaker | sex | F0 (Hz) | split | group | package | description |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in speakers:
        if s.human:
            lines.append(f"| {s.name} | {s.sex} | {s.f0:.0f} | {s.split} | {s.group} | {s.package} | "
                         f"{s.description} |")
    lines += [
        "",
        "Labelling decisions:",
        "",
        "* Fish Fillets minor characters are not credited; the kept ones (`fillets_cs_linuxer1`,",
        "  `fillets_cs_linuxer2`, `fillets_cs_statue`) share the group of the Czech fish",
        "  actor of their sex in case the same actor voiced them, and stay in training.",
        "* Fish Fillets lines not used:",
        *[f"  * {language} {character}: {reason}" for language, character, reason in _FILLETS_EXCLUDED],
        "* KLettres folders not used:",
        *[f"  * {folder}: {reason}" for folder, reason in _KLETTRES_EXCLUDED],
        "* KTuberling folders: a folder is one voice when the median F0s of its sound-theme",
        "  parts (potato words, playgrounds, Tux words) agree within 4 semitones; a folder",
        "  with parts of both sexes is split by part when the two sets separate cleanly;",
        "  folders of a held-out voice's language, and voices under "
        f"{KTUBERLING_MIN_SECONDS:.0f} s, are left out. Not used:",
        *[f"  * {folder}: {reason}" for folder, reason in _KTUBERLING_EXCLUDED],
        "* carlo is labelled male from its folder name although its median F0 (~190 Hz) is",
        "  above the threshold; klettres_he (150-170 Hz) is uncertain and kept out of test,",
        "  as are ktuberling_el and ktuberling_sl (all KTuberling voices are training voices).",
        "* Tux Paint languages (`<stamp>_desc_<language>.ogg`): one voice each when at least",
        "  85 % of the voiced clips are within 5 semitones of its median F0; a voice with the",
        "  language and sex of a held-out (valid/test) voice is left out (the volunteer may be",
        "  that person; the other sex is a different person and stays), as are languages with",
        f"  under {TUXPAINT_MIN_SECONDS:.0f} s of speech. Where a training voice of the same language and",
        "  sex may be the same person, the Tux Paint voice shares its group (tuxpaint_es,",
        "  tuxpaint_ca, tuxpaint_da). Voices with 15 min of speech or more get twice the",
        "  utterances. Not used:",
        *[f"  * {language}: {reason}" for language, reason in _TUXPAINT_EXCLUDED],
        "* Drascula: one voice per character and dub, from the file-name prefix of its lines;",
        "  the cast is not credited, so two characters of one dub may be one actor. Not used:",
        *[f"  * {prefix}: {reason}" for prefix, reason in _DRASCULA_EXCLUDED],
        "* FOTAQ voices: one per actor of the game's credits (CREDIT2.CRD), made of the lines",
        "  of the characters credited to that actor, so that no actor is mixed with himself;",
        "  sex from the actor, voices with under 2 min of speech left out. Not used:",
        *[f"  * {what}: {reason}" for what, reason in _FOTAQ_EXCLUDED],
        "* Kajongg voices: sex from the folder name (male*/female*); an English and a German",
        f"  folder of one sex within {KAJONGG_SAME_PERSON_SEMITONES:g} semitones of median F0 are one voice",
        "  (one person);",
        "  a voice with a language and the sex of a held-out voice is left out (Tux Paint rule).",
        "  Not used:",
        *[f"  * {what}: {reason}" for what, reason in _KAJONGG_EXCLUDED],
        "",
        "## Layout",
        "",
        "* `speakers.csv` - speaker,sex,kind,split,group,engine,description",
        f"* `{rate_dir}/speech/<speaker>/*.wav` and `{rate_dir}/utterances_<split>.csv`",
        "  (utterance_id,speaker,path,length,sample_rate; for dynamic mixing)",
        f"* `{rate_dir}/<n>speakers/<split>/{{mix,s1,s2[,s3]}}/` (wsj0-mix layout),",
        f"  `{rate_dir}/<n>speakers/<split>.csv` (LibriMix-format manifests) and",
        f"  `{rate_dir}/<n>speakers/mix_<n>_spk_<split>.txt` (mixing lists)",
        f"* `{rate_dir}/2speakers/{{valid,test}}_real/`, `{{valid,test}}_real.csv` and",
        "  `mix_2_spk_{valid,test}_real.txt`: two held-out human voices per mixture",
        f"* `{rate_dir}/1speaker/{{valid,test}}_real/`, `{{valid,test}}_real.csv` and",
        "  `mix_1_spk_{valid,test}_real.txt`: one held-out human voice per mixture",
        "",
        "## This build",
        "",
        f"* settings: `{ {k: v for k, v in config.items() if k != 'format'} }`",
    ]
    for key, value in stats.items():
        lines.append(f"* {key}: {value}")
    lines += ["", "## Licences", ""]
    lines += [f"* `{package}` - {text}" for package, text in _LICENCES]
    lines += ["* Redistribution of this corpus must respect CC BY-SA and the GPL for the real voices.", ""]
    return "\n".join(lines)


def build_offline(output: Path, sample_rate: int = 8000, n_train_mixtures: int | None = None,
                  n_valid_mixtures: int | None = None, n_test_mixtures: int | None = None,
                  utterances_per_speaker: int | None = None, n_src: Sequence[int] = (2, 3), seed: int = 0,
                  jobs: int = 1, tiny: bool = False, overwrite: bool = False) -> dict[str, Any]:
    """Build (or resume) the offline corpus; see the module docstring for what it holds.

    Args:
        output: the corpus folder.
        sample_rate: 8000 or 16000.
        n_train_mixtures, n_valid_mixtures, n_test_mixtures: mixtures per split and
            per speaker count (``None``: the defaults, or the tiny preset's).
        utterances_per_speaker: utterances generated per speaker.
        n_src: which mixture sets to build (2 and/or 3 speakers).
        seed: random seed; the same seed and settings give identical files.
        jobs: worker processes.
        tiny: use the tiny preset for counts not given.
        overwrite: replace a previous build with other settings.

    Returns:
        Statistics of the build (hours, counts, seconds taken).

    Raises:
        MissingPackageError: a Debian package is missing (message has the apt-get line).
        FileExistsError: the output folder holds something else (see ``--overwrite``).
    """
    from voxsep.data.prepare.common import (is_complete, mark_complete, prepare_output_dir, run_tasks,
                                            write_csv_atomic, write_utterance_list)
    from voxsep.core.files import write_text_atomic

    started = time.perf_counter()
    if sample_rate not in (8000, 16000):
        raise ValueError(f"sample_rate must be 8000 or 16000, got {sample_rate}")
    preset = TINY if tiny else DEFAULTS
    given = {"n_train_mixtures": n_train_mixtures, "n_valid_mixtures": n_valid_mixtures,
             "n_test_mixtures": n_test_mixtures, "utterances_per_speaker": utterances_per_speaker}
    counts = {k: int(v if v is not None else preset[k]) for k, v in given.items()}
    for key, value in counts.items():
        if value < (1 if key == "utterances_per_speaker" else 0):
            raise ValueError(f"{key.replace('_', '-')} must be positive, got {value}")
    n_src = sorted(set(int(n) for n in n_src))
    config = {"format": FORMAT_VERSION, "sample_rate": sample_rate, "seed": seed, "n_src": n_src, **counts}
    check_packages(sample_rate)
    output = Path(output)
    rate_dir = output / f"wav{sample_rate // 1000}k"
    resumed = prepare_output_dir(output, config, overwrite, owned=[rate_dir.name, "README.md", "speakers.csv"])
    split_counts = {"train": counts["n_train_mixtures"], "valid": counts["n_valid_mixtures"],
                    "test": counts["n_test_mixtures"]}
    if resumed and is_complete(output):
        # A complete build made before the one-talker sets or the pool-only voices existed:
        # add what is missing and touch nothing else (its files may be in use by a training run).
        added: dict[str, Any] = {}
        if not all(_one_speaker_manifest(rate_dir, s).exists() for s in REAL_SETS):
            _one_speaker_sets(rate_dir, _utterance_rows(rate_dir, REAL_SETS), split_counts, seed, sample_rate, jobs,
                              added)
            added["build time"] = f"{time.perf_counter() - started:.0f} s with {jobs} job(s) (one-talker sets added)"
        if _missing_pool_voices(output):
            added.update(_add_pool_voices(output, rate_dir, config, counts["utterances_per_speaker"], jobs, started))
        if added:
            return added
    speech_dir = rate_dir / "speech"

    tasks = [{"speaker": s, "index": i, "seed": seed, "sample_rate": sample_rate,
              "count": counts["utterances_per_speaker"], "speech_dir": str(speech_dir)}
             for i, s in enumerate(SPEAKERS)]
    # Slow speakers first (festival starts slowly, real voices decode many clips).
    order = sorted(range(len(tasks)), key=lambda i: (SPEAKERS[i].kind != "real" and SPEAKERS[i].engine != "festival",
                                                      -SPEAKERS[i].scale))
    results = run_tasks(_make_speaker, [tasks[i] for i in order], jobs, "speakers")
    rows_by_speaker = {SPEAKERS[i].name: rows for i, rows in zip(order, results)}

    write_csv_atomic(output / "speakers.csv", ["speaker", "sex", "kind", "split", "group", "engine", "description"],
                     [(s.name, s.sex, s.kind, s.split, s.group, s.engine, s.description) for s in SPEAKERS])
    stats: dict[str, Any] = {}
    for split in SPLITS:
        write_utterance_list(rate_dir / f"utterances_{split}.csv", _split_rows(rows_by_speaker, split))
    stats.update(_utterance_stats(rows_by_speaker, sample_rate))

    for n in n_src:
        for split_index, split in enumerate(SPLITS):
            _mixture_set(rate_dir, rate_dir / f"{n}speakers", split, n, rows_by_speaker,
                         [s for s in SPEAKERS if s.split == split and not s.pool_only], split_counts[split],
                         np.random.default_rng([seed, 7, n, split_index]), sample_rate, jobs, stats)
    if 2 in n_src:
        # The real-voice sets: two held-out human voices (no derived copy, no TTS) of different groups.
        for split in REAL_SETS:
            _mixture_set(rate_dir, rate_dir / "2speakers", f"{split}_real", 2, rows_by_speaker,
                         _heldout_humans(split), split_counts[split],
                         np.random.default_rng([seed, 8, 2, SPLITS.index(split)]), sample_rate, jobs,
                         stats)
    _one_speaker_sets(rate_dir, rows_by_speaker, split_counts, seed, sample_rate, jobs, stats)
    stats["speakers"] = "; ".join(_speaker_counts(SPEAKERS))
    stats["speech"] = stats.pop("speech")  # after the mixture sets, as it always was
    stats["build time"] = f"{time.perf_counter() - started:.0f} s with {jobs} job(s)"
    write_text_atomic(output / "README.md", _readme(config, SPEAKERS, stats))
    mark_complete(output, config)
    return stats


