"""voxsep.models.grow: Net2WiderNet and Net2DeeperNet keep the trained model's function;
benchmarks/widen_conv_tasnet.py is a command line over it (tested as a subprocess)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from voxsep import checkpoint, models
from voxsep.models import grow

ROOT = Path(__file__).resolve().parents[2]
ARGS = dict(n_src=2, n_filters=32, kernel_size=16, bottleneck=16, hidden=24, skip=16, n_blocks=3, n_repeats=2)


def _trained_looking(model: torch.nn.Module) -> torch.nn.Module:
    """Norm affines away from the identity of a fresh model (so duplicated ones are tested)."""
    for module in model.modules():
        if hasattr(module, "weight") and module.weight is not None and module.weight.dim() == 3 and module.weight.shape[0] == 1:
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


def test_widened_model_computes_the_same_function():
    torch.manual_seed(0)
    narrow = _trained_looking(models.build("conv_tasnet", **ARGS))
    wide = models.build("conv_tasnet", **{**ARGS, "hidden": 48}).eval()
    wide.load_state_dict(grow.widen_state(narrow.state_dict(), noise=0.0))
    assert sum(p.numel() for p in wide.parameters()) > sum(p.numel() for p in narrow.parameters())
    mixture = torch.randn(2, 8000)
    with torch.no_grad():
        assert torch.allclose(wide(mixture), narrow(mixture), atol=1e-4)


def test_noise_breaks_the_symmetry_of_the_copies_and_is_seeded():
    torch.manual_seed(0)
    state = models.build("conv_tasnet", **ARGS).state_dict()
    wide = grow.widen_state(state, noise=0.01)
    rows = wide["masker.tcn.blocks.0.in_conv.weight"]
    assert rows.shape[0] == 48 and not torch.equal(rows[:24], rows[24:])
    assert torch.equal(grow.widen_state(state, noise=0.01)["masker.tcn.blocks.0.in_conv.weight"], rows)
    assert torch.equal(grow.widen_state(state, noise=0.0)["masker.tcn.blocks.0.in_conv.weight"][24:], rows[:24])
    with pytest.raises(ValueError, match="noise"):
        grow.widen_state(state, noise=-1.0)


def test_widen_checkpoint_doubles_hidden_drops_training_state_and_refuses_other_models():
    torch.manual_seed(0)
    data = {"model_name": "conv_tasnet", "config": dict(ARGS), "state_dict": models.build("conv_tasnet", **ARGS).state_dict(),
            "meta": {"training": {"step": 3}, "sample_rate": 8000}}
    wide = grow.widen_checkpoint(data, noise=0.0)
    assert wide["config"]["hidden"] == 48 and data["config"]["hidden"] == 24
    assert "training" not in wide["meta"] and wide["meta"]["sample_rate"] == 8000
    with pytest.raises(ValueError, match="'dprnn'.*conv_tasnet"):
        grow.widen_checkpoint({**data, "model_name": "dprnn"})


def test_deeper_model_with_silenced_repeats_computes_the_shallow_function():
    torch.manual_seed(0)
    shallow = _trained_looking(models.build("conv_tasnet", **{**ARGS, "n_repeats": 1}))
    deep = models.build("conv_tasnet", **ARGS).eval()
    differing = {"n_repeats": (1, 2), "hidden": (24, 24)}
    assert grow.deepening(deep, differing) == 1 and "n_repeats" not in differing
    assert grow.deepening(deep, {"n_repeats": (2, 1)}) is None  # shallower: not a growth
    assert grow.deepening(models.build("dprnn", n_src=2), {"n_repeats": (1, 2)}) is None
    deep.load_state_dict(shallow.state_dict(), strict=False)
    grow.silence_repeats(deep, 1)
    mixture = torch.randn(2, 4000)
    with torch.no_grad():
        assert torch.allclose(deep(mixture), shallow(mixture), atol=1e-6)
    new = deep.masker.tcn.blocks[ARGS["n_blocks"]:]
    assert all(b.residual.weight.abs().sum() == 0 and b.in_conv.weight.abs().sum() > 0 for b in new)
    with pytest.raises(ValueError, match="start must be in"):
        grow.silence_blocks(deep.masker.tcn, 99)
    with pytest.raises(ValueError, match="cannot grow"):
        grow.silence_repeats(models.build("dprnn", n_src=2), 1)


def test_widen_script_is_a_command_line_over_the_library(tmp_path: Path):
    torch.manual_seed(0)
    narrow = _trained_looking(models.build("conv_tasnet", **ARGS))
    checkpoint.save(tmp_path / "narrow.pt", narrow)
    command = [sys.executable, str(ROOT / "benchmarks" / "widen_conv_tasnet.py"), str(tmp_path / "narrow.pt"),
               str(tmp_path / "wide.pt"), "--noise", "0"]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    assert "hidden 24 -> 48" in done.stdout
    wide, _ = checkpoint.load(tmp_path / "wide.pt")
    mixture = torch.randn(2, 8000)
    with torch.no_grad():
        assert torch.allclose(wide.eval()(mixture), narrow(mixture), atol=1e-4)
    refused = subprocess.run(command, capture_output=True, text=True)
    assert refused.returncode != 0 and "exists" in refused.stderr
