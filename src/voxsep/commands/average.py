"""``voxsep average``: one checkpoint from the weighted average of several of one
architecture (``voxsep.models.average``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from voxsep.commands import add_command

SUMMARY = "average the weights of checkpoints of one architecture (checkpoint averaging, fine-tune interpolation)"
EPILOG = """\
examples:
  voxsep average exp/run/step4000.pt exp/run/step5000.pt exp/run/best.pt --out exp/run/averaged.pt
  voxsep average convtasnet_offline8k exp/rooms/best.pt --weights 0.5 0.5 --out rooms_interpolated.pt

MODEL is a voxsep checkpoint, a bundled model name or a published model that voxsep
import-model reads; all must have the same architecture and configuration. Weights are
scaled to sum to one (default: equal). Interpolating a fine-tune with the model it
started from (WiSE-FT) often keeps most of the fine-tune's gain on the new conditions
and gives back less on the old ones; choose the weight on validation data of both
(voxsep evaluate). The output keeps the training metadata of the most-weighted model (the first on a tie)
(its step and validation scores are dropped) and records every source with its
weight and sha256.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "average", SUMMARY, EPILOG)
    parser.add_argument("models", nargs="+", metavar="MODEL", help="checkpoints (two or more) to average")
    parser.add_argument("--out", type=Path, required=True, help="the averaged checkpoint (.pt or .safetensors)")
    parser.add_argument("--weights", type=float, nargs="+", default=None,
                        help="one weight per MODEL, in the same order (default: equal weights)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from voxsep import checkpoint, pretrained
    from voxsep.core.files import check_distinct, check_writable_dir
    from voxsep.interop import load_any, meta_to_save
    from voxsep.interop.common import sha256
    from voxsep.models.average import average_models, normalised_weights

    if len(args.models) < 2:
        raise ValueError("give at least two models to average")
    sources = [pretrained.pretrained_path(m) if not Path(m).exists() and m in pretrained.BUNDLED else Path(m)
               for m in args.models]
    weights = normalised_weights(args.weights, len(sources))
    check_distinct([args.out], [(f"input model {m}", s) for m, s in zip(args.models, sources)],
                   "give another --out")
    if args.out.exists() and not args.overwrite:
        raise FileExistsError(f"{args.out} already exists; pass --overwrite to replace it")
    check_writable_dir(args.out.parent, "--out")
    loaded = [load_any(source) for source in sources]
    model = average_models([m for m, _ in loaded], weights, names=args.models)
    heaviest = max(range(len(weights)), key=lambda i: weights[i])
    # training settings (train_config, n_src_range, sample_rate) of the most-weighted model;
    # its own step and validation scores describe it, not the average
    meta = {k: v for k, v in meta_to_save(loaded[heaviest][1]).items()
            if k not in ("step", "epoch") and not k.startswith("valid_")}
    meta["averaged_from"] = [
        {"model": name, "weight": weight, "sha256": sha256(source) if source.is_file() else ""}
        for name, source, weight in zip(args.models, sources, weights)
    ]
    checkpoint.save(args.out, model, **meta)
    parts = ", ".join(f"{w:.3g} x {name}" for name, w in zip(args.models, weights))
    print(f"wrote {args.out}: {getattr(model, 'model_name', type(model).__name__)} = {parts}")
    return 0
