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
"""

from __future__ import annotations

import shutil
from pathlib import Path

from voxsep.core.files import TEMP_SUFFIX, temporary_prefix

__all__ = ["EXPERIMENT_FILES", "CHECKPOINT_NAMES", "ExperimentInUseError", "check_can_start", "clear_previous_run",
           "remove_stale_temporaries"]

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
