"""TIGER (Xu, Li, Hu et al., "TIGER: Time-frequency Interleaved Gain Extraction and
Reconstruction for Efficient Speech Separation", ICLR 2025).

A time-frequency model: the STFT of the mixture is cut into sub-bands (narrow at low
frequencies, wide at high ones), each band is normalised and projected to C features; a
separator alternates a band path (context across the bands of each frame) and a frame path
(context across the frames of each band), each a multi-scale selective-attention block
(MSA) followed by a full-frequency-frame attention (FFI), ``n_blocks`` times with the same
weights; per band, a head predicts one complex gain per talker, the gains are made to sum
to one across talkers, applied to the mixture's spectrum, and the inverse STFT gives the
talkers' waveforms.

Paper configuration (the published 16 kHz speech model, ``JusperLee/TIGER-speech``):
640-sample frames every 160 samples (40 ms / 10 ms), 67 bands, C=128, H=256, 8 blocks,
5 scales, 4 heads of 4 channels — 0.82 M parameters. ``voxsep import-model`` reads the
published ``config.json`` + ``model.safetensors`` (``voxsep.interop.tiger``).

Input ``(batch, time)`` at ``sample_rate``; output ``(batch, n_src, time)``. Inputs
shorter than ``n_fft // 2 + 1`` samples are zero-padded for the STFT and the output cut
back. The frame attention is quadratic in the number of frames: long recordings are
separated in windows by ``voxsep separate``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from voxsep.models import register
from voxsep.models.base import SeparationModel
from voxsep.nn import tf_interleaved
from voxsep.nn.tf_interleaved import FoldedAttention, MultiScaleBlock, RealSTFT, eager_inference

# (band width in Hz, number of bands) from 0 Hz up; the rest of the spectrum is one last band.
BAND_LAYOUT = ((25, 40), (100, 10), (250, 8), (500, 8))


def band_widths(sample_rate: int, n_fft: int) -> list[int]:
    """The number of STFT bins of each sub-band: ``BAND_LAYOUT`` (0–1 kHz in 25 Hz bands,
    1–2 kHz in 100 Hz, 2–4 kHz in 250 Hz, 4–8 kHz in 500 Hz), each width rounded down to
    whole bins, plus one band with the remaining bins.

    Raises:
        ValueError: the layout does not fit (a band narrower than one bin, or no bins
            left for the last band: a sample rate below 16 kHz or a short ``n_fft``).
    """
    bins = n_fft // 2 + 1
    widths = []
    for hertz, count in BAND_LAYOUT:
        widths += [int(math.floor(hertz / (sample_rate / 2.0) * bins))] * count
    widths.append(bins - sum(widths))
    if min(widths) < 1:
        raise ValueError(
            f"the TIGER band layout does not fit sample_rate={sample_rate}, n_fft={n_fft} "
            f"(band widths {sorted(set(widths))} bins); it needs >= 16 kHz and frames of >= 40 ms"
        )
    return widths


class BandEmbedding(nn.Module):
    """One band's (real, imaginary) bins ``(B, 2 * width, frames)`` → one-group norm →
    pointwise conv → ``(B, C, frames)``."""

    def __init__(self, width: int, channels: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(1, 2 * width, eps=torch.finfo(torch.float32).eps)
        self.proj = nn.Conv1d(2 * width, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.norm(x))


class BandGainHead(nn.Module):
    """PReLU → grouped pointwise conv (one group per talker) giving, per talker, the
    values and gates of the real and imaginary gains of one band:
    ``(B, C, frames)`` → ``(B, 2 [value, gate], 2 [real, imaginary], n_src, width, frames)``."""

    def __init__(self, width: int, channels: int, n_src: int) -> None:
        super().__init__()
        self.width, self.n_src = width, n_src
        self.act = nn.PReLU()
        self.conv = nn.Conv1d(channels, 4 * n_src * width, 1, groups=n_src)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.act(x)).unflatten(1, (2, 2, self.n_src, self.width))


class InterleavedSeparator(nn.Module):
    """``n_blocks`` alternations of a band path and a frame path (shared weights); from the
    second block on, the input is ``PReLU(scale * (features + x) + bias)`` (a per-channel
    affine of the sum of the separator's input and the last block's output).

    ``(B, bands, frames, C)`` → ``(B, bands, frames, C)`` (channels last).
    """

    def __init__(self, channels: int, hidden: int, depth: int, n_heads: int, head_dim: int,
                 n_blocks: int, dropout: float) -> None:
        super().__init__()
        self.n_blocks = n_blocks
        self.band_msb = MultiScaleBlock(channels, hidden, depth, dropout)
        self.band_attn = FoldedAttention(channels, n_heads, head_dim)
        self.band_norm = nn.LayerNorm(channels, eps=1e-5)
        self.frame_msb = MultiScaleBlock(channels, hidden, depth, dropout)
        self.frame_attn = FoldedAttention(channels, n_heads, head_dim)
        self.frame_norm = nn.LayerNorm(channels, eps=1e-5)
        self.merge_scale = nn.Parameter(torch.ones(channels))
        self.merge_bias = nn.Parameter(torch.zeros(channels))
        self.merge_slope = nn.Parameter(torch.full((1,), 0.25))

    def band_step(self, x: torch.Tensor) -> torch.Tensor:
        """Context across bands: MSA along the bands of each frame, then attention over the
        bands with every frame in the vectors; plus ``x``. ``(B, bands, frames, C)`` → same."""
        batch, bands, frames, channels = x.shape
        u = self.band_msb(x.transpose(1, 2).reshape(batch * frames, bands, channels))
        a = u.view(batch, frames, bands, channels).transpose(1, 2)  # (B, bands, frames, C)
        return self.band_attn(a, self.band_norm, x)

    def frame_step(self, x: torch.Tensor) -> torch.Tensor:
        """Context across frames: MSA along the frames of each band, then attention over the
        frames with every band in the vectors; plus ``x``. ``(B, bands, frames, C)`` → same."""
        batch, bands, frames, channels = x.shape
        u = self.frame_msb(x.reshape(batch * bands, frames, channels))
        a = u.view(batch, bands, frames, channels).transpose(1, 2)  # (B, frames, bands, C)
        return self.frame_attn(a, self.frame_norm, x.transpose(1, 2)).transpose(1, 2)

    def merge(self, features: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The next block's input ``PReLU(scale * (features + x) + bias)``. In inference it is
        computed in place in ``x`` (the last block's output, which nothing else holds), a few
        rows at a time (the same values)."""
        if eager_inference() and x.is_contiguous() and features.is_contiguous():
            rows = max(1, tf_interleaved.CACHE_ELEMENTS // x.shape[-1])
            slope = float(self.merge_slope)
            for a, b in zip(x.view(-1, x.shape[-1]).split(rows), features.view(-1, x.shape[-1]).split(rows)):
                torch.addcmul(self.merge_bias, a.add_(b), self.merge_scale, out=a)
                F.leaky_relu_(a, slope)
            return x
        merged = torch.addcmul(self.merge_bias, features + x, self.merge_scale)
        return torch.where(merged >= 0, merged, merged * self.merge_slope)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = features
        for block in range(self.n_blocks):
            if block:
                x = self.merge(features, x)
            x = self.frame_step(self.band_step(x))
        return x


@register("tiger")
class TIGER(SeparationModel):
    """TIGER speech separation (module docstring).

    Args:
        n_src: number of talkers.
        sample_rate: the rate the band layout is made for (>= 16 kHz).
        n_fft: STFT frame length in samples.
        hop: STFT frame shift in samples.
        channels: C, features per band.
        hidden: H, channels inside the multi-scale blocks.
        n_blocks: band/frame alternations (weights shared between them).
        depth: scales of each multi-scale block.
        n_heads: attention heads.
        head_dim: query/key channels per head.
        dropout: dropout inside the multi-scale blocks' context MLPs.
    """

    def __init__(
        self,
        n_src: int = 2,
        sample_rate: int = 16000,
        n_fft: int = 640,
        hop: int = 160,
        channels: int = 128,
        hidden: int = 256,
        n_blocks: int = 8,
        depth: int = 5,
        n_heads: int = 4,
        head_dim: int = 4,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if n_src < 1:
            raise ValueError(f"n_src must be >= 1, got {n_src}")
        self.n_src, self.sample_rate = n_src, sample_rate
        self.band_widths = band_widths(sample_rate, n_fft)
        self.stft = RealSTFT(n_fft, hop)
        # The shortest input the model takes without padding (what inference code and the
        # ONNX file's min_length read as kernel_size); shorter ones are zero-padded to it.
        self.kernel_size = self.stft.min_length()
        self.band_in = nn.ModuleList(BandEmbedding(w, channels) for w in self.band_widths)
        self.separator = InterleavedSeparator(channels, hidden, depth, n_heads, head_dim, n_blocks, dropout)
        self.band_out = nn.ModuleList(BandGainHead(w, channels, n_src) for w in self.band_widths)

    def _separate(self, mixture: torch.Tensor) -> torch.Tensor:
        batch, _, length = mixture.shape
        signal = mixture[:, 0]
        if length < self.stft.min_length():
            signal = F.pad(signal, (0, self.stft.min_length() - length))
        spectrum = self.stft(signal)  # (B, 2, F, frames)
        edges = [0]
        for width in self.band_widths:
            edges.append(edges[-1] + width)
        features = torch.stack(
            [embed(spectrum[:, :, a:b].flatten(1, 2)).transpose(1, 2)
             for embed, a, b in zip(self.band_in, edges[:-1], edges[1:])], dim=1,
        )  # (B, bands, frames, C)
        separated = self.separator(features)
        estimates = []
        for band, (head, a, b) in enumerate(zip(self.band_out, edges[:-1], edges[1:])):
            out = head(separated[:, band].transpose(1, 2))  # (B, 2, 2, K, width, frames)
            gain = out[:, 0] * torch.sigmoid(out[:, 1])  # (B, 2 [re, im], K, width, frames)
            real = gain[:, 0] - (gain[:, 0].sum(1, keepdim=True) - 1) / self.n_src  # gains sum to 1 + 0j
            imag = gain[:, 1] - gain[:, 1].sum(1, keepdim=True) / self.n_src
            mix_real, mix_imag = spectrum[:, 0:1, a:b], spectrum[:, 1:2, a:b]  # (B, 1, width, frames)
            estimates.append(torch.stack([mix_real * real - mix_imag * imag,
                                          mix_real * imag + mix_imag * real], dim=2))  # (B, K, 2, width, frames)
        spectra = torch.cat(estimates, dim=3).flatten(0, 1)  # (B * K, 2, F, frames)
        waveforms = self.stft.inverse(spectra, signal.shape[-1])[:, :length]
        return waveforms.view(batch, self.n_src, 1, length)
