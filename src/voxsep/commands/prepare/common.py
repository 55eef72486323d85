"""Options and reporting shared by the corpus builders' command lines.

Not a preparer itself (``PREPARERS`` does not list it): each ``voxsep prepare <name>``
module calls these to add the options every builder has with the same meaning and help
text, and to run its build and print the outcome the same way.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable, Mapping

from voxsep.commands import user_message

#: Help of an optional output folder (builders that can also do something else).
NEW_OUTPUT_HELP = "output folder (created; refused if it holds something else)"


def add_output(parser: argparse.ArgumentParser, optional: bool = False) -> None:
    """The ``output`` folder; ``optional`` for builders with a mode that writes nothing."""
    if optional:
        parser.add_argument("output", type=Path, nargs="?", help=NEW_OUTPUT_HELP)
    else:
        parser.add_argument("output", type=Path, help="output folder")


def add_rates_and_modes(parser: argparse.ArgumentParser) -> None:
    """``--sample-rate`` and ``--mode`` of the recipes that build several versions at once."""
    parser.add_argument("--sample-rate", type=int, nargs="+", choices=(8000, 16000), default=[8000])
    parser.add_argument("--mode", nargs="+", choices=("min", "max"), default=["min"])


def add_splits(parser: argparse.ArgumentParser, splits: tuple[str, ...]) -> None:
    """``--splits``: which of ``splits`` to build (default: all)."""
    parser.add_argument("--splits", nargs="+", choices=splits, default=list(splits))


def add_workers(parser: argparse.ArgumentParser, seed: bool = False, overwrite: bool = True) -> None:
    """``--seed`` (if ``seed``), ``--jobs`` and ``--overwrite`` (if ``overwrite``), in that order."""
    if seed:
        parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    if overwrite:
        add_overwrite(parser)


def add_overwrite(parser: argparse.ArgumentParser) -> None:
    """``--overwrite``: replace a previous build made with other settings."""
    parser.add_argument("--overwrite", action="store_true", help="replace a previous build with other settings")


def print_error(message: object) -> None:
    """One error line in the style of every voxsep command (``voxsep prepare: error: ...``)."""
    print(f"voxsep prepare: error: {message}", file=sys.stderr)


def build_and_report(build: Callable[[], Mapping[str, Any]], ready: str,
                     errors: tuple[type[BaseException], ...], unit: str = "") -> int:
    """Run ``build()`` and print its outcome; the exit status.

    Prints ``voxsep prepare: error: ...`` (stderr, as every command) and returns 2 when
    ``build`` raises one of ``errors``; else
    prints ``ready`` and one ``  key: value<unit>`` line per entry of what ``build``
    returned, and returns 0.
    """
    try:
        stats = build()
    except errors as error:
        print_error(user_message(error))
        return 2
    print(ready)
    for key, value in stats.items():
        print(f"  {key}: {value}{unit}")
    return 0
