"""Registry, paper configurations, the shape contract and causality of the base models."""

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


@pytest.mark.parametrize("name", sorted(TINY))
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("length", [1, 7, 8001])
def test_output_has_input_length(name, causal, length):
    model = models.build(name, n_src=2, causal=causal, **TINY[name]).eval()
    with torch.no_grad():
        assert model(torch.randn(3, length)).shape == (3, 2, length)
        assert model(torch.randn(length)).shape == (2, length)


@pytest.mark.parametrize("name", sorted(TINY))
def test_wrong_shapes_raise_clear_errors(name):
    model = models.build(name, **TINY[name])
    with pytest.raises(ValueError, match=r"expects a mixture of shape \(batch, time\)"):
        model(torch.randn(2, 1, 100))
    with pytest.raises(ValueError, match="empty"):
        model(torch.randn(2, 0))
    with pytest.raises(ValueError, match="floating-point"):
        model(torch.ones(2, 100, dtype=torch.long))


def _first_changed_sample(model: torch.nn.Module, length: int, t: int) -> int:
    torch.manual_seed(0)
    x = torch.randn(1, length)
    y = x.clone()
    y[:, t:] = torch.randn(1, length - t)
    with torch.no_grad():
        diff = (model(x) - model(y)).abs().amax(dim=(0, 1))
    changed = torch.nonzero(diff > 1e-6)
    return int(changed[0]) if len(changed) else length


def test_causal_conv_tasnet_never_looks_ahead_more_than_one_window():
    config = TINY["conv_tasnet"]
    model = models.build("conv_tasnet", causal=True, **config).eval()
    t = 1234
    # One encoder window (L samples) is the model's algorithmic latency.
    assert _first_changed_sample(model, 3000, t) >= t - config["kernel_size"]
    # The non-causal model does see the future.
    non_causal = models.build("conv_tasnet", causal=False, **config).eval()
    assert _first_changed_sample(non_causal, 3000, t) < t - 200


def test_causal_dprnn_latency_is_one_chunk():
    config = TINY["dprnn"]
    model = models.build("dprnn", causal=True, **config).eval()
    stride = config["kernel_size"] // 2
    latency = config["chunk_size"] * stride + config["kernel_size"]
    t = 1500
    assert _first_changed_sample(model, 3000, t) >= t - latency
    non_causal = models.build("dprnn", causal=False, **config).eval()
    assert _first_changed_sample(non_causal, 3000, t) < t - 500


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
