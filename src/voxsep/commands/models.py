"""``voxsep models``: list the registered models with their paper-configuration sizes."""

from __future__ import annotations

import argparse

from voxsep.commands import add_command

EPILOG = """examples:
  voxsep models                 # every model, paper configuration, parameter count
  voxsep models conv_tasnet     # the arguments of one model and their defaults
  voxsep models --pretrained    # what you can run: bundled, known published, cached models
  voxsep models --pretrained --json
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "models",
        "list the available models and their arguments",
        EPILOG, description="List the registered separation models (paper configurations) or show one model's arguments.",
    )
    parser.add_argument("name", nargs="?", help="show the arguments of this model")
    parser.add_argument("--pretrained", action="store_true",
                        help="list the trained models you can run: bundled, known published ones (sample rate, "
                             "parameters, training data, licence, published score, whether in the local cache), cached")
    parser.add_argument("--json", action="store_true", help="with --pretrained: print the table as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from voxsep import models

    if args.json and not args.pretrained:
        raise ValueError("--json goes with --pretrained")
    if args.pretrained:
        import json

        from voxsep.interop.catalog import format_table, pretrained_table

        rows = pretrained_table()
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            print(format_table(rows))
            print("\nrun one:  voxsep separate FILE --out DIR --model NAME   (a hub model is downloaded unless cached; "
                  "--offline uses the cache only)")
        return 0

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
