"""``voxsep prepare check``: the command line of :mod:`voxsep_corpus.check`."""

from __future__ import annotations

import argparse
import csv
from collections import Counter
from pathlib import Path


SUMMARY = "validate a manifest, wsj0-mix folder, .scp list or utterance list and summarise it"


EPILOG = """examples:
  voxsep prepare check data/offline/wav8k/2speakers/train.csv
  voxsep prepare check /corpora/wsj0-mix/2speakers/wav8k/min/tt
  voxsep prepare check /corpora/Libri2Mix/wav8k/min/metadata/mixture_test_mix_both.csv --decode
  voxsep prepare check data/offline/wav8k/utterances_train.csv
  voxsep prepare check data/offline/wav8k/3speakers/test --check-sum   # s1+s2+s3 == mix?

exit status: 0 when valid, 1 when problems were found (they are listed), 2 when the
path cannot be read as a dataset at all.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, help="manifest CSV, wsj0-mix folder (with mix/ s1/ s2/), .scp list "
                                                 "or utterance-list CSV")
    parser.add_argument("--n-src", type=int, default=None, help="expected number of sources per mixture")
    parser.add_argument("--sample-rate", type=int, default=None, help="expected sample rate in Hz")
    parser.add_argument("--decode", action="store_true",
                        help="decode every file completely (finds corrupt data and NaN/inf samples; slower)")
    parser.add_argument("--check-sum", action="store_true",
                        help="also check that the sources (plus the noise, if any) add up to the mixture; not for "
                             "sets whose targets differ from the mixture's components (e.g. dry targets of "
                             "reverberant mixtures)")
    parser.add_argument("--sum-tolerance-db", type=float, default=30.0,
                        help="largest allowed residual of --check-sum, in dB below the mixture (default 30)")
    parser.add_argument("--mix-folder", default=None,
                        help="for folders: the mixture sub-folder (default mix, or mix_both/mix_clean for WHAM!)")
    parser.add_argument("--utterances", type=Path, action="append", default=None, metavar="CSV",
                        help="utterance list(s) naming the speakers of the mixtures' utterances (default: "
                             "utterances_*.csv beside the manifest or up to two folders above it)")
    parser.add_argument("--max-problems", type=int, default=20, help="print at most this many problems (default 20)")


def run(args: argparse.Namespace) -> int:
    from voxsep.data.manifest import load_manifest
    from voxsep_corpus.check import find_utterance_lists, read_utterance_speakers, speakers_from_ids

    path: Path = args.path
    problems: list[str] = []
    rates: Counter[int] = Counter()
    if _is_utterance_list(path):
        from voxsep.data.manifest import load_speaker_pool

        pool = load_speaker_pool(path)
        seconds = 0.0
        for speaker, files in pool.items():
            for file in files:
                info, problem = _inspect(file, args.decode)
                if problem:
                    problems.append(f"speaker {speaker}: {problem}")
                    continue
                rates[info[0]] += 1
                seconds += info[1] / info[0]
        n_utts = sum(len(v) for v in pool.values())
        print(f"{path}: utterance list, {n_utts} utterances, {len(pool)} speakers, "
              f"{_fmt_duration(seconds)}, sample rate {_fmt_rates(rates)}")
    else:
        from voxsep.data.manifest import ignored_columns

        try:
            if path.is_dir():  # every missing or orphan file is listed, not only the first
                records = load_manifest(path, mix_folder=args.mix_folder, problems=problems)
            else:
                records = load_manifest(path)
        except (ValueError, FileNotFoundError) as error:
            print(f"{path}: not a valid dataset: {error}")
            return 2
        ignored = ignored_columns(path)
        is_csv = path.is_file() and path.suffix.lower() == ".csv"
        n_src_seen: Counter[int] = Counter(r.n_src for r in records)
        total_frames, durations = 0, []
        for i, record in enumerate(records):
            label = f"line {i + 2} ({record.mixture_id})" if is_csv else record.mixture_id
            if args.n_src is not None and record.n_src != args.n_src:
                problems.append(f"{label}: {record.n_src} sources, expected {args.n_src}")
            infos = {}
            for file in record.paths:
                info, problem = _inspect(file, args.decode)
                if problem:
                    problems.append(f"{label}: {problem}")
                else:
                    infos[file] = info
            if record.mixture_path not in infos:
                continue
            rate, frames, channels = infos[record.mixture_path]
            rates[rate] += 1
            total_frames += frames
            durations.append(frames / rate)
            for file, (f_rate, f_frames, f_channels) in infos.items():
                if f_rate != rate:
                    problems.append(f"{label}: {file} is at {f_rate} Hz, the mixture at {rate} Hz")
                if f_frames != frames:
                    problems.append(f"{label}: {file} has {f_frames} samples, the mixture {frames}")
                if f_channels != channels:
                    problems.append(f"{label}: {file} has {f_channels} channel(s), the mixture {channels}")
            if record.length is not None and record.length != frames:
                problems.append(f"{label}: length column says {record.length} samples, the mixture has {frames}")
            if args.check_sum and len(infos) == len(record.paths) and len({i[1] for i in infos.values()}) == 1:
                residual_db = _sum_residual_db(record)
                if residual_db > -args.sum_tolerance_db:
                    problems.append(f"{label}: the sources{' (+ noise)' if record.noise_path else ''} do not add up "
                                    f"to the mixture: residual {residual_db:.1f} dB relative to the mixture")
        if len(n_src_seen) > 1:
            problems.append(f"mixtures with different numbers of sources: {dict(n_src_seen)}")
        lists = args.utterances or find_utterance_lists(path)
        speakers = speakers_from_ids([r.mixture_id for r in records], records[0].n_src,
                                     read_utterance_speakers(lists) if lists else None)
        kind = "folder" if path.is_dir() else ("list" if path.suffix.lower() == ".scp" else "manifest")
        rate = rates.most_common(1)[0][0] if rates else 0
        print(f"{path}: {kind}, {len(records)} mixtures of {'/'.join(map(str, sorted(n_src_seen)))} sources, "
              f"{_fmt_duration(_hours(total_frames, rate) * 3600)}, sample rate {_fmt_rates(rates)}")
        if durations:
            print(f"  mixture length: min {min(durations):.2f} s, mean {sum(durations) / len(durations):.2f} s, "
                  f"max {max(durations):.2f} s")
        print(f"  speakers: {len(speakers) if speakers is not None else 'unknown (not in the mixture IDs)'}")
        if ignored:
            print(f"  ignored columns: {', '.join(ignored)} (informational; voxsep does not read them)")
    if len(rates) > 1:
        problems.append(f"more than one sample rate in the set: {_fmt_rates(rates)}")
    if args.sample_rate is not None and rates and set(rates) != {args.sample_rate}:
        problems.append(f"sample rate {_fmt_rates(rates)}, expected {args.sample_rate} Hz")
    if problems:
        print(f"INVALID: {len(problems)} problem(s)")
        for problem in problems[: args.max_problems]:
            print(f"  - {problem}")
        if len(problems) > args.max_problems:
            print(f"  ... and {len(problems) - args.max_problems} more (--max-problems)")
        return 1
    print("OK")
    return 0


def _is_utterance_list(path: Path) -> bool:
    if not path.is_file() or path.suffix.lower() != ".csv":
        return False
    with open(path, newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle), [])
    return {"speaker", "path"} <= {h.strip() for h in header}


def _inspect(path: Path, decode: bool) -> tuple[tuple[int, int, int] | None, str | None]:
    """``((sample_rate, frames, channels), None)`` or ``(None, problem)``."""
    from voxsep.core.audio import audio_info, read_audio

    try:
        info = audio_info(path)
        if decode:
            read_audio(path)
    except (ValueError, OSError) as error:
        return None, str(error)
    return (info.sample_rate, info.frames, info.channels), None


def _sum_residual_db(record) -> float:
    """Energy of ``mixture - sum(sources) [- noise]`` relative to the mixture, in dB (the
    smaller of with and without the noise, as a manifest may list the clean mixture)."""
    import numpy as np

    from voxsep.core.audio import read_audio

    mixture = read_audio(record.mixture_path)[0].astype(np.float64)
    residual = mixture - sum(read_audio(p)[0].astype(np.float64) for p in record.source_paths)
    energies = [np.sum(residual**2)]
    if record.noise_path is not None:
        energies.append(np.sum((residual - read_audio(record.noise_path)[0]) ** 2))
    reference = max(np.sum(mixture**2), 1e-20)
    return float(10 * np.log10(max(min(energies), 1e-20) / reference))


def _hours(frames: int, rate: int) -> float:
    return frames / rate / 3600 if rate else 0.0


def _fmt_duration(seconds: float) -> str:
    return f"{seconds / 3600:.3f} h ({seconds:.1f} s)"


def _fmt_rates(rates: Counter[int]) -> str:
    if not rates:
        return "unknown"
    return ", ".join(f"{rate} Hz" + (f" ({count} files)" if len(rates) > 1 else "") for rate, count in
                     sorted(rates.items()))
