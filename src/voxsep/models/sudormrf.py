"""SuDO-RM-RF (Tzinis, Wang & Smaragdis, "Sudo rm -rf: Efficient networks for universal
audio source separation", MLSP 2020).

A learned filterbank (L=21, hop 10, N=512 bases) and a mask estimator made of U
successive multi-resolution blocks (U-ConvBlocks) on a B=128 channel stream. Each block
expands B → N channels with a 1×1 convolution, analyses the result at Q resolutions
(depthwise convolutions, kernel 5: the first at hop 1, each next one at hop 2 from the
one before), merges them back from the coarsest (each level upsampled ×2 by repetition
and added to the finer one), and projects N → B again, with a residual connection. The
paper's configuration (U=16, Q=4, B=128, N=512, L=21) has 2.58 M parameters at two
talkers (2.63 M for the improved variant), as Asteroid's ``SuDORMRFNet`` /
``SuDORMRFImprovedNet`` at their defaults.

Two variants, as published:

* ``variant="original"`` (the paper): group norms over all channels and frames (gLN) with
  per-channel PReLUs; each block's output is normalised and activated after the residual
  sum; the masks come from a convolution along the *filter* axis (a kernel of N+1 bases,
  one output plane per talker) after a B → N projection; softmax across talkers; ReLU
  on the encoder's output.
* ``variant="improved"`` (the authors' later "improved" version, Asteroid's
  ``SuDORMRFImprovedNet``): the blocks end in a plain 1×1 projection added to their input
  (no norm after the sum), the expansion's PReLU has one slope; masks from PReLU → 1×1
  convolution B → n_src·N; ReLU masks; a linear encoder.

Before encoding, the input is zero-padded at the end to a multiple of
``lcm(L // 2, 2 ** Q)`` samples, then by ``L // 2`` samples on each side; the decoder's
output is read from sample ``L // 2`` on. This is how the published models were trained
and run (Asteroid's ``SuDORMRFNet``), so the imported ones give the same output
(``tests/unit/test_interop_reference.py``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from voxsep.models import register
from voxsep.models.base import EncoderMaskerDecoder
from voxsep.nn.activations import MaskActivation
from voxsep.nn.norms import GlobalLayerNorm

VARIANTS = ("original", "improved")


class MultiResolutionBlock(nn.Module):
    """One U-ConvBlock: ``(batch, B, frames)`` → ``(batch, B, frames)``.

    Args:
        channels: B, the stream's channels.
        hidden: N, the channels the resolutions are analysed on.
        depth: Q, number of resolutions (level k has ``ceil(frames / 2**k)`` frames).
        variant: ``"original"`` or ``"improved"`` (see the module docstring).
    """

    def __init__(self, channels: int, hidden: int, depth: int, variant: str) -> None:
        super().__init__()
        self.variant = variant
        self.expand = nn.Conv1d(channels, hidden, 1)
        self.expand_norm = GlobalLayerNorm(hidden)
        self.expand_act = nn.PReLU(hidden if variant == "original" else 1)
        self.levels = nn.ModuleList(
            nn.Conv1d(hidden, hidden, 5, stride=1 if k == 0 else 2, padding=2, groups=hidden) for k in range(depth))
        self.level_norms = nn.ModuleList(GlobalLayerNorm(hidden) for _ in range(depth))
        self.merge_norm = GlobalLayerNorm(hidden)
        self.merge_act = nn.PReLU(hidden)
        self.project = nn.Conv1d(hidden, channels, 1)
        if variant == "original":
            self.project_norm = GlobalLayerNorm(channels)
            self.out_norm = GlobalLayerNorm(channels)
            self.out_act = nn.PReLU(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        level = self.expand_act(self.expand_norm(self.expand(x)))
        levels = []
        for conv, norm in zip(self.levels, self.level_norms):
            level = norm(conv(level))
            levels.append(level)
        merged = levels.pop()
        while levels:  # coarsest first: repeat each frame twice, trim, add to the finer level
            finer = levels.pop()
            merged = finer + merged.repeat_interleave(2, dim=-1)[..., : finer.shape[-1]]
        projected = self.project(self.merge_act(self.merge_norm(merged)))
        if self.variant == "original":
            return self.out_act(self.out_norm(self.project_norm(projected) + x))
        return projected + x


class SuDORMRFMasker(nn.Module):
    """Encoded mixture ``(batch, N, frames)`` → masks ``(batch, n_src, N, frames)``.

    gLN → 1×1 bottleneck N → B → ``n_blocks`` :class:`MultiResolutionBlock` → mask head
    (see the module docstring for the two variants) → mask activation.
    """

    def __init__(self, n_src: int, n_filters: int, bottleneck: int, n_blocks: int, depth: int, variant: str,
                 mask_activation: str) -> None:
        super().__init__()
        self.n_src, self.n_filters, self.variant = n_src, n_filters, variant
        self.input_norm = GlobalLayerNorm(n_filters)
        self.bottleneck = nn.Conv1d(n_filters, bottleneck, 1)
        self.blocks = nn.Sequential(*(MultiResolutionBlock(bottleneck, n_filters, depth, variant)
                                      for _ in range(n_blocks)))
        if variant == "original":
            # B → N (only when they differ), then a convolution along the filter axis: each
            # talker's mask at filter f weighs filters f - N/2 .. f + N/2 (zero outside).
            self.to_filters = nn.Conv1d(bottleneck, n_filters, 1) if bottleneck != n_filters else nn.Identity()
            self.mask_conv = nn.Conv2d(1, n_src, (n_filters + 1, 1), padding=(n_filters - n_filters // 2, 0))
        else:
            self.output = nn.Sequential(nn.PReLU(), nn.Conv1d(bottleneck, n_src * n_filters, 1))
        self.activation = MaskActivation(mask_activation)

    def forward(self, representation: torch.Tensor) -> torch.Tensor:
        features = self.blocks(self.bottleneck(self.input_norm(representation)))
        batch, _, frames = features.shape
        if self.variant == "original":
            masks = self.mask_conv(self.to_filters(features).unsqueeze(1))  # (batch, n_src, N', frames)
            masks = masks[:, :, : self.n_filters]  # N' = N for even N, N + 1 for odd N
        else:
            masks = self.output(features).view(batch, self.n_src, self.n_filters, frames)
        return self.activation(masks)


@register("sudormrf")
class SuDORMRF(EncoderMaskerDecoder):
    """SuDO-RM-RF: learned filterbank + multi-resolution U-ConvBlock mask estimator.

    Shapes: ``(batch, time)`` → ``(batch, n_src, time)``.

    Args:
        n_src: number of talkers.
        n_filters: N, encoder bases (also the channels the blocks analyse on).
        kernel_size: L, encoder filter length (hop ``L // 2``).
        bottleneck: B, the channels between blocks.
        n_blocks: U, number of U-ConvBlocks.
        depth: Q, resolutions per block.
        variant: ``"original"`` (paper) or ``"improved"``.
        mask_activation: "softmax" (paper), "relu" (improved), "sigmoid" or "linear".
        sample_rate: the rate the model works at.
        encoder_activation: "relu" (paper) or None (improved).
    """

    def __init__(
        self,
        n_src: int = 2,
        n_filters: int = 512,
        kernel_size: int = 21,
        bottleneck: int = 128,
        n_blocks: int = 16,
        depth: int = 4,
        variant: str = "original",
        mask_activation: str = "softmax",
        sample_rate: int = 8000,
        encoder_activation: str | None = "relu",
    ) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
        if kernel_size < 2 or depth < 1:
            raise ValueError(f"kernel_size must be >= 2 and depth >= 1, got {kernel_size} and {depth}")
        super().__init__(n_src, n_filters, kernel_size, kernel_size // 2, sample_rate, encoder_activation)
        self.margin = kernel_size // 2
        self.multiple = math.lcm(kernel_size // 2, 2 ** depth)
        self.masker = SuDORMRFMasker(n_src, n_filters, bottleneck, n_blocks, depth, variant, mask_activation)

    def _separate(self, mixture: torch.Tensor) -> torch.Tensor:
        """``mixture`` ``(B, 1, T)`` → ``(B, n_src, 1, T)``: zero-padded to a multiple of
        ``self.multiple`` and by L/2 on both sides, separated, read from sample L/2."""
        length = mixture.shape[-1]
        tail = (-length) % self.multiple
        x = F.pad(mixture, (self.margin, self.margin + tail))
        estimates = self._separate_tiled(x)[..., self.margin: self.margin + length]
        if estimates.shape[-1] < length:  # not reached for odd L; kept for any L
            estimates = F.pad(estimates, (0, length - estimates.shape[-1]))
        return estimates
