"""``voxsep models``: list the registered models with their paper-configuration sizes."""

from __future__ import annotations

import argparse

from voxsep.commands import add_command

EPILOG = """examples:
  voxsep models                 # every model, paper configuration, parameter count
  voxsep models conv_tasnet     # the arguments of one model and their defaults
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "models",
        "list the available models and their arguments",
        EPILOG, description="List the registered separation models (paper configurations) or show one model's arguments.",
    )
    parser.add_argument("name", nargs="?", help="show the arguments of this model")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from voxsep import models

    if args.name:
        for key, default in models.model_arguments(args.name).items():
            print(f"{key:20s} {default!r}")
        return 0
    print(f"{'model':24s} {'parameters':>12s}  sample_rate  input")
    for name in models.available():
        model = models.build(name)
        count = sum(p.numel() for p in model.parameters())
        shape = "(batch, time)" if model.in_channels == 1 else f"(batch, {model.in_channels}, time)"
        print(f"{name:24s} {count / 1e6:>10.2f} M  {model.sample_rate:>11d}  {shape}")
    return 0
