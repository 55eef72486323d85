"""``voxsep prepare <name>``: build or check datasets.

The library of each corpus is ``voxsep_corpus.<name>``, the corpus-builder package beside
the separation library (it raises typed errors and prints nothing); its command line is
``voxsep.commands.prepare.<name>``, which exposes ``SUMMARY: str`` (one line), ``EPILOG: str``
(examples), ``add_arguments(parser)`` and ``run(args) -> int``. These modules are imported to
read their help text; they import ``voxsep_corpus`` only inside those functions (the only
place in ``voxsep`` that does) and keep heavy imports (torch, pyroomacoustics, ...) inside
``run``.
"""

from __future__ import annotations

import argparse
import importlib

from voxsep.commands import add_command

PREPARERS = ("check", "offline", "librimix", "wsj0mix", "wham", "binaural")

EPILOG = """examples:
  voxsep prepare check data/Libri2Mix/wav8k/min/metadata/mixture_test_mix_clean.csv
  voxsep prepare check /corpora/wsj0-2mix/wav8k/min/tt
  voxsep prepare offline data/offline
  voxsep prepare librimix --help
"""


def available_preparers() -> list[str]:
    """The names of the corpus preparers (``voxsep.commands.prepare.<name>``)."""
    return list(PREPARERS)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "prepare",
        "build datasets (offline corpus, LibriMix, wsj0-mix, WHAM!, binaural) or check one",
        EPILOG, description="Build training/evaluation sets from corpora on disk, or validate an existing set.",
    )
    names = available_preparers()
    sub = parser.add_subparsers(dest="preparer", metavar="NAME", required=True)
    for name in names:
        module = importlib.import_module(f"voxsep.commands.prepare.{name}")
        child = add_command(sub, name, module.SUMMARY, module.EPILOG)
        module.add_arguments(child)
        child.set_defaults(func=_runner(name))


def _runner(name: str):
    def run(args: argparse.Namespace) -> int:
        module = importlib.import_module(f"voxsep.commands.prepare.{name}")
        return int(module.run(args) or 0)

    return run
