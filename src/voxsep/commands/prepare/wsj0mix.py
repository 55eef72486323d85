"""``voxsep prepare wsj0mix``: the command line of :mod:`voxsep_corpus.wsj0mix`."""

from __future__ import annotations

import argparse
from pathlib import Path

from voxsep.commands.prepare.common import add_output, add_rates_and_modes, add_splits, add_workers, build_and_report


SUMMARY = "build wsj0-2mix / wsj0-3mix from a WSJ0 folder (converted to wav) and the mixing lists"


EPILOG = """examples:
  voxsep prepare wsj0mix /corpora/wsj0_wav lists/ data/wsj0-2mix
  voxsep prepare wsj0mix /corpora/wsj0_wav lists/ data/wsj0-3mix --n-src 3 --sample-rate 8000 16000 --mode min max

WSJ0 must be converted from .wv1 (sphere) to .wav first, keeping the folder layout
(e.g. with sph2pipe); a list entry wsj0/si_tr_s/01t/01to030v.wv1 is looked up as
WSJ0/wsj0/si_tr_s/01t/01to030v.wv1, then with a .wav suffix, with or without the
leading wsj0/ folder. The lists are mix_2_spk_{tr,cv,tt}.txt (or mix_3_spk_*.txt).
An interrupted build resumes when run again with the same options.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``voxsep prepare wsj0mix``."""
    from voxsep_corpus.wsj0mix import SPLITS

    parser.add_argument("wsj0_root", type=Path, help="folder holding wsj0/ converted to wav (read only)")
    parser.add_argument("lists", type=Path, help="folder with mix_<n>_spk_{tr,cv,tt}.txt")
    add_output(parser)
    parser.add_argument("--n-src", type=int, choices=(2, 3), default=2)
    add_rates_and_modes(parser)
    add_splits(parser, SPLITS)
    add_workers(parser)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``voxsep prepare wsj0mix``."""
    from voxsep_corpus.wsj0mix import build_wsj0mix

    return build_and_report(
        lambda: build_wsj0mix(args.wsj0_root, args.lists, args.output, n_src=args.n_src,
                              sample_rates=tuple(args.sample_rate), modes=tuple(args.mode),
                              splits=tuple(args.splits), jobs=args.jobs, overwrite=args.overwrite),
        f"wsj0-{args.n_src}mix ready in {args.output}", (FileNotFoundError, FileExistsError, ValueError), " mixtures")
