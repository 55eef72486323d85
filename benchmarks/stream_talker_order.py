"""A long conversation streamed through ``StreamingSeparator``: talker swaps and block times
with and without talker tracking (``track_talkers``), side by side in one run.

The conversation is the one of ``long_recordings.py`` (two held-out real voices of the
offline corpus, utterances with random pauses of 0.1-2.5 s). Each arm streams the whole
mixture in blocks of ``--block-ms`` on one thread (:func:`voxsep.inference.streaming.stream_signal`)
and scores the outputs in 4-s windows (:func:`voxsep.metrics.order.talker_order_swaps`):
swaps counted over all clear windows and over those starting after the first second.

Usage::

    .venv/bin/python benchmarks/stream_talker_order.py --model exp/rooms_causal/best.pt --minutes 10
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from common import cpu_name
from long_recordings import RATE, conversation

from voxsep import checkpoint
from voxsep.inference.streaming import StreamingSeparator, stream_signal
from voxsep.metrics.order import talker_order_swaps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a causal voxsep checkpoint at 8 kHz")
    parser.add_argument("--corpus", type=Path, default=Path("data/offline/wav8k"))
    parser.add_argument("--voices", nargs=2, default=["fillets_nl_big", "ivr_ru"])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--block-ms", type=float, default=10.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, _ = checkpoint.load(args.model)
    tracks = conversation(args.corpus, args.voices, args.minutes, args.seed)
    mixture = tracks.sum(0).astype(np.float32)
    block = round(args.block_ms * RATE / 1000)
    print("| tracking | swaps (all clear windows) | swaps after 1 s | RTF | block p99 ms | model | machine |")
    print("|---|---:|---:|---:|---:|---|---|")
    for track in (False, True):
        estimates, times = stream_signal(StreamingSeparator(model, track_talkers=track), mixture, block)
        report = talker_order_swaps(tracks, estimates.numpy(), RATE)
        late = sum(w >= 1.0 for w in report.swapped_windows())
        print(f"| {'on' if track else 'off'} | {report.swaps} of {report.clear} | {late} | {times.rtf:.3f} | "
              f"{times.p99_ms:.2f} | {args.model} | {cpu_name()} |", flush=True)


if __name__ == "__main__":
    main()
