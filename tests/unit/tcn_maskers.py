"""Tiny Conv-TasNet maskers with trained-looking norms and slopes, for the TCN kernel tests
(test_tcn_kernel.py, test_tcn_compiled.py)."""

import torch

from voxsep import models

TINY = dict(n_filters=16, kernel_size=8, bottleneck=8, hidden=16, skip=8, n_blocks=3, n_repeats=2)


def masker(causal: bool, seed: int = 0, **overrides):
    torch.manual_seed(seed)
    model = models.build("conv_tasnet", n_src=2, causal=causal, **{**TINY, **overrides}).eval()
    with torch.no_grad():  # trained-looking affines and slopes, not the identity of a fresh model
        for module in model.masker.modules():
            if isinstance(module, torch.nn.PReLU):
                module.weight.uniform_(0.05, 0.4)
            elif hasattr(module, "eps") and hasattr(module, "weight"):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.3)
    return model.masker
