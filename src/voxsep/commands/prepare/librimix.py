"""``voxsep prepare librimix``: the command line of :mod:`voxsep_corpus.librimix`."""

from __future__ import annotations

import argparse
from pathlib import Path

from voxsep.commands.prepare.common import add_output, add_rates_and_modes, add_workers, build_and_report


SUMMARY = "build Libri2Mix / Libri3Mix-style sets from a LibriSpeech folder (and optional WHAM! noise)"


EPILOG = """examples:
  voxsep prepare librimix /corpora/LibriSpeech data/Libri2Mix
  voxsep prepare librimix /corpora/LibriSpeech data/Libri3Mix --n-src 3 --wham-noise /corpora/wham_noise
  voxsep prepare librimix /corpora/LibriSpeech data/Libri2Mix --subsets dev-clean test-clean \\
      --sample-rate 8000 16000 --mode min max

LIBRISPEECH holds subset folders (train-clean-100, train-clean-360, dev-clean,
test-clean, ...) in the LibriSpeech layout <speaker>/<chapter>/<spk>-<chap>-<utt>.flac,
and optionally SPEAKERS.TXT (speaker sex). Needs `pip install pyloudnorm`.
An interrupted build resumes when run again with the same options.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``voxsep prepare librimix``."""
    parser.add_argument("librispeech", type=Path, help="LibriSpeech root holding subset folders (read only)")
    add_output(parser)
    parser.add_argument("--n-src", type=int, choices=(2, 3), default=2)
    parser.add_argument("--wham-noise", type=Path, default=None, help="WHAM! noise root (tr/ cv/ tt/)")
    parser.add_argument("--subsets", nargs="+", default=None,
                        help="LibriSpeech subsets (default: every one present, e.g. train-clean-100 dev-clean)")
    add_rates_and_modes(parser)
    add_workers(parser, seed=True)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``voxsep prepare librimix``."""
    from voxsep_corpus.librimix import build_librimix

    return build_and_report(
        lambda: build_librimix(args.librispeech, args.output, n_src=args.n_src, wham_noise=args.wham_noise,
                               subsets=None if args.subsets is None else tuple(args.subsets),
                               sample_rates=tuple(args.sample_rate), modes=tuple(args.mode), seed=args.seed,
                               jobs=args.jobs, overwrite=args.overwrite),
        f"Libri{args.n_src}Mix ready in {args.output}", (FileNotFoundError, FileExistsError, ValueError, ImportError),
        " mixtures")
