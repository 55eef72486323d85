"""Binaural (two-ear) Conv-TasNet variants that keep each talker's spatial cues.

Han, Luo & Mesgarani, "Real-time binaural speech separation with preserved spatial
cues", ICASSP 2020 (arXiv:2002.06637). The mixture is what the two ears hear and every
talker comes out as a two-ear image, so its interaural time and level differences (ITD,
ILD) survive the separation. Three systems of the paper are built here:

* ``binaural_independent`` — one Conv-TasNet shared by both ears, each ear separated on
  its own (the paper's per-ear baseline).
* ``binaural_cross`` — the same per-ear network, with interaural features (cos/sin of the
  interaural phase difference, IPD, and the ILD, from an STFT of the two ears)
  concatenated to each ear's encoder output before the TCN bottleneck.
* ``binaural_parallel`` — the multi-input multi-output (MIMO) TasNet: both ears encoded
  by their own encoders, the encodings (and the interaural features) concatenated and fed
  to ONE TCN that estimates, for every talker and output ear, a mask on each ear's
  encoding; the masked encodings of both ears are summed ("filter and sum" in the
  learned domain) and decoded by that output ear's decoder.

Contract: ``(batch, 2, time)`` → ``(batch, n_src, 2, time)`` (channel 0 = left ear), the
same length as the input. Train with the negative-SNR PIT loss scored on both ears
together (``voxsep.losses.PITLoss(kind="snr")``): SI-SNR's scale invariance lets each
ear's level drift and destroys the ILD.

Default sizes. The encoder is the paper's (N=64 filters of L=16 samples = 2 ms at 8 kHz,
hop 8; the same in SpeechBrain's recipe); for the separator, whose sizes we could not
confirm from the paper text, we follow SpeechBrain's Binaural-WSJ0Mix recipe
(``convtasnet-{independent,cross,parallel}.yaml``): bottleneck B=64, hidden H=128,
kernel P=3, X=8 blocks, R=4 repeats, no skip path (Sc=0), ReLU masks, gLN; the real-time
configuration (``causal=True``) keeps the sizes and switches to cLN and causal
convolutions. The interaural features use a 32 ms (256-sample at 8 kHz) Hann window
whose frames end where the encoder frames end, so they never look ahead either;
the algorithmic latency of every causal variant is one encoder window (2 ms).

Parameter counts (n_src=2, defaults): independent 0.578 M, cross 0.607 M, parallel 0.638 M
(checked in ``tests/unit/test_binaural_models.py``).

Streaming: with ``causal=True`` all three variants are causal end to end (output at
``t`` depends on the input up to ``t`` plus one encoder window). The per-ear variants
then align the right-ear talker order sample by sample from the running interaural
correlation (:func:`align_ears` with ``causal=True``) instead of from the whole input.

ONNX: every variant, causal or not, exports with a dynamic time axis
(``voxsep export``); the ear alignment is an exhaustive permutation search in tensor
ops, and the small epsilons are tensors (the exporter's optimiser deletes tiny scalar
additions, see :func:`voxsep.nn.norms.onnx_safe_eps`).
"""

from __future__ import annotations


import torch
import torch.nn.functional as F
from torch import nn

from voxsep.core.pit import best_permutation_tensor, reorder
from voxsep.models import register
from voxsep.models.base import EncoderMaskerDecoder, SeparationModel
from voxsep.models.conv_tasnet import ConvTasNet, TCNMasker
from voxsep.nn.filterbank import Decoder, Encoder
from voxsep.nn.norms import onnx_safe_eps
from voxsep.nn.tcn import TCNConfig

EPS = 1e-8


