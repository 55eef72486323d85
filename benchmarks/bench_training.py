"""Training speed: samples/s of forward + PIT SI-SNR loss + backward + Adam step.

Conv-TasNet with Asteroid's 1.7 M-parameter configuration (N=256, L=16, B=128, H=256,
Sc=128, P=3, X=8, R=2), batch 4 x 2 s at 8 kHz, fp32 and bf16 autocast, voxsep's
model and loss as ``voxsep train`` runs them (the default compiled path, its one-time
compile time on a row of its own, and the eager path) and, when an Asteroid environment is
given, Asteroid 0.7.0's ``ConvTasNet`` + ``PITLossWrapper(pairwise_neg_sisdr)`` in the
same run (as a subprocess, so the two packages never share an interpreter).

Usage::

    .venv/bin/python benchmarks/bench_training.py                       # voxsep only
    .venv/bin/python benchmarks/bench_training.py --asteroid-python /tmp/astenv/bin/python \\
        --write BENCHMARKS.md                                            # side by side

Set up the Asteroid environment (separate venv, CPU torch) with::

    python3 -m venv /tmp/astenv
    /tmp/astenv/bin/pip install -c constraints.txt torch==2.13.0
    /tmp/astenv/bin/pip install --no-deps asteroid asteroid-filterbanks
    /tmp/astenv/bin/pip install -c constraints.txt numpy scipy soundfile pyyaml huggingface_hub requests
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from common import cpu_name, write_section

CONFIG = dict(n_filters=256, kernel_size=16, bottleneck=128, hidden=256, skip=128, conv_kernel=3, n_blocks=8, n_repeats=2)
BATCH, SECONDS, SAMPLE_RATE = 4, 2.0, 8000

# Runs inside either interpreter: times `steps` optimiser steps after `warmup` ones.
TIMER = r'''
import json, sys, time
import numpy as np
import torch

PHASES = ("forward", "loss", "backward", "clip", "optimizer")

def timed_steps(model, loss_fn, precision, steps, warmup, threads, batch, samples):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    sources = torch.from_numpy(rng.standard_normal((batch, 2, samples)).astype(np.float32)) * 0.1
    mixture = sources.sum(1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    dtype = torch.bfloat16 if precision == "bf16" else None
    times, phases = [], {name: [] for name in PHASES}
    for i in range(warmup + steps):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            estimates = model(mixture)
        marks = [start, time.perf_counter()]
        loss = loss_fn(estimates.float(), sources)
        marks.append(time.perf_counter())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        marks.append(time.perf_counter())
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        marks.append(time.perf_counter())
        optimizer.step()
        marks.append(time.perf_counter())
        if i >= warmup:
            times.append(marks[-1] - start)
            for name, begin, end in zip(PHASES, marks, marks[1:]):
                phases[name].append(end - begin)
    step = float(np.median(times))
    return {"s_per_step": step, "samples_per_s": batch / step, "n_params": sum(p.numel() for p in model.parameters()),
            "phases_ms": {name: 1000 * float(np.median(values)) for name, values in phases.items()}}
'''

ASTEROID = TIMER + r'''
from asteroid.models import ConvTasNet
from asteroid.losses import PITLossWrapper, pairwise_neg_sisdr
args = json.loads(sys.argv[1])
c = args["config"]
out = {}
for precision in args["precisions"]:
    torch.manual_seed(0)
    model = ConvTasNet(n_src=2, n_filters=c["n_filters"], kernel_size=c["kernel_size"], stride=c["kernel_size"] // 2,
                       bn_chan=c["bottleneck"], hid_chan=c["hidden"], skip_chan=c["skip"], conv_kernel_size=c["conv_kernel"],
                       n_blocks=c["n_blocks"], n_repeats=c["n_repeats"], sample_rate=8000)
    pit = PITLossWrapper(pairwise_neg_sisdr, pit_from="pw_mtx")
    out[precision] = timed_steps(model, pit, precision, args["steps"], args["warmup"], args["threads"], args["batch"], args["samples"])
import asteroid
out["version"] = asteroid.__version__
print(json.dumps(out))
'''


def run_voxsep(precisions: list[str], steps: int, warmup: int, threads: int, paths: list[str]) -> dict:
    """voxsep's model and loss as ``voxsep train`` runs them: ``default`` is the compiled path
    (:func:`voxsep.train.compiled.compile_for_training`, its compile time reported apart),
    ``eager`` the plain module."""
    import logging

    import torch

    from voxsep import models
    from voxsep.losses import PITLoss
    from voxsep.train.compiled import compile_for_training, training_input_shape

    namespace: dict = {}
    exec(TIMER, namespace)  # the same timing code as the Asteroid subprocess
    pit = PITLoss("si_snr")
    samples = int(SECONDS * SAMPLE_RATE)
    log = logging.getLogger("bench_training")
    out: dict = {}
    for path in paths:
        for precision in precisions:
            torch.set_num_threads(threads)
            torch.manual_seed(0)
            model = models.build("conv_tasnet", n_src=2, **CONFIG)
            compile_s = None
            step_model = model
            if path == "default":
                dtype = torch.bfloat16 if precision == "bf16" else None
                step_model, compile_s = compile_for_training(
                    model, training_input_shape(BATCH, samples, 1), torch.device("cpu"), dtype, log)
            row = namespace["timed_steps"](
                step_model, lambda est, src: pit(est, src)[0], precision, steps, warmup, threads, BATCH, samples)
            row["compile_s"] = compile_s
            out.setdefault(path, {})[precision] = row
            torch._dynamo.reset()
    import voxsep

    out["version"] = voxsep.__version__
    return out


def run_asteroid(python: str, precisions: list[str], steps: int, warmup: int, threads: int) -> dict:
    args = {"config": CONFIG, "precisions": precisions, "steps": steps, "warmup": warmup, "threads": threads,
            "batch": BATCH, "samples": int(SECONDS * SAMPLE_RATE)}
    result = subprocess.run([python, "-c", ASTEROID, json.dumps(args)], capture_output=True, text=True, timeout=3600)
    if result.returncode != 0:
        raise RuntimeError(f"the Asteroid run failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])



def markdown(results: dict, args: argparse.Namespace) -> str:
    import torch

    lines = [
        "## Training speed",
        "",
        f"Conv-TasNet N=256, L=16, B=128, H=256, Sc=128, P=3, X=8, R=2 (Asteroid's 1.7 M-parameter configuration), "
        f"batch {BATCH} x {SECONDS:g} s at {SAMPLE_RATE} Hz; one step = forward + PIT SI-SNR loss + backward + clip + Adam; "
        f"median of {args.steps} steps after {args.warmup} warm-up steps; {args.threads} thread(s); "
        f"{cpu_name()}, torch {torch.__version__}. Reproduce: `{' '.join(['.venv/bin/python', *sys.argv])}`.",
        "",
        "| implementation | precision | s/step | samples/s | vs Asteroid |",
        "|---|---|---:|---:|---:|",
    ]
    version = results["voxsep"]["version"]
    for precision in args.precisions:
        reference = results.get("asteroid", {}).get(precision)
        if reference:
            lines.append(f"| Asteroid {results['asteroid']['version']} | {precision} | {reference['s_per_step']:.3f} | "
                         f"{reference['samples_per_s']:.2f} | 1.00x |")
        for path in args.paths:
            ours = results["voxsep"][path][precision]
            ratio = f"{ours['samples_per_s'] / reference['samples_per_s']:.2f}x" if reference else "n/a"
            label = "default (compiled)" if path == "default" else "eager"
            lines.append(f"| voxsep {version} {label} | {precision} | {ours['s_per_step']:.3f} | "
                         f"{ours['samples_per_s']:.2f} | {ratio} |")
    for precision in args.precisions:
        compiled = results["voxsep"].get("default", {}).get(precision)
        if compiled and compiled["compile_s"] is not None:
            lines.append(f"| voxsep default: one-time compile | {precision} | {compiled['compile_s']:.1f} s | | |")
        elif compiled:
            lines.append(f"| voxsep default: compile FAILED, eager fallback | {precision} | | | |")
    phases = list(results["voxsep"][args.paths[0]][args.precisions[0]]["phases_ms"])  # TIMER's PHASES, in order
    lines += ["", "Where a step's time goes (median ms per phase; the forward includes autocast):", "",
              "| implementation | precision | " + " | ".join(phases) + " |", "|---|---|" + "---:|" * len(phases)]
    for precision in args.precisions:
        rows = [(f"Asteroid {results['asteroid']['version']}", results.get("asteroid", {}).get(precision))]
        rows += [(f"voxsep {'default' if path == 'default' else 'eager'}", results["voxsep"][path][precision])
                 for path in args.paths]
        for label, row in rows:
            if row and "phases_ms" in row:
                lines.append(f"| {label} | {precision} | " + " | ".join(f"{row['phases_ms'][p]:.1f}" for p in phases) + " |")
    if args.note:
        lines += ["", args.note]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--paths", nargs="+", default=["default", "eager"], choices=["default", "eager"],
                        help="voxsep training paths: default (compiled, what voxsep train runs) and eager")
    parser.add_argument("--asteroid-python", help="python of a venv with asteroid 0.7.0 installed")
    parser.add_argument("--write", type=Path, help="update this markdown file's 'Training speed' section")
    parser.add_argument("--note", default="", help="a line added under the table (e.g. machine load)")
    args = parser.parse_args()

    results = {"voxsep": run_voxsep(args.precisions, args.steps, args.warmup, args.threads, args.paths)}
    if args.asteroid_python:
        results["asteroid"] = run_asteroid(args.asteroid_python, args.precisions, args.steps, args.warmup, args.threads)
    print(json.dumps(results, indent=2))
    section = markdown(results, args)
    print(section)
    if args.write:
        write_section(args.write, "## Training speed", section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
