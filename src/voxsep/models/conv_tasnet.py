"""Conv-TasNet (Luo & Mesgarani, "Conv-TasNet: Surpassing ideal time–frequency magnitude
masking for speech separation", IEEE/ACM TASLP 27(8), 2019).

Paper configuration (Table I, best non-causal row): N=512, L=16, B=128, H=512, Sc=128,
P=3, X=8, R=3, gLN, sigmoid masks — 5.05 M parameters. ``causal=True`` switches to cLN and
left-only padding (the paper's causal system).
"""

from __future__ import annotations

import torch
from torch import nn

from voxsep.models import register
from voxsep.models.base import EncoderMaskerDecoder
from voxsep.nn.activations import MaskActivation
from voxsep.nn.norms import make_norm
from voxsep.nn.tcn import TCN, TCNConfig
from voxsep.nn.tcn_kernel import TCNKernel


class TCNMasker(nn.Module):
    """Masker input ``(batch, in_channels, frames)`` → masks ``(batch, n_src, mask_channels, frames)``.

    Input norm → 1×1 bottleneck (in_channels → B) → :class:`~voxsep.nn.tcn.TCN` → PReLU →
    1×1 conv to ``n_src * mask_channels`` → mask activation. Conv-TasNet's input is the
    encoded mixture (``in_channels = mask_channels = N``); the binaural models feed a
    wider input (encodings and interaural features) or ask for masks on several encodings.

    Args:
        n_src: number of sources.
        in_channels: channels of the input (N for Conv-TasNet).
        tcn: the TCN's sizes; its ``causal`` also picks the input norm (cLN / gLN).
        mask_activation: "sigmoid", "relu", "softmax" or "linear".
        mask_channels: channels of each mask (``in_channels`` when ``None``).
    """

    def __init__(
        self, n_src: int, in_channels: int, tcn: TCNConfig, mask_activation: str, mask_channels: int | None = None
    ) -> None:
        super().__init__()
        self.n_src = n_src
        self.mask_channels = mask_channels or in_channels
        self.input_norm = make_norm(tcn.norm, in_channels)
        self.bottleneck = nn.Conv1d(in_channels, tcn.bottleneck, 1)
        self.tcn = TCN(tcn)
        self.output = nn.Sequential(nn.PReLU(), nn.Conv1d(tcn.out_channels, n_src * self.mask_channels, 1))
        self.activation = MaskActivation(mask_activation)

    def forward(self, representation: torch.Tensor) -> torch.Tensor:
        features = self.tcn(self.bottleneck(self.input_norm(representation)))
        return self._masks(features)

    def _masks(self, features: torch.Tensor) -> torch.Tensor:
        batch, _, frames = features.shape
        masks = self.output(features).view(batch, self.n_src, self.mask_channels, frames)
        return self.activation(masks)

    def kernel(self, matmul_dtype: torch.dtype = torch.float32) -> TCNKernel:
        """The masker's inference kernel (:class:`~voxsep.nn.tcn_kernel.TCNKernel`, weights
        folded now): input norm → bottleneck → TCN → PReLU → mask convolution, frames-major,
        without the mask activation (``self.activation``)."""
        return TCNKernel(self.tcn, self.input_norm, self.bottleneck, self.output[0], self.output[1], matmul_dtype)


@register("conv_tasnet")
class ConvTasNet(EncoderMaskerDecoder):
    """Conv-TasNet: learned filterbank + TCN mask estimator.

    Shapes: ``(batch, time)`` → ``(batch, n_src, time)``.

    Args:
        n_src: number of talkers.
        n_filters: N, encoder basis size.
        kernel_size: L, encoder filter length (stride L/2).
        bottleneck: B, TCN residual channels.
        hidden: H, channels inside each TCN block.
        skip: Sc, skip-connection channels (0: use the residual stream instead).
        conv_kernel: P, depthwise kernel size.
        n_blocks: X, blocks per repeat (dilations 1..2^(X-1)).
        n_repeats: R.
        causal: causal model (cLN, left padding) when True; gLN otherwise.
        mask_activation: "sigmoid" (paper), "relu", "softmax" or "linear".
        sample_rate: the rate the model works at.
        encoder_activation: "relu" or None.
    """

    def __init__(
        self,
        n_src: int = 2,
        n_filters: int = 512,
        kernel_size: int = 16,
        bottleneck: int = 128,
        hidden: int = 512,
        skip: int = 128,
        conv_kernel: int = 3,
        n_blocks: int = 8,
        n_repeats: int = 3,
        causal: bool = False,
        mask_activation: str = "sigmoid",
        sample_rate: int = 8000,
        encoder_activation: str | None = "relu",
    ) -> None:
        super().__init__(n_src, n_filters, kernel_size, kernel_size // 2, sample_rate, encoder_activation)
        self.causal = causal
        tcn = TCNConfig(bottleneck, hidden, skip, conv_kernel, n_blocks, n_repeats, causal)
        self.masker = TCNMasker(n_src, n_filters, tcn, mask_activation)
