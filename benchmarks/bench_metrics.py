"""Time BSS-eval SDR: voxsep.metrics.sdr vs fast_bss_eval vs mir_eval, on real speech.

Each example is 2 real talkers (asterisk prompts, different professional voices, 8 kHz)
and an imperfect "separated" output: each estimate is a short-filtered, rescaled source
plus leakage of the other talker and white noise, delivered in swapped order. Every
implementation scores the same examples; values are compared with mir_eval's
``bss_eval_sources`` (the reference) and timed per example (median over repeats).

Prints a markdown table and writes it as the "SDR evaluation" section of BENCHMARKS.md
(other sections are kept; the file is replaced atomically).

Usage:
    .venv/bin/python benchmarks/bench_metrics.py                 # 6 examples x 4 s
    .venv/bin/python benchmarks/bench_metrics.py --examples 3 --seconds 2 --no-write
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
from common import cpu_name, write_section
import soundfile as sf
import torch

ROOT = Path(__file__).resolve().parents[1]
SOUNDS = Path("/usr/share/asterisk/sounds")
SECTION = "## SDR evaluation"
# distinct professional voices (en and es are one speaker)
VOICE_PAIRS = [("en", "fr_CA_f_June"), ("it", "ru"), ("fr_CA_f_June", "it_IT_f_Menardi"), ("en", "ru"),
               ("it_IT_f_Menardi", "it"), ("ru", "fr_CA_f_June"), ("en", "it"), ("fr_CA_f_June", "it")]
PROMPTS = ["demo-congrats", "priv-callee-options", "demo-echotest", "conf-adminmenu",
           "demo-congrats", "priv-callee-options", "demo-echotest", "conf-adminmenu"]


def _read(voice: str, prompt: str, n_time: int, offset: int = 8000) -> np.ndarray:
    path = SOUNDS / voice / f"{prompt}.wav"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; install the asterisk-core-sounds-*-wav packages")
    audio, rate = sf.read(path, dtype="float64", frames=offset + n_time)
    if rate != 8000 or len(audio) < offset + n_time:
        raise ValueError(f"{path}: expected at least {offset + n_time} samples at 8 kHz")
    return audio[offset:offset + n_time]


def make_examples(n_examples: int, seconds: float, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(sources (2, T), estimates (2, T))]`` of real speech, estimates in swapped order."""
    if not 1 <= n_examples <= len(VOICE_PAIRS):
        raise ValueError(f"--examples must be between 1 and {len(VOICE_PAIRS)}")
    rng = np.random.default_rng(seed)
    n_time = int(seconds * 8000)
    examples = []
    for (a, b), prompt in zip(VOICE_PAIRS[:n_examples], PROMPTS):
        sources = np.stack([_read(a, prompt, n_time), _read(b, prompt, n_time)])
        estimates = []
        for k, j in enumerate([1, 0]):
            taps = np.array([1.0, 0.2 + 0.1 * rng.random(), -0.1])
            target = np.convolve(sources[j], taps)[:n_time] * rng.uniform(0.5, 1.5)
            leak = rng.uniform(0.05, 0.4) * sources[1 - j]
            estimates.append(target + leak + rng.uniform(0.002, 0.03) * rng.standard_normal(n_time))
        examples.append((sources, np.stack(estimates)))
    return examples


def _time(fn: Callable[[np.ndarray, np.ndarray], np.ndarray], examples, repeats: int
          ) -> tuple[float, list[np.ndarray]]:
    """Median seconds per example over ``repeats`` passes, and the values of the last pass."""
    per_pass = []
    values: list[np.ndarray] = []
    fn(*examples[0])  # warm-up (imports, FFT plans, thread pools)
    for _ in range(repeats):
        start = time.perf_counter()
        values = [np.asarray(fn(ref, est)) for ref, est in examples]
        per_pass.append((time.perf_counter() - start) / len(examples))
    return float(np.median(per_pass)), values


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "?"




