"""The RNN-free recurrent module of MossFormer2 (Zhao et al., "MossFormer2: Combining
transformer and RNN-free recurrent network for enhanced time-domain monaural speech
separation", ICASSP 2024, §2.2): a feedforward sequential memory network (FSMN; Zhang
et al., 2015) whose memory is a dilated, densely connected stack of depthwise
convolutions, wrapped in gated convolutional units and a bottleneck.

* ``DilatedDenseMemory`` — depthwise convolutions of width ``2*lorder - 1`` with
  dilations 1, 2, 4, ...; layer i sees the outputs of all previous layers and the input
  (dense connections), each followed by instance norm (per channel over time) and PReLU.
* ``DilatedFSMN`` — ``x + memory(project(relu(linear(x))))``.
* ``GatedFSMN`` — gated convolutional unit: ``v * DilatedFSMN(u) + x`` with ``u`` and
  ``v`` from ``FFConvM`` projections (LayerNorm flavour).
* ``GatedFSMNBlock`` — bottleneck (linear to ``inner`` + PReLU) → LayerNorm →
  ``GatedFSMN`` → LayerNorm → output layer back to ``dim``, plus a residual.

All modules take ``(batch, length, features)``. As in the authors' release
(ClearerVoice-Studio), the dense memory concatenates ``[newest output, earlier
features]`` and each depthwise group reads consecutive channels of that concatenation,
so the function computed is the same as theirs.
"""

from __future__ import annotations

import torch
from torch import nn

from voxsep.nn.mossformer import FFConvM


class DilatedDenseMemory(nn.Module):
    """Densely connected dilated depthwise convolutions on ``(batch, channels, length)``.

    Args:
        channels: C.
        lorder: memory order; kernels span ``2*lorder - 1`` taps (centred, non-causal).
        depth: number of layers (dilation ``2**i`` at layer i).
    """

    def __init__(self, channels: int, lorder: int = 20, depth: int = 2) -> None:
        super().__init__()
        kernel = 2 * lorder - 1
        self.convs = nn.ModuleList(
            nn.Conv1d(channels * (i + 1), channels, kernel, dilation=2**i, padding=(kernel // 2) * 2**i, groups=channels, bias=False)
            for i in range(depth)
        )
        # Instance-norm affine parameters, one (weight, bias) pair per layer and channel.
        self.norm_weight = nn.Parameter(torch.ones(depth, channels, 1))
        self.norm_bias = nn.Parameter(torch.zeros(depth, channels, 1))
        self.activations = nn.ModuleList(nn.PReLU(channels) for _ in range(depth))
        self.eps = 1e-5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = x
        for i, (conv, activation) in enumerate(zip(self.convs, self.activations)):
            out = conv(features)
            # Instance norm written out: nn.InstanceNorm refuses a single frame, which
            # inputs of <= L samples produce.
            var, mean = torch.var_mean(out, dim=-1, keepdim=True, correction=0)
            out = activation((out - mean) * torch.rsqrt(var + self.eps) * self.norm_weight[i] + self.norm_bias[i])
            features = torch.cat((out, features), dim=1)
        return out


class DilatedFSMN(nn.Module):
    """FSMN layer with a dilated dense memory: ``x + memory(W2 relu(W1 x + b1))``.

    Args:
        channels: input/output features.
        hidden: hidden size of the linear layer.
        lorder: memory order.
        depth: layers in the dense memory.
    """

    def __init__(self, channels: int, hidden: int, lorder: int = 20, depth: int = 2) -> None:
        super().__init__()
        self.linear = nn.Linear(channels, hidden)
        self.project = nn.Linear(hidden, channels, bias=False)
        self.memory = DilatedDenseMemory(channels, lorder, depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        projected = self.project(torch.relu(self.linear(x)))
        return x + self.memory(projected.transpose(1, 2)).transpose(1, 2)


class GatedFSMN(nn.Module):
    """Gated convolutional unit around a ``DilatedFSMN``: ``v * FSMN(u) + x``.

    ``u`` and ``v`` come from one ``FFConvM`` with ``2 * channels`` outputs (the reference
    code's two projections, each with its own LayerNorm affine, span the same functions).

    Args:
        channels: features.
        lorder: memory order.
        depth: layers in the dense memory.
        dropout: dropout inside the projections.
    """

    def __init__(self, channels: int, lorder: int = 20, depth: int = 2, dropout: float = 0.1) -> None:
        super().__init__()
        self.to_uv = FFConvM(channels, 2 * channels, "layernorm", dropout)
        self.fsmn = DilatedFSMN(channels, channels, lorder, depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u, v = self.to_uv(x).chunk(2, dim=-1)
        return v * self.fsmn(u) + x


class GatedFSMNBlock(nn.Module):
    """MossFormer2's recurrent module: bottleneck → gated dilated FSMN → output layer.

    Shapes: ``(batch, length, dim)`` → ``(batch, length, dim)``.

    Args:
        dim: model features.
        inner: bottleneck features (256 in the paper).
        lorder: FSMN memory order (20).
        depth: dense-memory layers (2).
        dropout: dropout inside the gated unit's projections.
    """

    def __init__(self, dim: int, inner: int = 256, lorder: int = 20, depth: int = 2, dropout: float = 0.1) -> None:
        super().__init__()
        self.bottleneck = nn.Sequential(nn.Linear(dim, inner), nn.PReLU())
        self.norm1 = nn.LayerNorm(inner)
        self.gated_fsmn = GatedFSMN(inner, lorder, depth, dropout)
        self.norm2 = nn.LayerNorm(inner)
        self.output = nn.Linear(inner, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.output(self.norm2(self.gated_fsmn(self.norm1(self.bottleneck(x)))))
