"""One module per ``voxsep`` subcommand; each exposes ``register(subparsers)``."""

from __future__ import annotations

import argparse


def add_command(subparsers: argparse._SubParsersAction, name: str, summary: str, epilog: str,
                description: str | None = None) -> argparse.ArgumentParser:
    """The parser of subcommand ``name``: ``summary`` in the list of commands,
    ``description`` (default: ``summary``) above its options and ``epilog`` (examples)
    below them, printed with its line breaks."""
    return subparsers.add_parser(name, help=summary, description=summary if description is None else description,
                                 epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
