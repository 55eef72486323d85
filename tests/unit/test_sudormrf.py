"""SuDO-RM-RF (``voxsep.models.sudormrf``): the published sizes, both variants, and the
padding that lets any length through. Parity with Asteroid's ``SuDORMRFNet`` /
``SuDORMRFImprovedNet`` at the published size is in ``tests/unit/test_interop_reference.py``
(it needs an Asteroid venv); the shape/export contract in ``test_model_contract.py``."""

from __future__ import annotations

import pytest
import torch

from voxsep import models


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_the_paper_configuration_has_the_published_parameter_counts():
    # Asteroid 0.7 SuDORMRFNet(n_src=2) / SuDORMRFImprovedNet(n_src=2): 2,584,196 / 2,630,801
    assert _params(models.build("sudormrf")) == 2_584_196
    improved = models.build("sudormrf", variant="improved", mask_activation="relu", encoder_activation=None)
    assert _params(improved) == 2_630_801


@pytest.mark.parametrize("variant", ["original", "improved"])
@pytest.mark.parametrize("n_filters", [16, 17])  # the filter-axis mask convolution with an odd N
def test_both_variants_keep_the_length_and_train(variant, n_filters):
    torch.manual_seed(0)
    model = models.build("sudormrf", n_src=3, n_filters=n_filters, bottleneck=8, n_blocks=2, depth=3,
                         variant=variant, sample_rate=16000)
    x = torch.randn(2, 1234)
    out = model(x)
    assert out.shape == (2, 3, 1234) and torch.isfinite(out).all()
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_softmax_masks_share_the_encoding_between_talkers():
    model = models.build("sudormrf", n_filters=16, bottleneck=8, n_blocks=1, depth=2).eval()
    masks = model.masker(torch.rand(1, 16, 40))
    torch.testing.assert_close(masks.sum(dim=1), torch.ones(1, 16, 40))


def test_an_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="variant must be one of original, improved"):
        models.build("sudormrf", variant="tiny")
