"""Inference-only Conv-TasNet kernels: the same arithmetic as
``voxsep.models.conv_tasnet`` with far fewer passes over memory.

On a CPU, the paper-size Conv-TasNet (Luo & Mesgarani, TASLP 2019; N=512, B=128, H=512,
X=8, R=3) spends its time in memory-bound work around the 1×1 convolutions: the
depthwise convolutions (oneDNN's NCW depthwise kernel is slow for dilations > 1), the
global layer norms, PReLUs and fresh 20-MB allocations. ``FastTCNMasker`` is a drop-in
replacement for a non-causal gLN ``TCNMasker`` that, per example and per block:

* runs the 1×1 convolutions as single matrix products, optionally in bf16 (AMX) with
  fp32 accumulation (``matmul_dtype``); everything else stays fp32;
* computes each gLN's statistics with one ``sum`` and one BLAS ``dot``, and never
  applies a gLN as a separate pass: the gLN before the depthwise convolution is folded
  into the depthwise taps (``w_k·(a·y + c) = (w_k·a)·y + w_k·c``, with the ``w_k·c``
  terms removed again at the zero-padded edges), the gLN before the residual/skip
  convolutions and the input gLN into their weights (``W·diag(a)``, bias ``b + W·c``);
* computes the dilated depthwise convolution as shifted multiply-adds on whole rows
  (``addcmul`` on slices), about 5× faster than ``conv1d(groups=H)`` here;
* merges the residual and skip convolutions into one product and reuses two hidden-size
  buffers across all blocks (fresh 20-MB allocations page-fault on every use here).

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

_EPS = 1e-8  # voxsep.nn.norms.GlobalLayerNorm's epsilon
# The bias row of a bf16 product's operand is padded with zero rows to keep the inner
# dimension a multiple of 32 (AMX bf16 tiles): 129 was ~15% slower than 160 here.
_K_PAD = 32


def _gln_scale_shift(y: torch.Tensor, norm: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel ``(a, c)``, each ``(C,)``, with ``gLN(y) == a[:, None] * y + c[:, None]``.

    Args:
        y: ``(C, T)``, contiguous, one example.
        norm: the ``GlobalLayerNorm`` (its ``weight``/``bias`` hold ``C`` values).
    """
    flat = y.view(-1)
    count = flat.numel()
    mean = flat.sum() / count
    var = (torch.dot(flat, flat) / count - mean * mean).clamp_min(0.0)
    a = norm.weight.reshape(-1) * torch.rsqrt(var + _EPS)
    return a, norm.bias.reshape(-1) - mean * a


def _leaky_prelu_(y: torch.Tensor, prelu: nn.PReLU) -> torch.Tensor:
    """PReLU in place (one shared slope: ``leaky_relu_``; per-channel: ``(C, T)`` rows)."""
    if prelu.weight.numel() == 1:
        return F.leaky_relu_(y, float(prelu.weight))
    slope = prelu.weight.view(-1, 1)
    return torch.where(y >= 0, y, y * slope, out=y)


class _Product:
    """``weight @ x + bias`` for 1×1 convolutions, in fp32 or with bf16 operands (AMX on CPUs).

    With bf16 operands the bias rides in the product: ``[W | b] @ [x; 1]``, the operand
    written into a caller's buffer whose row ``rows`` is ones (then zero rows, see
    ``_K_PAD``). That saves a conversion pass and a bias pass over the output; the
    product stays bf16 (fp32 accumulation inside).
    """

    def __init__(self, dtype: torch.dtype) -> None:
        if dtype not in (torch.float32, torch.bfloat16):
            raise ValueError(f"matmul_dtype must be torch.float32 or torch.bfloat16, got {dtype}")
        self.dtype = dtype

    def operand_buffer(self, rows: int, frames: int) -> torch.Tensor | None:
        """The buffer ``__call__`` needs for an ``(rows, frames)`` operand (None in fp32)."""
        if self.dtype == torch.float32:
            return None
        buffer = torch.zeros(rows + _K_PAD, frames, dtype=self.dtype)
        buffer[rows] = 1.0
        return buffer

    def __call__(self, weight: torch.Tensor, x: torch.Tensor, bias: torch.Tensor,
                 buffer: torch.Tensor | None = None) -> torch.Tensor:
        """``weight (O, I) @ x (I, T) + bias (O,)``: fp32, or bf16 with bf16 operands."""
        if self.dtype == torch.float32:
            return torch.addmm(bias.view(-1, 1), weight, x)
        rows = x.shape[0]
        buffer[:rows].copy_(x)
        augmented = weight.new_zeros(weight.shape[0], rows + _K_PAD)
        augmented[:, :rows] = weight
        augmented[:, rows] = bias
        return torch.mm(augmented.to(self.dtype), buffer)


