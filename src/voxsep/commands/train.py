"""``voxsep train RECIPE [key=value ...] --exp-dir DIR [--resume] [--init-from CKPT]``."""

from __future__ import annotations

import argparse
import sys

from voxsep.commands import add_command

EPILOG = """examples:
  # train the small offline-corpus Conv-TasNet (runs on a laptop CPU)
  voxsep train recipes/offline/conv_tasnet_small.yaml --exp-dir exp/offline_small

  # override any config field; unknown keys are an error listing the valid ones
  voxsep train recipes/wsj0-2mix/conv_tasnet.yaml data.train=/data/wsj0-2mix/wav8k/min/tr \\
      data.valid=/data/wsj0-2mix/wav8k/min/cv optim.lr=5e-4 train.precision=bf16 --exp-dir exp/ctn

  # continue an interrupted run (model, optimiser, schedule, RNG and data order)
  voxsep train exp/ctn/config.yaml --exp-dir exp/ctn --resume

  # fine-tune from a checkpoint (weights only, new optimiser)
  voxsep train recipes/libri2mix/conv_tasnet.yaml --init-from exp/ctn/best.pt --exp-dir exp/ft

  # 4 GPUs on one node (DDP, NCCL); on CPU the gloo backend is used
  torchrun --nproc_per_node=4 -m voxsep.train recipes/wsj0-2mix/dprnn.yaml --exp-dir exp/dprnn

  # 2 nodes x 8 GPUs: run on every node with the same rendezvous endpoint
  torchrun --nnodes=2 --nproc_per_node=8 --rdzv_backend=c10d --rdzv_endpoint=node0:29500 \\
      --rdzv_id=ctn -m voxsep.train recipes/wsj0-2mix/conv_tasnet.yaml --exp-dir exp/ctn

The experiment folder receives config.yaml (the resolved config), train.log, last.pt,
best.pt (highest validation SI-SNRi) and tensorboard/ (tensorboard --logdir DIR).
Ctrl-C stops at the next step and writes last.pt; a second Ctrl-C stops at once.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "train", "train a separation model from a YAML recipe", EPILOG,
                         description="Train a model from a YAML recipe, with key=value overrides of any config field.")
    parser.add_argument("recipe", help="YAML recipe (recipes/<corpus>/<model>.yaml) or an experiment's config.yaml")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="config overrides, e.g. optim.lr=5e-4 data.segment=3 model.args.hidden=256")
    parser.add_argument("--exp-dir", required=True, help="experiment folder (checkpoints, logs, config.yaml)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--resume", action="store_true", help="continue from EXP_DIR/last.pt")
    group.add_argument("--overwrite", action="store_true",
                       help="start afresh in an EXP_DIR that holds an experiment (its files are deleted once the new run "
                            "has been set up)")
    parser.add_argument("--init-from", metavar="CKPT",
                        help="initialise the weights from this checkpoint (fine-tuning; from a model with another "
                             "number of outputs, all weights but the output layer; from a Conv-TasNet with fewer TCN "
                             "repeats, a deeper one whose new repeats start silent)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from voxsep.config import load_config
    from voxsep.data.build import MissingDataError
    from voxsep.train import ExperimentInUseError, train

    config = load_config(args.recipe, args.overrides)
    try:
        result = train(config, Path(args.exp_dir), resume=args.resume, init_from=args.init_from,
                       overwrite=args.overwrite)
    except MissingDataError as error:
        raise FileNotFoundError(f"data.{error.key}: {error.path} not found; {prepare_advice(error.path)}, "
                                f"or give its place on the command line (data.{error.key}=PATH)") from error
    except ExperimentInUseError as error:
        raise FileExistsError(
            f"--exp-dir {error.exp_dir} already holds an experiment ({', '.join(error.present)}); pass --resume "
            "to continue it, --overwrite to start again there, or choose another --exp-dir") from error
    if result.status == "interrupted":
        return 130
    if result.status == "complete":
        print(f"voxsep train: {args.exp_dir} holds a finished run; nothing to do", file=sys.stderr)
    return 0


def prepare_advice(path: str) -> str:
    """The ``voxsep prepare`` command that builds the corpus ``path`` belongs to."""
    from pathlib import PurePath

    from voxsep.commands.prepare import PREPARERS

    parts = PurePath(path).parts
    for index, part in enumerate(parts[:-1]):
        name = {"Libri2Mix": "librimix", "Libri3Mix": "librimix", "wsj0-2mix": "wsj0mix", "wsj0-3mix": "wsj0mix",
                "wham": "wham", "whamr": "wham"}.get(part, part)
        if name == "offline":  # needs nothing but the Debian packages: the whole command
            root = PurePath(*parts[: index + 1])
            return f"build it with 'voxsep prepare offline {root}' (see 'voxsep prepare offline --help')"
        if name in PREPARERS and name != "check":  # needs the source corpus: its options
            return f"build it with 'voxsep prepare {name}' (see 'voxsep prepare {name} --help')"
    return "build the corpus with 'voxsep prepare' (see 'voxsep prepare --help')"
