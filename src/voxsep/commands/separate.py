"""``voxsep separate``: separate the talkers in audio files of any length and rate."""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path

SUMMARY = "separate the talkers in audio files (any length, any sample rate)"
EPILOG = """\
examples:
  voxsep separate meeting.wav --out separated/
      -> separated/meeting_spk1.wav, separated/meeting_spk2.wav (bundled model)
  voxsep separate recordings/ 'more/*.flac' --out out/ --model exp/best.pt
  voxsep separate long.wav --out out/ --chunk-seconds 20 --overlap-seconds 2
  voxsep separate call.wav --out out/ --model model.onnx          (onnxruntime)
  voxsep separate call.wav --out out/ --backend onnxruntime        (export on the fly)

Outputs are written at the input's sample rate (--keep-model-rate: the model's),
16-bit, scaled by the least-squares level rule (their sum matches the mixture);
if a file would clip, all its outputs are scaled down together (a warning says so).
Stereo input to a single-channel model is downmixed (a warning says so).
Existing outputs are never overwritten without --force. A failure on one file
is reported and the others go on; the exit code is 0 only if all succeeded.
"""

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".aiff", ".aif", ".mp3", ".opus", ".au", ".sph")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "separate",
        help=SUMMARY,
        description=SUMMARY,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files, folders (searched recursively) or globs")
    parser.add_argument("--out", required=True, type=Path, help="output folder (created if needed)")
    parser.add_argument("--model", default=None, help="bundled model name, checkpoint .pt or .onnx (default: bundled)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="torch device (default: cpu)")
    parser.add_argument("--backend", default="torch", choices=("torch", "onnxruntime"), help="inference engine")
    parser.add_argument("--chunk-seconds", type=float, default=None, help="chunk length for long files (default 10)")
    parser.add_argument("--overlap-seconds", type=float, default=None, help="overlap between chunks (default 2)")
    parser.add_argument("--keep-model-rate", action="store_true", help="write at the model's rate, not the input's")
    parser.add_argument("--no-fast", action="store_true", help="plain fp32 PyTorch forward (no fast path)")
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs")
    parser.set_defaults(func=run)


def expand_inputs(inputs: list[str], exclude: Path | None = None) -> tuple[list[Path], list[str]]:
    """Files named by ``inputs`` (files, folders, globs) and one error per input that names none.

    Folders are searched recursively for audio files, skipping anything inside ``exclude``
    (the output folder, so that separating ``recordings/`` into ``recordings/separated/``
    twice does not separate the previous outputs).
    """
    files: list[Path] = []
    errors: list[str] = []
    excluded = exclude.resolve() if exclude is not None else None
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in AUDIO_EXTENSIONS
                and not (excluded is not None and p.resolve().is_relative_to(excluded))
            )
            if not found:
                errors.append(f"{path}: folder contains no audio files ({', '.join(AUDIO_EXTENSIONS)})")
            files.extend(found)
        elif path.exists():
            files.append(path)
        elif glob.has_magic(item):
            found = sorted(Path(p) for p in glob.glob(item, recursive=True) if Path(p).is_file())
            if not found:
                errors.append(f"{item}: the pattern matches no files")
            files.extend(found)
        else:
            errors.append(f"{path}: no such file or folder")
    unique = list(dict.fromkeys(files))
    return unique, errors


def clashing_names(files: list[Path]) -> dict[Path, Path]:
    """Files whose outputs (``<stem>_spk<i>.wav`` in one folder) would replace an earlier file's.

    Returns ``{later file: the earlier file with the same stem}``.
    """
    first: dict[str, Path] = {}
    clashes: dict[Path, Path] = {}
    for path in files:
        if path.stem in first:
            clashes[path] = first[path.stem]
        else:
            first[path.stem] = path
    return clashes


def run(args: argparse.Namespace) -> int:
    import warnings

    from tqdm import tqdm

    from voxsep.inference.api import Separator, check_writable_dir
    from voxsep.inference.separate import DEFAULT_CHUNK_SECONDS, DEFAULT_OVERLAP_SECONDS

    files, errors = expand_inputs(args.inputs, exclude=args.out)
    for later, earlier in clashing_names(files).items():
        files.remove(later)
        errors.append(
            f"{later}: its outputs would have the same names as those of {earlier} "
            f"({later.stem}_spk1.wav, ...); separate it into another --out folder"
        )
    for error in errors:
        print(f"voxsep separate: error: {error}", file=sys.stderr)
    if not files:
        print("voxsep separate: error: nothing to separate", file=sys.stderr)
        return 2
    check_writable_dir(args.out)
    separator = Separator.load(
        args.model,
        backend=args.backend,
        device=args.device,
        chunk_seconds=args.chunk_seconds or DEFAULT_CHUNK_SECONDS,
        overlap_seconds=args.overlap_seconds if args.overlap_seconds is not None else DEFAULT_OVERLAP_SECONDS,
        progress=sys.stderr.isatty(),
        **({} if args.backend == "onnxruntime" else {"fast": not args.no_fast}),
    )
    print(f"model: {separator!r}", file=sys.stderr)
    failures = len(errors)
    show_bar = len(files) > 1 and sys.stderr.isatty()
    for path in tqdm(files, desc="separating", unit="file", disable=not show_bar):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                written = separator.separate_file(path, args.out, force=args.force, keep_model_rate=args.keep_model_rate)
            except (ValueError, OSError) as error:
                failures += 1
                print(f"voxsep separate: error: {path}: {error}", file=sys.stderr)
                continue
            finally:
                for warning in caught:
                    print(f"voxsep separate: note: {warning.message}", file=sys.stderr)
        print(f"{path} -> {', '.join(str(p) for p in written)}")
    if failures:
        print(f"voxsep separate: {failures} input(s) failed, {len(files) - (failures - len(errors))} of "
              f"{len(files)} file(s) separated", file=sys.stderr)
    return 1 if failures else 0
