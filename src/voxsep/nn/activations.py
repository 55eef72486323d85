"""Mask non-linearities by name."""

from __future__ import annotations

import torch
from torch import nn

MASK_ACTIVATIONS = ("sigmoid", "relu", "softmax", "linear")


class MaskActivation(nn.Module):
    """Apply a mask non-linearity to masks ``(batch, n_src, N, frames)``.

    ``softmax`` normalises across sources (dim 1) so the masks sum to one.
    """

    def __init__(self, name: str) -> None:
        super().__init__()
        if name not in MASK_ACTIVATIONS:
            raise ValueError(f"unknown mask activation {name!r}; choose one of {MASK_ACTIVATIONS}")
        self.name = name

    def forward(self, masks: torch.Tensor) -> torch.Tensor:
        if self.name == "sigmoid":
            return torch.sigmoid(masks)
        if self.name == "relu":
            return torch.relu(masks)
        if self.name == "softmax":
            return torch.softmax(masks, dim=1)
        return masks