class FastTCNMasker(nn.Module):
    """Drop-in replacement for a non-causal gLN ``TCNMasker`` (same parameters, inference only).

    Args:
        masker: the model's ``TCNMasker`` (shared, not copied).
        matmul_dtype: operand dtype of the 1×1 convolutions (``torch.float32`` or
            ``torch.bfloat16``); accumulation and all other arithmetic are fp32.

    Shapes: ``(batch, N, frames)`` → masks ``(batch, n_src, N, frames)``.
    """

    def __init__(self, masker: nn.Module, matmul_dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.masker = masker
        self.product = _Product(matmul_dtype)
        blocks = masker.tcn.blocks
        # Per-block constants that do not depend on the input.
        self._in_weight = [b.in_conv.weight.detach()[:, :, 0] for b in blocks]
        self._out_weight = [torch.cat([b.residual.weight, b.skip.weight]).detach()[:, :, 0] for b in blocks]
        self._out_bias = [torch.cat([b.residual.bias, b.skip.bias]).detach() for b in blocks]

    def forward(self, representation: torch.Tensor) -> torch.Tensor:
        masks = [self._one(example) for example in representation]
        return torch.stack(masks) if len(masks) > 1 else masks[0].unsqueeze(0)

    @staticmethod
    def _depthwise(block: nn.Module, y: torch.Tensor, a: torch.Tensor, c: torch.Tensor, out: torch.Tensor):
        """``out = depthwise(zero_pad(a * y + c))`` for ``y`` ``(H, T)``, the gLN folded into the taps.

        Tap ``k`` reading ``y[t + offset_k]`` is applied as ``(w_k·a)·y`` on whole shifted
        rows; the gLN shift contributes ``w_k·c`` on every frame except those where tap
        ``k`` reads the zero padding, where it is removed again.
        """
        weight = block.depthwise.weight.detach()[:, 0, :]  # (H, K)
        dilation = block.depthwise.dilation[0]
        left = block.pad[0]
        frames = y.shape[1]
        taps = weight * a[:, None]
        shift = weight * c[:, None]
        bias = (block.depthwise.bias.detach() + shift.sum(1)).view(-1, 1)
        offsets = [k * dilation - left for k in range(weight.shape[1])]
        if 0 in offsets:
            k = offsets.index(0)
            torch.addcmul(bias, y, taps[:, k : k + 1], out=out)
        else:
            out.copy_(bias.expand_as(out))
        for k, offset in enumerate(offsets):
            tap, edge = taps[:, k : k + 1], shift[:, k : k + 1]
            if offset < 0:
                out[:, -offset:].addcmul_(y[:, :offset], tap)
                out[:, :-offset].sub_(edge)
            elif offset > 0:
                out[:, :-offset].addcmul_(y[:, offset:], tap)
                out[:, max(frames - offset, 0) :].sub_(edge)
        return out

    def _one(self, representation: torch.Tensor) -> torch.Tensor:
        """Masks ``(n_src, N, frames)`` of one example's representation ``(N, frames)``."""
        m = self.masker
        n_filters, frames = representation.shape
        representation = representation.contiguous()
        a, c = _gln_scale_shift(representation, m.input_norm)
        weight = m.bottleneck.weight.detach()[:, :, 0]
        x = self.product(weight * a, representation, m.bottleneck.bias.detach() + weight @ c,
                         self.product.operand_buffer(n_filters, frames)).float()
        hidden = self._in_weight[0].shape[0]
        y = torch.empty(hidden, frames)  # buffers reused by every block
        z = torch.empty(hidden, frames)
        x_operand = self.product.operand_buffer(x.shape[0], frames)
        z_operand = self.product.operand_buffer(hidden, frames)
        skip_sum = None
        for index, block in enumerate(m.tcn.blocks):
            y.copy_(self.product(self._in_weight[index], x, block.in_conv.bias.detach(), x_operand))
            _leaky_prelu_(y, block.in_act)
            a, c = _gln_scale_shift(y, block.in_norm)
            self._depthwise(block, y, a, c, out=z)
            _leaky_prelu_(z, block.dw_act)
            a, c = _gln_scale_shift(z, block.dw_norm)
            weight = self._out_weight[index]
            out = self.product(weight * a, z, self._out_bias[index] + weight @ c, z_operand)
            n_res = block.residual.out_channels
            x += out[:n_res]
            if skip_sum is None:
                skip_sum = out[n_res:].float()
            else:
                skip_sum += out[n_res:]
        prelu, conv = m.output[0], m.output[1]
        features = torch.addmm(conv.bias.detach().view(-1, 1), conv.weight.detach()[:, :, 0],
                               F.prelu(skip_sum, prelu.weight)).view(m.n_src, n_filters, frames)
        if m.activation.name == "sigmoid":
            return features.sigmoid_()  # in place: no second 40-MB buffer
        return m.activation(features)


class FastEncoder(nn.Module):
    """The encoder's strided convolution (+ ReLU) as one matrix product over frames.

    Shapes: ``(batch, 1, time)`` → ``(batch, N, frames)``, time already padded to whole
    frames as ``EncoderMaskerDecoder._separate`` does.
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
        representation = torch.matmul(self._weight, frames.transpose(1, 2))  # (batch, N, frames)
        return representation.relu_() if self._relu else representation


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
    """Whether ``model`` is a non-causal, single-channel, gLN Conv-TasNet with skip paths."""
    from voxsep.nn.norms import GlobalLayerNorm

    masker = getattr(model, "masker", None)
    if getattr(model, "model_name", "") != "conv_tasnet" or getattr(model, "causal", True) or masker is None:
        return False
    if model.encoder.conv.in_channels != 1 or model.decoder.conv.out_channels != 1:
        return False
    if not getattr(masker.tcn, "use_skip", False) or not isinstance(masker.input_norm, GlobalLayerNorm):
        return False
    return all(
        isinstance(b.in_norm, GlobalLayerNorm) and isinstance(b.dw_norm, GlobalLayerNorm) and b.skip is not None
        for b in masker.tcn.blocks
    )


def accelerate(model: nn.Module, matmul_dtype: torch.dtype = torch.float32) -> nn.Module:
    """A copy of a Conv-TasNet (see ``can_accelerate``) with the fast encoder and masker."""
    import copy

    fast = copy.deepcopy(model).eval()
    fast.encoder = FastEncoder(fast.encoder)
    fast.decoder = FastDecoder(fast.decoder)
    fast.masker = FastTCNMasker(fast.masker, matmul_dtype)
    return fast
