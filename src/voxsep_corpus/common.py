"""Helpers shared by the corpus preparers: output folders, resumability, CSVs, process pools.

Every preparer follows the same contract:

* the output folder is refused if it holds anything but a previous run of the *same*
  configuration (stored in ``OUT/voxsep_prepare.json``); ``--overwrite`` clears what
  a previous voxsep run wrote and starts again;
* every file is written atomically (temporary file + ``os.replace``), so a file that
  exists is complete, and an interrupted run resumes by skipping existing files;
* the source corpus is only read, never written.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from voxsep.core.errors import advised
from voxsep.core.files import write_text_atomic

__all__ = [
    "CONFIG_NAME",
    "MissingPackageError",
    "apt_install_line",
    "prepare_output_dir",
    "mark_complete",
    "is_complete",
    "run_tasks",
    "write_csv_atomic",
    "write_mixture_manifest",
    "write_utterance_list",
    "check_inside",
    "relpath",
]

CONFIG_NAME = "voxsep_prepare.json"


class MissingPackageError(RuntimeError):
    """A Debian package the preparer needs is not installed; the message holds the apt-get line."""


def apt_install_line(packages: Iterable[str]) -> str:
    """The command that installs ``packages`` (the machines run as root; prefix ``sudo`` otherwise)."""
    return "apt-get install -y " + " ".join(sorted(set(packages)))


def relpath(path: Path, start: Path) -> str:
    """``path`` relative to the folder ``start``, with forward slashes."""
    return Path(os.path.relpath(path, start)).as_posix()


def check_inside(output: Path, source: Path, what: str) -> None:
    """Refuse an output folder inside (or equal to) a source corpus folder.

    Raises:
        ValueError: ``output`` is ``source`` or below it.
    """
    out, src = Path(output).resolve(), Path(source).resolve()
    if out == src or src in out.parents:
        raise ValueError(f"output folder {output} is inside the {what} {source}; voxsep never writes into a "
                         f"source corpus: choose an output folder outside it")


def prepare_output_dir(output: Path, config: dict[str, Any], overwrite: bool, owned: Sequence[str]) -> bool:
    """Create, resume or (with ``overwrite``) reset a preparer's output folder.

    Args:
        output: the output folder.
        config: the settings that determine the output (JSON-serialisable); compared
            with the stored one to decide whether this run resumes a previous one.
        overwrite: clear what a previous voxsep run wrote (the ``owned`` entries and the
            stored config) and start again.
        owned: names of the entries directly under ``output`` that the preparer writes.

    Returns:
        True when resuming a previous run of the same configuration.

    Raises:
        FileExistsError: the folder is not empty and holds another configuration, or
            something voxsep did not write, and ``overwrite`` is false.
    """
    output = Path(output)
    stored_path = output / CONFIG_NAME
    if output.exists() and not output.is_dir():
        raise FileExistsError(f"{output} exists and is not a folder; choose another output path")
    entries = sorted(p.name for p in output.iterdir()) if output.exists() else []
    if entries:
        stored = None
        if stored_path.exists():
            try:
                stored = json.loads(stored_path.read_text())
            except (OSError, ValueError):
                stored = None
        if stored is None:
            raise FileExistsError(f"output folder {output} is not empty and was not written by voxsep prepare; "
                                  f"choose an empty or new folder (nothing was changed)")
        same = {k: v for k, v in stored.items() if k != "complete"} == config
        if same and not overwrite:
            return True
        if not overwrite:
            changed = sorted(k for k in set(stored) | set(config)
                             if k != "complete" and stored.get(k) != config.get(k))
            raise advised(FileExistsError, f"output folder {output} holds a build with other settings (differs in: "
                          f"{', '.join(changed)})", "overwrite", True, "to replace it, or choose another folder")
        for name in owned:
            target = output / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
    output.mkdir(parents=True, exist_ok=True)
    write_text_atomic(stored_path, json.dumps(config, indent=2, sort_keys=True) + "\n")
    return False


def mark_complete(output: Path, config: dict[str, Any]) -> None:
    """Record in the stored config that the build finished."""
    write_text_atomic(Path(output) / CONFIG_NAME, json.dumps({**config, "complete": True}, indent=2,
                                                             sort_keys=True) + "\n")


def is_complete(output: Path) -> bool:
    """Whether the stored config says the build finished (:func:`mark_complete`)."""
    try:
        return bool(json.loads((Path(output) / CONFIG_NAME).read_text()).get("complete"))
    except (OSError, ValueError):
        return False


def write_csv_atomic(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    """Write a CSV (header + rows) atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return write_text_atomic(path, buffer.getvalue())


