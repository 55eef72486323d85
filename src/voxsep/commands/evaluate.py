"""``voxsep evaluate --model CKPT DATA --out results.csv``: per-utterance scores + summary."""

from __future__ import annotations

import argparse

from voxsep.commands import add_command

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

  # a model trained on 1-3 talkers: count accuracy on 2- and 3-talker sets together
  voxsep evaluate --model exp/1to3/best.pt data/offline/wav8k/2speakers/test.csv \\
      data/offline/wav8k/3speakers/test.csv --out exp/1to3/test_count.csv

Writes OUT (one row per mixture: mixture_id, si_snr, si_snri, sdr, sdri, snri, and pesq,
stoi when 'pip install voxsep[eval]' is done) and OUT with .json (mean, median, std,
count per metric). For two-ear (binaural) estimates the rows also hold delta_itd_us
(ITD error in microseconds, sub-sample GCC-PHAT), delta_itd_int_us (integer-lag
GCC-PHAT, as the SpeechBrain recipe) and delta_ild_db (ILD error in dB).

Existing results are kept unless --overwrite is given.

Counting (--n-src auto, the default for models trained on a variable number of
talkers): every mixture's talkers are counted as 'voxsep separate --n-src auto'
does; the rows get n_true and n_est, the summary the count accuracy, the
confusion of counts and the miscounted mixtures (listed), and the metrics are
computed on the correctly counted mixtures only (kept outputs vs true sources).
Several DATA sets may be given; with counting they may hold different counts.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "evaluate",
        "score a model on a test set (SI-SNRi, SDRi, SNRi, PESQ, STOI; ΔITD, ΔILD for binaural)",
        EPILOG, description="Separate every mixture of a manifest or wsj0-mix folder and score the estimates.",
    )
    parser.add_argument("--model", required=True, metavar="CKPT",
                        help="a voxsep checkpoint (best.pt, last.pt, ...), a bundled model name, or a published model's "
                             "file, folder or hub id org/name (downloaded unless cached), as voxsep separate")
    parser.add_argument("data", nargs="*", default=None,
                        help="LibriMix-style CSV, wsj0-mix/WHAM! folder or .scp list; several are read as one set "
                             "(default: the data.test of the recipe the checkpoint was trained with)")
    parser.add_argument("--out", required=True, help="per-utterance CSV; the summary goes next to it as .json")
    parser.add_argument("--save-audio", type=int, default=0, metavar="N", help="write the estimates of the first N mixtures")
    parser.add_argument("--batch-size", type=int, default=4, help="equal-length mixtures separated together (default 4)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda when available)")
    parser.add_argument("--chunk-seconds", type=float, default=None, help="chunk length for long mixtures (default 10 s)")
    parser.add_argument("--limit", type=int, default=0, metavar="N", help="only the first N mixtures")
    parser.add_argument("--no-quality", action="store_true", help="skip PESQ and STOI (they are slow)")
    parser.add_argument("--no-sdr", action="store_true", help="skip BSS-eval SDR/SDRi (the slowest metric)")
    parser.add_argument("--n-src", choices=("auto", "all"), default=None,
                        help="auto: count the talkers and report count accuracy (default for models trained on a "
                             "variable number of talkers); all: score every output")
    parser.add_argument("--overwrite", action="store_true", help="replace existing results")
    parser.add_argument("--report", default=None, metavar="HTML",
                        help="also write the per-mixture table (worst first, sortable) with the --save-audio estimates' "
                             "players and spectrograms as one self-contained HTML file (as voxsep serve --results)")
    parser.set_defaults(func=run)


def _recipe_test_set(model_path: str) -> str:
    """``data.test`` of the recipe stored in a voxsep checkpoint's metadata."""
    from pathlib import Path

    from voxsep import checkpoint

    if not Path(model_path).is_file():
        raise ValueError(f"no test data given and {model_path} is not a voxsep checkpoint (which would record its "
                         "recipe's data.test); give the test manifest or folder")
    test = checkpoint.read(model_path)["meta"].get("train_config", {}).get("data", {}).get("test")
    if not test:
        raise ValueError(f"no test data given and {model_path} records no data.test; give the test manifest or folder")
    return str(test)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from voxsep.core.files import check_distinct, check_writable_dir
    from voxsep.evaluate import evaluate, format_counts, format_summary
    from voxsep.interop import load_any

    from voxsep import pretrained

    if not Path(args.model).exists() and str(args.model) in pretrained.BUNDLED:
        args.model = str(pretrained.pretrained_path(str(args.model)))  # as voxsep separate / export
    data = list(args.data) if isinstance(args.data, (list, tuple)) else ([args.data] if args.data else [])
    if not data:
        data = [_recipe_test_set(args.model)]
    out = Path(args.out)
    check_distinct([out, out.with_suffix(".json")],
                   [*(("the test data", d) for d in data), ("the model checkpoint", args.model)],
                   "give another --out")
    if not args.overwrite:
        for path in (out, out.with_suffix(".json")):
            if path.exists():
                raise FileExistsError(f"{path} exists; pass --overwrite to replace the results")
    for item in data:
        if not Path(item).exists():
            raise FileNotFoundError(f"test data not found: {item} (give a manifest CSV, a wsj0-mix folder or a .scp list)")
    check_writable_dir(out.parent, "--out")  # evaluate() checks it too; here the message names the flag
    if args.report:
        check_distinct([Path(args.report)], [("the results CSV", out), ("its summary", out.with_suffix(".json"))],
                       "give another --report")
        check_writable_dir(Path(args.report).parent, "--report")  # before the scoring, not after it
    model, meta = load_any(args.model, download=True)  # a hub id not in the cache is downloaded, as voxsep separate
    n_src = args.n_src
    if n_src is None:
        low_high = meta.get("n_src_range")
        n_src = "auto" if low_high and low_high[0] < low_high[1] else "all"
    result = evaluate(
        model, data[0] if len(data) == 1 else data, out, n_src=n_src, save_audio=args.save_audio,
        batch_size=args.batch_size, device=args.device, overwrite=args.overwrite, quality=not args.no_quality, sdr=not args.no_sdr, chunk_seconds=args.chunk_seconds,
        limit=args.limit, model_path=str(args.model),
    )
    print(f"{result['count']} mixtures from {' + '.join(data)}, model {args.model}")
    if "count_accuracy" in result:
        print(format_counts(result))
    print(format_summary(result["summary"]))
    for n_true, summary in result.get("summary_by_count", {}).items():
        print(f"{n_true}-talker mixtures counted right:\n{format_summary(summary)}")
    print(f"per-utterance scores: {out}\nsummary: {out.with_suffix('.json')}")
    if args.report:
        from voxsep.serve.report import write_report
        from voxsep.serve.results import load_results

        print(f"report: {write_report(load_results(out), args.report)}")
    return 0
