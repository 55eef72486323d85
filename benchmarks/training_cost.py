"""What a training step of each candidate for the bundled room model costs on this CPU.

The rooms issue asks to choose the bundled model "by held-out score per CPU-hour". This
times one optimiser step (forward + PIT loss + backward + clip + Adam; the timing code of
``bench_training.py``) for each candidate as ``voxsep train`` runs it (compiled, bf16
autocast, two-second crops in the candidate's recipe batch) and prints the examples one
CPU-hour buys:

* ``bundled``: the bundled Conv-TasNet (0.39 M, 8 kHz; ``conv_tasnet_bundled_rooms.yaml``);
* ``wide``: the same grown to H = 256 (0.75 M; ``conv_tasnet_bundled_rooms_wide.yaml``);
* ``tiger``: TIGER with the configuration of the published TIGER-speech model (0.82 M,
  16 kHz, so a two-second crop holds twice the samples; batch 1 as in
  ``recipes/libri2mix/tiger.yaml``: a batch of 4 needed more than the 21 GB this machine had
  free and was killed; timed eager with ``--eager --models tiger``: its compile had not
  finished after 10 minutes), Xu et al., ICLR 2025.

Usage::

    .venv/bin/python benchmarks/training_cost.py --threads 1 --steps 3 --warmup 1 --models bundled wide
    .venv/bin/python benchmarks/training_cost.py --threads 1 --steps 3 --warmup 1 --models tiger --eager
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import torch
import yaml
from bench_training import TIMER
from common import cpu_name

from voxsep import models
from voxsep.losses import PITLoss
from voxsep.train.compiled import compile_for_training, training_input_shape

SECONDS = 2.0
ROOT = Path(__file__).resolve().parents[1]
#: name -> the recipe whose model, sample rate and batch size are timed
CANDIDATES = {
    "bundled": "recipes/offline/conv_tasnet_bundled_rooms.yaml",
    "wide": "recipes/offline/conv_tasnet_bundled_rooms_wide.yaml",
    "tiger": "recipes/libri2mix/tiger.yaml",
}


def time_candidate(name: str, steps: int, warmup: int, threads: int, compile_step: bool) -> dict:
    """s/step, compile time and parameter count of one candidate's recipe model (module docstring)."""
    recipe = yaml.safe_load((ROOT / CANDIDATES[name]).read_text(encoding="utf-8"))
    kind, config = recipe["model"]["name"], recipe["model"]["args"]
    rate, batch = int(recipe["data"]["sample_rate"]), int(recipe["data"]["batch_size"])
    namespace: dict = {}
    exec(TIMER, namespace)
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = models.build(kind, n_src=2, **config)
    samples = int(SECONDS * rate)
    step_model, compile_s = model, None
    if compile_step:
        step_model, compile_s = compile_for_training(model, training_input_shape(batch, samples, 1), torch.device("cpu"),
                                                     torch.bfloat16, logging.getLogger("training_cost"))
    pit = PITLoss("si_snr")
    row = namespace["timed_steps"](step_model, lambda est, src: pit(est, src)[0], "bf16", steps, warmup, threads,
                                   batch, samples)
    torch._dynamo.reset()
    per_example = row["s_per_step"] * threads / batch  # CPU-seconds
    return {**row, "compile_s": compile_s, "sample_rate": rate, "batch": batch,
            "cpu_s_per_example": per_example, "examples_per_cpu_hour": 3600 / per_example}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES))
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--eager", action="store_true", help="time the eager module (voxsep train compiles it)")
    args = parser.parse_args()
    start = time.perf_counter()
    results = {name: time_candidate(name, args.steps, args.warmup, args.threads, not args.eager)
               for name in args.models}
    print(json.dumps(results, indent=2))
    print(f"\n{cpu_name()}, torch {torch.__version__}, {args.threads} thread(s), bf16, "
          f"{'eager' if args.eager else 'compiled'}, {SECONDS:g}-s crops, median of {args.steps} steps; "
          f"{time.perf_counter() - start:.0f} s in all\n")
    print("| candidate | parameters | rate | batch | s/step | CPU-s per example | examples per CPU-hour | cost vs bundled |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    base = results.get("bundled", {}).get("cpu_s_per_example")
    for name, row in results.items():
        ratio = f"{row['cpu_s_per_example'] / base:.1f}x" if base else "n/a"
        print(f"| {name} | {row['n_params'] / 1e6:.2f} M | {row['sample_rate']} Hz | {row['batch']} | "
              f"{row['s_per_step']:.3f} | {row['cpu_s_per_example']:.3f} | {row['examples_per_cpu_hour']:.0f} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
