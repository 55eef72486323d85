"""``voxsep prepare offline``: the command line of :mod:`voxsep_corpus.offline`."""

from __future__ import annotations

import argparse

from voxsep.commands.prepare.common import add_output, add_overwrite, add_workers, build_and_report, print_error


SUMMARY = ("build a 2-/3-speaker corpus from real (asterisk, Fish Fillets, KLettres, KTuberling, Tux Paint) and "
           "synthetic (espeak-ng, flite, festival) voices")


EPILOG = """examples:
  voxsep prepare offline data/offline                         # default 8 kHz corpus (~30 min on 2 cores)
  voxsep prepare offline data/offline16k --sample-rate 16000 --jobs 2
  voxsep prepare offline /tmp/tiny --tiny                     # a few mixtures, for tests
  voxsep prepare offline data/offline --n-train-mixtures 20000 --overwrite

An interrupted build resumes when run again with the same options; run on a complete
build made before the one-talker sets (1speaker/{valid,test}_real.csv) existed, it
adds only those and rewrites nothing else; likewise, on a build made before the
KTuberling or Tux Paint (pool-only) voices it adds only those (utterances,
speakers.csv and utterances_train.csv rows, README).
Needs the Debian packages listed by `voxsep prepare offline --list-packages`.
"""


# --------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``voxsep prepare offline``."""
    from voxsep_corpus.offline import DEFAULTS

    add_output(parser, optional=True)
    parser.add_argument("--sample-rate", type=int, choices=(8000, 16000), default=8000)
    parser.add_argument("--n-train-mixtures", type=int, default=None,
                        help=f"mixtures per training set (default {DEFAULTS['n_train_mixtures']})")
    parser.add_argument("--n-valid-mixtures", type=int, default=None,
                        help=f"(default {DEFAULTS['n_valid_mixtures']})")
    parser.add_argument("--n-test-mixtures", type=int, default=None, help=f"(default {DEFAULTS['n_test_mixtures']})")
    parser.add_argument("--n-src", type=int, nargs="+", choices=(2, 3), default=[2, 3],
                        help="which mixture sets to build (default: 2 3)")
    parser.add_argument("--utterances-per-speaker", type=int, default=None,
                        help=f"(default {DEFAULTS['utterances_per_speaker']})")
    add_workers(parser, seed=True, overwrite=False)
    parser.add_argument("--tiny", action="store_true",
                        help="a few utterances and mixtures (for tests); explicit counts still win")
    add_overwrite(parser)
    parser.add_argument("--list-packages", action="store_true", help="print the Debian packages needed and exit")


def run(args: argparse.Namespace) -> int:
    """Entry point of ``voxsep prepare offline``."""
    from voxsep_corpus.common import MissingPackageError, apt_install_line
    from voxsep_corpus.offline import build_offline, required_packages

    if args.list_packages:
        print(apt_install_line(required_packages(args.sample_rate)))
        return 0
    if args.output is None:
        print_error("give the output folder, e.g. voxsep prepare offline data/offline")
        return 2
    return build_and_report(
        lambda: build_offline(args.output, sample_rate=args.sample_rate, n_train_mixtures=args.n_train_mixtures,
                              n_valid_mixtures=args.n_valid_mixtures, n_test_mixtures=args.n_test_mixtures,
                              utterances_per_speaker=args.utterances_per_speaker, n_src=args.n_src, seed=args.seed,
                              jobs=args.jobs, tiny=args.tiny, overwrite=args.overwrite),
        f"offline corpus ready in {args.output}", (MissingPackageError, FileExistsError))
