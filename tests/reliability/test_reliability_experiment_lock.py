"""One training run per experiment folder (issue 27, item 3): a second ``train`` -- new,
``resume`` or ``overwrite`` -- started while a run is live is refused with the holder's pid
and changes nothing; the lock is a real ``flock`` that dies with its holder."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from voxsep.train import ExperimentLockedError, train
from voxsep.train import trainer as trainer_module
from voxsep.train.experiment import LOCK_NAME

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_trainer import SpeechMixtures, make_config  # noqa: E402


@pytest.fixture(scope="module")
def sets():
    return SpeechMixtures(4), SpeechMixtures(2, offset=4)


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _other_config():
    other = make_config(epochs=1, compile=False)
    other.model.args = {**other.model.args, "hidden": 24}  # a different model
    return other


def test_runs_started_together_on_an_empty_folder_one_is_refused(tmp_path, sets, monkeypatch):
    exp = tmp_path / "exp"
    outcome = {}
    real_build = trainer_module._build_run

    def build_then_race(*args, **kwargs):  # the first run is set up, nothing written yet: a second starts
        if not outcome:
            try:
                outcome["second"] = train(_other_config(), exp, train_set=sets[0], valid_set=sets[1]).status
            except ExperimentLockedError as error:
                outcome["second"] = str(error)
        return real_build(*args, **kwargs)

    monkeypatch.setattr(trainer_module, "_build_run", build_then_race)
    result = train(make_config(epochs=1, compile=False), exp, train_set=sets[0], valid_set=sets[1])
    assert result.status == "finished"
    assert f"in use by pid {os.getpid()}" in outcome["second"], outcome
    log = (exp / "train.log").read_text()
    assert log.count("best.pt, learning-rate halving") == 1, "one run's log only"
    assert not (exp / LOCK_NAME).exists(), "the lock file goes with its run"


@pytest.mark.parametrize("mode", ["new", "resume", "overwrite"])
def test_a_start_on_a_live_run_is_refused_and_changes_nothing(tmp_path, sets, mode):
    exp = tmp_path / "exp"
    outcome = {}

    def on_step(step: int) -> None:
        if step != 3:  # epoch 2 (2 steps per epoch): last.pt of epoch 1 exists
            return
        before = _digest(exp)
        try:
            result = train(_other_config() if mode != "resume" else make_config(epochs=2, compile=False), exp,
                           resume=mode == "resume", overwrite=mode == "overwrite", train_set=sets[0],
                           valid_set=sets[1])
            outcome["second"] = result.status
        except Exception as error:  # noqa: BLE001 - what today's code says is part of the check
            outcome["second"] = f"{type(error).__name__}: {error}"
        outcome["unchanged"] = _digest(exp) == before

    result = train(make_config(epochs=2, compile=False), exp, train_set=sets[0], valid_set=sets[1], on_step=on_step)
    assert result.status == "finished" and result.step == 4
    assert outcome["second"].startswith("ExperimentLockedError") and f"pid {os.getpid()}" in outcome["second"], outcome
    assert outcome["unchanged"]


def test_the_lock_of_a_killed_run_is_not_in_the_way(tmp_path, sets):
    exp = tmp_path / "exp"
    exp.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys, time\n"
         f"fd = os.open({str(exp / LOCK_NAME)!r}, os.O_RDWR | os.O_CREAT)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\nos.write(fd, str(os.getpid()).encode())\n"
         "print('locked', flush=True)\ntime.sleep(120)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ExperimentLockedError, match=f"in use by pid {holder.pid}"):
            train(make_config(epochs=1, compile=False), exp, train_set=sets[0], valid_set=sets[1])
        assert sorted(p.name for p in exp.iterdir()) == [LOCK_NAME], "the refused run wrote nothing"
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    result = train(make_config(epochs=1, compile=False), exp, train_set=sets[0], valid_set=sets[1])
    assert result.status == "finished" and (exp / "best.pt").is_file()


def test_a_refused_start_leaves_no_folder_behind(tmp_path, sets):
    exp = tmp_path / "never"
    with pytest.raises(FileNotFoundError, match="cannot resume"):
        train(make_config(epochs=1, compile=False), exp, resume=True, train_set=sets[0], valid_set=sets[1])
    assert not exp.exists()
