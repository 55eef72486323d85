"""Fast inference paths: ``optimize(model, device)`` returns the fastest module that keeps
the model's output within ``QUALITY_BOUND_DB`` of its plain fp32 forward pass.

**Conv-TasNet (non-causal, gLN).** ``FastTCNMasker`` runs the same arithmetic as
``voxsep.models.conv_tasnet.TCNMasker`` with fewer passes over memory, which is where a
TCN's time goes on a CPU (the depthwise convolutions, PReLUs and global layer norms are
memory-bound; the 1×1 convolutions are fast matrix products):

* gLN statistics from one ``sum`` and one BLAS dot product per tensor, instead of
  ``var_mean`` (about 3x faster here);
* the affine normalisation before the depthwise convolution in one ``addcmul`` pass;
* the gLN before the residual/skip 1×1 convolutions *folded into their weights*
  (``W' = W·diag(a)``, ``b' = b + W·c`` for the per-example scale ``a`` and shift ``c``),
  and the two convolutions merged into one matrix product; likewise the input gLN is
  folded into the bottleneck convolution;
* PReLUs in place, depthwise padding inside the convolution (no padded copy).

It stays fp32, so its output matches the plain model to float rounding (> 100 dB), far
inside the 40 dB bound. bf16 autocast is *not* used by default: on this CPU it is not
faster than fp32 for Conv-TasNet (the norms convert whole tensors), and ``torch.compile``
costs ~50 s of compilation per input shape — see BENCHMARKS.md "Inference".
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

QUALITY_BOUND_DB = 40.0
_EPS = 1e-8


def output_snr_db(reference: torch.Tensor, estimate: torch.Tensor) -> float:
    """SNR (dB) of ``estimate`` against ``reference`` (the quality bound of fast paths)."""
    reference = reference.double()
    error = (estimate.double() - reference).pow(2).sum()
    return float(10 * torch.log10(reference.pow(2).sum() / error.clamp_min(1e-30)))


def _gln_scale_shift(y: torch.Tensor, norm: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example, per-channel ``(a, c)`` with ``gLN(y) == a * y + c``; y ``(B, C, T)``."""
    batch = y.shape[0]
    flat = y.reshape(batch, 1, -1)
    count = flat.shape[-1]
    mean = flat.sum(-1, keepdim=True) / count  # (B, 1, 1)
    power = torch.bmm(flat, flat.transpose(1, 2)) / count  # (B, 1, 1), one BLAS pass
    var = (power - mean * mean).clamp_min(0.0)
    a = norm.weight * torch.rsqrt(var + _EPS)  # (B, C, 1)
    return a, norm.bias - mean * a


def _prelu_(y: torch.Tensor, prelu: nn.PReLU) -> torch.Tensor:
    if prelu.weight.numel() == 1:
        return F.leaky_relu_(y, float(prelu.weight))
    return F.prelu(y, prelu.weight)


def _fold(conv_weight: torch.Tensor, conv_bias: torch.Tensor | None, a: torch.Tensor, c: torch.Tensor):
    """Weights ``(B, out, in)`` and bias ``(B, out, 1)`` of ``conv(a * y + c)`` for a 1×1 conv."""
    weight = conv_weight.squeeze(-1)  # (out, in)
    folded_weight = weight.unsqueeze(0) * a.transpose(1, 2)  # (B, out, in)
    folded_bias = torch.matmul(weight, c)  # (B, out, 1)
    if conv_bias is not None:
        folded_bias = folded_bias + conv_bias.view(1, -1, 1)
    return folded_weight, folded_bias


class FastTCNMasker(nn.Module):
    """Drop-in replacement for a non-causal gLN ``TCNMasker`` (same parameters, same output)."""

    def __init__(self, masker: nn.Module) -> None:
        super().__init__()
        self.masker = masker

    def forward(self, representation: torch.Tensor) -> torch.Tensor:
        m = self.masker
        batch, n_filters, frames = representation.shape
        a, c = _gln_scale_shift(representation, m.input_norm)
        weight, bias = _fold(m.bottleneck.weight, m.bottleneck.bias, a, c)
        x = torch.baddbmm(bias, weight, representation)
        skip_sum = None
        for block in m.tcn.blocks:
            y = F.conv1d(x, block.in_conv.weight, block.in_conv.bias)
            y = _prelu_(y, block.in_act)
            a, c = _gln_scale_shift(y, block.in_norm)
            y = torch.addcmul(c, y, a)
            dilation = block.depthwise.dilation[0]
            left, right = block.pad
            if left == right:
                y = F.conv1d(y, block.depthwise.weight, block.depthwise.bias, padding=left, dilation=dilation,
                             groups=y.shape[1])
            else:
                y = block.depthwise(F.pad(y, block.pad))
            y = _prelu_(y, block.dw_act)
            a, c = _gln_scale_shift(y, block.dw_norm)
            # Residual and skip 1x1 convs as one product (weights concatenated, cheap).
            n_res = block.residual.out_channels
            weight, bias = _fold(
                torch.cat([block.residual.weight, block.skip.weight]),
                torch.cat([block.residual.bias, block.skip.bias]),
                a,
                c,
            )
            out = torch.baddbmm(bias, weight, y)
            x = x + out[:, :n_res]
            skip_sum = out[:, n_res:] if skip_sum is None else skip_sum + out[:, n_res:]
        features = m.output(skip_sum)
        masks = features.view(batch, m.n_src, n_filters, frames)
        return m.activation(masks)


def _fast_conv_tasnet_ok(model: nn.Module) -> bool:
    from voxsep.nn.norms import GlobalLayerNorm

    masker = getattr(model, "masker", None)
    if getattr(model, "model_name", "") != "conv_tasnet" or getattr(model, "causal", True) or masker is None:
        return False
    if not getattr(masker.tcn, "use_skip", False) or not isinstance(masker.input_norm, GlobalLayerNorm):
        return False
    return all(isinstance(b.in_norm, GlobalLayerNorm) and b.skip is not None for b in masker.tcn.blocks)


def optimize(model: nn.Module, device: torch.device | str = "cpu") -> nn.Module:
    """The fastest verified inference module for ``model`` on ``device`` (eval mode).

    Conv-TasNet (non-causal, gLN) gets ``FastTCNMasker`` in a copy of the model; every
    other model is returned as it is. The original model is never modified.
    """
    model = model.eval()
    if not _fast_conv_tasnet_ok(model):
        return model
    fast = copy.deepcopy(model)
    fast.masker = FastTCNMasker(fast.masker)
    return fast.eval()
