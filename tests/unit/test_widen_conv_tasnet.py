"""benchmarks/widen_conv_tasnet.py: the twice-as-wide Conv-TasNet computes what the trained
one does (without noise), and the noise makes the copies differ; an existing output is refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

from voxsep import checkpoint, models

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import widen_conv_tasnet as widen_script

ARGS = dict(n_src=2, n_filters=32, kernel_size=16, bottleneck=16, hidden=24, skip=16, n_blocks=3, n_repeats=2)


def test_widened_model_computes_the_same_function(tmp_path: Path):
    torch.manual_seed(0)
    narrow = models.build("conv_tasnet", **ARGS).eval()
    for module in narrow.modules():  # trained-looking norms, not the identity affines of a fresh model
        if hasattr(module, "weight") and module.weight is not None and module.weight.dim() == 3 and module.weight.shape[0] == 1:
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    checkpoint.save(tmp_path / "narrow.pt", narrow)
    command = [sys.executable, str(ROOT / "benchmarks" / "widen_conv_tasnet.py"), str(tmp_path / "narrow.pt"),
               str(tmp_path / "wide.pt"), "--noise", "0"]
    subprocess.run(command, check=True, capture_output=True)
    wide, _ = checkpoint.load(tmp_path / "wide.pt")
    assert wide.config["hidden"] == 48
    assert sum(p.numel() for p in wide.parameters()) > sum(p.numel() for p in narrow.parameters())
    mixture = torch.randn(2, 8000)
    with torch.no_grad():
        assert torch.allclose(wide.eval()(mixture), narrow(mixture), atol=1e-4)
    refused = subprocess.run(command, capture_output=True, text=True)
    assert refused.returncode != 0 and "exists" in refused.stderr


def test_noise_breaks_the_symmetry_of_the_copies():
    torch.manual_seed(0)
    state = models.build("conv_tasnet", **ARGS).state_dict()
    wide = widen_script.widen(state, noise=0.01)
    rows = wide["masker.tcn.blocks.0.in_conv.weight"]
    assert rows.shape[0] == 48 and not torch.equal(rows[:24], rows[24:])
    assert torch.equal(widen_script.widen(state, noise=0.0)["masker.tcn.blocks.0.in_conv.weight"][24:], rows[:24])
