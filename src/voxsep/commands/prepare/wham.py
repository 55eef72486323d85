"""``voxsep prepare wham``: the command line of :mod:`voxsep.data.prepare.wham`."""

from __future__ import annotations

import argparse
from pathlib import Path

from voxsep.data.prepare.wham import SPLITS, build_wham


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
    parser.add_argument("wsj0mix", type=Path, help="a wsj0-2mix build (holding wav8k/min/tt/s1 ...)")
    parser.add_argument("wham_noise", type=Path, help="the unzipped wham_noise folder")
    parser.add_argument("output", type=Path, help="output folder")
    parser.add_argument("--sample-rate", type=int, nargs="+", choices=(8000, 16000), default=[8000])
    parser.add_argument("--mode", nargs="+", choices=("min", "max"), default=["min"])
    parser.add_argument("--splits", nargs="+", choices=SPLITS, default=list(SPLITS))
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--overwrite", action="store_true", help="replace a previous build with other settings")


def run(args: argparse.Namespace) -> int:
    """Entry point of ``voxsep prepare wham``."""
    try:
        counts = build_wham(args.wsj0mix, args.wham_noise, args.output, sample_rates=tuple(args.sample_rate),
                            modes=tuple(args.mode), splits=tuple(args.splits), jobs=args.jobs,
                            overwrite=args.overwrite)
    except (FileNotFoundError, FileExistsError, ValueError, ImportError) as error:
        print(f"error: {error}")
        return 2
    print(f"WHAM! ready in {args.output}")
    for key, value in counts.items():
        print(f"  {key}: {value} mixtures")
    return 0
