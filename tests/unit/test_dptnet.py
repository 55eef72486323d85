"""DPTNet (``voxsep.models.dptnet``): the published size and the improved transformer
layer's post-norm residual structure. Parity with Asteroid's ``DPTNet`` at its published
size is in ``tests/unit/test_interop_reference.py`` (it needs an Asteroid venv); the
shape/export contract in ``test_model_contract.py``."""

from __future__ import annotations

import pytest
import torch

from voxsep import models
from voxsep.models.dptnet import ImprovedTransformerLayer


def test_the_default_configuration_has_asteroids_parameter_count():
    # Asteroid 0.7 DPTNet(n_src=2) at its defaults: 8,529,025 parameters
    assert sum(p.numel() for p in models.build("dptnet").parameters()) == 8_529_025


def test_the_layer_is_post_norm_residual_attention_then_recurrent_feed_forward():
    torch.manual_seed(0)
    layer = ImprovedTransformerLayer(8, 2, 6, bidirectional=False, dropout=0.0).eval()
    x = torch.randn(3, 11, 8)

    def gln(norm, y):  # over the frames and channels of each sequence, per-channel affine
        mean, var = y.mean(dim=(1, 2), keepdim=True), y.var(dim=(1, 2), keepdim=True, unbiased=False)
        return (y - mean) / torch.sqrt(var + 1e-8) * norm.weight.reshape(1, 1, -1) + norm.bias.reshape(1, 1, -1)

    with torch.no_grad():
        y = gln(layer.attention_norm, x + layer.attention(x))
        expected = gln(layer.ff_norm, y + layer.linear(torch.relu(layer.rnn(y)[0])))
        torch.testing.assert_close(layer(x), expected)


def test_heads_must_divide_the_filters():
    with pytest.raises(ValueError, match="divisible by n_heads"):
        models.build("dptnet", n_filters=10, n_heads=4)
