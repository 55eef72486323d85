"""Calibrate the talker-counting rule of ``voxsep separate --n-src auto`` on held-out data.

Separates every mixture of the given manifests once, then replays
:func:`voxsep.inference.separate.count_talkers` over a grid of activity thresholds
(dB relative to the mixture) and minimum active times, and prints the count accuracy of
each setting -- per true talker count, overall and balanced (the mean of the per-count
accuracies, which does not favour the more frequent count) -- so that the defaults
(``ACTIVITY_THRESHOLD_DB``, ``MIN_ACTIVE_SECONDS``) are chosen on *validation* voices and
then reported once on test voices with ``voxsep evaluate``.

It also prints, per true count, the distribution of the weakest output's active time at
the current threshold: a two-talker mixture counted as one is either a rule problem
(the second output is active, but briefly) or a model problem (the second output is
silent or a copy of the first).

Usage::

    .venv/bin/python benchmarks/count_calibration.py --model exp/bundled_1to2/best.pt \\
        data/offline/wav8k/1speaker/valid_real.csv data/offline/wav8k/2speakers/valid_real.csv
"""

from __future__ import annotations

import argparse
import itertools
from collections import Counter
from pathlib import Path

import numpy as np
import torch

import voxsep.inference.separate as sep
from voxsep import checkpoint
from voxsep.data.datasets import MixtureDataset


Item = tuple[int, torch.Tensor, torch.Tensor]  # (true count, estimates (n_src, time), mixture (time,))


def separate_all(model_path: str, manifests: list[str], limit: int) -> tuple[list[Item], int]:
    """``[(true count, estimates (n_src, time), mixture (time,))]`` for every mixture, and the model rate."""
    model, _ = checkpoint.load(model_path)
    model.eval()
    dataset = MixtureDataset(manifests, (1, model.n_src), model.sample_rate, segment=None, train=False, resample=True)
    count = min(limit, len(dataset)) if limit else len(dataset)
    out = []
    with torch.inference_mode():
        for i in range(count):
            mixture, _ = dataset[i]
            estimates = sep.separate_mixture(model, mixture)
            out.append((dataset.records[i].n_src, estimates, mixture))
            if (i + 1) % 100 == 0:
                print(f"separated {i + 1}/{count}", flush=True)
    return out, model.sample_rate


def sweep(items, sample_rate: int, thresholds: list[float], min_seconds: list[float], duplicates: bool) -> None:
    """Print the count accuracy of every (threshold, minimum active time) setting."""
    original = sep.MIN_ACTIVE_SECONDS
    print(f"{'threshold dB':>12} {'min s':>6} {'accuracy':>9} {'balanced':>9}  per true count")
    try:
        for threshold, seconds in itertools.product(thresholds, min_seconds):
            sep.MIN_ACTIVE_SECONDS = seconds
            right: Counter = Counter()
            total: Counter = Counter()
            for n_true, estimates, mixture in items:
                n_est = sep.count_talkers(estimates, mixture, sample_rate, threshold_db=threshold,
                                          duplicates=duplicates).count
                total[n_true] += 1
                right[n_true] += n_est == n_true
            per = "  ".join(f"{k}: {right[k]}/{total[k]}" for k in sorted(total))
            balanced = sum(right[k] / total[k] for k in total) / len(total)
            print(f"{threshold:>12.1f} {seconds:>6.2f} {sum(right.values()) / sum(total.values()):>9.1%} "
                  f"{balanced:>9.1%}  {per}")
    finally:
        sep.MIN_ACTIVE_SECONDS = original


def weakest_output(items, sample_rate: int) -> None:
    """Per true count: quantiles of the least active output's active seconds and of its
    energy relative to the mixture (whole file), at the current default threshold."""
    by_count: dict[int, list[tuple[float, float]]] = {}
    for n_true, estimates, mixture in items:
        decision = sep.count_talkers(estimates, mixture, sample_rate, duplicates=False)
        weakest = int(np.argmin(decision.active_seconds))
        energy, mixture_energy = float(estimates[weakest].pow(2).sum()), max(float(mixture.pow(2).sum()), 1e-20)
        relative = 10 * np.log10(energy / mixture_energy + 1e-20)
        by_count.setdefault(n_true, []).append((decision.active_seconds[weakest], relative))
    for n_true, values in sorted(by_count.items()):
        seconds, relative = np.array(values).T
        q = [0.05, 0.25, 0.5, 0.75, 0.95]
        print(f"{n_true} talker(s): weakest output active s at quantiles {q}: {np.round(np.quantile(seconds, q), 2)}; "
              f"energy rel. mixture dB: {np.round(np.quantile(relative, q), 1)}")


