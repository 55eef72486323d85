"""Grow a trained Conv-TasNet twice as wide in its TCN hidden channels (H -> 2H), keeping
its function: Net2WiderNet (Chen, Goodfellow & Shlens, "Net2Net: accelerating learning via
knowledge transfer", ICLR 2016, §2.2).

Every hidden channel of every TCN block is duplicated (the 1x1 input convolution's rows,
the depthwise convolution, the two gLN affines) and the 1x1 convolutions that read the
hidden channels (residual and skip) take half of each weight per copy, so the wider model
computes what the trained one does (gLN's mean and variance over duplicated channels are
unchanged). Noise of ``--noise`` times the weights' standard deviation on the copies'
input weights breaks the symmetry (without it the copies stay identical in training).
The model card's session-7 "twice as wide" run started from its output::

    .venv/bin/python benchmarks/widen_conv_tasnet.py src/voxsep/pretrained/convtasnet_offline8k.pt \\
        exp/wide/stage6_h256_n01.pt --noise 0.01
    voxsep train recipes/offline/conv_tasnet_bundled_games.yaml --exp-dir exp/h_wide \\
        --init-from exp/wide/stage6_h256_n01.pt train.seed=2 model.args.hidden=256
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from voxsep import checkpoint

DUPLICATED_ROWS = ("in_conv.weight", "in_conv.bias", "depthwise.weight", "depthwise.bias")
DUPLICATED_AFFINES = ("in_norm.weight", "in_norm.bias", "dw_norm.weight", "dw_norm.bias")  # (1, H, 1)
HALVED_INPUTS = ("residual.weight", "skip.weight")  # (out, H, 1)


def widen(state: dict[str, torch.Tensor], noise: float, seed: int = 0) -> dict[str, torch.Tensor]:
    """A Conv-TasNet ``state_dict`` with every TCN block's hidden width doubled (see the module docstring)."""
    generator = torch.Generator().manual_seed(seed)
    wide = {}
    for name, value in state.items():
        leaf = name.split(".tcn.blocks.", 1)[1].split(".", 1)[1] if ".tcn.blocks." in name else ""
        if leaf in DUPLICATED_ROWS:
            copy = value.clone()
            if leaf == "in_conv.weight":
                copy += noise * value.std() * torch.randn(value.shape, generator=generator)
            value = torch.cat([value, copy], 0)
        elif leaf in DUPLICATED_AFFINES:
            value = torch.cat([value, value], 1)
        elif leaf in HALVED_INPUTS:
            value = torch.cat([value / 2, value / 2], 1)
        wide[name] = value
    return wide


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="a voxsep Conv-TasNet checkpoint")
    parser.add_argument("output", type=Path, help="the wider checkpoint to write (must not exist)")
    parser.add_argument("--noise", type=float, default=0.01, help="symmetry-breaking noise on the copies")
    args = parser.parse_args()
    if args.output.exists():
        parser.error(f"{args.output} exists; choose another name (nothing was written)")
    data = checkpoint.read(args.source)
    if data["model_name"] != "conv_tasnet":
        parser.error(f"{args.source} holds a {data['model_name']!r} model; this widens Conv-TasNet only")
    data["state_dict"] = widen(data["state_dict"], args.noise)
    data["config"] = {**data["config"], "hidden": 2 * data["config"]["hidden"]}
    data["meta"] = {k: v for k, v in data["meta"].items() if k != "training"}  # a new model: no optimiser state
    args.output.parent.mkdir(parents=True, exist_ok=True)
    checkpoint.atomic_torch_save(data, args.output)
    print(f"wrote {args.output}: hidden {data['config']['hidden'] // 2} -> {data['config']['hidden']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