class InterauralFeatures(nn.Module):
    """IPD (cos, sin) and ILD of a two-ear signal, one frame per encoder frame.

    An STFT with a ``window``-sample Hann window and the encoder's hop; frame ``t`` ends
    where encoder frame ``t`` ends (the signal is left-padded by ``window - kernel_size``),
    so the features are causal and aligned with the encoder output without interpolation.

    Args:
        kernel_size: L, the encoder window.
        stride: the encoder hop.
        window: STFT window in samples (256 = 32 ms at 8 kHz).

    Shapes: ``(batch, 2, time)`` (time already padded for the encoder) →
    ``(batch, 3 * (window // 2 + 1), frames)`` ordered [cos IPD, sin IPD, ILD/10 dB].
    ``mirror`` swaps the ears' roles (cos IPD kept, sin IPD and ILD negated).
    """

    def __init__(self, kernel_size: int, stride: int, window: int = 256) -> None:
        super().__init__()
        if window < kernel_size:
            raise ValueError(f"feature window ({window}) must be >= the encoder kernel ({kernel_size})")
        self.kernel_size, self.stride, self.window = kernel_size, stride, window
        # The STFT as a strided convolution with a windowed DFT basis (real and imaginary
        # rows): the same numbers as torch.stft, but real-valued, so it exports to ONNX.
        n_bins = window // 2 + 1
        phase = 2 * torch.pi * torch.arange(n_bins, dtype=torch.float64)[:, None] * torch.arange(window) / window
        hann = torch.hann_window(window, dtype=torch.float64)
        basis = torch.cat([torch.cos(phase) * hann, -torch.sin(phase) * hann]).unsqueeze(1)
        self.register_buffer("basis", basis.float(), persistent=False)
        # EPS and EPS**2 as tensors: the ONNX optimiser deletes tiny scalar additions.
        self.register_buffer("eps", onnx_safe_eps(EPS), persistent=False)
        self.register_buffer("eps_sq", onnx_safe_eps(EPS**2), persistent=False)

    @property
    def channels(self) -> int:
        return 3 * (self.window // 2 + 1)

    def forward(self, mixture: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """``context``: the ``window - kernel_size`` samples before ``mixture`` ``(batch, 2,
        window - kernel_size)`` (a stream's history); zeros when ``None``."""
        batch, ears, length = mixture.shape
        x = mixture.to(self.basis.dtype).reshape(batch * ears, 1, length)
        if context is None:
            x = F.pad(x, (self.window - self.kernel_size, 0))
        else:
            x = torch.cat([context.to(self.basis.dtype).reshape(batch * ears, 1, -1), x], dim=-1)
        spec = F.conv1d(x, self.basis, stride=self.stride).reshape(batch, ears, 2, self.window // 2 + 1, -1)
        real, imag = spec[:, :, 0], spec[:, :, 1]  # (B, ears, bins, frames)
        # X_left * conj(X_right)
        cross_real = real[:, 0] * real[:, 1] + imag[:, 0] * imag[:, 1]
        cross_imag = imag[:, 0] * real[:, 1] - real[:, 0] * imag[:, 1]
        eps, eps_sq = self.eps.to(real.dtype), self.eps_sq.to(real.dtype)
        magnitude = torch.sqrt(cross_real.pow(2) + cross_imag.pow(2) + eps_sq) + eps
        power = real.pow(2) + imag.pow(2)
        ild = 10 * torch.log10((power[:, 0] + eps) / (power[:, 1] + eps))
        features = torch.cat([cross_real / magnitude, cross_imag / magnitude, ild / 10], dim=1)
        return features.to(mixture.dtype)

    def mirror(self, features: torch.Tensor) -> torch.Tensor:
        n_bins = self.window // 2 + 1
        cos_ipd, sin_ipd, ild = features.split(n_bins, dim=1)
        return torch.cat([cos_ipd, -sin_ipd, -ild], dim=1)


def _lagged(left: torch.Tensor, max_lag: int) -> torch.Tensor:
    """``(..., time)`` → ``(..., time, 2 * max_lag + 1)`` with ``[..., t, w] = left[..., t - max_lag + w]``
    (zeros outside): the left ear at every lag within ±max_lag around ``t``."""
    length = left.shape[-1]
    padded = F.pad(left, (max_lag, max_lag))
    return torch.stack([padded[..., w : w + length] for w in range(2 * max_lag + 1)], dim=-1)


def ear_similarity(left: torch.Tensor, right: torch.Tensor, max_lag: int) -> torch.Tensor:
    """Normalised cross-correlation of every left/right estimate pair, best lag within ±max_lag.

    The correlation is summed directly over time at the ``2 * max_lag + 1`` lags (no FFT,
    so that the model exports to ONNX; ~17 lags at 8 kHz).

    Args:
        left: ``(batch, n_src, time)`` left-ear estimates.
        right: ``(batch, n_src, time)`` right-ear estimates.
        max_lag: largest interaural lag searched, in samples.

    Returns:
        ``(batch, n_src, n_src)`` with ``[b, i, j]`` the similarity of ``right[b, i]`` and
        ``left[b, j]`` (in [-1, 1]).
    """
    left, right = left.float(), right.float()
    # lags beyond the input length correlate zeros (0); no clamp to the length, whose
    # value would otherwise be baked into an exported graph
    correlation = torch.einsum("bit,bjtl->bijl", right, _lagged(left, max_lag))
    eps = onnx_safe_eps(EPS).to(left.device)  # a tensor: kept by the ONNX exporter
    norm = right.norm(dim=-1).unsqueeze(2) * left.norm(dim=-1).unsqueeze(1) + eps
    return correlation.amax(dim=-1) / norm


def causal_ear_similarity(left: torch.Tensor, right: torch.Tensor, max_lag: int) -> torch.Tensor:
    """Running (causal) version of :func:`ear_similarity`: one similarity per sample.

    At sample ``t`` the normalised cross-correlation of every right/left pair, best lag
    within ±max_lag, is accumulated over the right-ear samples ``0..t - max_lag`` (so the
    left-ear samples used end at ``t``: nothing after ``t`` is read). Before ``max_lag``
    samples every similarity is 0.

    Args:
        left: ``(batch, n_src, time)`` left-ear estimates.
        right: ``(batch, n_src, time)`` right-ear estimates.
        max_lag: largest interaural lag searched, in samples.

    Returns:
        ``(batch, time, n_src, n_src)`` with ``[b, t, i, j]`` the similarity of
        ``right[b, i]`` and ``left[b, j]`` up to sample ``t``.
    """
    length = left.shape[-1]
    left, right = left.float(), right.float()
    products = right[:, :, None, :, None] * _lagged(left, max_lag)[:, None]  # (B, right i, left j, T, lags)
    correlation = products.cumsum(3).amax(-1)  # (B, i, j, T)
    energy = right.pow(2).cumsum(-1)[:, :, None] * left.pow(2).cumsum(-1)[:, None]
    similarity = correlation / (energy.sqrt() + onnx_safe_eps(EPS).to(left.device))
    # delay by max_lag: the left samples up to t - max_lag + max_lag = t only
    similarity = F.pad(similarity, (max_lag, 0))[..., :length]
    return similarity.permute(0, 3, 1, 2)


def align_ears(estimates: torch.Tensor, max_lag: int, causal: bool = False) -> torch.Tensor:
    """Reorder the right-ear talkers so that talker ``i`` is the same person in both ears.

    Each ear separated on its own may list the talkers in a different order. A talker's
    two ear signals are the same speech filtered by two HRIRs, so they correlate strongly
    at a lag within the head's ITD range (< 1 ms) while different talkers do not; the
    right-ear permutation maximising the summed correlation is applied (exhaustive
    search, as :func:`voxsep.core.pit.pit_from_pairwise`). Not differentiable in the
    choice, differentiable in the values, so training with PIT on both ears sees
    consistently ordered outputs.

    With ``causal=True`` the choice is made at every sample from the running correlation
    of the samples so far (:func:`causal_ear_similarity`): the output at ``t`` depends on
    nothing after ``t``, for real-time use. The order may change while the evidence
    builds up (in the first few tens of ms) and then settles on the whole-input choice.

    Args:
        estimates: ``(batch, n_src, 2, time)``.
        max_lag: largest interaural lag, in samples.
        causal: per-sample running choice instead of one choice for the whole input.

    Returns:
        ``(batch, n_src, 2, time)`` with the right ear reordered.
    """
    n_src = estimates.shape[1]
    if n_src == 1:
        return estimates
    left, right = estimates[:, :, 0], estimates[:, :, 1]
    with torch.no_grad():
        if causal:
            perm = best_permutation_tensor(-causal_ear_similarity(left, right, max_lag))  # (B, T, n)
        else:
            perm = best_permutation_tensor(-ear_similarity(left, right, max_lag))  # (B, n)
    if causal:
        aligned_right = torch.gather(right, 1, perm.transpose(1, 2))
    else:
        aligned_right = reorder(right, perm)
    return torch.stack([left, aligned_right], dim=2)


def interaural_max_lag(sample_rate: int) -> int:
    """Largest interaural lag for ear alignment, in samples: 1 ms, the head's ITD range."""
    return max(1, round(1e-3 * sample_rate))


@register("binaural_independent")
class BinauralIndependent(SeparationModel):
    """Per-ear Conv-TasNet: one network, shared by both ears, separates each ear alone.

    The two ears are run as one batch of ``2 * batch`` single-channel mixtures; the
    talker order of the right ear is then aligned to the left one by interaural
    correlation (:func:`align_ears`), since nothing else ties the two ears' orders.
    Shapes: ``(batch, 2, time)`` → ``(batch, n_src, 2, time)``.

    Args:
        n_src: number of talkers.
        n_filters: N, encoder basis size (64).
        kernel_size: L, encoder window (16 = 2 ms at 8 kHz), hop L/2.
        bottleneck: B (64).
        hidden: H (128).
        skip: Sc (0: the residual stream feeds the mask output, as in SpeechBrain).
        conv_kernel: P (3).
        n_blocks: X (8).
        n_repeats: R (4).
        causal: real-time configuration (cLN, causal convolutions, per-sample causal
            ear alignment; cross/parallel: interaural features whose frames end where the
            encoder frames end).
        mask_activation: "relu" (SpeechBrain), "sigmoid", "softmax" or "linear".
        sample_rate: the rate the model works at.

    Defaults give 577,921 parameters (n_src=2).
    """

    in_channels = 2

    def __init__(
        self,
        n_src: int = 2,
        n_filters: int = 64,
        kernel_size: int = 16,
        bottleneck: int = 64,
        hidden: int = 128,
        skip: int = 0,
        conv_kernel: int = 3,
        n_blocks: int = 8,
        n_repeats: int = 4,
        causal: bool = False,
        mask_activation: str = "relu",
        sample_rate: int = 8000,
    ) -> None:
        super().__init__()
        # one Conv-TasNet, its arguments in the same order as this model's
        self.tasnet = ConvTasNet(n_src, n_filters, kernel_size, bottleneck, hidden, skip, conv_kernel, n_blocks,
                                 n_repeats, causal, mask_activation, sample_rate)
        self.n_src, self.sample_rate, self.causal = n_src, sample_rate, causal
        self.kernel_size, self.stride = self.tasnet.kernel_size, self.tasnet.stride
        self.max_lag = interaural_max_lag(sample_rate)

    def _separate(self, mixture: torch.Tensor) -> torch.Tensor:
        batch, ears, length = mixture.shape
        per_ear = self.tasnet._separate(mixture.reshape(batch * ears, 1, length))  # (2B, n_src, 1, T)
        estimates = per_ear.reshape(batch, ears, self.n_src, length).transpose(1, 2)
        return align_ears(estimates, self.max_lag, causal=self.causal)


class _InterauralTasNet(EncoderMaskerDecoder):
    """The TasNet skeleton on two ears (``binaural_cross``, ``binaural_parallel``), with
    the interaural features projected to ``feature_channels`` (when ``spatial_features``)
    for the masker's input; subclasses build the masker and define ``encode`` and ``decode``."""

    in_channels = 2

    def __init__(
        self,
        n_src: int,
        n_filters: int,
        kernel_size: int,
        sample_rate: int,
        causal: bool,
        spatial_features: bool,
        feature_window: int,
        feature_channels: int,
    ) -> None:
        super().__init__(n_src, n_filters, kernel_size, kernel_size // 2, sample_rate)
        self.causal = causal
        self.max_lag = interaural_max_lag(sample_rate)
        if spatial_features:
            self.features = InterauralFeatures(kernel_size, self.stride, feature_window)
            self.feature_projection = nn.Conv1d(self.features.channels, feature_channels, 1)
        else:
            self.features, self.feature_projection = None, None
        self.feature_channels = feature_channels if spatial_features else 0


@register("binaural_cross")
class BinauralCross(_InterauralTasNet):
    """Per-ear Conv-TasNet with cross-channel (interaural) features.

    For each ear, the encoder output ``(N, frames)`` is concatenated with a 1×1
    projection of the interaural features (cos IPD, sin IPD, ILD; :class:`InterauralFeatures`)
    seen from that ear (the right ear gets the mirrored features), then the shared TCN
    masker estimates the talkers' masks on that ear's encoding. The right-ear talker
    order is aligned to the left one (:func:`align_ears`).
    Shapes: ``(batch, 2, time)`` → ``(batch, n_src, 2, time)``.

    Args:
        n_src, n_filters, kernel_size, bottleneck, hidden, skip, conv_kernel, n_blocks,
        n_repeats, causal, mask_activation, sample_rate: as :class:`BinauralIndependent`.
        feature_window: STFT window of the interaural features (256 = 32 ms at 8 kHz).
        feature_channels: channels of the projected features concatenated to the encoder
            output (64, as SpeechBrain's ILD projection).

    Defaults give 606,977 parameters (n_src=2).
    """

    def __init__(
        self,
        n_src: int = 2,
        n_filters: int = 64,
        kernel_size: int = 16,
        bottleneck: int = 64,
        hidden: int = 128,
        skip: int = 0,
        conv_kernel: int = 3,
        n_blocks: int = 8,
        n_repeats: int = 4,
        causal: bool = False,
        mask_activation: str = "relu",
        sample_rate: int = 8000,
        feature_window: int = 256,
        feature_channels: int = 64,
    ) -> None:
        super().__init__(n_src, n_filters, kernel_size, sample_rate, causal, True, feature_window, feature_channels)
        tcn = TCNConfig(bottleneck, hidden, skip, conv_kernel, n_blocks, n_repeats, causal)
        self.masker = TCNMasker(n_src, n_filters + feature_channels, tcn, mask_activation, mask_channels=n_filters)

    def _separate_tiled(self, x: torch.Tensor) -> torch.Tensor:
        # aligned on the encoder-padded length, then trimmed: the same evidence whether the
        # caller or the model pads (an ONNX export pads outside the model)
        return align_ears(super()._separate_tiled(x), self.max_lag, causal=self.causal)

    def encode(self, x: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` ``(B, 2, samples)`` tiled by the encoder → (each ear's encoding ``(2B, N,
        frames)``, the masker's input); ``context``: see :meth:`InterauralFeatures.forward`."""
        batch, ears, samples = x.shape
        features = self.features(x, context)
        projected = torch.stack(
            [self.feature_projection(features), self.feature_projection(self.features.mirror(features))], dim=1
        )  # (B, 2, C_f, frames)
        encoded = self.encoder(x.reshape(batch * ears, 1, samples))  # (2B, N, frames)
        return encoded, torch.cat([encoded, projected.flatten(0, 1)], dim=1)

    def decode(self, masks: torch.Tensor, encoded: torch.Tensor) -> torch.Tensor:
        """Masks ``(2B, n_src, N, frames)`` on each ear's encoding → ``(B, n_src, 2, samples)``
        (before the ear alignment)."""
        waveforms = super().decode(masks, encoded)  # (2B, n_src, 1, T)
        return waveforms.reshape(-1, 2, self.n_src, waveforms.shape[-1]).transpose(1, 2)


@register("binaural_parallel")
class BinauralParallel(_InterauralTasNet):
    """MIMO TasNet (Han et al. 2020): both ears in, every talker's two-ear image out.

    ``E_l = enc_l(x_l)``, ``E_r = enc_r(x_r)``; one TCN on ``[E_l, E_r, proj(IPD, ILD)]``
    estimates masks ``M[c, e, k]`` for talker ``c``, output ear ``e`` and input ear ``k``;
    ``ŝ[c, e] = dec_e(M[c, e, l] ⊙ E_l + M[c, e, r] ⊙ E_r)``. One network sees both ears
    and emits both ears for each talker, so the talker order is shared by construction
    and the output can use the other ear's encoding (as the SpeechBrain recipe's parallel
    encoders do). ``causal=True`` is the paper's real-time configuration.
    Shapes: ``(batch, 2, time)`` → ``(batch, n_src, 2, time)``.

    Args:
        n_src, n_filters, kernel_size, bottleneck, hidden, skip, conv_kernel, n_blocks,
        n_repeats, causal, mask_activation, sample_rate: as :class:`BinauralIndependent`
            (``n_filters`` is per ear, so the TCN input has 2N channels + features).
        spatial_features: concatenate the projected interaural features (IPD, ILD).
        feature_window: STFT window of the interaural features.
        feature_channels: channels of the projected features.

    Defaults give 638,209 parameters (n_src=2).
    """

    def __init__(
        self,
        n_src: int = 2,
        n_filters: int = 64,
        kernel_size: int = 16,
        bottleneck: int = 64,
        hidden: int = 128,
        skip: int = 0,
        conv_kernel: int = 3,
        n_blocks: int = 8,
        n_repeats: int = 4,
        causal: bool = False,
        mask_activation: str = "relu",
        sample_rate: int = 8000,
        spatial_features: bool = True,
        feature_window: int = 256,
        feature_channels: int = 64,
    ) -> None:
        super().__init__(
            n_src, n_filters, kernel_size, sample_rate, causal, spatial_features, feature_window, feature_channels
        )
        tcn = TCNConfig(bottleneck, hidden, skip, conv_kernel, n_blocks, n_repeats, causal)
        in_channels = 2 * n_filters + self.feature_channels
        # masks for (output ear, input ear, N)
        self.masker = TCNMasker(n_src, in_channels, tcn, mask_activation, mask_channels=4 * n_filters)

    def _build_filterbank(self, n_filters: int, encoder_activation: str | None) -> None:
        """One encoder and one decoder per ear."""
        self.n_filters = n_filters
        self.encoders = nn.ModuleList(
            Encoder(n_filters, self.kernel_size, self.stride, activation=encoder_activation) for _ in range(2)
        )
        self.decoders = nn.ModuleList(Decoder(n_filters, self.kernel_size, self.stride) for _ in range(2))

    def encode(self, x: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` ``(B, 2, samples)`` tiled by the encoder → (the ears' encodings ``(B, 2, N,
        frames)``, the masker's input); ``context``: see :meth:`InterauralFeatures.forward`."""
        encoded = torch.stack([enc(x[:, ear : ear + 1]) for ear, enc in enumerate(self.encoders)], 1)  # (B, 2, N, F)
        inputs = [encoded.flatten(1, 2)]
        if self.features is not None:
            inputs.append(self.feature_projection(self.features(x, context)))
        return encoded, torch.cat(inputs, dim=1)

    def decode(self, masks: torch.Tensor, encoded: torch.Tensor) -> torch.Tensor:
        """Masks ``(B, n_src, 4N, frames)`` and the ears' encodings → ``(B, n_src, 2, samples)``."""
        batch, frames = masks.shape[0], masks.shape[-1]
        masks = masks.view(batch, self.n_src, 2, 2, self.n_filters, frames)
        mixed = (masks * encoded[:, None, None]).sum(3)  # (B, n_src, out ear, N, F)
        ears = [
            decoder(mixed[:, :, ear].reshape(batch * self.n_src, self.n_filters, frames)).reshape(batch, self.n_src, -1)
            for ear, decoder in enumerate(self.decoders)
        ]
        return torch.stack(ears, dim=2)


__all__ = [
    "BinauralIndependent",
    "BinauralCross",
    "BinauralParallel",
    "InterauralFeatures",
    "align_ears",
    "ear_similarity",
]
