"""The ``voxsep`` command line. Thin: each subcommand lives in ``voxsep.commands.<name>``.

Every command module exposes ``register(subparsers)`` which adds its parser and sets
``func(args) -> int``. Heavy imports (torch, data code) happen inside ``func`` so that
``voxsep --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys

from voxsep import __version__

COMMANDS = ("prepare", "train", "evaluate", "separate", "export", "models")

# Errors a user can act on: printed as one line (set VOXSEP_DEBUG=1 for a traceback).
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, PermissionError, OSError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voxsep",
        description="Speech separation: prepare data, train, evaluate, separate, export.",
        epilog="Run 'voxsep COMMAND --help' for the options and examples of each command.",
    )
    parser.add_argument("--version", action="version", version=f"voxsep {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module_name = f"voxsep.commands.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"voxsep {args.command}: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as error:
        if os.environ.get("VOXSEP_DEBUG"):
            raise
        print(f"voxsep {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
