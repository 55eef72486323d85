"""Inference speed and memory: voxsep vs Asteroid 0.7.0, and a 1-hour file end to end.

Measures, in ONE run on the same machine:

* real-time factor (seconds of compute per second of audio, median of ``--repeats``) of
  paper-config Conv-TasNet (N=512, L=16, B=128, H=512, Sc=128, P=3, X=8, R=3) and
  DPRNN-TasNet (N=64, L=2, B=64, H=128, K=250, 6 blocks) on a 10 s, 8 kHz input:
  voxsep fp32 eager, voxsep's fast Conv-TasNet kernels with fp32 products, voxsep's default
  inference path (``voxsep.inference.fast.optimize``; on AMX CPUs the kernels with bf16
  products),
  voxsep bf16 autocast, onnxruntime on the exported graph, and Asteroid 0.7.0's
  ConvTasNet / DPRNNTasNet of the same configuration (run in a subprocess from a separate
  venv, so the two packages never share an interpreter). The input is real speech of two
  talkers; every fast path reports the SNR of its output against voxsep's fp32 output
  (the bound is 40 dB).
* peak resident memory and wall time of ``voxsep separate`` on a 1-hour 8 kHz recording
  (real speech from two talkers, tiled), measured with ``os.wait4`` on that child alone.

Writes the "## Inference" section of BENCHMARKS.md (other sections are kept)::

    .venv/bin/python benchmarks/bench_inference.py --asteroid-python /tmp/astenv/bin/python

Asteroid's venv: ``python3 -m venv /tmp/astenv && /tmp/astenv/bin/pip install -c
constraints.txt torch==2.13.0 && /tmp/astenv/bin/pip install --no-deps asteroid
asteroid-filterbanks`` plus its runtime imports.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from common import cpu_features, cpu_name, median_seconds, write_section

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_RATE = 8000
SECONDS = 10.0
CONFIGS = {
    "conv_tasnet": dict(n_src=2, n_filters=512, kernel_size=16, bottleneck=128, hidden=512, skip=128,
                        conv_kernel=3, n_blocks=8, n_repeats=3),
    "dprnn": dict(n_src=2, n_filters=64, kernel_size=2, bottleneck=64, hidden=128, chunk_size=250, n_blocks=6),
}

ASTEROID = r"""
import json, statistics, sys, time, torch
args = json.loads(sys.argv[1])
torch.set_num_threads(args["threads"])
from asteroid.models import ConvTasNet, DPRNNTasNet
import asteroid
builders = {
    "conv_tasnet": lambda: ConvTasNet(n_src=2, n_filters=512, kernel_size=16, stride=8, bn_chan=128, hid_chan=512,
                                      skip_chan=128, conv_kernel_size=3, n_blocks=8, n_repeats=3, norm_type="gLN",
                                      mask_act="sigmoid", sample_rate=8000),
    "dprnn": lambda: DPRNNTasNet(n_src=2, n_filters=64, kernel_size=2, stride=1, bn_chan=64, hid_size=128,
                                 chunk_size=250, hop_size=125, n_repeats=6, norm_type="gLN", mask_act="sigmoid",
                                 bidirectional=True, rnn_type="LSTM", sample_rate=8000),
}
out = {"version": asteroid.__version__}
x = torch.randn(1, args["samples"], generator=torch.Generator().manual_seed(0)) * 0.1
for name in args["models"]:
    model = builders[name]().eval()
    times = []
    with torch.inference_mode():
        model(x)
        for _ in range(args["repeats"]):
            start = time.perf_counter(); model(x); times.append(time.perf_counter() - start)
    out[name] = {"rtf": statistics.median(times) / args["seconds"], "params": sum(p.numel() for p in model.parameters())}
