"""The model contract shared by every voxsep separation model.

Single-channel models take ``(batch, time)`` (a 1-D tensor is batch 1) and return
``(batch, n_src, time)``; multi-channel models (``in_channels > 1``) take
``(batch, channels, time)`` and return ``(batch, n_src, channels, time)``. The output
has the input's length for any length >= 1 sample.

``SeparationModel`` records the keyword arguments a model was built with (``config``) so
that a checkpoint can rebuild it without importing anything but the registry.
``EncoderMaskerDecoder`` is the TasNet skeleton (learned encoder → mask estimator →
masked representation → learned decoder) used by Conv-TasNet, DPRNN, SepFormer and
MossFormer2.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from voxsep.nn.filterbank import Decoder, Encoder, frames_needed


class SeparationModel(nn.Module):
    """Base class: shape checks at the public boundary and a recorded ``config``.

    Subclasses set ``model_name`` (through the registry), ``n_src``, ``sample_rate`` and
    ``in_channels``, and implement the internal hook ``_separate(mixture)`` on a checked
    ``(batch, channels, time)`` tensor, returning ``(batch, n_src, channels, time)`` of
    the same length.
    """

    model_name: str = ""
    n_src: int
    sample_rate: int
    in_channels: int = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            return
        original_init = cls.__init__
        signature = inspect.signature(original_init)

        @functools.wraps(original_init)
        def init_and_record(self: SeparationModel, *args: Any, **init_kwargs: Any) -> None:
            original_init(self, *args, **init_kwargs)
            if type(self).__init__ is init_and_record:  # the outermost class records
                bound = signature.bind(self, *args, **init_kwargs)
                bound.apply_defaults()
                self.config = {k: v for k, v in bound.arguments.items() if k != "self"}

        cls.__init__ = init_and_record  # type: ignore[method-assign]

    def forward(self, mixture: torch.Tensor) -> torch.Tensor:
        """Separate ``mixture``; see the module docstring for shapes."""
        squeeze_batch = False
        if self.in_channels == 1:
            if mixture.dim() == 1:
                mixture, squeeze_batch = mixture.unsqueeze(0), True
            if mixture.dim() != 2:
                raise ValueError(
                    f"{self.model_name or type(self).__name__} expects a mixture of shape "
                    f"(batch, time) or (time,), got {tuple(mixture.shape)}"
                )
            x = mixture.unsqueeze(1)
        else:
            if mixture.dim() == 2 and mixture.shape[0] == self.in_channels:
                mixture, squeeze_batch = mixture.unsqueeze(0), True
            if mixture.dim() != 3 or mixture.shape[1] != self.in_channels:
                raise ValueError(
                    f"{self.model_name or type(self).__name__} expects a mixture of shape "
                    f"(batch, {self.in_channels}, time), got {tuple(mixture.shape)}"
                )
            x = mixture
        if x.shape[-1] < 1:
            raise ValueError("the mixture is empty (0 samples)")
        if not x.is_floating_point():
            raise ValueError(f"the mixture must be a floating-point tensor, got {x.dtype}")
        estimates = self._separate(x)
        if self.in_channels == 1:
            estimates = estimates.squeeze(2)
        return estimates.squeeze(0) if squeeze_batch else estimates

    def _separate(self, mixture: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class EncoderMaskerDecoder(SeparationModel):
    """TasNet skeleton: ``encoder → masker → mask * representation → decoder``.

    Subclasses build ``self.masker``: a module mapping the encoded mixture
    ``(batch, N, frames)`` to masks ``(batch, n_src, N, frames)``. The input is padded to a
    length the filterbank tiles exactly and the output trimmed back, so any length works.

    Models with more than one filterbank or extra masker inputs (the binaural ones) keep
    this pad → encode → mask → decode → trim flow and override the steps:
    ``_build_filterbank``, ``encode`` (the representation the masks apply to, and the
    masker's input) and ``decode``.

    Args:
        n_src: number of sources to separate.
        n_filters: N, encoder/decoder basis size.
        kernel_size: L, filter length in samples.
        stride: encoder hop (defaults to ``kernel_size // 2``).
        sample_rate: the rate the model is meant for (metadata; checked by inference).
        encoder_activation: ``"relu"`` or ``None``.
    """

    def __init__(
        self,
        n_src: int,
        n_filters: int,
        kernel_size: int,
        stride: int | None,
        sample_rate: int,
        encoder_activation: str | None = "relu",
    ) -> None:
        super().__init__()
        if n_src < 1:
            raise ValueError(f"n_src must be >= 1, got {n_src}")
        self.n_src = n_src
        self.sample_rate = sample_rate
        self.kernel_size = kernel_size
        self.stride = stride or kernel_size // 2
        self._build_filterbank(n_filters, encoder_activation)

    def _build_filterbank(self, n_filters: int, encoder_activation: str | None) -> None:
        """One learned encoder and decoder (N filters of L samples, the model's hop)."""
        self.encoder = Encoder(n_filters, self.kernel_size, self.stride, activation=encoder_activation)
        self.decoder = Decoder(n_filters, self.kernel_size, self.stride)

    def _separate(self, mixture: torch.Tensor) -> torch.Tensor:
        length = mixture.shape[-1]
        padded = frames_needed(length, self.kernel_size, self.stride)
        return self._separate_tiled(F.pad(mixture, (0, padded - length)))[..., :length]

    def _separate_tiled(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``(B, channels, samples)``, tiled exactly by the filterbank → its estimates."""
        representation, masker_input = self.encode(x)
        return self.decode(self.masker(masker_input), representation)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` ``(B, 1, samples)`` → (the representation the masks apply to, the masker's
        input): here both the encoded mixture ``(B, N, frames)``."""
        representation = self.encoder(x)
        return representation, representation

    def decode(self, masks: torch.Tensor, representation: torch.Tensor) -> torch.Tensor:
        """Masks ``(B, n_src, N, frames)`` times the encoded mixture ``(B, N, frames)``,
        decoded: ``(B, n_src, 1, (frames - 1) * stride + kernel_size)`` (overlap-added frames)."""
        if torch.is_grad_enabled():
            masked = masks * representation.unsqueeze(1)
        else:  # inference: reuse the masks' memory (one fewer (B, n_src, N, frames) buffer)
            masked = masks.mul_(representation.unsqueeze(1))
        batch, n_src, n_filters, frames = masked.shape
        waveforms = self.decoder(masked.reshape(batch * n_src, n_filters, frames))
        return waveforms.reshape(batch, n_src, 1, -1)