def write_mixture_manifest(path: Path, rows: Sequence[dict[str, Any]], n_src: int, noise: bool = False) -> Path:
    """Write a LibriMix-format mixture manifest (paths relative to it) with ``voxsep.data.manifest``.

    Args:
        path: the CSV to write (replaced if it exists: preparers rewrite their manifests).
        rows: dicts with ``mixture_ID``, ``mixture_path``, ``source_paths`` (``n_src`` paths),
            ``noise_path`` (used when ``noise``) and ``length`` (samples).
        n_src: number of sources per mixture (for the header of an empty manifest).
        noise: write the ``noise_path`` column.
    """
    from voxsep.data.manifest import MixtureRecord, write_manifest

    if not rows:  # a requested set of 0 mixtures: header only
        header = ["mixture_ID", "mixture_path"] + [f"source_{i + 1}_path" for i in range(n_src)]
        return write_csv_atomic(path, header + (["noise_path"] if noise else []) + ["length"], [])
    records = [MixtureRecord(row["mixture_ID"], row["mixture_path"], tuple(row["source_paths"]),
                             row.get("noise_path") if noise else None, int(row["length"])) for row in rows]
    return write_manifest(path, records, overwrite=True)


def write_utterance_list(path: Path, rows: Sequence[tuple[str, str, Path, int, int]]) -> Path:
    """Write a speaker-labelled utterance list ``utterance_id,speaker,path,length,sample_rate``.

    Args:
        path: the CSV to write; ``path`` entries are written relative to its folder.
        rows: ``(utterance_id, speaker, audio_path, length_in_samples, sample_rate)``.
    """
    base = Path(path).parent
    return write_csv_atomic(path, ["utterance_id", "speaker", "path", "length", "sample_rate"],
                            [(u, s, relpath(p, base), int(n), int(sr)) for u, s, p, n, sr in rows])


def _die_with_parent(parent: int) -> None:
    """Pool-worker initializer: end this worker when the process that started the pool
    ends in any way (SIGKILL included), instead of living on as an orphan.

    On Linux the kernel sends SIGKILL on the parent's death (``PR_SET_PDEATHSIG``);
    elsewhere, and in case the parent died before that was set, a daemon thread watches
    the parent's pid.
    """
    import signal
    import threading
    import time

    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1 (Linux); elsewhere no prctl: AttributeError
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent is already gone
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="voxsep-parent-watch", daemon=True).start()


def run_tasks(function: Callable[[Any], Any], tasks: Sequence[Any], jobs: int, desc: str) -> list[Any]:
    """Run ``function`` over ``tasks`` in a process pool of ``jobs`` workers (inline for 1).

    Results come back in task order; a progress bar is shown on a terminal. The workers
    end with the process that started them, even when it is killed (:func:`_die_with_parent`).
    """
    from tqdm import tqdm

    show = os.isatty(2)
    if jobs <= 1 or len(tasks) <= 1:
        return [function(task) for task in tqdm(tasks, desc=desc, disable=not show)]
    with ProcessPoolExecutor(max_workers=jobs, initializer=_die_with_parent, initargs=(os.getpid(),)) as pool:
        return list(tqdm(pool.map(function, tasks), total=len(tasks), desc=desc, disable=not show))
