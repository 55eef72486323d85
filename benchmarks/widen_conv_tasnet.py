"""Grow a trained Conv-TasNet twice as wide in its TCN hidden channels (H -> 2H), keeping
its function: Net2WiderNet (Chen, Goodfellow & Shlens, "Net2Net: accelerating learning via
knowledge transfer", ICLR 2016, §2.2), a command line over ``voxsep.models.grow``.

Every hidden channel of every TCN block is duplicated and the layers that read them take
half of each weight per copy, so the wider model computes what the trained one does.
Noise of ``--noise`` times the weights' standard deviation on the copies' input weights
breaks the symmetry (without it the copies stay identical in training).
The "twice as wide" run after stage 6 (docs/model_history.md) started from its output::

    .venv/bin/python benchmarks/widen_conv_tasnet.py src/voxsep/pretrained/convtasnet_offline8k.pt \\
        exp/wide/stage6_h256_n01.pt --noise 0.01
    voxsep train recipes/offline/conv_tasnet_bundled_games.yaml --exp-dir exp/h_wide \\
        --init-from exp/wide/stage6_h256_n01.pt train.seed=2 model.args.hidden=256
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from voxsep import checkpoint
from voxsep.models.grow import widen_checkpoint


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="a voxsep Conv-TasNet checkpoint")
    parser.add_argument("output", type=Path, help="the wider checkpoint to write (must not exist)")
    parser.add_argument("--noise", type=float, default=0.01, help="symmetry-breaking noise on the copies")
    args = parser.parse_args()
    if args.output.exists():
        parser.error(f"{args.output} exists; choose another name (nothing was written)")
    data = checkpoint.read(args.source)
    try:
        wide = widen_checkpoint(data, args.noise)
    except ValueError as error:
        parser.error(f"{args.source}: {error}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    checkpoint.atomic_torch_save(wide, args.output)
    print(f"wrote {args.output}: hidden {data['config']['hidden']} -> {wide['config']['hidden']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
