"""One module per ``voxsep`` subcommand; each exposes ``register(subparsers)``."""

from __future__ import annotations

import argparse
from typing import Any

from voxsep.core.errors import ANY_VALUE

#: Library keywords whose command-line option is spelled otherwise than ``--keyword-with-dashes``.
FLAG_NAMES = {"out_dir": "--out"}


def add_command(subparsers: argparse._SubParsersAction, name: str, summary: str, epilog: str,
                description: str | None = None) -> argparse.ArgumentParser:
    """The parser of subcommand ``name``: ``summary`` in the list of commands,
    ``description`` (default: ``summary``) above its options and ``epilog`` (examples)
    below them, printed with its line breaks."""
    return subparsers.add_parser(name, help=summary, description=summary if description is None else description,
                                 epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)


def flag_advice(keyword: str, value: Any = True) -> str:
    """The command-line spelling of passing ``keyword=value``: ``--overwrite``, ``--device cpu``."""
    flag = FLAG_NAMES.get(keyword, "--" + keyword.replace("_", "-"))
    return flag if value is True or value is ANY_VALUE else f"{flag} {value}"


def user_message(error: BaseException) -> str:
    """``error``'s message for a command-line user: an error made by
    ``voxsep.core.errors.advised`` names the option's flag instead of the Python argument."""
    if not hasattr(error, "keyword"):
        return str(error)
    tail = f" {error.purpose}" if getattr(error, "purpose", "") else ""
    return f"{error.reason}; pass {flag_advice(error.keyword, error.value)}{tail}"
