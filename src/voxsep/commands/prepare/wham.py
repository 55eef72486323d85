"""``voxsep prepare wham``: the command line of :mod:`voxsep_corpus.wham`."""

from __future__ import annotations

import argparse
from pathlib import Path

from voxsep.commands.prepare.common import add_output, add_rates_and_modes, add_splits, add_workers, build_and_report


SUMMARY = "add WHAM! noise to a wsj0-2mix build, following WHAM!'s mix_param_meta_*.csv"


EPILOG = """examples:
  voxsep prepare wham data/wsj0-2mix /corpora/wham_noise data/wham
  voxsep prepare wham data/wsj0-2mix /corpora/wham_noise data/wham --sample-rate 8000 16000 --mode min max

WSJ0MIX is a wsj0-2mix build (wav8k/min/tt/s1/...). WHAM_NOISE is the unzipped
wham_noise folder (tr/ cv/ tt/ metadata/mix_param_meta_{tr,cv,tt}.csv). Needs
`pip install pyloudnorm`. An interrupted build resumes when run again.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``voxsep prepare wham``."""
    from voxsep_corpus.wham import SPLITS

    parser.add_argument("wsj0mix", type=Path, help="a wsj0-2mix build (holding wav8k/min/tt/s1 ...)")
    parser.add_argument("wham_noise", type=Path, help="the unzipped wham_noise folder")
    add_output(parser)
    add_rates_and_modes(parser)
    add_splits(parser, SPLITS)
    add_workers(parser)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``voxsep prepare wham``."""
    from voxsep_corpus.wham import build_wham

    return build_and_report(
        lambda: build_wham(args.wsj0mix, args.wham_noise, args.output, sample_rates=tuple(args.sample_rate),
                           modes=tuple(args.mode), splits=tuple(args.splits), jobs=args.jobs,
                           overwrite=args.overwrite),
        f"WHAM! ready in {args.output}", (FileNotFoundError, FileExistsError, ValueError, ImportError), " mixtures")
