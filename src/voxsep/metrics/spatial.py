"""Interaural cues of two-ear signals and their errors: ITD, ILD, ΔITD, ΔILD.

Han, Luo & Mesgarani, "Real-time binaural speech separation with preserved spatial
cues", ICASSP 2020, §4: a binaural separator must keep each talker's interaural time
difference (ITD) and interaural level difference (ILD); the paper reports the absolute
errors ΔITD (µs, from GCC-PHAT) and ΔILD (dB) between the separated and the reference
two-ear images.

Conventions (all functions):

* ``signal`` has shape ``(..., 2, time)``; channel 0 is the **left** ear, 1 the right.
* ``itd`` is in seconds and **positive when the left channel leads** (the sound reaches
  the left ear first, i.e. the source is on the left).
* ``ild`` is ``10·log10(E_left / E_right)`` in dB, positive when the left ear is louder.
* numpy arrays in → numpy arrays out; torch tensors in → torch tensors out (no gradient
  through the ITD peak search).
* ``delta_itd`` / ``delta_ild`` take ``(reference, estimate)`` already aligned talker by
  talker (e.g. with the permutation returned by ``voxsep.losses.PITLoss``).

GCC-PHAT (Knapp & Carter, IEEE TASSP 1976): the cross-power spectrum is whitened
(phase transform) so that the cross-correlation is a sharp peak at the delay; bins more
than 60 dB under the strongest one are not amplified beyond that floor (otherwise the
empty upper band of, say, 8 kHz speech stored at 16 kHz would dominate). With
``interpolate=True`` the correlation is evaluated on a grid ``upsample`` times finer
than the sampling period (exact band-limited interpolation by zero-padding the
spectrum) and the peak refined by a parabola through its neighbours, which resolves
fractional delays to well under 10 µs at 8 kHz. ``interpolate=False`` returns the
integer-lag peak, as ``pyroomacoustics.experimental.localization.tdoa`` (used by the
SpeechBrain Binaural-WSJ0Mix recipe) does, so that numbers compare with published ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

EPS = 1e-8
DEFAULT_MAX_ITD = 1e-3  # s; the human head gives |ITD| < ~0.8 ms
DEFAULT_UPSAMPLE = 16
PHAT_FLOOR = 1e-6  # relative floor of the whitening weights (-60 dB of cross power)


def _as_tensor(signal: Any, name: str) -> tuple[torch.Tensor, bool]:
    is_numpy = not isinstance(signal, torch.Tensor)
    tensor = torch.from_numpy(np.asarray(signal)) if is_numpy else signal
    if tensor.dim() < 2 or tensor.shape[-2] != 2:
        raise ValueError(
            f"{name} must have shape (..., 2, time) with channel 0 = left ear, 1 = right ear; "
            f"got {tuple(tensor.shape)}"
        )
    if tensor.shape[-1] < 2:
        raise ValueError(f"{name} needs at least 2 samples per ear, got shape {tuple(tensor.shape)}")
    if not tensor.is_floating_point():
        tensor = tensor.double()
    return tensor, is_numpy


def _out(value: torch.Tensor, is_numpy: bool) -> Any:
    return value.detach().cpu().numpy() if is_numpy else value


def _parabolic_offset(left: torch.Tensor, centre: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """Vertex of the parabola through (-1, left), (0, centre), (1, right), in [-0.5, 0.5]."""
    denominator = left - 2 * centre + right
    offset = 0.5 * (left - right) / torch.where(denominator.abs() > 1e-12, denominator, torch.ones_like(denominator))
    return torch.where(denominator < -1e-12, offset, torch.zeros_like(offset)).clamp(-0.5, 0.5)


def itd(
    signal: Any,
    sample_rate: int,
    max_itd: float = DEFAULT_MAX_ITD,
    interpolate: bool = True,
    upsample: int = DEFAULT_UPSAMPLE,
) -> Any:
    """Interaural time difference by GCC-PHAT.

    Args:
        signal: ``(..., 2, time)`` two-ear signal (numpy or torch).
        sample_rate: samples per second.
        max_itd: largest |ITD| searched, in seconds (1 ms by default).
        interpolate: sub-sample estimate (upsampled correlation + parabolic peak);
            ``False`` gives the integer-lag estimate of the SpeechBrain recipe.
        upsample: correlation upsampling factor when ``interpolate`` (>= 1).

    Returns:
        ``(...)`` ITD in seconds, positive when the left ear leads.
    """
    x, is_numpy = _as_tensor(signal, "signal")
    if sample_rate <= 0 or max_itd <= 0:
        raise ValueError(f"sample_rate and max_itd must be positive, got {sample_rate}, {max_itd}")
    factor = int(upsample) if interpolate else 1
    if factor < 1:
        raise ValueError(f"upsample must be >= 1, got {upsample}")
    work = x.to(torch.float64)
    length = work.shape[-1]
    n_fft = 2 * length  # zero padding: linear, not circular, correlation
    spectrum = torch.fft.rfft(work, n=n_fft)
    # Correlation of right against left: peaks at lag +d when the right ear hears the
    # left ear's signal d samples later, i.e. when the left ear leads.
    cross = spectrum[..., 1, :] * spectrum[..., 0, :].conj()
    # Phase transform, with a floor 60 dB under the strongest bin so that empty bands
    # (a band-limited or resampled signal) are not whitened up into noise.
    magnitude = cross.abs()
    floor = PHAT_FLOOR * magnitude.amax(dim=-1, keepdim=True)
    cross = cross / torch.maximum(magnitude, floor).clamp_min(EPS)
    correlation = torch.fft.irfft(cross, n=n_fft * factor)
    max_lag = min(int(np.ceil(max_itd * sample_rate * factor)), length * factor - 1)
    # Lags -max_lag..max_lag (negative lags wrap to the end of the irfft output).
    window = torch.cat([correlation[..., -max_lag:], correlation[..., : max_lag + 1]], dim=-1) if max_lag else correlation[..., :1]
    peak = window.argmax(dim=-1)
    lag = (peak - max_lag).to(torch.float64)
    if interpolate:
        inner = (peak > 0) & (peak < window.shape[-1] - 1)
        below = window.gather(-1, (peak - 1).clamp(min=0).unsqueeze(-1)).squeeze(-1)
        centre = window.gather(-1, peak.unsqueeze(-1)).squeeze(-1)
        above = window.gather(-1, (peak + 1).clamp(max=window.shape[-1] - 1).unsqueeze(-1)).squeeze(-1)
        lag = lag + torch.where(inner, _parabolic_offset(below, centre, above), torch.zeros_like(lag))
    seconds = lag / (factor * sample_rate)
    return _out(seconds.to(x.dtype), is_numpy)


def ild(signal: Any) -> Any:
    """Interaural level difference ``10·log10(E_left / E_right)`` in dB.

    Args:
        signal: ``(..., 2, time)`` two-ear signal (numpy or torch).

    Returns:
        ``(...)`` ILD in dB, positive when the left ear is louder.
    """
    x, is_numpy = _as_tensor(signal, "signal")
    energy = x.to(torch.float64).pow(2).sum(-1)
    value = 10 * torch.log10((energy[..., 0] + EPS) / (energy[..., 1] + EPS))
    return _out(value.to(x.dtype), is_numpy)


def _check_pair(reference: Any, estimate: Any) -> None:
    if tuple(reference.shape) != tuple(estimate.shape):
        raise ValueError(
            f"reference and estimate must have the same shape (..., 2, time); "
            f"got {tuple(reference.shape)} and {tuple(estimate.shape)}"
        )


def delta_itd(
    reference: Any,
    estimate: Any,
    sample_rate: int,
    max_itd: float = DEFAULT_MAX_ITD,
    interpolate: bool = True,
) -> Any:
    """Absolute ITD error ``|ITD(reference) - ITD(estimate)|`` in **microseconds**.

    Args:
        reference: ``(..., 2, time)`` reference two-ear images.
        estimate: ``(..., 2, time)`` estimates aligned to ``reference``.
        sample_rate: samples per second.
        max_itd: largest |ITD| searched, in seconds.
        interpolate: sub-sample GCC-PHAT (``False``: integer lags, as SpeechBrain).

    Returns:
        ``(...)`` ΔITD in µs.
    """
    _check_pair(reference, estimate)
    ref = itd(reference, sample_rate, max_itd=max_itd, interpolate=interpolate)
    est = itd(estimate, sample_rate, max_itd=max_itd, interpolate=interpolate)
    return abs(ref - est) * 1e6


def delta_ild(reference: Any, estimate: Any) -> Any:
    """Absolute ILD error ``|ILD(reference) - ILD(estimate)|`` in dB.

    Args:
        reference: ``(..., 2, time)`` reference two-ear images.
        estimate: ``(..., 2, time)`` estimates aligned to ``reference``.

    Returns:
        ``(...)`` ΔILD in dB.
    """
    _check_pair(reference, estimate)
    return abs(ild(reference) - ild(estimate))


def binaural_scores(reference: Any, estimate: Any, mixture: Any, sample_rate: int) -> dict[str, np.ndarray]:
    """Per-talker scores of one binaural mixture, as the paper reports them.

    Talkers are matched by the best-SNR permutation with both ears scored together
    (``voxsep.core.pairwise.pairwise_neg_snr`` flattens the ear axis with time).

    Args:
        reference: ``(n_src, 2, time)`` reference two-ear images.
        estimate: ``(n_src, 2, time)`` separated images, any talker order.
        mixture: ``(2, time)`` the two-ear mixture.
        sample_rate: samples per second.

    Returns:
        ``{"snr", "snri", "delta_itd_us", "delta_itd_int_us", "delta_ild_db"}``, each a
        float64 array ``(n_src,)`` in the reference's talker order: SNR and its
        improvement over the mixture (dB, both ears), ΔITD with sub-sample GCC-PHAT and
        with integer lags (the SpeechBrain recipe's variant), ΔILD.
    """
    from voxsep.core.pairwise import pairwise_neg_snr
    from voxsep.core.pit import pit_from_pairwise, reorder

    ref = torch.as_tensor(np.asarray(reference) if not isinstance(reference, torch.Tensor) else reference).double()
    est = torch.as_tensor(np.asarray(estimate) if not isinstance(estimate, torch.Tensor) else estimate).double()
    mix = torch.as_tensor(np.asarray(mixture) if not isinstance(mixture, torch.Tensor) else mixture).double()
    if ref.dim() != 3 or ref.shape[1] != 2 or est.shape != ref.shape or tuple(mix.shape) != tuple(ref.shape[1:]):
        raise ValueError(f"expected reference and estimate (n_src, 2, time) and mixture (2, time); got "
                         f"{tuple(ref.shape)}, {tuple(est.shape)} and {tuple(mix.shape)}")
    _, perm = pit_from_pairwise(pairwise_neg_snr(est[None], ref[None]))
    aligned = reorder(est[None], perm)[0]
    snr_est = -torch.diagonal(pairwise_neg_snr(aligned[None], ref[None])[0])
    snr_mix = -torch.diagonal(pairwise_neg_snr(mix.expand_as(ref)[None], ref[None])[0])
    return {
        "snr": snr_est.numpy(),
        "snri": (snr_est - snr_mix).numpy(),
        "delta_itd_us": np.asarray(delta_itd(ref.numpy(), aligned.numpy(), sample_rate), dtype=np.float64),
        "delta_itd_int_us": np.asarray(delta_itd(ref.numpy(), aligned.numpy(), sample_rate, interpolate=False),
                                       dtype=np.float64),
        "delta_ild_db": np.asarray(delta_ild(ref.numpy(), aligned.numpy()), dtype=np.float64),
    }


__all__ = ["itd", "ild", "delta_itd", "delta_ild", "binaural_scores"]
