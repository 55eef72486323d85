"""Streaming separation speed: ``StreamingSeparator.process`` time per block.

For the paper-size causal Conv-TasNet (``build("conv_tasnet", n_src=2, causal=True)``,
5.05 M parameters) and the causal ``binaural_parallel`` (default sizes, stereo), randomly
initialised (the time does not depend on the weights), fed ``--seconds`` of 8 kHz noise
in blocks of 10 ms and 4 ms on ``--threads`` threads, prints per block: the median and
99th-percentile compute time, the real-time factor (compute time / audio time) and the
share of blocks that took longer than the block lasts; plus the algorithmic latency
(``latency_samples``). The first ``--warmup`` seconds are not counted.

Every engine runs the one TCN step (``voxsep.nn.tcn_kernel.TCNKernel``), by default as
its compiled form (``voxsep.nn.tcn_compiled``: one Numba call per block) where the CPU
passed its run-time check; ``--pytorch-step`` adds, side by side, the same engines on the
PyTorch form of the step (``VOXSEP_COMPILED_TCN=0``). ``--onnx`` adds,
side by side with Conv-TasNet's ``StreamingSeparator``, the ONNX streaming export
(``OnnxStreamingSeparator``, onnxruntime, 1 thread) of the same model. The engines of one
model are timed interleaved, block by block (alternating which goes first), so a
background load hits them alike: compare ratios.

Usage::

    .venv/bin/python benchmarks/bench_streaming.py --threads 1 --seconds 20
    .venv/bin/python benchmarks/bench_streaming.py --write BENCHMARKS.md --note "another job was running"
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from common import cpu_name, write_section
import torch

SAMPLE_RATE = 8000
TITLE = "## Streaming"



def measure(streams: list, block_ms: float, seconds: float, warmup: float) -> list[dict]:
    """Time ``process`` of each stream on the same blocks, interleaved block by block."""
    block = int(round(block_ms * SAMPLE_RATE / 1000))
    rng = np.random.default_rng(0)
    channels = getattr(streams[0], "in_channels", 1)
    length = int((seconds + warmup) * SAMPLE_RATE)
    audio = (0.1 * rng.standard_normal((length,) if channels == 1 else (channels, length))).astype(np.float32)
    for st in streams:
        st.reset()
    times = [[] for _ in streams]
    cpu = [0.0 for _ in streams]
    skip = int(warmup * SAMPLE_RATE) // block
    for i, start in enumerate(range(0, audio.shape[-1] - block + 1, block)):
        piece = audio[..., start : start + block]
        order = range(len(streams)) if i % 2 == 0 else reversed(range(len(streams)))
        for j in order:
            begin, begin_cpu = time.perf_counter(), time.process_time()
            streams[j].process(piece)
            elapsed, elapsed_cpu = time.perf_counter() - begin, time.process_time() - begin_cpu
            if i >= skip:
                times[j].append(elapsed)
                cpu[j] += elapsed_cpu
    results = []
    for st, stream_times, stream_cpu in zip(streams, times, cpu):
        st.flush()
        times_ms = np.array(stream_times) * 1e3
        results.append({
            "block": block,
            "median": float(np.median(times_ms)),
            "p99": float(np.percentile(times_ms, 99)),
            "rtf": float(times_ms.sum() / (len(times_ms) * block_ms)),
            "cpu_rtf": float(stream_cpu * 1e3 / (len(times_ms) * block_ms)),
            "late": float((times_ms > block_ms).mean() * 100),
            "blocks": len(times_ms),
            "latency": st.latency_samples,
        })
    return results


def pytorch_step_stream(model):
    """A ``StreamingSeparator`` whose TCN runs the PyTorch form of the step (compiled form switched off)."""
    from voxsep.inference.streaming import StreamingSeparator
    from voxsep.nn.tcn_compiled import ENV_SWITCH

    before = os.environ.get(ENV_SWITCH)
    os.environ[ENV_SWITCH] = "0"
    try:
        return StreamingSeparator.from_model(model, sample_rate=SAMPLE_RATE)
    finally:
        if before is None:
            del os.environ[ENV_SWITCH]
        else:
            os.environ[ENV_SWITCH] = before


def onnx_stream(model, block_ms: float):
    """The model's ONNX streaming step (exported to a temporary file) in onnxruntime, 1 thread."""
    import tempfile

    from voxsep.inference.export import OnnxStreamingSeparator, export_streaming_onnx

    folder = Path(tempfile.mkdtemp(prefix="bench-streaming-"))
    path = export_streaming_onnx(model, folder / "step.onnx", block_ms=block_ms)
    st = OnnxStreamingSeparator(path, threads=1)
    path.unlink()
    folder.rmdir()
    return st


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=20.0, help="audio timed per row")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds streamed first, not timed")
    parser.add_argument("--blocks-ms", type=float, nargs="+", default=[10.0, 4.0])
    parser.add_argument("--dprnn", action="store_true", help="also the paper-size causal DPRNN")
    parser.add_argument("--onnx", action="store_true", help="also the ONNX streaming export of Conv-TasNet (onnxruntime)")
    parser.add_argument("--pytorch-step", action="store_true",
                        help="also each engine with the PyTorch form of the TCN step (the compiled form switched off)")
    parser.add_argument("--write", type=Path, help="replace the Streaming section of this markdown file")
    parser.add_argument("--note", default="", help="a line added under the table (e.g. machine load)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from voxsep import __version__, models
    from voxsep.inference.streaming import StreamingSeparator
    from voxsep.nn.tcn_kernel import compiled_stream_available

    compiled = "compiled TCN step (Numba) in use" if compiled_stream_available() else "compiled TCN step UNAVAILABLE here"
    builds = [
        ("conv_tasnet (paper, causal)", dict(name="conv_tasnet", n_src=2, causal=True)),
        ("binaural_parallel (causal)", dict(name="binaural_parallel", n_src=2, causal=True)),
    ]
    if args.dprnn:
        builds.append(("dprnn (paper, causal)", dict(name="dprnn", n_src=2, causal=True)))
    load_before = os.getloadavg()[0]
    rows = []
    for label, kwargs in builds:
        torch.manual_seed(0)
        kwargs = dict(kwargs)
        model = models.build(kwargs.pop("name"), **kwargs)
        params = sum(p.numel() for p in model.parameters()) / 1e6
        for block_ms in args.blocks_ms:
            streams = [("", StreamingSeparator.from_model(model, sample_rate=SAMPLE_RATE))]
            if args.pytorch_step and model.model_name != "dprnn":
                streams.append((", PyTorch TCN step", pytorch_step_stream(model)))
            if model.model_name == "conv_tasnet":
                if args.onnx:
                    streams.append((", ONNX step in onnxruntime", onnx_stream(model, block_ms)))
            results = measure([st for _, st in streams], block_ms, args.seconds, args.warmup)
            for (suffix, _), r in zip(streams, results):
                latency_ms = r["latency"] / SAMPLE_RATE * 1e3
                row = (
                    f"| {label}{suffix} | {params:.2f} M | {block_ms:g} ms ({r['block']}) | {r['median']:.2f} | "
                    f"{r['p99']:.2f} | {r['rtf']:.3f} | {r['cpu_rtf']:.3f} | {r['late']:.1f} % | {r['latency']} ({latency_ms:.2f} ms) |"
                )
                print(row, flush=True)
                rows.append(row)
    load_after = os.getloadavg()[0]
    command = "`.venv/bin/python benchmarks/bench_streaming.py " + " ".join(
        a for a in [f"--threads {args.threads}", f"--seconds {args.seconds:g}"] + (["--dprnn"] if args.dprnn else [])
        + (["--onnx"] if args.onnx else []) + (["--pytorch-step"] if args.pytorch_step else [])
    ) + "`"
    section = "\n".join(
        [
            TITLE,
            "",
            f"`StreamingSeparator.process` per block, 8 kHz input, {args.threads} thread(s), {args.seconds:g} s of audio "
            f"per row after {args.warmup:g} s of warm-up; randomly initialised models (time does not depend on the weights). "
            f"Machine: {cpu_name()}, {os.cpu_count()} cores; torch {torch.__version__}, voxsep {__version__}; "
            f"load average {load_before:.1f} before / {load_after:.1f} after; {compiled}. Reproduce: {command}.",
            "RTF = compute time / audio time (wall clock; \"CPU time\": this process's CPU time, which time-sharing "
            "with other jobs does not inflate); late = blocks whose compute took longer than the block lasts; "
            "latency = `latency_samples` (algorithmic: the output delay at which any block split is exact; the compute "
            "time of a block adds to it on a device).",
            "",
            "| model | params | block (samples) | median ms/block | p99 ms/block | RTF | RTF (CPU time) | late | latency samples |",
            "|---|---:|---|---:|---:|---:|---:|---:|---|",
            *rows,
            "",
            *([args.note, ""] if args.note else []),
        ]
    )
    print(section)
    if args.write:
        import sys

        sys.path.insert(0, str(Path(__file__).parent))
        write_section(args.write, TITLE, section)


if __name__ == "__main__":
    main()
