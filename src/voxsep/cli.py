"""The ``voxsep`` command line. Thin: each subcommand lives in ``voxsep.commands.<name>``.

Every command module exposes ``register(subparsers)`` which adds its parser and sets
``func(args) -> int``. Heavy imports (torch, data code) happen inside ``func`` so that
``voxsep --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from voxsep import __version__

COMMANDS = ("prepare", "train", "evaluate", "separate", "export", "import-model", "average", "models", "serve")

# Errors a user can act on: printed as one line (set VOXSEP_DEBUG=1 for a traceback).
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, PermissionError, OSError)


class IntermixedParser(argparse.ArgumentParser):
    """A subcommand parser that takes options and positionals in any order.

    Plain argparse stops filling a ``nargs="*"``/``"+"`` positional at the first option,
    so ``voxsep train r.yaml --exp-dir X lr=1e-3`` failed with "unrecognized arguments";
    ``parse_known_intermixed_args`` collects all positionals wherever they are. Parsers
    that intermixed parsing cannot handle (a nested subcommand, a positional inside a
    mutually exclusive group) keep the ordinary parse; their own subparsers are again
    ``IntermixedParser``s.
    """

    _intermixing = False

    def _can_intermix(self) -> bool:
        if any(action.nargs in (argparse.PARSER, argparse.REMAINDER) for action in self._actions):
            return False
        return not any(
            not action.option_strings for group in self._mutually_exclusive_groups for action in group._group_actions
        )

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        # parse_known_intermixed_args itself calls parse_known_args (Python <= 3.12).
        if self._intermixing or not self._can_intermix():
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voxsep",
        description="Speech separation: prepare data, train, evaluate, separate, export.",
        epilog="Run 'voxsep COMMAND --help' for the options and examples of each command.",
    )
    parser.add_argument("--version", action="version", version=f"voxsep {__version__}")
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=IntermixedParser
    )
    for name in COMMANDS:
        importlib.import_module(f"voxsep.commands.{name.replace('-', '_')}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    if not (sys.argv[1:] if argv is None else argv):  # bare `voxsep`: the help, as git and pip do
        parser.print_help()
        return 0
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"voxsep {args.command}: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as error:
        if os.environ.get("VOXSEP_DEBUG"):
            raise
        from voxsep.commands import user_message

        print(f"voxsep {args.command}: error: {user_message(error)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
