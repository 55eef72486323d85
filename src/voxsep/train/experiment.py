"""The experiment folder: what it holds, when a run may use it, and what a run may change.

An experiment folder holds :data:`EXPERIMENT_FILES` (``config.yaml``, ``train.log``,
``last.pt``, ``best.pt``, ``tensorboard/``). The rules, checked *before anything is
written* (a run that cannot start leaves the folder exactly as it was):

* a new run needs a folder that holds none of them (other files are left alone);
* ``resume`` needs ``last.pt``;
* ``overwrite`` removes the previous run's files -- but only once the new run has been
  built completely (model, checkpoint, datasets, compiled step), via
  :func:`clear_previous_run`, called by the trainer just before its first write.

Temporary files of an interrupted checkpoint write (``.last.pt.*.tmp``; see
:mod:`voxsep.core.files`) are removed at the next start.

One run at a time: :func:`lock_experiment` holds an exclusive ``flock`` on
``<folder>/.voxsep-train.lock`` (holding the holder's pid) for the whole run, checks
included; a second run, resume or overwrite started meanwhile gets
:class:`ExperimentLockedError` ("in use by pid N") and changes nothing. The kernel
releases the lock when the holder exits in any way (SIGKILL included), so a lock left by a
dead run is never in the way.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
from pathlib import Path
from typing import Iterator

from voxsep.core.files import TEMP_SUFFIX, temporary_prefix

__all__ = ["EXPERIMENT_FILES", "CHECKPOINT_NAMES", "LOCK_NAME", "ExperimentInUseError", "ExperimentLockedError",
           "check_can_start", "clear_previous_run", "lock_experiment", "remove_stale_temporaries"]

LOCK_NAME = ".voxsep-train.lock"

CHECKPOINT_NAMES = ("last.pt", "best.pt")
EXPERIMENT_FILES = ("config.yaml", "train.log", *CHECKPOINT_NAMES, "tensorboard")


class ExperimentInUseError(FileExistsError):
    """The folder already holds an experiment and neither resume nor overwrite was asked.

    Attributes:
        exp_dir: the folder.
        present: the experiment files found there.
    """

    def __init__(self, exp_dir: Path, present: list[str]) -> None:
        super().__init__(
            f"{exp_dir} already holds an experiment ({', '.join(present)}); resume it, start again there "
            "with overwrite (its files are deleted), or choose another folder"
        )
        self.exp_dir, self.present = exp_dir, present


class ExperimentLockedError(FileExistsError):
    """Another live process holds the experiment folder's lock (a run in progress).

    Attributes:
        exp_dir: the folder.
        pid: the holder's process id (``None`` if it could not be read).
    """

    def __init__(self, exp_dir: Path, pid: int | None) -> None:
        holder = f"pid {pid}" if pid else "another process"
        super().__init__(
            f"{exp_dir} is in use by {holder}: a training run is going on there; nothing was changed. "
            "Wait until it ends (or stop it) before resuming or starting again there, or choose another folder"
        )
        self.exp_dir, self.pid = exp_dir, pid


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text.isdigit() else None
    except OSError:
        return None


@contextlib.contextmanager
def lock_experiment(exp_dir: Path) -> Iterator[Path]:
    """Hold the experiment folder's lock while the body runs; see the module docstring.

    The folder is created if needed; if this call created it and the body leaves it
    empty (a run that could not start), it is removed again, lock file included.

    Raises:
        ExperimentLockedError: a live process holds the lock.
        NotADirectoryError: ``exp_dir`` is a file.
    """
    exp_dir = Path(exp_dir)
    if exp_dir.exists() and not exp_dir.is_dir():
        raise NotADirectoryError(f"the experiment folder {exp_dir} is a file; give a folder")
    created = not exp_dir.exists()
    exp_dir.mkdir(parents=True, exist_ok=True)
    path = exp_dir / LOCK_NAME
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            pid = _read_pid(fd)
            os.close(fd)
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise ExperimentLockedError(exp_dir, pid) from None
            raise
        try:  # the file may have been removed by its previous holder meanwhile: lock the one in place
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        path.unlink(missing_ok=True)  # still locked: nobody else can hold this file meanwhile
        os.close(fd)
        if created:
            with contextlib.suppress(OSError):
                exp_dir.rmdir()  # only if empty: a run that did not start leaves no folder behind


def check_can_start(exp_dir: Path, resume: bool, overwrite: bool, init_from: str | None) -> None:
    """Refuse, before any write, a start that the folder's state does not allow.

    Raises:
        ValueError: both ``resume`` and ``init_from``, or ``resume`` and ``overwrite``.
        NotADirectoryError: ``exp_dir`` is a file.
        FileNotFoundError: ``resume`` without ``exp_dir/last.pt``.
        ExperimentInUseError: a new run in a folder that holds an experiment.
    """
    if resume and init_from:
        raise ValueError("resume (continue this experiment) and init_from (fine-tune) exclude each other")
    if resume and overwrite:
        raise ValueError("resume and overwrite exclude each other")
    if exp_dir.exists() and not exp_dir.is_dir():
        raise NotADirectoryError(f"the experiment folder {exp_dir} is a file; give a folder")
    if resume and not (exp_dir / "last.pt").is_file():
        raise FileNotFoundError(f"cannot resume: {exp_dir / 'last.pt'} does not exist; start a new run instead")
    present = [name for name in EXPERIMENT_FILES if (exp_dir / name).exists()]
    if present and not resume and not overwrite:
        raise ExperimentInUseError(exp_dir, present)


def clear_previous_run(exp_dir: Path) -> None:
    """Delete the previous run's files (overwrite), once the new run is known to start."""
    for name in EXPERIMENT_FILES:
        path = exp_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def remove_stale_temporaries(exp_dir: Path) -> list[Path]:
    """Remove leftovers of interrupted writes of the experiment's own files; returns them."""
    removed = []
    for name in EXPERIMENT_FILES:
        for path in exp_dir.glob(f"{temporary_prefix(Path(name))}*{TEMP_SUFFIX}"):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
