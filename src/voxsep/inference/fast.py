"""Fast inference paths: ``optimize(model, device)`` returns the fastest module that
keeps the model's output within ``QUALITY_BOUND_DB`` of its plain fp32 forward pass.

Measured on the 2-core benchmark machine (``benchmarks/bench_inference.py``; see
BENCHMARKS.md): bf16 autocast alone is not faster than fp32 here, because the global
layer norms run in fp32 and each one converts the whole activation tensor twice, and
``torch.compile`` (inductor, freezing, bf16) costs ~50 s of compilation per input
shape for about a 1.9x speed-up. Neither is a good default for a command that
separates one file, so the default path is the fp32 eager model under
``torch.inference_mode`` with oneDNN enabled, and ``optimize`` returns the model as
it is unless a path has been verified for it.
"""

from __future__ import annotations

import torch
from torch import nn

QUALITY_BOUND_DB = 40.0


def output_snr_db(reference: torch.Tensor, estimate: torch.Tensor) -> float:
    """SNR (dB) of ``estimate`` against ``reference`` (the quality bound of fast paths)."""
    reference = reference.double()
    error = (estimate.double() - reference).pow(2).sum()
    return float(10 * torch.log10(reference.pow(2).sum() / error.clamp_min(1e-30)))


def optimize(model: nn.Module, device: torch.device | str = "cpu") -> nn.Module:
    """The fastest verified inference module for ``model`` on ``device`` (eval mode)."""
    torch.backends.mkldnn.enabled = True
    return model.eval()
