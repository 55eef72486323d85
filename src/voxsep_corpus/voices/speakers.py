"""The speaker table of the offline corpus (``SPEAKERS``): every voice source's speakers in a
fixed order (a speaker's index seeds its utterances), the languages of the held-out and
training voices that later sources were selected against, and the clips of any speaker."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from voxsep_corpus.voices import (
    asterisk,
    drascula,
    fillets,
    fotaq,
    kajongg,
    klettres,
    ktuberling,
    synthetic,
    tuxpaint,
)
from voxsep_corpus.voices.common import Speaker


def _speaker_table() -> list[Speaker]:
    """Every speaker of the corpus, in the order that gives each its index (its random seeds)."""
    return [*asterisk.speakers(), *fillets.speakers(), *klettres.speakers(), *synthetic.speakers(),
            # Added after the table above was fixed: appended at the end so that every earlier
            # speaker keeps its index (its random seeds), training only, pool-only.
            *ktuberling.speakers(), *tuxpaint.speakers(), *drascula.speakers(), *fotaq.speakers(),
            *kajongg.speakers()]


SPEAKERS: list[Speaker] = _speaker_table()


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


def _speaker_clips(speaker: Speaker) -> list[Path]:
    """The source files of a clip-based (asterisk, fillets, klettres, ktuberling, tuxpaint, drascula, fotaq,
    kajongg) speaker (FOTAQ: ``<queen.1c>/<resource>`` names, see :func:`fotaq_clips`)."""
    from voxsep.core.audio import audio_info

    if speaker.engine == "asterisk":
        return asterisk._asterisk_prompts(speaker.voice, 8000)
    if speaker.engine == "fillets":
        clips = fillets._fillets_clips(speaker.voice)
    elif speaker.engine == "klettres":
        clips = klettres._klettres_clips(speaker.voice)
    elif speaker.engine == "ktuberling":
        clips = ktuberling._ktuberling_clips(speaker.voice)
    elif speaker.engine == "tuxpaint":
        clips = tuxpaint._tuxpaint_clips(speaker.voice)
    elif speaker.engine == "drascula":
        return [path for path in drascula._drascula_clips(speaker.voice) if path.stat().st_size > 0]
    elif speaker.engine == "fotaq":
        return fotaq._fotaq_clips(speaker.voice.partition(":")[2])  # empty resources are not listed
    elif speaker.engine == "kajongg":
        clips = kajongg._kajongg_clips(speaker.voice)
    else:
        raise ValueError(f"{speaker.name} ({speaker.engine}) is not made of recorded clips")
    # fillets-ng-data-nl 1.0.1 ships two empty Ogg files (elevator1/zd1-m-cesta, gems/zav-v-sto).
    return [path for path in clips if audio_info(path).frames > 0]
