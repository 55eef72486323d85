"""The speaker table of the offline corpus (``SPEAKERS``): every voice source's speakers in a
fixed order (a speaker's index seeds its utterances), the languages of the held-out and
training voices that later sources were selected against, and the clips of any speaker."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from voxsep_corpus.voices.common import Speaker
from voxsep_corpus.voices.registry import SOURCES, source_of


def _speaker_table() -> list[Speaker]:
    """Every speaker of the corpus, in the order that gives each its index (its random seeds):
    the sources' tables in registry order (:data:`~.registry.SOURCES`, later sources appended)."""
    return [speaker for source in SOURCES for speaker in source.speakers()]


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
    """``(language, sex)`` of the real human training voices of the sources the KTuberling
    selection was made against (``VoiceSource.ktuberling_reference``: asterisk, Fish Fillets,
    KLettres, Drascula; not KTuberling itself, nor the later Tux Paint, FOTAQ and Kajongg)."""
    return {(_speaker_language(s), s.sex) for s in (SPEAKERS if speakers is None else speakers)
            if s.human and s.split == "train" and source_of(s.engine).ktuberling_reference}


def heldout_voices(speakers: Sequence[Speaker] | None = None) -> set[tuple[str, str]]:
    """``(language, sex)`` of the valid/test human voices (Tux Paint voices like these are left out)."""
    return {(_speaker_language(s), s.sex) for s in (SPEAKERS if speakers is None else speakers)
            if s.human and s.split != "train"}


def speaker_clips(speaker: Speaker) -> list[Path]:
    """The clips a recorded speaker's utterances are made of (its source's ``clips``; FOTAQ:
    ``<queen.1c>/<resource>`` names, see :func:`~.fotaq.fotaq_clips`).

    Raises:
        ValueError: the speaker is synthetic or derived (made of no clips of its own).
    """
    source = source_of(speaker.engine) if speaker.engine != "derived" else None
    if source is None or source.clips is None:
        raise ValueError(f"{speaker.name} ({speaker.engine}) is not made of recorded clips")
    return source.clips(speaker.voice)
