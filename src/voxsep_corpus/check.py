"""``voxsep prepare check PATH``: validate a dataset before training on it.

Accepts a LibriMix-format CSV, a wsj0-mix / WHAM! folder, a ClearerVoice ``.scp`` list
or an utterance list (``utterance_id,speaker,path,length,sample_rate``). Every file
must exist and be readable; within a mixture the mixture, sources and noise must have
the same length, sample rate and channel count (and the CSV's ``length`` must match);
the whole set must have one sample rate. Prints a summary (mixtures or utterances,
hours, speakers when they can be told) and, when something is wrong, the list of
problems, exiting with status 1.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path


_LIBRISPEECH_ID = re.compile(r"^(\d+)-\d+-\d+$")
_WSJ0_ID = re.compile(r"^[0-9a-z]{8}$", re.IGNORECASE)


def _speakers_from_list(mixture_id: str, utterance_speakers: dict[str, str]) -> list[str] | None:
    """Speakers of a wsj0-style ID ``<utt1>_<gain1>_<utt2>_<gain2>...`` whose utterance IDs
    (which may contain ``_``) are keys of ``utterance_speakers``."""
    tokens, i, speakers = mixture_id.split("_"), 0, []
    while i < len(tokens):
        for j in range(i + 1, len(tokens) + 1):
            speaker = utterance_speakers.get("_".join(tokens[i:j]))
            if speaker is not None:
                speakers.append(speaker)
                i = j + 1  # skip the gain token
                break
        else:
            return None
    return speakers or None


def find_utterance_lists(path: Path, levels: int = 2) -> list[Path]:
    """``utterances_*.csv`` beside ``path`` or up to ``levels`` folders above it (the
    offline corpus keeps them in ``wav8k/`` above ``wav8k/2speakers/train.csv``)."""
    folder = path if path.is_dir() else path.parent
    for candidate in [folder, *list(folder.parents)[:levels]]:
        found = sorted(candidate.glob("utterances_*.csv"))
        if found:
            return found
    return []


def read_utterance_speakers(lists: list[Path]) -> dict[str, str]:
    """``{utterance_id: speaker}`` from utterance lists."""
    mapping: dict[str, str] = {}
    for listing in lists:
        with open(listing, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if row.get("utterance_id") and row.get("speaker"):
                    mapping[row["utterance_id"].strip()] = row["speaker"].strip()
    return mapping


def speakers_from_ids(mixture_ids: list[str], n_src: int,
                      utterance_speakers: dict[str, str] | None = None) -> set[str] | None:
    """Speakers named by standard mixture IDs, or ``None`` when the IDs do not tell.

    LibriMix IDs join LibriSpeech utterance IDs ``speaker-chapter-utterance`` with ``_``;
    wsj0-mix IDs alternate 8-character WSJ0 utterance IDs (speaker = first 3 characters)
    and gains (``011a0101_0.06_401c020r_-0.06``); other wsj0-style IDs (the offline
    corpus's) are resolved through ``utterance_speakers`` from the utterance lists.
    """
    speakers: set[str] = set()
    for mixture_id in mixture_ids:
        tokens = mixture_id.split("_")
        listed = _speakers_from_list(mixture_id, utterance_speakers) if utterance_speakers else None
        if listed is not None and len(listed) == n_src:
            speakers.update(listed)
        elif len(tokens) == n_src and all(_LIBRISPEECH_ID.match(t) for t in tokens):
            speakers.update(_LIBRISPEECH_ID.match(t).group(1) for t in tokens)
        elif len(tokens) == 2 * n_src and all(_WSJ0_ID.match(t) for t in tokens[::2]) and all(
                _is_number(t) for t in tokens[1::2]):
            speakers.update(t[:3] for t in tokens[::2])
        else:
            return None
    return speakers


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


