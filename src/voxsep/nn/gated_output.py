"""Gated mask output of the dual-path family (DPRNN, SepFormer, MossFormer2).

Luo, Chen & Yoshioka, "Dual-path RNN", ICASSP 2020 (the masker's output layer as
released with the paper), reused by SepFormer (Subakan et al., ICASSP 2021) and
MossFormer2 (Zhao et al., ICASSP 2024): per-source features pass through
``tanh(W1 x) * sigmoid(W2 x)`` (a gated linear unit with tanh content) and a 1x1 conv,
without bias, to the encoder's N channels, then the mask non-linearity. DPTNet (Chen et
al., Interspeech 2020) has no final convolution (``project=False``: C = N).

The two gate convolutions are computed as one convolution with 2C outputs.
"""

from __future__ import annotations

import torch
from torch import nn

from voxsep.nn.activations import MaskActivation


class GatedMaskOutput(nn.Module):
    """Per-source features ``(batch * n_src, C, frames)`` → masks ``(batch, n_src, N, frames)``.

    Args:
        channels: C, feature size of the separation network.
        n_filters: N, encoder basis size (mask channels).
        mask_activation: "relu" (SepFormer, MossFormer2), "sigmoid", "softmax" (across
            sources) or "linear".
        project: the final 1x1 convolution C → N; without it (DPTNet) C must equal N.
    """

    def __init__(self, channels: int, n_filters: int, mask_activation: str = "relu", project: bool = True) -> None:
        super().__init__()
        if not project and channels != n_filters:
            raise ValueError(f"without the final projection the features ({channels}) must have the mask's "
                             f"{n_filters} channels")
        self.gate = nn.Conv1d(channels, 2 * channels, 1)
        self.mask_conv = nn.Conv1d(channels, n_filters, 1, bias=False) if project else nn.Identity()
        self.activation = MaskActivation(mask_activation)

    def forward(self, features: torch.Tensor, n_src: int) -> torch.Tensor:
        content, gate = self.gate(features).chunk(2, dim=1)
        masks = self.mask_conv(torch.tanh(content) * torch.sigmoid(gate))
        return self.activation(masks.unflatten(0, (-1, n_src)))
