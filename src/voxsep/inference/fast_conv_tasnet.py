"""Inference-only Conv-TasNet: the same arithmetic as ``voxsep.models.conv_tasnet`` with
far fewer passes over memory.

On a CPU, the paper-size Conv-TasNet (Luo & Mesgarani, TASLP 2019; N=512, B=128, H=512,
X=8, R=3) spends its time in the 1×1 convolutions and in memory-bound work around them
(norms, PReLUs, the depthwise convolutions, fresh 20-MB allocations). ``FastTCNMasker``
is a drop-in replacement for a non-causal gLN ``TCNMasker`` that runs the masker's
inference kernel (:meth:`voxsep.nn.tcn_kernel.TCNKernel.sequence`, the TCN step the
streaming engines and the ONNX streaming step run too) on each example: the gLN
statistics are folded into the products and the depthwise input (no separate norm
pass), the depthwise convolution is shifted multiply-adds on contiguous rows, and the 1×1
convolutions run with fp32 or bf16 operands (fp32 accumulation; ``matmul_dtype``); with
bf16 operands the element-wise work of each block runs compiled, in three passes
(``voxsep.nn.tcn_compiled.CompiledSequence``, where its run-time check passes).

``FastEncoder`` and ``FastDecoder`` compute the encoder's strided convolution and the
decoder's transposed one as single matrix products over the signal's frames. With fp32
products the output matches the plain model to float rounding (~100 dB SNR); with bf16
products it is 45-55 dB from it on real speech — the choice between the two, against
the 40 dB bound, is made in ``voxsep.inference.fast``. Timings: BENCHMARKS.md "Inference".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FastTCNMasker(nn.Module):
    """Drop-in replacement for a non-causal gLN ``TCNMasker`` (same parameters, inference only).

    Args:
        masker: the model's ``TCNMasker`` (kept for its metadata; its weights are folded
            into the kernel when this is built).
        matmul_dtype: operand dtype of the 1×1 convolutions (``torch.float32`` or
            ``torch.bfloat16``); accumulation and all other arithmetic are fp32.

    Shapes: ``(batch, N, frames)`` → masks ``(batch, n_src, N, frames)``.
    """

    def __init__(self, masker: nn.Module, matmul_dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.masker = masker
        self.matmul_dtype = matmul_dtype
        self.kernel = masker.kernel(matmul_dtype)

    def forward(self, representation: torch.Tensor) -> torch.Tensor:
        m = self.masker
        batch, n_filters, frames = representation.shape
        masks = representation.new_empty(batch, frames, m.n_src, m.mask_channels)
        sigmoid = m.activation.name == "sigmoid"
        for example, out in zip(representation, masks):
            logits = self.kernel.sequence(example.T).view(frames, m.n_src, m.mask_channels)
            if sigmoid:
                torch.sigmoid(logits, out=out)  # one pass: no copy, then an in-place sigmoid
            else:
                out.copy_(logits)
        if not sigmoid:
            masks = m.activation(masks.transpose(1, 2)).transpose(1, 2)  # softmax over the sources
        return masks.permute(0, 2, 3, 1)  # (batch, n_src, N, frames), a view


class FastEncoder(nn.Module):
    """The encoder's strided convolution (+ ReLU) as one matrix product over frames.

    Shapes: ``(batch, 1, time)`` → ``(batch, N, frames)``, time already padded to whole
    frames as ``EncoderMaskerDecoder._separate`` does. The result is a transposed view of
    frames-major memory ``(batch, frames, N)``: the layout the masker's kernel reads
    (``(frames, N)`` rows) and the masks are written in, so applying the masks and feeding
    the kernel read memory in order (the values are the same; BENCHMARKS.md "Inference").
    """

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        conv = encoder.conv
        self.kernel_size = conv.kernel_size[0]
        self.stride = conv.stride[0]
        self._weight = conv.weight.detach()[:, 0, :]  # (N, L)
        self._relu = isinstance(encoder.activation, nn.ReLU)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        frames = waveform[:, 0].unfold(-1, self.kernel_size, self.stride)  # (batch, frames, L)
        representation = torch.matmul(frames, self._weight.T)  # (batch, frames, N)
        if self._relu:
            representation.relu_()
        return representation.transpose(1, 2)  # (batch, N, frames), a view


class FastDecoder(nn.Module):
    """The decoder's transposed convolution as one matrix product and an overlap-add (``fold``).

    Shapes: ``(batch, N, frames)`` → ``(batch, 1, (frames - 1) * stride + L)``.
    """

    def __init__(self, decoder: nn.Module) -> None:
        super().__init__()
        self.decoder = decoder
        conv = decoder.conv
        self.kernel_size = conv.kernel_size[0]
        self.stride = conv.stride[0]
        self._basis = conv.weight.detach()[:, 0, :].T.contiguous()  # (L, N)

    def forward(self, representation: torch.Tensor) -> torch.Tensor:
        batch, _, frames = representation.shape
        pieces = torch.matmul(self._basis, representation)  # (batch, L, frames)
        length = (frames - 1) * self.stride + self.kernel_size
        signal = F.fold(pieces, output_size=(1, length), kernel_size=(1, self.kernel_size), stride=(1, self.stride))
        return signal.view(batch, 1, length)


def can_accelerate(model: nn.Module) -> bool:
    """Whether ``model`` is a non-causal, single-channel Conv-TasNet whose masker runs on the
    TCN kernel with global norms (gLN everywhere)."""
    masker = getattr(model, "masker", None)
    if getattr(model, "model_name", "") != "conv_tasnet" or getattr(model, "causal", True) or masker is None:
        return False
    if model.encoder.conv.in_channels != 1 or model.decoder.conv.out_channels != 1:
        return False
    try:
        return not masker.kernel().causal
    except (AttributeError, ValueError):  # no kernel, or norms it does not run
        return False


def accelerate(model: nn.Module, matmul_dtype: torch.dtype = torch.float32) -> nn.Module:
    """A copy of a Conv-TasNet (see ``can_accelerate``) with the fast encoder and masker."""
    import copy

    fast = copy.deepcopy(model).eval()
    fast.encoder = FastEncoder(fast.encoder)
    fast.decoder = FastDecoder(fast.decoder)
    fast.masker = FastTCNMasker(fast.masker, matmul_dtype)
    return fast
