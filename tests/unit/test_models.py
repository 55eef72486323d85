"""Registry, paper configurations and dual-path segmenting of the base models (the shape,
checkpoint and causality contract of every model: test_model_contract.py)."""

import pytest
import torch

from voxsep import models
from voxsep.nn.dual_path import overlap_add, segment

TINY = {
    "conv_tasnet": dict(n_filters=16, kernel_size=8, bottleneck=8, hidden=16, skip=8, n_blocks=3, n_repeats=1),
    "dprnn": dict(n_filters=8, kernel_size=4, bottleneck=8, hidden=8, chunk_size=10, n_blocks=2),
}


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name, expected", [("conv_tasnet", 5.05e6), ("dprnn", 2.6e6)])
def test_paper_configuration_parameter_count(name, expected):
    count = n_params(models.build(name, n_src=2))
    assert abs(count - expected) / expected < (0.01 if name == "conv_tasnet" else 0.02), count


def test_registry_lists_models_and_rejects_unknown_names_and_arguments():
    assert {"conv_tasnet", "dprnn"} <= set(models.available())
    with pytest.raises(ValueError, match="available models: .*conv_tasnet"):
        models.build("conv-tasnet")
    with pytest.raises(ValueError, match="valid arguments: .*n_filters"):
        models.build("conv_tasnet", n_filter=3)


def test_config_records_every_argument_with_defaults():
    model = models.build("conv_tasnet", n_src=3, **TINY["conv_tasnet"])
    assert model.config["n_src"] == 3 and model.config["mask_activation"] == "sigmoid"
    assert set(model.config) == set(models.model_arguments("conv_tasnet"))
    rebuilt = models.build("conv_tasnet", **model.config)
    assert n_params(rebuilt) == n_params(model)


@pytest.mark.parametrize("frames", [1, 5, 250, 251, 999])
@pytest.mark.parametrize("chunk", [2, 10, 250])
def test_segment_overlap_add_round_trip(frames, chunk):
    x = torch.randn(2, 3, frames)
    chunks = segment(x, chunk)
    assert chunks.shape[:3] == (2, 3, chunk)
    torch.testing.assert_close(overlap_add(chunks, frames), x)


def test_segment_rejects_odd_chunks():
    with pytest.raises(ValueError, match="even"):
        segment(torch.randn(1, 1, 10), 7)
