"""A second opinion on talker counts from a two-talker model that always splits.

Where the counting rule (:func:`voxsep.inference.separate.count_talkers` on the outputs of
the counting model, e.g. the bundled one) says ONE talker, the mixture is also separated
by a non-counting two-talker model of the same architecture (it always splits the
mixture into two outputs). For a lone talker it splits one voice over its two outputs
(both hold the same voice); for two talkers each output holds a different voice. Each of
the two outputs gets one GE2E d-vector (:mod:`voxsep.inference.speaker`: the
energy-share-weighted mean of the 1 s window d-vectors over the blocks where the output
is active, as :func:`voxsep.inference.order.track_talkers` embeds them); if their cosine
similarity is below a threshold the file is counted as TWO. Optionally the other way
round: where the rule says TWO but the counting model's two outputs have the same voice
(similarity at least a threshold) the file is counted as ONE.

The script separates every mixture of each manifest with both models once (cached with
``--cache``), embeds the outputs, and prints per true count the accuracy of the rule
alone and of the rule with the second opinion over a grid of thresholds; with
``--threshold`` it prints that one setting (the test report), the two-talker errors by
the talkers' sexes (``speakers.csv`` beside the corpus) and by the level difference of
the two talkers (from the mixture names of ``voxsep prepare offline``), and the extra
seconds the second model and the embeddings cost per recording. For the two-talker
recordings the rule counts as one it also prints how alike the encoder finds their clean
reference voices and the two-talker model's SI-SNRi on them.

Calibrate on validation voices, then report once on test voices::

    .venv/bin/python benchmarks/count_second_opinion.py \\
        data/offline/wav8k/1speaker/valid_real.csv data/offline/wav8k/2speakers/valid_real.csv \\
        --two-talker-model two.pt --cache valid.pt
    .venv/bin/python benchmarks/count_second_opinion.py \\
        data/offline/wav8k/1speaker/test_real.csv data/offline/wav8k/2speakers/test_real.csv \\
        --two-talker-model two.pt --cache test.pt --threshold 0.86

(``two.pt``: ``git show ee318aa:src/voxsep/pretrained/convtasnet_offline8k.pt > two.pt``,
the non-counting two-talker model shipped by that commit; the manifests go first, as
``--thresholds`` takes several values.) Results: ``docs/talker_counts.md``, "Tried: a
second opinion from a two-talker model".
"""

from __future__ import annotations

import argparse
import csv
import math
import re
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

import voxsep.inference.separate as sep
from count_calibration import separate_all
from voxsep.core.audio import frame_energies
from voxsep.inference import order

BUNDLED = "src/voxsep/pretrained/convtasnet_offline8k.pt"


