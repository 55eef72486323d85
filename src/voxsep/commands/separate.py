"""``voxsep separate``: separate the talkers in audio files of any length and rate."""

from __future__ import annotations

import argparse
import glob
import re
import sys
from pathlib import Path

from voxsep.commands import add_command, user_message
from voxsep.core.audio import AUDIO_EXTENSIONS

SUMMARY = "separate the talkers in audio files (any length, any sample rate)"
EPILOG = """\
examples:
  voxsep separate meeting.wav --out separated/
      -> separated/meeting_spk1.wav, separated/meeting_spk2.wav (bundled model)
  voxsep separate recordings/ 'more/*.flac' --out out/ --model exp/best.pt
  voxsep separate long.wav --out out/ --chunk-seconds 20 --overlap-seconds 2
  voxsep separate call.wav --out out/ --model model.onnx          (onnxruntime)
  voxsep separate call.wav --out out/ --model JusperLee/TIGER-speech
      -> downloads the published model into the Hugging Face cache unless it is there
         (--revision pins a commit; --offline / HF_HUB_OFFLINE=1 use the cache only)
  voxsep separate call.wav --out out/ --backend onnxruntime        (export on the fly)
  voxsep separate call.wav --out out/ --model exp/1to2/best.pt --n-src auto
      -> one file per talker found (out/call_spk1.wav only, for one talker)
  voxsep separate call.wav --out out/ --stream --block-ms 10
      -> block by block through StreamingSeparator with the bundled causal model
         (convtasnet_causal8k; --model another causal checkpoint); prints the
         measured real-time factor, median/p99 block time and the latency

--stream resamples the file to the model's rate first (and the outputs back,
unless --keep-model-rate), runs it in --block-ms blocks on one CPU thread and
writes the stream's outputs aligned with the input: the offline causal forward,
levelled from the past by the offline level rule (least-squares gains, 5-s memory);
--track-talkers also keeps one person per output by voice. No chunking, nothing
decided from the future.

--n-src auto (not the default with --stream, which writes every output as a
real-time device would) keeps only the outputs that are talkers, decided once per file by
their energy relative to the mixture (active: within 35 dB of the mixture in a
0.25 s window, for at least 0.5 s in the file), numbered in order of first
activity. It is the default for models trained on a variable number of talkers
(data.n_src: [low, high]); --n-src all writes every output. With a fixed-count
model, --n-src auto drops only silent or near-duplicate outputs and a note says so.

Outputs are written at the input's sample rate (--keep-model-rate: the model's),
16-bit, scaled by the least-squares level rule (their sum matches the mixture);
if a file would clip, all its outputs are scaled down together (a warning says so).
Stereo input to a single-channel model is downmixed (a warning says so).
Existing outputs are never overwritten without --force, and an input of the run
is never overwritten at all (that input's separation is refused). The outputs
of one input appear together or not at all (a full disk leaves none). In a
folder given as input, files in the --out folder named like outputs
(<name>_spk<N>.wav) are taken as earlier outputs and skipped. A failure on one
file is reported and the others go on; the exit code is 0 only if all succeeded.
An interrupted run over many files is continued with --skip-existing: inputs whose
outputs are all there (each checked) are skipped, the others separated; the last
line says how many were separated, skipped and failed.
"""

