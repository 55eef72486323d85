"""DPRNN's default inference path (bf16 autocast on AMX CPUs) against the plain fp32 forward.

For the paper-config DPRNN-TasNet (N=64, L=2, B=64, H=128, K=250, 6 blocks; randomly
initialised, and optionally trained checkpoints given with ``--checkpoint``) on 10 s of
real two-talker speech at 8 kHz (asterisk prompts of two speakers, en + fr), prints:

* what ``voxsep.inference.fast.optimize`` chose (``fast_path``),
* the SNR of its output against the fp32 output (the bound is 40 dB),
* the real-time factor (median of ``--repeats``) of fp32 and of the chosen path, timed
  interleaved so that a background load affects both alike.

Usage::

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_dprnn_fast.py --threads 2 --repeats 5
    .venv/bin/python benchmarks/bench_dprnn_fast.py --checkpoint path/to/dprnn.pt
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

SOUNDS = Path("/usr/share/asterisk/sounds")
SAMPLE_RATE = 8000
PAPER = dict(n_src=2, n_filters=64, kernel_size=2, bottleneck=64, hidden=128, chunk_size=250, n_blocks=6)


def two_talkers(seconds: float) -> torch.Tensor:
    """``seconds`` of an English and a French asterisk speaker talking at once, ``(1, time)``."""
    from voxsep.core.audio import read_audio

    length = int(seconds * SAMPLE_RATE)
    talkers = []
    for language in ("en", "fr_CA_f_June"):
        pieces, total = [], 0
        for path in sorted((SOUNDS / language).glob("*.wav")):
            audio, rate = read_audio(path, channels=1)
            if rate != SAMPLE_RATE:
                continue
            pieces.append(audio[0])
            total += audio.shape[-1]
            if total >= length:
                break
        talkers.append(np.concatenate(pieces)[:length])
    mixture = talkers[0] / np.std(talkers[0]) + talkers[1] / np.std(talkers[1])
    return torch.from_numpy(0.1 * mixture).float().unsqueeze(0)


def measure(model: torch.nn.Module, label: str, mixture: torch.Tensor, repeats: int) -> None:
    from voxsep.inference.fast import QUALITY_BOUND_DB, optimize, output_snr_db

    model = model.eval()
    fast = optimize(model, "cpu")
    path = getattr(fast, "fast_path", "plain fp32 (no faster verified path on this CPU)")
    times: dict[str, list[float]] = {"fp32": [], "default": []}
    with torch.inference_mode():
        reference = model(mixture)
        estimate = fast(mixture)
        for _ in range(repeats):  # interleaved
            for name, module in (("fp32", model), ("default", fast)):
                start = time.perf_counter()
                module(mixture)
                times[name].append(time.perf_counter() - start)
    seconds = mixture.shape[-1] / SAMPLE_RATE
    snr = output_snr_db(reference, estimate)
    rtf = {name: statistics.median(t) / seconds for name, t in times.items()}
    print(f"{label}: default path = {path}")
    print(f"  SNR vs fp32 on {seconds:.0f} s real speech: {snr:.1f} dB (bound {QUALITY_BOUND_DB:.0f} dB)")
    print(f"  RTF fp32 {rtf['fp32']:.3f}  default {rtf['default']:.3f}  speed-up {rtf['fp32'] / rtf['default']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--checkpoint", action="append", default=[], help="also measure this DPRNN checkpoint")
    parser.add_argument("--skip-paper", action="store_true", help="only the checkpoints")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from voxsep import checkpoint, models

    mixture = two_talkers(args.seconds)
    if not args.skip_paper:
        torch.manual_seed(0)
        measure(models.build("dprnn", **PAPER), "paper DPRNN (random init)", mixture, args.repeats)
    for path in args.checkpoint:
        model, _ = checkpoint.load(path)
        measure(model, f"{path} ({sum(p.numel() for p in model.parameters()):,} params)", mixture, args.repeats)


if __name__ == "__main__":
    main()
