"""Shared test fixtures: a tiny offline corpus of real and synthetic speech (DESIGN.md §5).

The corpus is built once per test session with ``voxsep prepare offline --tiny``
(about 10–30 s on 2 cores): 8 kHz, 3 utterances per speaker, 2- and 3-speaker
mixture sets with 12 train / 4 valid / 4 test mixtures each, speaker-disjoint splits.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def offline_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a tiny offline corpus at 8 kHz in the layout of ``voxsep prepare offline``.

    ``corpus/wav8k/{2speakers,3speakers}/{train,valid,test}.csv`` are LibriMix-format
    manifests, ``corpus/wav8k/utterances_{split}.csv`` speaker-labelled utterance lists,
    ``corpus/speakers.csv`` the speakers and their splits.
    """
    from voxsep.data.prepare.offline import build_offline

    root = tmp_path_factory.mktemp("offline") / "corpus"
    build_offline(root, sample_rate=8000, tiny=True, jobs=2, seed=0)
    return root


def _read_pool(csv_path: Path) -> dict[str, list[Path]]:
    try:
        from voxsep.data.datasets import load_speaker_pool
    except ImportError:  # the datasets module is written by another team; read the list directly
        pool: dict[str, list[Path]] = {}
        with open(csv_path, newline="") as handle:
            for row in csv.DictReader(handle):
                pool.setdefault(row["speaker"], []).append((csv_path.parent / row["path"]).resolve())
        return pool
    return load_speaker_pool(csv_path)


@pytest.fixture(scope="session")
def speech_pool(offline_corpus: Path) -> dict[str, list[Path]]:
    """Training speakers' utterances of the tiny corpus: ``{speaker: [wav paths]}`` (8 kHz)."""
    return _read_pool(offline_corpus / "wav8k" / "utterances_train.csv")


@pytest.fixture(scope="session")
def mix2_manifests(offline_corpus: Path) -> dict[str, Path]:
    """The tiny corpus' 2-speaker LibriMix-format manifests ``{"train", "valid", "test"}``."""
    return {split: offline_corpus / "wav8k" / "2speakers" / f"{split}.csv" for split in ("train", "valid", "test")}
