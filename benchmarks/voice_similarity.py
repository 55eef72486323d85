"""How alike are the corpus' voices for the speaker encoder? GE2E centroid similarities.

For every voice of the offline corpus' utterance lists (``utterances_{train,valid,test}.csv``)
the mean of the unit d-vectors (:mod:`voxsep.inference.speaker`) of its first ``--utterances``
utterances (at most 3 s each) is normalised to a centroid; the script prints the cosine
similarity of the pairs asked for (``--voices``, all pairs among them) or the most similar
pairs of the whole corpus, and the median over all pairs of the same sex
(``speakers.csv``) as a reference. Close voices are where counting and talker tracking have
the least to go on (docs/model_history.md, "Why the room fine-tune drops talkers").

Usage::

    .venv/bin/python benchmarks/voice_similarity.py --voices klettres_fr klettres_nds klettres_hu klettres_da klettres_ml
"""

from __future__ import annotations

import argparse
import csv
import itertools
from pathlib import Path

import numpy as np
import torch

from voxsep.core.audio import read_audio
from voxsep.inference.speaker import voice_vectors

RATE = 8000


def centroids(corpus: Path, utterances: int) -> dict[str, np.ndarray]:
    paths: dict[str, list[str]] = {}
    for split in ("train", "valid", "test"):
        with open(corpus / f"utterances_{split}.csv", newline="") as handle:
            for row in csv.DictReader(handle):
                paths.setdefault(row["speaker"], []).append(row["path"])
    out = {}
    for voice, files in sorted(paths.items()):
        pieces = [read_audio(corpus / path, sample_rate=RATE, channels=1)[0][0][: 3 * RATE] for path in files[:utterances]]
        width = max(len(p) for p in pieces)
        vectors = voice_vectors(np.stack([np.pad(p, (0, width - len(p))) for p in pieces]), RATE)
        mean = vectors.mean(0)
        out[voice] = mean / np.linalg.norm(mean)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=Path("data/offline/wav8k"))
    parser.add_argument("--speakers", type=Path, default=Path("data/offline/speakers.csv"))
    parser.add_argument("--voices", nargs="*", default=[], help="print all pairs among these (default: the 15 closest pairs)")
    parser.add_argument("--utterances", type=int, default=12)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with open(args.speakers, newline="") as handle:
        sex = {row[0]: row[1] for row in csv.reader(handle)}
    centres = centroids(args.corpus, args.utterances)
    pairs = sorted(((float(centres[a] @ centres[b]), a, b) for a, b in itertools.combinations(sorted(centres), 2)),
                   reverse=True)
    for label in ("M", "F"):
        same = [value for value, a, b in pairs if sex.get(a) == sex.get(b) == label]
        if same:
            print(f"{label}+{label}: {len(same)} pairs, median similarity {np.median(same):.3f}")
    chosen = [p for p in pairs if p[1] in args.voices and p[2] in args.voices] if args.voices else pairs[:15]
    for value, a, b in chosen:
        print(f"{value:.3f}  {a} ({sex.get(a, '?')}) + {b} ({sex.get(b, '?')})")


if __name__ == "__main__":
    main()
