"""``voxsep serve``: a local web page to separate recordings in the browser."""

from __future__ import annotations

import argparse
import sys

from voxsep.commands import add_command

EPILOG = """examples:
  voxsep serve                                  # the bundled models, http://127.0.0.1:8000
  voxsep serve --model a.pt --model b.onnx      # a picker with both; "compare" runs them side by side
  voxsep serve --port 9000 --max-upload-mb 20 --max-jobs 2
  voxsep serve --results exp/ctn/test.csv       # + /results: the evaluate table, worst first, with players
  voxsep serve --results exp/ctn/test.csv --report report.html   # the same view as one file to share

The server binds 127.0.0.1 (this machine only) unless --host says otherwise.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "serve", "separate recordings in the browser (local web page)", EPILOG,
        description="Start a local web page: upload a recording, listen to and download each talker, "
                    "look at the spectrograms, compare two models.",
    )
    parser.add_argument("--model", action="append", default=None, metavar="SOURCE",
                        help="a model to offer (repeatable): bundled name, checkpoint, ONNX file, published "
                             "model or hub id; default: the bundled model and its causal companion (for live mode)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    parser.add_argument("--max-upload-mb", type=float, default=50.0, help="largest upload in MB (default 50)")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="longest recording in seconds (default 600)")
    parser.add_argument("--max-jobs", type=int, default=1,
                        help="separations at once (default 1); more get a 'busy, retry' answer (HTTP 503)")
    parser.add_argument("--max-live", type=int, default=1,
                        help="live microphone sessions at once (default 1; needs a causal model)")
    parser.add_argument("--job-timeout", type=float, default=300.0,
                        help="time limit of one separation in seconds (default 300; HTTP 504 past it)")
    parser.add_argument("--results", default=None, metavar="CSV_OR_DIR",
                        help="also show the per-mixture table of voxsep evaluate (its --out CSV, or a folder of them) "
                             "at /results: sortable, worst first, players and spectrograms of the saved estimates")
    parser.add_argument("--report", default=None, metavar="HTML",
                        help="with --results: write the results view as one self-contained HTML file to share "
                             "(estimates and spectrograms inline) and exit, without serving")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from voxsep.serve.app import LOCAL_HOSTS, ServeConfig, create_app, load_models

    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be 0 to 65535, got {args.port}")
    if args.threads is not None:
        import torch

        if args.threads < 1:
            raise ValueError(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    config = ServeConfig(max_upload_mb=args.max_upload_mb, max_jobs=args.max_jobs, job_timeout_s=args.job_timeout,
                         max_seconds=args.max_seconds, max_live=args.max_live)
    for name, value in (("--max-seconds", args.max_seconds), ("--job-timeout", args.job_timeout)):
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value}")
    results = None
    if args.report is not None and args.results is None:
        raise ValueError("--report goes with --results (the table of voxsep evaluate to write as HTML)")
    if args.results is not None:
        from voxsep.serve.results import load_results

        results = load_results(args.results)
    if args.report is not None:
        from voxsep.serve.report import write_report

        print(f"voxsep serve: wrote {write_report(results, args.report)} (self-contained; open it in a browser)")
        return 0
    models = load_models(args.model)
    app = create_app(models, config, results=results)
    if args.host not in LOCAL_HOSTS:
        print(f"voxsep serve: WARNING: binding {args.host}: other machines that reach this address can upload "
              "files and use this computer's CPU; there is no login. Use --host 127.0.0.1 to keep it local.",
              file=sys.stderr)
    names = ", ".join(m.spec for m in models)
    print(f"voxsep serve: models {names}; uploads up to {config.max_upload_mb:g} MB, {config.max_jobs} job(s) at "
          f"once; temporary files in {app.state.workdir}", file=sys.stderr, flush=True)
    if results is not None:
        print(f"voxsep serve: results of voxsep evaluate at http://{args.host}:{args.port}/results "
              f"({', '.join(str(r.csv_path) for r in results)})", file=sys.stderr, flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