def _second_output_features(estimates: torch.Tensor, mixture: torch.Tensor, sample_rate: int,
                            weakest: int) -> tuple[float, float, float, float]:
    """The least active output's energy relative to the mixture (dB, whole file), its level
    spread (as :mod:`voxsep.inference.no_speech` measures a file: dB between the 95th and
    10th percentile of 20-ms frame energies of the differenced signal), its correlation
    with the other output, and its *dominated share*: the fraction of its STFT energy
    (256-sample frames) in time-frequency bins where the other output is stronger -- near 1
    when it is leakage of the other output's voice, small for a second talker, whose energy
    lies in bins of its own (two-output models)."""
    from scipy.signal import stft

    from voxsep.core.audio import frame_energies

    signals = estimates.double()
    weak, other = signals[weakest], signals[1 - weakest]
    relative = 10 * np.log10(float(weak.pow(2).sum()) / max(float(mixture.double().pow(2).sum()), 1e-20) + 1e-20)
    energy = frame_energies(weak[None].numpy(), max(1, int(0.02 * sample_rate)), difference=True)[0]
    db = 10 * np.log10(np.maximum(energy, energy.max() * 1e-12 + 1e-30))
    spread = float(np.percentile(db, 95) - np.percentile(db, 10))
    rho = float((weak * other).sum() / (weak.norm() * other.norm() + 1e-20))
    weak_bins, other_bins = (np.abs(stft(x.numpy(), nperseg=256)[2]) ** 2 for x in (weak, other))
    dominated = float((weak_bins * (other_bins > weak_bins)).sum() / max(weak_bins.sum(), 1e-30))
    return relative, spread, rho, dominated


def second_output_rules(items, sample_rate: int, correlations: list[float], levels: list[float]) -> None:
    """Could the second output of the recordings counted TWO tell a lone talker's split voice
    from a second person? Per true count: quantiles of the least active output's features,
    and for rules "drop it when its correlation with the other output is >= rho and its
    energy <= level dB below the mixture": lone talkers the rule would fix and two-talker
    recordings it would wrongly drop; the same for "drop it when its dominated share is >= share"."""
    features: dict[int, list[tuple[float, float, float, float]]] = {1: [], 2: []}
    for n_true, estimates, mixture in items:
        decision = sep.count_talkers(estimates, mixture, sample_rate)
        if decision.count != 2 or estimates.shape[0] != 2 or n_true not in features:
            continue
        weakest = int(np.argmin(decision.active_seconds))
        features[n_true].append(_second_output_features(estimates, mixture, sample_rate, weakest))
    q = [0, 5, 25, 50, 75, 95, 100]
    for n_true, rows in features.items():
        if not rows:
            continue
        values = np.array(rows)
        print(f"{n_true} talker(s) counted two ({len(rows)}): second output, quantiles {q} %")
        for column, name in enumerate(("energy rel. mixture dB", "level spread dB", "correlation with the other",
                                       "dominated share")):
            print(f"    {name}: {np.round(np.percentile(values[:, column], q), 2)}")
    if not (features[1] and features[2]):
        return
    lone, two = np.array(features[1]), np.array(features[2])
    for rho, level in itertools.product(correlations, levels):
        fixed = int(((lone[:, 2] >= rho) & (lone[:, 0] <= level)).sum())
        dropped = int(((two[:, 2] >= rho) & (two[:, 0] <= level)).sum())
        print(f"correlation >= {rho:.2f} and energy <= {level:g} dB: lone talkers fixed {fixed}/{len(lone)}, "
              f"two-talker recordings dropped {dropped}/{len(two)}")
    for share in (0.9, 0.95, 0.99, 0.998):
        fixed, dropped = int((lone[:, 3] >= share).sum()), int((two[:, 3] >= share).sum())
        print(f"dominated share >= {share:g}: lone talkers fixed {fixed}/{len(lone)}, "
              f"two-talker recordings dropped {dropped}/{len(two)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifests", nargs="+")
    parser.add_argument("--model", required=True)
    parser.add_argument("--limit", type=int, default=0, help="first N mixtures of the combined manifests (0: all)")
    parser.add_argument("--thresholds", type=float, nargs="+", default=[-30, -25, -20, -17.5, -15, -12.5, -10])
    parser.add_argument("--min-seconds", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0])
    parser.add_argument("--no-duplicates", action="store_true", help="do not drop near-duplicate outputs")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cache", help="file of the estimates: written after separating, read instead of "
                        "separating when it exists (sweep other settings without separating again)")
    parser.add_argument("--second-output", action="store_true",
                        help="also print the second-output features and rules (second_output_rules)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.cache and Path(args.cache).exists():
        items, sample_rate = torch.load(args.cache)
        print(f"estimates read from {args.cache}")
    else:
        items, sample_rate = separate_all(args.model, args.manifests, args.limit)
        if args.cache:
            torch.save((items, sample_rate), args.cache)
    weakest_output(items, sample_rate)
    sweep(items, sample_rate, args.thresholds, args.min_seconds, duplicates=not args.no_duplicates)
    if args.second_output:
        second_output_rules(items, sample_rate, [0.5, 0.6, 0.7], [-8, -12, -16])


if __name__ == "__main__":
    main()