print(json.dumps(out))
"""


def median_rtf(fn, x, repeats: int) -> tuple[float, object]:
    import torch

    with torch.inference_mode():
        seconds, out = median_seconds(lambda: fn(x), repeats, warmup=1)
    return seconds / SECONDS, out


def snr_db(reference, estimate) -> float:
    import numpy as np

    reference = np.asarray(reference, dtype=np.float64)
    error = np.sum((reference - np.asarray(estimate, dtype=np.float64)) ** 2)
    return float(10 * np.log10(np.sum(reference**2) / max(error, 1e-30)))


def run_voxsep(names: list[str], repeats: int, threads: int, onnx: list[str]) -> dict:
    import torch

    from voxsep import models
    from voxsep.inference.export import OnnxModel, export_onnx
    from voxsep.inference.fast import optimize
    from voxsep.inference.fast_conv_tasnet import accelerate, can_accelerate

    torch.set_num_threads(threads)
    x = torch.from_numpy(two_talkers(int(SECONDS * SAMPLE_RATE))).float().unsqueeze(0)
    results: dict = {}
    for name in names:
        torch.manual_seed(0)
        model = models.build(name, **CONFIGS[name]).eval()
        rows = {}
        rtf, reference = median_rtf(model, x, repeats)
        rows["voxsep fp32 eager"] = {"rtf": rtf, "snr": None}
        if can_accelerate(model):
            rtf, out = median_rtf(accelerate(model, torch.float32), x, repeats)
            rows["voxsep fast kernels, fp32 products"] = {"rtf": rtf, "snr": snr_db(reference, out)}
        fast = optimize(model)
        if fast is not model:
            rtf, out = median_rtf(fast, x, repeats)
            rows[f"**voxsep default path** (fast.optimize: {fast.fast_path})"] = {
                "rtf": rtf, "snr": snr_db(reference, out)}

        def bf16(inp, model=model):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return model(inp).float()

        rtf, out = median_rtf(bf16, x, repeats)
        rows["voxsep bf16 autocast"] = {"rtf": rtf, "snr": snr_db(reference, out)}
        if name in onnx:
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                path = export_onnx(model, Path(tmp) / f"{name}.onnx")
                export_s = time.perf_counter() - start
                session = OnnxModel(path, threads=threads)
                rtf, out = median_rtf(lambda inp: session(inp.numpy()), x, repeats)
            rows["onnxruntime fp32 (voxsep export)"] = {"rtf": rtf, "snr": snr_db(reference, out), "export_s": export_s}
        results[name] = {"params": sum(p.numel() for p in model.parameters()), "rows": rows}
        print(name, json.dumps(results[name]), file=sys.stderr)
    return results


def run_asteroid(python: str, names: list[str], repeats: int, threads: int) -> dict:
    args = {"models": names, "repeats": repeats, "threads": threads, "samples": int(SECONDS * SAMPLE_RATE),
            "seconds": SECONDS}
    result = subprocess.run([python, "-c", ASTEROID, json.dumps(args)], capture_output=True, text=True, timeout=7200)
    if result.returncode != 0:
        raise RuntimeError(f"the Asteroid run failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def two_talkers(total: int):
    """``total`` samples of two real talkers (asterisk en + ru prompts) mixed, tiled if needed."""
    import numpy as np

    from voxsep.core.audio import read_audio

    sounds = Path("/usr/share/asterisk/sounds")
    voices = []
    for language in ("en", "ru"):
        parts = [read_audio(p, channels=1)[0][0] for p in sorted((sounds / language).glob("*.wav"))[:120]]
        voices.append(np.concatenate(parts))
    n = min(len(v) for v in voices)
    block = 0.5 * (voices[0][:n] + voices[1][:n])
    return np.tile(block, total // n + 1)[:total].astype(np.float32)


def run_long_file(seconds: float, model_config: dict, workdir: Path) -> dict:
    """``voxsep separate`` on a ``seconds``-long 8 kHz file in a child process."""
    import soundfile as sf
    import torch

    from voxsep import checkpoint, models

    mixture = two_talkers(int(seconds * SAMPLE_RATE))
    wav = workdir / "long.wav"
    sf.write(wav, mixture, SAMPLE_RATE, subtype="PCM_16")
    torch.manual_seed(0)
    ckpt = checkpoint.save(workdir / "model.pt", models.build("conv_tasnet", **model_config), sample_rate=SAMPLE_RATE)
    start = time.perf_counter()
    # os.wait4 gives this child's own peak RSS (RUSAGE_CHILDREN would be the largest of
    # every child so far, e.g. the Asteroid run).
    process = subprocess.Popen([str(ROOT / ".venv/bin/voxsep"), "separate", str(wav), "--out", str(workdir / "out"),
                                "--model", str(ckpt), "--force"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"voxsep separate failed:\n{stderr[-3000:]}")
    return {"seconds": seconds, "wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024, "config": model_config}




def markdown(results: dict, args: argparse.Namespace, load_before: float, load_after: float) -> str:
    import torch

    shared = (f"The {os.cpu_count()} cores were shared with other jobs (load average {load_before:.1f} before, "
              f"{load_after:.1f} after), so absolute numbers are pessimistic; "
              if max(load_before, load_after) > 0.5 else
              f"Load average {load_before:.1f} before, {load_after:.1f} after; ")
    lines = [
        "## Inference",
        "",
        f"Real-time factor (compute seconds per audio second; lower is better) for a {SECONDS:g} s, {SAMPLE_RATE} Hz "
        f"input, batch 1, median of {args.repeats} runs after one warm-up, {args.threads} thread(s); {cpu_name()} "
        f"({cpu_features()}), torch {torch.__version__}; measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
        + shared + "the rows of one table were measured in the same run. "
        "SNR: the output's agreement with voxsep's fp32 output (the speed-up bound is 40 dB). "
        f"Reproduce: `{' '.join(['.venv/bin/python', *sys.argv])}`.",
        "",
    ]
    for name, data in results["voxsep"].items():
        lines += [f"**{name}** (paper configuration, {data['params'] / 1e6:.2f} M parameters)", "",
                  "| implementation | RTF | SNR vs fp32 (dB) |", "|---|---:|---:|"]
        reference = results.get("asteroid", {}).get(name)
        if reference:
            lines.append(f"| Asteroid {results['asteroid']['version']} (fp32 eager) | {reference['rtf']:.3f} | - |")
        for row, values in data["rows"].items():
            snr = "-" if values["snr"] is None else f"{values['snr']:.1f}"
            lines.append(f"| {row} | {values['rtf']:.3f} | {snr} |")
        lines.append("")
        default = next((v for row, v in data["rows"].items() if "default path" in row), None)
        if reference and default:
            lines += [f"Asteroid / voxsep default path: **{reference['rtf'] / default['rtf']:.2f}x** (this run).", ""]
    long = results.get("long")
    if long:
        cfg = ", ".join(f"{k}={v}" for k, v in long["config"].items())
        lines += [
            f"**Long input**: `voxsep separate` on a {long['seconds'] / 3600:g}-hour {SAMPLE_RATE} Hz file (real speech "
            f"of two talkers, tiled), Conv-TasNet ({cfg}), default chunks (10 s, 2 s overlap): peak resident memory "
            f"**{long['peak_rss_mb']:.0f} MB**, wall time {long['wall_s']:.0f} s "
            f"(RTF {long['wall_s'] / long['seconds']:.3f}, including reading and writing).",
            "",
        ]
    if args.note:
        lines += [args.note, ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--asteroid-python", help="python of a venv with asteroid 0.7.0")
    parser.add_argument("--onnx-models", nargs="*", default=["conv_tasnet"],
                        help="models to export and time with onnxruntime (default: conv_tasnet)")
    parser.add_argument("--long-seconds", type=float, default=3600.0, help="length of the long file (0: skip)")
    parser.add_argument("--long-config", default=None,
                        help="JSON Conv-TasNet config for the long file (default: paper configuration)")
    parser.add_argument("--note", default="", help="a line appended to the section")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    results: dict = {"voxsep": run_voxsep(args.models, args.repeats, args.threads, args.onnx_models)}
    if args.asteroid_python:
        results["asteroid"] = run_asteroid(args.asteroid_python, args.models, args.repeats, args.threads)
        print("asteroid", json.dumps(results["asteroid"]), file=sys.stderr)
    if args.long_seconds > 0:
        config = json.loads(args.long_config) if args.long_config else CONFIGS["conv_tasnet"]
        with tempfile.TemporaryDirectory() as tmp:
            results["long"] = run_long_file(args.long_seconds, config, Path(tmp))
        print("long", json.dumps(results["long"]), file=sys.stderr)
    section = markdown(results, args, load_before, os.getloadavg()[0])
    print(section)
    write_section(args.output, "## Inference", section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
