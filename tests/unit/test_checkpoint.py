"""Checkpoint round trip and the errors for files that are not voxsep checkpoints."""

import pytest
import torch

from voxsep import checkpoint, models

TINY = dict(n_filters=16, kernel_size=8, bottleneck=8, hidden=16, skip=8, n_blocks=2, n_repeats=1)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return models.build("conv_tasnet", n_src=2, **TINY).eval()


def test_round_trip_gives_identical_outputs_and_metadata(tmp_path, model):
    path = checkpoint.save(tmp_path / "model.pt", model, sample_rate=8000, trained_on="unit test")
    loaded, meta = checkpoint.load(path)
    x = torch.randn(2, 4000)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    assert meta["model_name"] == "conv_tasnet" and meta["n_src"] == 2
    assert meta["sample_rate"] == 8000 and meta["trained_on"] == "unit test"
    assert meta["config"] == model.config
    assert not list(tmp_path.glob(".*tmp")), "temporary file left behind"


def test_truncated_file_gets_a_clear_error(tmp_path, model):
    path = checkpoint.save(tmp_path / "model.pt", model)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(checkpoint.CheckpointError, match="not a readable voxsep checkpoint"):
        checkpoint.load(path)


def test_foreign_and_newer_files_are_refused(tmp_path, model):
    foreign = tmp_path / "foreign.pt"
    torch.save(model.state_dict(), foreign)
    with pytest.raises(checkpoint.CheckpointError, match="not a voxsep checkpoint"):
        checkpoint.load(foreign)
    newer = tmp_path / "newer.pt"
    data = checkpoint.checkpoint_dict(model)
    data["format_version"] = checkpoint.FORMAT_VERSION + 1
    torch.save(data, newer)
    with pytest.raises(checkpoint.CheckpointError, match="upgrade voxsep"):
        checkpoint.load(newer)
    with pytest.raises(FileNotFoundError):
        checkpoint.load(tmp_path / "missing.pt")


def test_code_in_a_pickle_is_not_executed(tmp_path):
    class Evil:
        def __reduce__(self):
            return (exec, ("raise SystemExit('executed')",))

    path = tmp_path / "evil.pt"
    torch.save({"format": "voxsep-checkpoint", "payload": Evil()}, path)
    with pytest.raises(checkpoint.CheckpointError):
        checkpoint.load(path)


def test_failed_write_keeps_the_previous_file(tmp_path, model, monkeypatch):
    path = checkpoint.save(tmp_path / "model.pt", model)
    before = path.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="previous file there is unchanged"):
        checkpoint.save(path, model)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]


def test_mismatched_weights_are_reported(tmp_path, model):
    data = checkpoint.checkpoint_dict(model)
    data["config"]["hidden"] = 32
    path = tmp_path / "bad.pt"
    torch.save(data, path)
    with pytest.raises(checkpoint.CheckpointError, match="do not fit model 'conv_tasnet'"):
        checkpoint.load(path)