def voices(estimates: torch.Tensor, mixture: torch.Tensor, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """One unit d-vector per output ``(n_src, 256)`` (zeros for an output never active) and
    each output's active seconds, with the blocks and activity of
    :func:`voxsep.inference.order.track_talkers`."""
    hop = max(1, int(round(order.HOP_SECONDS * sample_rate)))
    energy = frame_energies(estimates, hop)
    mix_energy = frame_energies(mixture[None], hop)[0]
    usable = mix_energy > max(float(mix_energy.max()) * 10.0 ** (order.SILENCE_DB / 10.0), 1e-20)
    active = (energy >= mix_energy * 10.0 ** (order.ACTIVITY_DB / 10.0)) & usable
    vectors = order._window_embeddings(estimates, active, hop, sample_rate)  # (n_src, blocks, 256)
    share = np.where(active, energy / np.maximum(energy.sum(0, keepdims=True), 1e-30), 0.0)
    total = np.einsum("kb,kbd->kd", share, vectors)
    norms = np.linalg.norm(total, axis=1, keepdims=True)
    return total / np.maximum(norms, 1e-12), active.sum(1) * hop / sample_rate


def similarity(vectors: np.ndarray) -> float:
    """Cosine similarity of the first two d-vectors; 1 (same voice: no evidence of a second
    talker) when either output was never active."""
    if not (np.any(vectors[0]) and np.any(vectors[1])):
        return 1.0
    return float(vectors[0] @ vectors[1])


def measure(counting_model: str, two_model: str, manifest: str, limit: int) -> list[dict]:
    """Per mixture: true count, the rule's count, the two voices' similarity for the
    counting model's and the two-talker model's outputs, and the seconds each step took."""
    items, rate = separate_all(counting_model, [manifest], limit)
    start = time.perf_counter()
    splits, rate_two = separate_all(two_model, [manifest], limit)
    two_seconds = (time.perf_counter() - start) / max(len(splits), 1)
    assert rate == rate_two
    from voxsep.data.datasets import MixtureDataset

    records = MixtureDataset([manifest], (1, 2), rate, segment=None, train=False, resample=True).records
    rows = []
    for record, (n_true, estimates, mixture), (_, split, _) in zip(records, items, splits):
        decision = sep.count_talkers(estimates, mixture, rate)
        start = time.perf_counter()
        split_voices, split_active = voices(split, mixture, rate)
        embed_seconds = time.perf_counter() - start
        count_voices, _ = voices(estimates, mixture, rate)
        rows.append(dict(mixture_id=record.mixture_id, n_true=n_true, n_rule=decision.count,
                         count_similarity=similarity(count_voices), split_similarity=similarity(split_voices),
                         split_active=split_active.tolist(), seconds=mixture.shape[-1] / rate,
                         two_seconds=two_seconds, embed_seconds=embed_seconds))
    return rows


def decide(row: dict, up: float | None, down: float | None, down_by: str = "count") -> int:
    """The count with the second opinion: ``up`` (split voices less similar -> two) where the
    rule says one; ``down`` (voices at least this similar -> one) where it says two, judged on
    the counting model's outputs (``down_by="count"``) or on the two-talker model's split
    (``"split"``, which then runs on every file)."""
    if up is not None and row["n_rule"] == 1 and row["split_similarity"] < up:
        return 2
    key = "count_similarity" if down_by == "count" else "split_similarity"
    if down is not None and row["n_rule"] == 2 and row[key] >= down:
        return 1
    return row["n_rule"]


def accuracy(rows: list[dict], up: float | None, down: float | None, down_by: str = "count") -> tuple[Counter, Counter]:
    right, total = Counter(), Counter()
    for row in rows:
        total[row["n_true"]] += 1
        right[row["n_true"]] += decide(row, up, down, down_by) == row["n_true"]
    return right, total


def line(label: str, rows: list[dict], up: float | None, down: float | None, down_by: str = "count") -> str:
    right, total = accuracy(rows, up, down, down_by)
    per = " | ".join(f"{right[k]}/{total[k]} ({right[k] / total[k]:.1%})" for k in sorted(total))
    return f"| {label} | {per} |"


def sexes(corpus: Path) -> dict[str, str]:
    table = corpus / "speakers.csv"
    if not table.is_file():
        return {}
    with open(table, newline="", encoding="utf-8") as f:
        return {row["speaker"]: row["sex"] for row in csv.DictReader(f)}


_TWO = re.compile(r"^(?P<a>.+?)-\d+_(?P<ga>-?\d+(?:\.\d+)?)_(?P<b>.+?)-\d+_(?P<gb>-?\d+(?:\.\d+)?)$")


def pair_of(mixture_id: str, sex: dict[str, str]) -> tuple[str, float] | None:
    """``("F+M", level difference dB)`` from a two-talker mixture name of ``voxsep prepare offline``."""
    match = _TWO.match(mixture_id)
    if not match:
        return None
    pair = "+".join(sorted(sex.get(match[n], "?") for n in ("a", "b")))
    return pair, abs(float(match["ga"]) - float(match["gb"]))


def breakdown(rows: list[dict], up: float | None, down: float | None, down_by: str, corpus: Path) -> None:
    sex = sexes(corpus)
    groups: dict[str, list[int]] = {}
    for row in rows:
        if row["n_true"] != 2:
            continue
        found = pair_of(row["mixture_id"], sex)
        if found is None:
            continue
        pair, difference = found
        level = "level difference < 2.5 dB" if difference < 2.5 else "level difference >= 2.5 dB"
        for key in (pair, level):
            groups.setdefault(key, [0, 0, 0])[0] += 1
            groups[key][1] += row["n_rule"] != 2
            groups[key][2] += decide(row, up, down, down_by) != 2
    print("\n| two-talker group | recordings | counted as one: rule alone | with second opinion |")
    print("|---|---:|---:|---:|")
    for key in sorted(groups):
        n, before, after = groups[key]
        print(f"| {key} | {n} | {before} | {after} |")


def dropped(rows: list[dict], manifests: list[str], two_model: str) -> None:
    """For the two-talker recordings the rule counts as one: how alike the GE2E encoder finds
    their clean reference voices, and how well the two-talker model separates them
    (SI-SNRi, mean over the two talkers): is the voice test or the split the limit?"""
    from voxsep import checkpoint
    from voxsep.data.datasets import MixtureDataset
    from voxsep.metrics.sdr import si_snr_improvement

    wanted = {row["mixture_id"] for row in rows if row["n_true"] == 2 and row["n_rule"] == 1}
    if not wanted:
        return
    model, _ = checkpoint.load(two_model)
    model.eval()
    references, improvements = [], []
    for manifest in manifests:
        dataset = MixtureDataset([manifest], (1, 2), model.sample_rate, segment=None, train=False, resample=True)
        for i, record in enumerate(dataset.records):
            if record.mixture_id not in wanted or record.n_src != 2:
                continue
            mixture, sources = dataset[i]
            references.append(similarity(voices(sources[:2], mixture, model.sample_rate)[0]))
            with torch.inference_mode():
                split = sep.separate_mixture(model, mixture)
            improvements.append(float(np.mean(si_snr_improvement(sources[:2].numpy(), split.numpy(),
                                                                 mixture.numpy()))))
    q = [0.0, 0.5, 1.0]
    print(f"\n{len(references)} two-talker recordings counted as one by the rule: clean reference voices' "
          f"similarity min/median/max {np.round(np.quantile(references, q), 3)}; two-talker model SI-SNRi "
          f"{np.mean(improvements):.2f} dB mean (min/median/max {np.round(np.quantile(improvements, q), 1)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifests", nargs="+", help="one manifest per true count (e.g. 1speaker/, 2speakers/)")
    parser.add_argument("--model", default=BUNDLED, help="the counting model (default: the bundled one)")
    parser.add_argument("--two-talker-model", required=True, help="a non-counting two-talker model")
    parser.add_argument("--limit", type=int, default=0, help="first N mixtures of each manifest (0: all)")
    parser.add_argument("--thresholds", type=float, nargs="+",
                        default=[0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95])
    parser.add_argument("--threshold", type=float, help="report this similarity threshold only (the test report)")
    parser.add_argument("--down", type=float, help="also count as one where the rule says two but the counting "
                        "outputs' voices are at least this similar")
    parser.add_argument("--down-by", choices=("count", "split"), default="count",
                        help="whose outputs' voices --down judges: the counting model's or the two-talker split's")
    parser.add_argument("--cache", help="file of the measurements: written once, read instead when it exists")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.cache and Path(args.cache).exists():
        rows = torch.load(args.cache, weights_only=False)
        print(f"measurements read from {args.cache}")
    else:
        rows = [row for manifest in args.manifests for row in measure(args.model, args.two_talker_model, manifest,
                                                                      args.limit)]
        if args.cache:
            torch.save(rows, args.cache)
    counts = sorted({row["n_true"] for row in rows})
    header = " | ".join(f"{k} talker(s) right" for k in counts)
    print(f"\n| rule | {header} |\n|---|" + "---:|" * len(counts))
    print(line(f"activity rule alone ({sep.ACTIVITY_THRESHOLD_DB:g} dB)", rows, None, None))
    ups = [args.threshold] if args.threshold is not None else args.thresholds
    for up in ups:
        print(line(f"+ second opinion, split voices < {up:g} -> two", rows, up, None))
        if args.down is not None:
            print(line(f"+ second opinion < {up:g}, and {args.down_by} voices >= {args.down:g} -> one", rows, up,
                       args.down, args.down_by))
    if args.threshold is None:
        for down_by in ("count", "split"):
            for down in args.thresholds:
                print(line(f"rule, and {down_by} voices >= {down:g} -> one", rows, None, down, down_by))
    for k in counts:
        for says in (1, 2):
            for key in ("split_similarity", "count_similarity"):
                values = np.array([row[key] for row in rows if row["n_true"] == k and row["n_rule"] == says])
                if len(values):
                    print(f"{k} talker(s), rule says {says} ({len(values)}): {key} at quantiles 5/25/50/75/95 % "
                          f"{np.round(np.quantile(values, [0.05, 0.25, 0.5, 0.75, 0.95]), 3)}")
    breakdown(rows, args.threshold, args.down, args.down_by,
              Path(args.manifests[0]).resolve().parents[2])
    # the second model runs where the rule says one (with --down-by split: on every file)
    dropped(rows, args.manifests, args.two_talker_model)
    asked = rows if args.down is not None and args.down_by == "split" else [row for row in rows if row["n_rule"] == 1]
    per_file = np.mean([row["two_seconds"] + row["embed_seconds"] for row in asked]) if asked else math.nan
    print(f"\ncost: the second model runs on {len(asked)}/{len(rows)} recordings, "
          f"{per_file:.2f} s each (separation {np.mean([r['two_seconds'] for r in asked]):.2f} s + embeddings "
          f"{np.mean([r['embed_seconds'] for r in asked]):.2f} s; mean length "
          f"{np.mean([r['seconds'] for r in asked]):.1f} s; 1 thread); {per_file * len(asked) / len(rows):.2f} s "
          "per recording over the whole set")


if __name__ == "__main__":
    main()
