"""``voxsep prepare binaural``: the command line of :mod:`voxsep_corpus.binaural`."""

from __future__ import annotations

import argparse
from pathlib import Path

from voxsep.commands.prepare.common import add_output, add_workers, build_and_report, print_error


SUMMARY = "Binaural-WSJ0Mix-style two-ear 2/3-speaker sets (HRIRs from SOFA or CIPIC wavs), or check one"


EPILOG = """examples:
  # from the offline corpus, MIT KEMAR HRIRs (Debian libmysofa1), 2- and 3-speaker sets
  voxsep prepare binaural data/binaural --corpus data/offline
  # small sets, 2 talkers at least 30 degrees apart, with room reverberation
  voxsep prepare binaural data/binaural_rev --corpus data/offline --n-src 2 \\
      --n-train 500 --n-valid 100 --n-test 100 --min-separation 30 --rt60 0.2 0.6
  # spatialise an existing wsj0-2mix with CIPIC HRIRs, as Binaural-WSJ0Mix does
  voxsep prepare binaural data/binaural-wsj0-2mix --n-src 2 --hrtf-wav-path CIPIC/wav_database \\
      --from-manifest train=wsj0-2mix/wav8k/min/tr --from-manifest valid=wsj0-2mix/wav8k/min/cv \\
      --from-manifest test=wsj0-2mix/wav8k/min/tt
  # check an existing Binaural-WSJ0Mix download
  voxsep prepare binaural --check /corpora/binaural-wsj0mix/2speakers --n-src 2
  # then train and evaluate
  voxsep train recipes/binaural/parallel.yaml exp/binaural_parallel
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``voxsep prepare binaural``."""
    from voxsep_corpus.binaural import DEFAULT_COUNTS, _split_assignment

    add_output(parser, optional=True)
    parser.add_argument("--corpus", type=Path, help="offline corpus folder (voxsep prepare offline)")
    parser.add_argument("--utterances", type=_split_assignment, action="append", default=[], metavar="SPLIT=CSV",
                        help="speaker-labelled utterance list for a split (repeatable)")
    parser.add_argument("--from-manifest", type=_split_assignment, action="append", default=[],
                        metavar="SPLIT=PATH", help="spatialise an existing single-channel set (wsj0-mix folder "
                        "or LibriMix CSV) for a split (repeatable)")
    hrtf = parser.add_mutually_exclusive_group()
    hrtf.add_argument("--hrtf", type=Path, help="SOFA HRIR file (default: MIT KEMAR from libmysofa1)")
    hrtf.add_argument("--hrtf-wav-path", type=Path, help="CIPIC-style folder: subject folders holding "
                      "'<az>az{left,right}.wav' files (e.g. neg80azleft.wav), 50 elevation rows each")
    parser.add_argument("--sample-rate", type=int, choices=(8000, 16000), default=8000)
    parser.add_argument("--n-src", type=int, nargs="+", choices=(2, 3), default=[2, 3])
    parser.add_argument("--n-train", type=int, default=DEFAULT_COUNTS["train"], help="training mixtures per set")
    parser.add_argument("--n-valid", type=int, default=DEFAULT_COUNTS["valid"])
    parser.add_argument("--n-test", type=int, default=DEFAULT_COUNTS["test"])
    parser.add_argument("--mode", choices=("min", "max"), default="min")
    parser.add_argument("--min-separation", type=float, default=10.0, help="degrees between talkers (default 10)")
    parser.add_argument("--azimuth-range", type=float, nargs=2, default=(-90.0, 90.0), metavar=("LOW", "HIGH"),
                        help="degrees, +90 = left (default -90 90)")
    parser.add_argument("--elevation-range", type=float, nargs=2, default=(-45.0, 45.0), metavar=("LOW", "HIGH"))
    parser.add_argument("--rt60", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                        help="add shoebox-room reverberation with RT60 in this range (seconds)")
    add_workers(parser, seed=True)
    parser.add_argument("--check", type=Path, metavar="ROOT", help="instead of building, check the Binaural-"
                        "WSJ0Mix tree at ROOT (all splits of --n-src at --sample-rate and --mode)")


def run(args: argparse.Namespace) -> int:
    """Entry point of ``voxsep prepare binaural``."""
    from voxsep_corpus.binaural import build_binaural, load_binaural_wsj0mix

    if args.check is not None:
        status = 0
        for n in args.n_src:
            for split in ("tr", "cv", "tt"):
                try:
                    records = load_binaural_wsj0mix(args.check, n, args.sample_rate, args.mode, split)
                    print(f"{n} speakers, {split}: {len(records)} two-ear mixtures")
                except (FileNotFoundError, ValueError) as error:
                    print(f"{n} speakers, {split}: {error}")
                    status = 1
        return status
    if args.output is None:
        print_error("give an output folder (or --check ROOT)")
        return 2
    return build_and_report(
        lambda: build_binaural(
            args.output, corpus=args.corpus, utterances=dict(args.utterances), manifests=dict(args.from_manifest),
            hrtf=args.hrtf_wav_path or args.hrtf, sample_rate=args.sample_rate, n_src=args.n_src,
            counts={"train": args.n_train, "valid": args.n_valid, "test": args.n_test}, mode=args.mode,
            min_separation=args.min_separation, azimuth_range=tuple(args.azimuth_range),
            elevation_range=tuple(args.elevation_range), rt60=tuple(args.rt60) if args.rt60 else None,
            seed=args.seed, jobs=args.jobs, overwrite=args.overwrite),
        f"binaural sets ready in {args.output}", (FileNotFoundError, FileExistsError, ValueError))
