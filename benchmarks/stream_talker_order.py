"""A long conversation streamed through ``StreamingSeparator``: talker swaps and block times
with and without talker tracking (``track_talkers``), side by side in one run.

The conversation is the one of ``long_recordings.py`` (two held-out real voices of the
offline corpus, utterances with random pauses of 0.1-2.5 s). Each arm streams the whole
mixture in blocks of ``--block-ms`` on one thread (:func:`voxsep.inference.streaming.stream_signal`),
with the output level rule of ``voxsep separate --stream`` (``match_level``), and scores the outputs in 4-s windows (:func:`voxsep.metrics.order.talker_order_swaps`):
swaps counted over all clear windows and over those starting after the first second.

With ``--replay-chunk-seconds S`` the stream is not a causal model's: the model (any, e.g.
the bundled non-causal one) separates the file offline in chunks of ``S`` seconds without
whole-file tracking, and its outputs are replayed block by block into the tracker
(:class:`voxsep.inference.order.StreamingTalkerOrder`) with the mixture -- real model
output with the model's own swaps, for when no causal model separates well enough to show
them. The block times are then the tracker's alone.

Usage::

    .venv/bin/python benchmarks/stream_talker_order.py --model exp/rooms_causal/best.pt --minutes 10
    .venv/bin/python benchmarks/stream_talker_order.py --model src/voxsep/pretrained/convtasnet_offline8k.pt \
        --replay-chunk-seconds 3 --minutes 20
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from common import cpu_name
from long_recordings import RATE, conversation

from voxsep import checkpoint
from voxsep.inference.order import StreamingTalkerOrder
from voxsep.inference.separate import separate_mixture
from voxsep.inference.streaming import StreamTimes, StreamingSeparator, stream_signal
from voxsep.metrics.order import talker_order_swaps


def replay(outputs: torch.Tensor, mixture: torch.Tensor, block: int, track: bool) -> tuple[torch.Tensor, StreamTimes]:
    """``outputs (n_src, time)`` fed block by block through the tracker (or returned as they are)."""
    if not track:
        return outputs, StreamTimes([], block, RATE, 0)
    tracker, pieces, times = StreamingTalkerOrder(outputs.shape[0], RATE), [], []
    for start in range(0, outputs.shape[-1], block):
        begin = time.perf_counter()
        pieces.append(tracker.process(outputs[:, start:start + block], mixture[start:start + block]))
        times.append(time.perf_counter() - begin)
    return torch.cat(pieces, dim=-1), StreamTimes(times, block, RATE, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a causal voxsep checkpoint at 8 kHz")
    parser.add_argument("--corpus", type=Path, default=Path("data/offline/wav8k"))
    parser.add_argument("--voices", nargs=2, default=["fillets_nl_big", "ivr_ru"])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--block-ms", type=float, default=10.0)
    parser.add_argument("--replay-chunk-seconds", type=float, default=None,
                        help="replay the model's offline outputs in chunks of this length (see above)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, _ = checkpoint.load(args.model)
    tracks = conversation(args.corpus, args.voices, args.minutes, args.seed)
    mixture = tracks.sum(0).astype(np.float32)
    block = round(args.block_ms * RATE / 1000)
    print("| tracking | swaps (all clear windows) | swaps after 1 s | RTF | block p99 ms | model | machine |")
    print("|---|---:|---:|---:|---:|---|---|")
    chunked = None
    if args.replay_chunk_seconds:
        chunked = separate_mixture(model, torch.from_numpy(mixture), chunk_size=round(args.replay_chunk_seconds * RATE),
                                   overlap=RATE // 2, track=False)
    replayed = f" (offline, {args.replay_chunk_seconds:g} s chunks, replayed)" if chunked is not None else ""
    for track in (False, True):
        if chunked is not None:
            estimates, times = replay(chunked, torch.from_numpy(mixture), block, track)
        else:
            # as voxsep separate --stream: the output level rule on (the tracker judges levelled outputs)
            estimates, times = stream_signal(StreamingSeparator(model, track_talkers=track, match_level=True),
                                             mixture, block)
        report = talker_order_swaps(tracks, estimates.numpy(), RATE)
        late = sum(w >= 1.0 for w in report.swapped_windows())
        if track and report.swaps:
            print(f"swapped windows at (s): {report.swapped_windows()}")
        print(f"| {'on' if track else 'off'} | {report.swaps} of {report.clear} | {late} | {times.rtf:.3f} | "
              f"{times.p99_ms:.2f} | {args.model}{replayed} | {cpu_name()} |", flush=True)


if __name__ == "__main__":
    main()