def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=6, help="number of 2-talker examples (default 6)")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each example (default 4 s)")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes for the fast methods (default 5)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's own choice)")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args(argv)

    import fast_bss_eval
    import mir_eval

    from voxsep import metrics

    if args.threads:
        torch.set_num_threads(args.threads)
    examples = make_examples(args.examples, args.seconds)

    def mir(ref, est):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # bss_eval_sources deprecation
            return mir_eval.separation.bss_eval_sources(ref, est)[0]

    def torch_sdr(ref, est):
        # one thread: batched fp64 torch.linalg.solve on 2 threads can hang in torch 2.13 (MKL)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return fast_bss_eval.sdr(torch.from_numpy(ref), torch.from_numpy(est)).numpy()
        finally:
            torch.set_num_threads(threads)

    methods = [
        ("voxsep.metrics.sdr (fast_bss_eval torch fp64; permutation by SIR, as mir_eval)",
         metrics.sdr, args.repeats),
        ("voxsep.metrics.sdr(permutation='sdr')", lambda r, e: metrics.sdr(r, e, permutation="sdr"),
         args.repeats),
        ("fast_bss_eval.bss_eval_sources, numpy (its default for numpy input)",
         lambda r, e: fast_bss_eval.bss_eval_sources(r, e)[0], args.repeats),
        ("fast_bss_eval.sdr, numpy (SDR only, permutation by SDR)", fast_bss_eval.sdr, args.repeats),
        ("fast_bss_eval.sdr, torch fp64, 1 thread (SDR only, permutation by SDR)", torch_sdr, args.repeats),
        ("mir_eval.separation.bss_eval_sources (reference)", mir, 1),
    ]
    results = {}
    for name, fn, repeats in methods:
        results[name] = _time(fn, examples, repeats)
        print(f"{name}: {results[name][0] * 1e3:.1f} ms/example", file=sys.stderr)
    mir_seconds, mir_values = results[methods[-1][0]]

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        f"BSS-eval SDR (512-tap filter) of {args.examples} real 2-talker examples, {args.seconds:g} s at 8 kHz "
        "each (asterisk prompts, distinct voices; estimates = filtered source + leakage + noise, swapped order).",
        f"Machine: {cpu_name()}, {os.cpu_count()} cores (shared, 1-min load {load:.1f} at the start); "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; fast_bss_eval {_version('fast-bss-eval')}, "
        f"mir_eval {_version('mir_eval')}; measured {datetime.date.today().isoformat()}.",
        f"Command: `.venv/bin/python benchmarks/bench_metrics.py --examples {args.examples} "
        f"--seconds {args.seconds:g}`",
        "",
        "| implementation | ms / example | speed-up vs mir_eval | max abs diff vs mir_eval (dB) |",
        "|---|---:|---:|---:|",
    ]
    for name, _, _ in methods:
        seconds, values = results[name]
        diff = max(float(np.max(np.abs(v - m))) for v, m in zip(values, mir_values))
        lines.append(f"| {name} | {seconds * 1e3:.1f} | {mir_seconds / seconds:.1f}x | {diff:.2e} |")
    mean_sdr = float(np.mean([v.mean() for v in mir_values]))
    lines += [
        "",
        f"Mean SDR of the examples: {mean_sdr:.2f} dB. By default voxsep.metrics.sdr keeps mir_eval's choice "
        "of the permutation (highest mean SIR), which needs the joint projection of each estimate on all "
        "references (a 1024-unknown system here); `permutation='sdr'` (like `fast_bss_eval.sdr`) skips it "
        "and picks the permutation by SDR: faster, and the same values unless SDR and SIR rank the "
        "assignments differently. "
        "voxsep runs fast_bss_eval's torch backend on one thread: with torch 2.13 (MKL) a batched fp64 "
        "`torch.linalg.solve` on 2 threads can fail ('Intel oneMKL ERROR: Parameter 6 was incorrect on "
        "entry to DLASWP') and hang, and one thread avoids spin-waiting on a busy CPU. "
        "The machine is shared with other jobs, so absolute times vary from run to run; the ratios "
        "within one run are the comparison.",
    ]
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        write_section(args.output, SECTION, f"{SECTION}\n\n{table.strip()}\n")
        print(f"updated the '{SECTION[3:]}' section of {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
