"""``voxsep evaluate --model CKPT DATA --out results.csv``: per-utterance scores + summary."""

from __future__ import annotations

import argparse

EPILOG = """examples:
  # score a checkpoint on the offline corpus test set (2 talkers)
  voxsep evaluate --model exp/offline_small/best.pt data/offline/wav8k/2speakers/test.csv --out exp/offline_small/test.csv

  # wsj0-2mix test folder (mix/ s1/ s2/), on a GPU, saving the estimates of 10 mixtures
  voxsep evaluate --model exp/ctn/best.pt /data/wsj0-2mix/wav8k/min/tt --out exp/ctn/tt.csv --device cuda --save-audio 10

  # a quick look at the first 50 mixtures, without PESQ/STOI
  voxsep evaluate --model exp/ctn/best.pt data/Libri2Mix/wav8k/min/metadata/mixture_test_mix_clean.csv \\
      --out /tmp/quick.csv --limit 50 --no-quality

  # a binaural model on a Binaural-WSJ0Mix test folder: adds the interaural cue errors
  voxsep evaluate --model exp/binaural_parallel/best.pt data/binaural/2speakers/wav8k/min/tt --out exp/binaural_parallel/tt.csv

Writes OUT (one row per mixture: mixture_id, si_snr, si_snri, sdr, sdri, snri, and pesq,
stoi when 'pip install voxsep[eval]' is done) and OUT with .json (mean, median, std,
count per metric). For two-ear (binaural) estimates the rows also hold delta_itd_us
(ITD error in microseconds, sub-sample GCC-PHAT), delta_itd_int_us (integer-lag
GCC-PHAT, as the SpeechBrain recipe) and delta_ild_db (ILD error in dB).
Existing results are kept unless --overwrite is given.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score a model on a test set (SI-SNRi, SDRi, SNRi, PESQ, STOI; ΔITD, ΔILD for binaural)",
        description="Separate every mixture of a manifest or wsj0-mix folder and score the estimates.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, metavar="CKPT", help="a voxsep checkpoint (best.pt, last.pt, ...)")
    parser.add_argument("data", help="LibriMix-style CSV, wsj0-mix/WHAM! folder or .scp list")
    parser.add_argument("--out", required=True, help="per-utterance CSV; the summary goes next to it as .json")
    parser.add_argument("--save-audio", type=int, default=0, metavar="N", help="write the estimates of the first N mixtures")
    parser.add_argument("--batch-size", type=int, default=4, help="equal-length mixtures separated together (default 4)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda when available)")
    parser.add_argument("--chunk-seconds", type=float, default=None, help="chunk length for long mixtures (default 10 s)")
    parser.add_argument("--limit", type=int, default=0, metavar="N", help="only the first N mixtures")
    parser.add_argument("--no-quality", action="store_true", help="skip PESQ and STOI (they are slow)")
    parser.add_argument("--no-sdr", action="store_true", help="skip BSS-eval SDR/SDRi (the slowest metric)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing results")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from voxsep import checkpoint
    from voxsep.core.files import check_distinct
    from voxsep.evaluate import evaluate, format_summary

    out = Path(args.out)
    check_distinct([out, out.with_suffix(".json")], {"the test data": args.data, "the model checkpoint": args.model},
                   "give another --out")
    if not args.overwrite:
        for path in (out, out.with_suffix(".json")):
            if path.exists():
                raise FileExistsError(f"{path} exists; pass --overwrite to replace the results")
    if not Path(args.data).exists():
        raise FileNotFoundError(f"test data not found: {args.data} (give a manifest CSV, a wsj0-mix folder or a .scp list)")
    model, _ = checkpoint.load(args.model)
    result = evaluate(
        model, args.data, out, save_audio=args.save_audio, batch_size=args.batch_size, device=args.device,
        overwrite=args.overwrite, quality=not args.no_quality, sdr=not args.no_sdr, chunk_seconds=args.chunk_seconds,
        limit=args.limit, model_path=str(args.model),
    )
    print(f"{result['count']} mixtures from {args.data}, model {args.model}")
    print(format_summary(result["summary"]))
    print(f"per-utterance scores: {out}\nsummary: {out.with_suffix('.json')}")
    return 0
