"""Weight averaging (voxsep.models.average, ``voxsep average``)."""

from __future__ import annotations

import pytest
import torch

from voxsep import checkpoint, cli, models
from voxsep.models.average import average_models, normalised_weights

ARGS = dict(n_src=2, n_filters=32, kernel_size=16, bottleneck=16, hidden=24, skip=16, n_blocks=2, n_repeats=1)


def _model(seed: int, **overrides) -> torch.nn.Module:
    torch.manual_seed(seed)
    return models.build("conv_tasnet", **{**ARGS, **overrides}).eval()


def _save(path, model, **meta):
    checkpoint.save(path, model, sample_rate=8000, **meta)
    return path


def test_weighted_average_of_every_weight():
    a, b = _model(0), _model(1)
    original = {k: v.clone() for k, v in a.state_dict().items()}
    mixed = average_models([a, b], [1, 3])
    for key, value in mixed.state_dict().items():
        expected = 0.25 * original[key] + 0.75 * b.state_dict()[key]
        assert torch.allclose(value, expected, atol=1e-7), key
        assert torch.equal(a.state_dict()[key], original[key])  # the inputs are not modified


def test_interpolating_a_model_with_itself_gives_the_same_function():
    a = _model(0)
    x = torch.randn(1, 4000)
    with torch.no_grad():
        assert torch.allclose(average_models([a, a], [0.3, 0.7])(x), a(x), atol=1e-6)


def test_models_of_another_configuration_are_refused_with_the_difference():
    with pytest.raises(ValueError, match=r"differ in their configuration \(hidden: 32 vs 24\)"):
        average_models([_model(0), _model(1, hidden=32)], names=["a.pt", "b.pt"])


@pytest.mark.parametrize("weights, message", [
    ([1.0], "1 weights for 2 models"), ([1.0, -1.0], ">= 0"), ([0.0, 0.0], "sum to 0"), ([float("nan"), 1.0], "finite"),
])
def test_unusable_weights_are_refused(weights, message):
    with pytest.raises(ValueError, match=message):
        normalised_weights(weights, 2)


def test_command_writes_the_average_with_its_sources(tmp_path, capsys):
    a = _save(tmp_path / "a.pt", _model(0), step=100, valid_score=3.0, n_src_range=[1, 2])
    b = _save(tmp_path / "b.pt", _model(1), step=200, valid_score=4.0)
    out = tmp_path / "avg.pt"
    assert cli.main(["average", str(a), str(b), "--weights", "3", "1", "--out", str(out)]) == 0
    model, meta = checkpoint.load(out)
    expected = average_models([_model(0), _model(1)], [0.75, 0.25])
    for key, value in model.state_dict().items():
        assert torch.allclose(value, expected.state_dict()[key]), key
    assert [s["weight"] for s in meta["averaged_from"]] == [0.75, 0.25]
    assert all(len(s["sha256"]) == 64 for s in meta["averaged_from"])
    assert meta["n_src_range"] == [1, 2]  # the most-weighted model's training settings
    assert "step" not in meta and "valid_score" not in meta  # its own scores do not describe the average
    assert "0.75 x" in capsys.readouterr().out


def test_command_never_replaces_an_existing_file_or_an_input(tmp_path, capsys):
    a = _save(tmp_path / "a.pt", _model(0))
    b = _save(tmp_path / "b.pt", _model(1))
    before = a.read_bytes()
    assert cli.main(["average", str(a), str(b), "--out", str(a), "--overwrite"]) == 2
    assert "writing it would destroy it" in capsys.readouterr().err
    assert a.read_bytes() == before
    existing = tmp_path / "existing.pt"
    existing.write_bytes(b"keep me")
    assert cli.main(["average", str(a), str(b), "--out", str(existing)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert existing.read_bytes() == b"keep me"


def test_command_refuses_mismatched_models_before_writing(tmp_path, capsys):
    a = _save(tmp_path / "a.pt", _model(0))
    b = _save(tmp_path / "b.pt", _model(1, hidden=32))
    out = tmp_path / "avg.pt"
    assert cli.main(["average", str(a), str(b), "--out", str(out)]) == 2
    assert "differ in their configuration" in capsys.readouterr().err
    assert not out.exists()
