"""Model-card tables from ``voxsep evaluate`` results: mean / median / worst per metric,
overall and by the sexes of the two talkers (F+F, F+M, M+M), and the learning curve
(validation score against steps) from an experiment's checkpoint history.

Usage::

    .venv/bin/python benchmarks/bundled_model_report.py exp/bundled3/test_real.csv \\
        --speakers data/offline/speakers.csv --checkpoint exp/bundled3/last.pt
    # how well a model separates its own training voices (recorded people only):
    voxsep evaluate --model MODEL data/offline/wav8k/2speakers/train.csv --limit 400 --n-src all \\
        --no-quality --no-sdr --out exp/card/train400.csv
    .venv/bin/python benchmarks/bundled_model_report.py exp/card/train400.csv \\
        --speakers data/offline/speakers.csv --human-only

The mixture ids of the offline corpus name their talkers
(``<speaker>-<utt>_<gain>_<speaker>-<utt>_<gain>``), which is how pairs are typed.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from pathlib import Path

METRICS = ("si_snri", "sdri", "snri", "pesq", "stoi")


def talkers(mixture_id: str, speakers: set[str]) -> list[str]:
    """The speaker names in an offline-corpus mixture id (longest names first)."""
    found, rest = [], mixture_id
    for name in sorted(speakers, key=len, reverse=True):
        token = f"{name}-"
        while token in rest and (rest.startswith(token) or f"_{token}" in rest):
            found.append(name)
            rest = rest.replace(token, "\0", 1)
    return found


def read_speakers(path: Path) -> list[dict[str, str]]:
    """The rows of the offline corpus's ``speakers.csv``."""
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def is_human(row: dict[str, str]) -> bool:
    """A ``speakers.csv`` row of a recorded person (kind real, not a resampled copy)."""
    return row["kind"] == "real" and row["engine"] != "derived"


def summary_rows(rows: list[dict[str, str]], label: str) -> list[str]:
    lines = []
    for metric in METRICS:
        values = [float(r[metric]) for r in rows if r.get(metric) not in (None, "", "nan")]
        if values:
            lines.append(f"| {label} | {metric} | {len(values)} | {statistics.fmean(values):.2f} | "
                         f"{statistics.median(values):.2f} | {min(values):.2f} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scores", type=Path, help="per-utterance CSV written by voxsep evaluate")
    parser.add_argument("--speakers", type=Path, help="speakers.csv of the offline corpus (pair types by sex)")
    parser.add_argument("--checkpoint", type=Path, help="a last.pt whose validation history gives the learning curve")
    parser.add_argument("--human-only", action="store_true",
                        help="only mixtures of recorded people (no synthetic voice, no resampled copy; needs --speakers), "
                             "e.g. to score the training voices of 2speakers/train.csv")
    args = parser.parse_args()
    if args.human_only and not args.speakers:
        parser.error("--human-only needs --speakers")

    with open(args.scores, newline="") as handle:
        rows = list(csv.DictReader(handle))
    speakers = read_speakers(args.speakers) if args.speakers else []
    sexes = {row["speaker"]: row["sex"] for row in speakers}
    if args.human_only:
        humans = {row["speaker"] for row in speakers if is_human(row)}
        rows = [r for r in rows if set(talkers(r["mixture_id"], set(sexes))) <= humans]
    print("| mixtures | metric | count | mean | median | worst |\n|---|---|---:|---:|---:|---:|")
    print("\n".join(summary_rows(rows, "all")))
    if args.speakers:
        groups: dict[str, list[dict[str, str]]] = {}
        for row in rows:
            pair = sorted(sexes.get(name, "?") for name in talkers(row["mixture_id"], set(sexes)))
            groups.setdefault("+".join(pair), []).append(row)
        for label in sorted(groups):
            print("\n".join(r for r in summary_rows(groups[label], label) if "| si_snri |" in r))
    if args.checkpoint:
        from voxsep import checkpoint

        history = checkpoint.read(args.checkpoint)["meta"]["training"]["history"]
        print("\n| step | validation SI-SNRi (dB) |\n|---:|---:|")
        for record in history:
            print(f"| {int(record['step'])} | {record['si_snri']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