OUTPUT_NAME = re.compile(r"^.+_spk\d+\.wav$")  # what separate_file writes: <stem>_spk<i>.wav


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "separate", SUMMARY, EPILOG)
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files, folders (searched recursively) or globs")
    parser.add_argument("--out", required=True, type=Path, help="output folder (created if needed)")
    parser.add_argument("--model", default=None,
                        help="bundled model name, checkpoint .pt or .onnx, a published model's file or folder, or a "
                             "Hugging Face hub id org/name (downloaded unless cached) (default: the bundled model; "
                             "with --stream its causal companion)")
    parser.add_argument("--revision", default=None,
                        help="with --model org/name: the branch, tag or commit to use (default: main)")
    parser.add_argument("--offline", action="store_true",
                        help="never touch the network: a hub --model must be in the local cache (also HF_HUB_OFFLINE=1)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="torch device (default: cpu)")
    parser.add_argument("--backend", default="torch", choices=("torch", "onnxruntime"), help="inference engine")
    parser.add_argument("--chunk-seconds", type=float, default=None, help="chunk length for long files (default 10)")
    parser.add_argument("--overlap-seconds", type=float, default=None, help="overlap between chunks (default 2)")
    parser.add_argument("--keep-model-rate", action="store_true", help="write at the model's rate, not the input's")
    parser.add_argument("--no-fast", action="store_true", help="plain fp32 PyTorch forward (no fast path)")
    parser.add_argument("--n-src", default=None, metavar="auto|all|N",
                        help="outputs to write: auto (the talkers found), all, or the N most active (default: auto "
                             "for models trained on a variable number of talkers, all otherwise and with --stream)")
    parser.add_argument("--stream", action="store_true", help="run a causal model block by block (real time)")
    parser.add_argument("--block-ms", type=float, default=10.0, help="block length of --stream in ms (default 10)")
    parser.add_argument("--track-talkers", action="store_true",
                        help="with --stream: keep one person per output by voice (off by default: with a weakly "
                             "separating model, such as the bundled causal one, it adds swaps)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--force", action="store_true", help="overwrite existing outputs")
    group.add_argument("--skip-existing", action="store_true",
                       help="continue an interrupted run: skip the inputs whose outputs are all there (each checked: "
                            "a readable audio file as long as the input), separate the others")
    parser.set_defaults(func=run)


def expand_inputs(inputs: list[str], exclude: Path | None = None) -> tuple[list[Path], list[str]]:
    """Files named by ``inputs`` (files, folders, globs) and one error per input that names none.

    Folders are searched recursively for audio files, skipping the files in ``exclude``
    (the output folder) that are named like outputs (``<stem>_spk<i>.wav``), so that
    separating ``recordings/`` into ``recordings/separated/`` (or into ``recordings/``
    itself) twice does not separate the previous outputs. Files and globs are taken as
    given. The same file named twice (under any spelling) is kept once, first spelling.
    """
    from voxsep.core.files import file_identities

    files: list[Path] = []
    errors: list[str] = []
    excluded = exclude.resolve() if exclude is not None else None

    def earlier_output(p: Path) -> bool:
        return excluded is not None and p.resolve().parent == excluded and bool(OUTPUT_NAME.match(p.name))

    for item in inputs:
        path = Path(item)
        if path.is_dir():
            audio = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
            found = [p for p in audio if not earlier_output(p)]
            if not audio:
                errors.append(f"{path}: folder contains no audio files ({', '.join(AUDIO_EXTENSIONS)})")
            elif not found:
                errors.append(f"{path}: its {len(audio)} audio file(s) are all earlier outputs in the --out "
                              f"folder ({exclude}, named <name>_spk<N>.wav); nothing new to separate")
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
    unique: list[Path] = []
    seen: set[tuple] = set()
    for path in files:
        identities = file_identities(path)
        if not identities & seen:
            unique.append(path)
        seen |= identities
    return unique, errors


def outputs_replacing_inputs(files: list[Path], out_dir: Path, n_src: int) -> dict[Path, tuple[Path, Path]]:
    """Files whose outputs would replace an input of the same run.

    Returns ``{file: (its output, the input that output would replace)}``.
    """
    from voxsep.core.files import file_identities
    from voxsep.inference.api import output_paths

    inputs: dict[tuple, Path] = {}
    for path in files:
        for identity in file_identities(path):
            inputs.setdefault(identity, path)
    found: dict[Path, tuple[Path, Path]] = {}
    for path in files:
        for target in output_paths(path, out_dir, n_src):
            hit = next((inputs[i] for i in file_identities(target) if i in inputs), None)
            if hit is not None:
                found[path] = (target, hit)
                break
    return found


def existing_outputs(path: Path, out_dir: Path, n_src: str | int, model_n_src: int, model_rate: int,
                     keep_model_rate: bool) -> tuple[str, str]:
    """Whether ``path``'s outputs from an earlier run are all in ``out_dir``.

    Returns ``("none", "")``, ``("complete", "")`` or ``("incomplete", why)``. Complete:
    ``<stem>_spk1.wav`` ... ``_spk<K>.wav`` and no higher one, ``K`` the number the run
    writes (``n_src`` outputs, or 1 to ``model_n_src`` with ``"auto"``), each a readable
    audio file at the output rate and as long as the input (outputs are renamed into
    place together only when all are complete, so anything else is not from a finished
    separation).
    """
    from voxsep.core.audio import audio_info
    from voxsep.inference.api import output_paths

    targets = output_paths(path, out_dir, model_n_src)
    present = [t.exists() for t in targets]
    if not any(present):
        return "none", ""
    count = sum(present)
    if present[:count] != [True] * count:
        return "incomplete", f"only {', '.join(t.name for t, p in zip(targets, present) if p)} of its outputs exist"
    wanted = model_n_src if n_src == "all" else None if n_src == "auto" else int(n_src)
    if wanted is not None and count != wanted:
        return "incomplete", f"{count} of its {wanted} outputs exist"
    try:
        source = audio_info(path)
    except (OSError, ValueError) as error:
        return "incomplete", f"its input cannot be read to check them: {error}"
    rate = model_rate if keep_model_rate else source.sample_rate
    frames = source.frames if not keep_model_rate else round(source.frames * model_rate / source.sample_rate)
    for target in targets[:count]:
        try:
            info = audio_info(target)
        except (OSError, ValueError) as error:
            return "incomplete", f"{target.name} is not a readable audio file ({error})"
        if info.sample_rate != rate or abs(info.frames - frames) > (0 if not keep_model_rate else 2):
            return "incomplete", (f"{target.name} holds {info.frames} samples at {info.sample_rate} Hz, not the "
                                  f"{frames} at {rate} Hz a separation of {path.name} gives")
    return "complete", ""


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

    from voxsep.core.files import check_writable_dir
    from voxsep.inference.api import Separator
    from voxsep.inference.separate import resolve_chunking

    chunk_seconds, overlap_seconds = resolve_chunking(args.chunk_seconds, args.overlap_seconds,
                                                      "--chunk-seconds", "--overlap-seconds")
    if args.stream:
        from voxsep.inference.streaming import check_block_ms

        check_block_ms(args.block_ms, "--block-ms")
    elif args.track_talkers:
        raise ValueError("--track-talkers is an option of --stream; the offline path always keeps one person "
                         "per output (whole-file tracking): drop --track-talkers or add --stream")
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
    if args.stream:
        import torch

        torch.set_num_threads(1)  # one stream, one core: the block times a device would see
    # The model and the options are checked before the output folder is created.
    separator = load_separator(
        Separator,
        args.model,
        revision=args.revision,
        offline=True if args.offline else None,
        backend=args.backend,
        device=args.device,
        chunk_seconds=chunk_seconds,
        overlap_seconds=overlap_seconds,
        progress=sys.stderr.isatty(),
        **({} if args.backend == "onnxruntime" else {"fast": not args.no_fast}),
        **({"stream_block_ms": args.block_ms, "stream_track_talkers": args.track_talkers} if args.stream else {}),
    )
    failures = len(errors)
    for path, (target, victim) in outputs_replacing_inputs(files, args.out, separator.n_src).items():
        files.remove(path)
        failures += 1
        print(f"voxsep separate: error: {path}: its output {target} would replace {victim}, an input of this "
              "run (not even --force replaces inputs); separate it into another --out folder", file=sys.stderr)
    if not files:
        print("voxsep separate: error: nothing to separate", file=sys.stderr)
        return 2
    n_src = separator.resolve_n_src(args.n_src)  # checked before the output folder is created
    check_writable_dir(args.out, "--out")
    print(f"model: {separator!r}" + (f", n_src={n_src}" if n_src != "all" else ""), file=sys.stderr)
    separated = skipped = 0
    show_bar = len(files) > 1 and sys.stderr.isatty()
    for path in tqdm(files, desc="separating", unit="file", disable=not show_bar):
        if args.skip_existing:
            state, why = existing_outputs(path, args.out, n_src, separator.n_src, separator.sample_rate,
                                          args.keep_model_rate)
            if state == "complete":
                skipped += 1
                print(f"{path}: skipped, its outputs are already in {args.out}")
                continue
            if state == "incomplete":
                failures += 1
                print(f"voxsep separate: error: {path}: {why}; not the outputs of a finished separation, so they "
                      "were left alone: remove them, or pass --force instead of --skip-existing to redo every "
                      "input", file=sys.stderr)
                continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                written = separator.separate_file(path, args.out, force=args.force, keep_model_rate=args.keep_model_rate,
                                                  n_src=n_src)
            except (ValueError, OSError) as error:
                failures += 1
                message = user_message(error) if hasattr(error, "keyword") else _describe(error)
                if isinstance(error, FileExistsError) and "--force" not in message:  # e.g. written by a parallel run
                    message += "; pass --force to replace it"
                print(f"voxsep separate: error: {path}: {message}", file=sys.stderr)
                continue
            finally:
                for warning in caught:
                    print(f"voxsep separate: note: {warning.message}", file=sys.stderr)
        separated += 1
        found = f" ({len(written)} talker{'s' if len(written) != 1 else ''} found)" if n_src == "auto" else ""
        if written:
            print(f"{path} -> {', '.join(str(p) for p in written)}{found}")
        else:
            why = next(iter(separator.last_count.dropped.values()), "") if separator.last_count else ""
            print(f"{path} -> no talker found, no file written ({why})")
        if separator.last_stream is not None:
            print(f"{path}: streamed in {separator.last_stream.summary()}")
    total = separated + skipped + failures
    if failures or skipped or total > 1:
        print(f"voxsep separate: {separated} of {total} input(s) separated, {skipped} skipped (outputs already "
              f"there), {failures} failed", file=sys.stderr)
    return 1 if failures else 0


def load_separator(separator_class, spec, **kwargs):
    """``Separator.load`` with the flag to use where a hub download fails."""
    from voxsep.interop.hub import HubDownloadError

    try:
        return separator_class.load(spec, **kwargs)
    except HubDownloadError as error:
        raise HubDownloadError(f"{error}; --offline uses only models already in the cache") from error


def _describe(error: Exception) -> str:
    """The message of ``error`` without Python's ``[Errno N]`` prefix."""
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror}" + (f": {error.filename}" if error.filename else "")
    return str(error)
