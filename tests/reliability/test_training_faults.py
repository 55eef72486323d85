"""Fault injection for training (the "nothing lost" promises of ``voxsep train``):
a failed start writes nothing, ``--overwrite`` deletes nothing until the new run can
start, a failed ``--resume`` leaves the experiment resumable, interrupted checkpoint
writes leave no junk that blocks the next start, a full disk ends the run cleanly with
earlier checkpoints intact, and resuming a finished run changes nothing."""

from __future__ import annotations

import errno
import hashlib
from pathlib import Path

import pytest
import torch

from voxsep import checkpoint
from voxsep.cli import main
from voxsep.train import CheckpointWriteError, ExperimentInUseError, train

import sys

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_trainer import SpeechMixtures, make_config  # noqa: E402

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "offline" / "conv_tasnet_small.yaml"


@pytest.fixture(scope="module")
def sets():
    return SpeechMixtures(8), SpeechMixtures(4, offset=8)


def _digest(folder: Path) -> dict[str, str]:
    """Content hash of every file under ``folder`` (what a fault must leave unchanged)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _finished_run(folder: Path, sets) -> None:
    result = train(make_config(epochs=1, compile=False), folder, train_set=sets[0], valid_set=sets[1])
    assert result.status == "finished" and (folder / "best.pt").is_file()


def _cli_overrides(offline_corpus: Path, mix2_manifests: dict[str, Path]) -> list[str]:
    return [f"data.pool={offline_corpus / 'wav8k' / 'utterances_train.csv'}", f"data.valid={mix2_manifests['valid']}",
            "train.max_steps=2", "train.num_threads=1", "train.device=cpu", "train.compile=false",
            "data.num_workers=0", "data.examples_per_epoch=8", "log.tensorboard=false"]


def test_failed_resume_leaves_the_experiment_unchanged_and_resumable(tmp_path, sets):
    exp = tmp_path / "exp"
    _finished_run(exp, sets)
    before = _digest(exp)
    other = make_config(epochs=2, compile=False)
    other.model.args = {**other.model.args, "hidden": 48}  # a different model
    with pytest.raises(ValueError, match="different model"):
        train(other, exp, resume=True, train_set=sets[0], valid_set=sets[1])
    assert _digest(exp) == before, "a failed resume must not rewrite config.yaml, train.log or checkpoints"
    resumed = train(make_config(epochs=2, compile=False), exp, resume=True, train_set=sets[0], valid_set=sets[1])
    assert resumed.status == "finished" and resumed.epoch == 2


def test_failed_resume_on_missing_data_rewrites_nothing(tmp_path, offline_corpus, mix2_manifests, capsys):
    exp = tmp_path / "exp"
    overrides = _cli_overrides(offline_corpus, mix2_manifests)
    assert main(["train", str(RECIPE), *overrides, "--exp-dir", str(exp)]) == 0
    before = _digest(exp)
    code = main(["train", str(exp / "config.yaml"), "data.valid=/nonexistent/valid.csv", "--exp-dir", str(exp),
                 "--resume"])
    assert code == 2 and "/nonexistent/valid.csv" in capsys.readouterr().err
    assert _digest(exp) == before


def test_overwrite_keeps_the_old_run_until_the_new_one_can_start(tmp_path, offline_corpus, mix2_manifests, capsys):
    exp = tmp_path / "exp"
    overrides = _cli_overrides(offline_corpus, mix2_manifests)
    assert main(["train", str(RECIPE), *overrides, "--exp-dir", str(exp)]) == 0
    before = _digest(exp)
    code = main(["train", str(RECIPE), *overrides, "data.valid=/nonexistent/valid.csv", "--exp-dir", str(exp),
                 "--overwrite"])
    assert code == 2 and "/nonexistent/valid.csv" in capsys.readouterr().err
    assert _digest(exp) == before, "--overwrite deleted the old run before the new one could start"
    assert main(["train", str(RECIPE), *overrides, "--exp-dir", str(exp), "--overwrite"]) == 0
    assert checkpoint.read(exp / "last.pt")["meta"]["training"]["step"] == 2


def test_a_failed_start_writes_nothing_and_the_corrected_rerun_starts(tmp_path, offline_corpus, mix2_manifests,
                                                                       capsys):
    exp = tmp_path / "exp"
    overrides = _cli_overrides(offline_corpus, mix2_manifests)
    code = main(["train", str(RECIPE), *overrides, "data.pool=/nonexistent/pool.csv", "--exp-dir", str(exp)])
    assert code == 2 and "/nonexistent/pool.csv" in capsys.readouterr().err
    assert not exp.exists() or not any(exp.iterdir()), "a failed start left files behind"
    assert main(["train", str(RECIPE), *overrides, "--exp-dir", str(exp)]) == 0


def test_a_killed_first_checkpoint_write_does_not_block_the_next_start(tmp_path, sets):
    exp = tmp_path / "exp"
    exp.mkdir()
    stale = exp / ".last.pt.abc123.tmp"  # what SIGKILL during the first last.pt write leaves
    stale.write_bytes(b"")
    result = train(make_config(epochs=1, compile=False), exp, train_set=sets[0], valid_set=sets[1])
    assert result.status == "finished"
    assert not stale.exists()


def test_existing_experiment_is_refused_before_anything_is_written(tmp_path, sets):
    exp = tmp_path / "exp"
    _finished_run(exp, sets)
    before = _digest(exp)
    with pytest.raises(ExperimentInUseError) as raised:
        train(make_config(epochs=1, compile=False), exp, train_set=sets[0], valid_set=sets[1])
    assert "last.pt" in raised.value.present
    assert _digest(exp) == before


def test_disk_full_at_a_checkpoint_ends_the_run_cleanly(tmp_path, sets, monkeypatch):
    exp = tmp_path / "exp"
    real_save = checkpoint.save
    calls = []

    def failing_save(path, model, **meta):
        calls.append(Path(path).name)
        if len(calls) >= 3:  # best.pt and last.pt of the first validation succeed
            raise OSError(errno.ENOSPC, f"could not write checkpoint {path}: No space left on device")
        return real_save(path, model, **meta)

    monkeypatch.setattr(checkpoint, "save", failing_save)
    config = make_config(epochs=3, compile=False, valid_every_steps=2)
    with pytest.raises(CheckpointWriteError, match="No space left on device"):
        train(config, exp, train_set=sets[0], valid_set=sets[1])
    assert checkpoint.read(exp / "last.pt")["meta"]["training"]["step"] == 2  # the earlier one, intact
    log = (exp / "train.log").read_text()
    assert "No space left on device" in log and "the run stops at step" in log


def test_torch_zip_writer_failure_becomes_an_oserror(tmp_path, monkeypatch):
    def broken_save(obj, handle):
        handle.write(b"partial")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    target = tmp_path / "last.pt"
    target.write_bytes(b"previous checkpoint")
    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="could not write checkpoint") as raised:
        checkpoint.atomic_torch_save({"x": 1}, target)
    assert raised.value.errno in (errno.EIO, errno.ENOSPC)
    assert target.read_bytes() == b"previous checkpoint"
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"], "the temporary file must be removed"


def test_resuming_a_finished_run_changes_nothing(tmp_path, sets):
    exp = tmp_path / "exp"
    config = make_config(epochs=5, compile=False, max_steps=6)
    assert train(config, exp, train_set=sets[0], valid_set=sets[1]).status == "max_steps"
    before = _digest(exp)
    for _ in range(2):
        result = train(config, exp, resume=True, train_set=sets[0], valid_set=sets[1])
        assert result.status == "complete" and result.step == 6
    assert _digest(exp) == before
