"""Long recordings through ``voxsep separate``: talker swaps, per-window SI-SNRi, peak memory, time.

Builds a conversation of two held-out real voices of the offline corpus
(``utterances_test.csv``; utterances with random pauses of 0.1-2.5 s per talker,
:func:`voxsep.data.conversation.make_conversation`), writes the mixture as a wav, runs
``voxsep separate`` on it in a child process (its peak resident memory from
``getrusage(RUSAGE_CHILDREN)``, its wall time) and scores the outputs against the two
tracks in 4-s windows with :func:`voxsep.metrics.order.talker_order_swaps`: clear windows,
swaps (windows whose best order differs from the file's majority) and the mean SI-SNRi of
the majority order (window SI-SNR minus that of the mixture).

Usage::

    .venv/bin/python benchmarks/long_recordings.py --minutes 60 --out exp/long
    .venv/bin/python benchmarks/long_recordings.py --minutes 20 --out exp/long --voices fillets_nl_small ivr_ru
    .venv/bin/python benchmarks/long_recordings.py --minutes 10 --out exp/long --extra=--chunk-seconds --extra=3
"""

from __future__ import annotations

import argparse
import csv
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from common import cpu_name

from voxsep.core.audio import read_audio, write_audio
from voxsep.data.conversation import make_conversation
from voxsep.metrics import si_snr
from voxsep.metrics.order import talker_order_swaps

RATE = 8000


def conversation(corpus: Path, voices: list[str], minutes: float, seed: int) -> np.ndarray:
    rows = list(csv.DictReader(open(corpus / "utterances_test.csv", encoding="utf-8")))
    utterances = [[read_audio(corpus / r["path"], sample_rate=RATE, channels=1)[0][0] for r in rows
                   if r["speaker"] == voice] for voice in voices]
    for voice, talker in zip(voices, utterances):
        if not talker:
            raise SystemExit(f"no utterances of {voice} in {corpus / 'utterances_test.csv'}")
    return make_conversation(utterances, minutes * 60, RATE, np.random.default_rng(seed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=Path("data/offline/wav8k"))
    parser.add_argument("--voices", nargs=2, default=["fillets_nl_big", "ivr_ru"])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=None, help="--model of voxsep separate (default: the bundled model)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--extra", action="append", default=[], help="more voxsep separate arguments")
    args = parser.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    tracks = conversation(args.corpus, args.voices, args.minutes, args.seed)
    name = f"{args.voices[0]}+{args.voices[1]}_{args.minutes:g}min_seed{args.seed}"
    mixture_path = args.out / f"{name}.wav"
    write_audio(mixture_path, tracks.sum(0), RATE, overwrite=True)
    outputs = args.out / f"{name}_separated"
    command = [sys.executable, "-m", "voxsep.cli", "separate", str(mixture_path), "--out", str(outputs), "--force",
               *(["--model", args.model] if args.model else []), *args.extra]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    estimates = np.stack([read_audio(p, sample_rate=RATE, channels=1)[0][0] for p in sorted(outputs.glob("*.wav"))])
    if estimates.shape[0] < 2:
        print(f"only {estimates.shape[0]} output(s) written: a talker was dropped")
        estimates = np.concatenate([estimates, np.zeros((2 - estimates.shape[0], estimates.shape[1]))])
    report = talker_order_swaps(tracks, estimates[:, : tracks.shape[1]], RATE)
    window = 4 * RATE
    mixture = tracks.sum(0)
    improvements = [report.si_snr[i] - np.mean([float(si_snr(tracks[k:k + 1, int(w * RATE): int(w * RATE) + window],
                                                                     mixture[None, int(w * RATE): int(w * RATE) + window])[0])
                                                for k in range(2)])
                    for i, w in enumerate(report.windows)] if report.si_snr else []
    print(f"| {' + '.join(args.voices)} | {args.minutes:g} min | {args.model or 'bundled'} {' '.join(args.extra)} | "
          f"{report.swaps} of {report.clear} | {np.mean(improvements) if improvements else float('nan'):.2f} | "
          f"{peak_mb:.0f} | {seconds:.0f} | {cpu_name()} |")


if __name__ == "__main__":
    main()
