"""Safetensors everywhere a checkpoint is read: voxsep.checkpoint (read / load),
voxsep.interop (import_model / load_any / read_any), Separator and --init-from. A corrupt file is
reported as corrupt, a valid one never is."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from voxsep import checkpoint, cli, models
from voxsep.checkpoint import CheckpointError
from voxsep.inference.api import Separator
from voxsep.interop import ModelImportError, import_model, load_any, read_any

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = dict(n_filters=16, kernel_size=8, bottleneck=8, hidden=16, skip=8, n_blocks=2, n_repeats=1)


def small_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return models.build("conv_tasnet", **SMALL).eval()


def test_a_voxsep_checkpoint_round_trips_as_safetensors(tmp_path):
    model = small_model()
    path = checkpoint.save(tmp_path / "m.safetensors", model, sample_rate=8000, note="hello")
    assert checkpoint.is_safetensors(path)
    loaded, meta = checkpoint.load(path)
    assert meta["model_name"] == "conv_tasnet" and meta["note"] == "hello" and meta["sample_rate"] == 8000
    x = torch.randn(1, 800)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    # also without the suffix (recognised by its header), and through every reader
    renamed = tmp_path / "m.weights"
    renamed.write_bytes(path.read_bytes())
    assert checkpoint.is_safetensors(renamed)
    for reader in (load_any, lambda p: import_model(p)):
        other, _ = reader(renamed)
        with torch.inference_mode():
            torch.testing.assert_close(other(x), model(x), rtol=0, atol=0)
    assert read_any(renamed)["model_name"] == "conv_tasnet"
    separator = Separator.load(str(path), fast=False)
    assert separator.n_src == 2


@pytest.mark.parametrize("damage", ["truncated", "garbage_header"])
def test_a_corrupt_safetensors_file_is_called_corrupt(tmp_path, damage):
    path = checkpoint.save(tmp_path / "m.safetensors", small_model(), sample_rate=8000)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncated" else data[:8] + b"{not json" + data[17:])
    with pytest.raises(CheckpointError, match=r"not a readable safetensors file \(truncated or corrupt\?\).*again"):
        checkpoint.read(path)
    with pytest.raises(ModelImportError, match=r"not a readable safetensors file \(truncated or corrupt\?\)"):
        import_model(path)
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_any(path)


def test_a_valid_foreign_safetensors_file_is_never_called_corrupt(tmp_path):
    path = tmp_path / "weights.safetensors"
    save_file({"some.weight": torch.ones(3, 3)}, str(path))
    with pytest.raises(CheckpointError) as caught:
        checkpoint.read(path)
    assert "not a voxsep checkpoint" in str(caught.value) and "corrupt" not in str(caught.value)
    with pytest.raises(ModelImportError) as caught:
        import_model(path)
    assert "unknown layout" in str(caught.value) and "corrupt" not in str(caught.value)


def test_the_message_of_the_issue_is_gone_a_published_safetensors_file_reads(tmp_path):
    """The reported failure: 'Attempting to load a safetensors file but safetensors is not
    installed' shown as '... not a readable PyTorch file (truncated or corrupt?)'."""
    path = tmp_path / "model.safetensors"
    save_file({"x": torch.zeros(2)}, str(path))
    with pytest.raises(ModelImportError) as caught:
        import_model(path)
    assert "PyTorch file" not in str(caught.value) and "corrupt" not in str(caught.value)


def test_init_from_a_safetensors_checkpoint(tmp_path, capsys):
    from voxsep.train.trainer import load_init_weights

    source = small_model(1)
    path = checkpoint.save(tmp_path / "start.safetensors", source, sample_rate=8000)
    target = small_model(2)
    assert load_init_weights(target, path) == []
    for (name, a), b in zip(source.state_dict().items(), target.state_dict().values()):
        assert torch.equal(a, b), name
    corrupt = tmp_path / "bad.safetensors"
    corrupt.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_init_weights(small_model(), corrupt)


def test_import_model_cli_writes_safetensors_to_pt(tmp_path, capsys):
    path = checkpoint.save(tmp_path / "m.safetensors", small_model(), sample_rate=8000)
    out = tmp_path / "m.pt"
    assert cli.main(["import-model", str(path), str(out)]) == 0
    assert checkpoint.load(out)[1]["model_name"] == "conv_tasnet"
