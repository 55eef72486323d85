"""TIGER on one CPU thread: voxsep's ``tiger`` against the authors' reference code, side by
side on the same file, plus the parity of the two outputs.

The reference code is not a dependency of voxsep: get it from the authors' repository
(github.com/JusperLee/TIGER, Apache-2.0) into a throwaway folder and point
``--reference-code`` at the folder that holds its ``look2hear`` package (only
``look2hear/models/tiger.py``, ``base_model.py`` and ``look2hear/layers/`` are imported;
``base_model.py`` needs ``huggingface_hub``). Both sides run in this interpreter, so they
use the same torch build.

Usage::

    .venv/bin/python benchmarks/bench_tiger.py --model PUBLISHED_FOLDER \\
        --reference-code /tmp/tiger_ref --rounds 5 [--write BENCHMARKS.md]

``PUBLISHED_FOLDER`` is the published ``config.json`` + ``model.safetensors`` (a hub
snapshot of ``JusperLee/TIGER-speech``); the input is ``--wav`` (16 kHz mono) or, by
default, ``input_long`` of the folder's ``reference_io.npz`` when there is one, else 6 s
of the bundled example mixture resampled to 16 kHz. The two implementations run in
alternation, ``--rounds`` times each after one warm-up, and the table gives the fastest
and the median run of each; on a shared machine compare the ratio, not the seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from common import cpu_name, write_section
import torch


def load_input(args: argparse.Namespace) -> tuple[np.ndarray, str]:
    if args.wav:
        from voxsep.core.audio import read_audio

        audio, rate = read_audio(args.wav)
        if rate != 16000:
            raise SystemExit(f"{args.wav} is at {rate} Hz; TIGER-speech takes 16 kHz")
        return np.asarray(audio, dtype=np.float32).reshape(-1), str(args.wav)
    npz = Path(args.model) / "reference_io.npz"
    if npz.is_file():
        return np.load(npz)["input_long"].astype(np.float32), f"{npz.name}:input_long"
    import soundfile
    import soxr

    from voxsep import pretrained

    audio, rate = soundfile.read(Path(pretrained.__file__).parent / "example_mix.wav", dtype="float32")
    return soxr.resample(audio, rate, 16000).astype(np.float32)[:96000], "example_mix.wav (16 kHz, 6 s)"


def reference_model(code: Path, folder: Path) -> torch.nn.Module:
    from safetensors.torch import load_file

    sys.path.insert(0, str(code))
    from look2hear.models.tiger import TIGER  # noqa: E402  (the authors' code, outside voxsep)

    model = TIGER(**json.loads((folder / "config.json").read_text()))
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    return model.eval()


def timed(model: torch.nn.Module, x: torch.Tensor) -> tuple[float, torch.Tensor]:
    start = time.perf_counter()
    with torch.inference_mode():
        y = model(x)
    return time.perf_counter() - start, y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="published TIGER folder (config.json + model.safetensors)")
    parser.add_argument("--reference-code", type=Path, required=True, help="folder holding the authors' look2hear package")
    parser.add_argument("--wav", help="16 kHz mono input (default: the folder's reference_io.npz input_long)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--write", help="update the TIGER section of this markdown file (BENCHMARKS.md)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from voxsep.interop import import_model

    folder = Path(args.model)
    ours, _ = import_model(folder)
    theirs = reference_model(args.reference_code, folder)
    audio, what = load_input(args)
    x = torch.from_numpy(audio)[None]
    seconds = x.shape[-1] / 16000
    load_before = os.getloadavg()[0]
    timed(ours, x), timed(theirs, x)  # warm-up
    times: dict[str, list[float]] = {"voxsep": [], "reference": []}
    for _ in range(args.rounds):
        t, y_ours = timed(ours, x)
        times["voxsep"].append(t)
        t, y_ref = timed(theirs, x)
        times["reference"].append(t)
    load_after = os.getloadavg()[0]
    ref = y_ref.double()
    snr = float(10 * torch.log10(ref.pow(2).sum() / (y_ours.double() - ref).pow(2).sum().clamp_min(1e-30)))
    rows = []
    for name in ("reference", "voxsep"):
        fastest, median = min(times[name]), statistics.median(times[name])
        rows.append((name, fastest, median, fastest / seconds, median / seconds))
    ratio_fastest = rows[0][1] / rows[1][1]
    ratio_median = rows[0][2] / rows[1][2]
    cpu = cpu_name()
    lines = [
        f"TIGER-speech (0.82 M parameters, 16 kHz), input {what}: {seconds:.2f} s of audio; {args.threads} thread(s); "
        f"{cpu}, {os.cpu_count()} cores (shared: load average {load_before:.1f} before / {load_after:.1f} after); "
        f"torch {torch.__version__}; {args.rounds} alternating rounds after a warm-up, both in this process.",
        f"Reproduce: `.venv/bin/python benchmarks/bench_tiger.py --model <TIGER-speech folder> "
        f"--reference-code <folder with look2hear> --rounds {args.rounds} --threads {args.threads}`",
        "",
        "| implementation | fastest s | median s | RTF (fastest) | RTF (median) |",
        "|---|---:|---:|---:|---:|",
    ]
    label = {"reference": "authors' code (look2hear TIGER)", "voxsep": "voxsep tiger"}
    lines += [f"| {label[n]} | {a:.2f} | {b:.2f} | {c:.3f} | {d:.3f} |" for n, a, b, c, d in rows]
    lines += ["", f"voxsep is **{ratio_fastest:.2f}x** faster (fastest runs), {ratio_median:.2f}x (medians); "
                  f"outputs agree to {snr:.1f} dB SNR."]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(Path(args.write), "## TIGER inference speed", "## TIGER inference speed\n\n" + text + "\n")


if __name__ == "__main__":
    main()
