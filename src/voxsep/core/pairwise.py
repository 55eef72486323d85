"""Pairwise SI-SNR and SNR matrices: the score of every (estimate, source) pair.

``m[b, i, j] = -score(estimates[b, i], sources[b, j])`` in dB, shape ``(batch, n_src,
n_src)`` -- negated, so that lower is better and the matrix is a loss. The training
losses (:mod:`voxsep.losses`), the metrics (:mod:`voxsep.metrics.sdr`) and the trainer's
batch metrics all start from these two functions; the best assignment of estimates to
sources is :func:`voxsep.core.pit.pit_from_pairwise`.

Inputs are ``(batch, n_src, *dims, time)``. Trailing ``dims`` (e.g. the two ears of a
binaural model) are flattened together with time, so a multichannel source is scored as
one signal. Computed in float32 (float64 inputs stay float64) with autocast disabled.
Energies are sums of squares and both numerator and denominator carry ``eps``, so
all-zero sources or estimates give finite values and gradients.

References:
    - SI-SNR: J. Le Roux et al., "SDR – half-baked or well done?", ICASSP 2019.
    - Soft SNR cap (``snr_max``): S. Wisdom et al., "Unsupervised sound separation
      using mixture invariant training", NeurIPS 2020.
    - Silent (all-zero) targets, :func:`pairwise_neg_snr_var`: the thresholded SNR of
      Wisdom et al., NeurIPS 2020, §3, with the mixture-relative form for a zero
      reference.
"""

from __future__ import annotations

import math

import torch

__all__ = ["pairwise_neg_si_snr", "pairwise_neg_snr", "pairwise_neg_snr_var", "silent_sources"]


def _check_pair(estimates: torch.Tensor, sources: torch.Tensor) -> None:
    if not isinstance(estimates, torch.Tensor) or not isinstance(sources, torch.Tensor):
        raise TypeError(
            "estimates and sources must be torch tensors, got "
            f"{type(estimates).__name__} and {type(sources).__name__}"
        )
    if estimates.dim() < 3:
        raise ValueError(
            "expected estimates of shape (batch, n_src, [channels,] time), got "
            f"{tuple(estimates.shape)}; add the batch/source axes with unsqueeze"
        )
    if estimates.shape != sources.shape:
        raise ValueError(
            f"estimates {tuple(estimates.shape)} and sources {tuple(sources.shape)} must have "
            "the same shape (batch, n_src, [channels,] time); trim or pad them to one length"
        )


def _flat32(x: torch.Tensor) -> torch.Tensor:
    """``(batch, n_src, *dims, time)`` -> ``(batch, n_src, samples)``, at least float32.

    Half precision (bf16/fp16 from autocast) is promoted to float32; float64 stays
    float64 so that metrics built on these functions keep full precision.
    """
    x = x.reshape(x.shape[0], x.shape[1], -1)
    return x if x.dtype == torch.float64 else x.float()


def _snr_db(target: torch.Tensor, error: torch.Tensor, eps: float, snr_max: float | None
            ) -> torch.Tensor:
    """``10 log10(|t|^2 / (|e|^2 + tau |t|^2))`` along the last axis, eps-guarded."""
    target_energy = target.pow(2).sum(-1)
    error_energy = error.pow(2).sum(-1)
    if snr_max is not None:
        # Soft cap (Wisdom et al. 2020): the ratio saturates smoothly at snr_max dB.
        error_energy = error_energy + 10.0 ** (-snr_max / 10.0) * target_energy
    return 10.0 * (torch.log10(target_energy + eps) - torch.log10(error_energy + eps))


def check_snr_max(snr_max: float | None) -> None:
    if snr_max is not None and not (isinstance(snr_max, (int, float)) and math.isfinite(snr_max)):
        raise ValueError(f"snr_max must be a finite number of dB or None, got {snr_max!r}")


def pairwise_neg_si_snr(estimates: torch.Tensor, sources: torch.Tensor, eps: float = 1e-8,
                        snr_max: float | None = None) -> torch.Tensor:
    """Negative scale-invariant SNR for every (estimate, source) pair.

    Both signals are made zero-mean, the estimate is projected onto the source
    (``target = <est, src> / |src|^2 * src``) and the loss is
    ``-10 log10(|target|^2 / (|est - target|^2 + tau |target|^2))`` with
    ``tau = 10^(-snr_max / 10)`` (``tau = 0`` when ``snr_max`` is None).

    Args:
        estimates: ``(batch, n_src, *dims, time)`` separated signals.
        sources: ``(batch, n_src, *dims, time)`` reference signals.
        eps: guard added to energies, keeps silent signals finite.
        snr_max: optional soft cap in dB (e.g. 30) so that examples that are already
            well separated stop dominating the gradient.

    Returns:
        ``(batch, n_src, n_src)`` float32 (float64 for float64 inputs),
        ``m[b, i, j] = -SI-SNR(estimates[b, i], sources[b, j])`` in dB.

    Raises:
        ValueError: shapes differ or have fewer than 3 axes, or ``snr_max`` is not finite.
    """
    _check_pair(estimates, sources)
    check_snr_max(snr_max)
    with torch.autocast(device_type=estimates.device.type, enabled=False):
        est = _flat32(estimates)
        src = _flat32(sources)
        est = est - est.mean(-1, keepdim=True)
        src = src - src.mean(-1, keepdim=True)
        dot = torch.matmul(est, src.transpose(1, 2))  # (B, n_est, n_src)
        scale = dot / (src.pow(2).sum(-1)[:, None, :] + eps)
        target = scale.unsqueeze(-1) * src.unsqueeze(1)  # (B, n_est, n_src, T)
        est = est.unsqueeze(2)
        return -_snr_db(target, est - target, eps, snr_max)


def pairwise_neg_snr(estimates: torch.Tensor, sources: torch.Tensor, eps: float = 1e-8,
                     snr_max: float | None = None) -> torch.Tensor:
    """Negative (scale-dependent) SNR for every (estimate, source) pair.

    ``-10 log10(|src|^2 / (|src - est|^2 + tau |src|^2))``, ``tau = 10^(-snr_max / 10)``.
    No mean removal and no rescaling: the model is also asked to get the level right.

    Args:
        estimates: ``(batch, n_src, *dims, time)`` separated signals.
        sources: ``(batch, n_src, *dims, time)`` reference signals.
        eps: guard added to energies, keeps silent signals finite.
        snr_max: optional soft cap in dB (Wisdom et al. 2020 use 30).

    Returns:
        ``(batch, n_src, n_src)`` float32 (float64 for float64 inputs),
        ``m[b, i, j] = -SNR(estimates[b, i], sources[b, j])`` in dB.

    Raises:
        ValueError: shapes differ or have fewer than 3 axes, or ``snr_max`` is not finite.
    """
    _check_pair(estimates, sources)
    check_snr_max(snr_max)
    with torch.autocast(device_type=estimates.device.type, enabled=False):
        est = _flat32(estimates).unsqueeze(2)
        src = _flat32(sources).unsqueeze(1)
        return -_snr_db(src, src - est, eps, snr_max)


def silent_sources(sources: torch.Tensor) -> torch.Tensor:
    """``(batch, n_src)`` bool: which sources are silent (every sample exactly zero).

    These are the padded targets of variable-count training (``data.n_src: [low, high]``:
    an example with ``k < high`` talkers gets ``high - k`` all-zero sources).
    """
    return sources.reshape(sources.shape[0], sources.shape[1], -1).eq(0).all(-1)


def pairwise_neg_snr_var(estimates: torch.Tensor, sources: torch.Tensor, snr_max: float,
                         mixture: torch.Tensor | None = None, scale_invariant: bool = True,
                         eps: float = 1e-8) -> torch.Tensor:
    """Pairwise loss for a variable number of talkers: silent targets score output energy.

    The thresholded SNR of Wisdom et al., "Unsupervised sound separation using mixture
    invariant training", NeurIPS 2020, §3, with ``tau = 10^(-snr_max / 10)``:

    * active target ``s`` (not all zeros): ``-10 log10(|s|^2 / (|s - ŝ|^2 + tau |s|^2))``
      -- the negative capped SNR, or with ``scale_invariant`` the negative capped SI-SNR
      of :func:`pairwise_neg_si_snr` (``s`` replaced by the projection of ``ŝ`` on it);
    * silent target (all zeros, :func:`silent_sources`): ``10 log10(|ŝ|^2 + tau |x|^2)``
      measured relative to the mixture energy, i.e.
      ``10 log10((|ŝ|^2 + tau |x|^2) / |x|^2)``. A silent output reaches the floor
      ``-snr_max`` (the same best value as a perfect active output), an output as loud
      as the mixture scores about 0 dB, a louder one more: the model learns to emit
      silence on its unused outputs, and ``tau`` stops it from chasing ever deeper
      silence.

    Args:
        estimates: ``(batch, n_src, *dims, time)``.
        sources: same shape; padded talkers are all-zero.
        snr_max: the threshold in dB (30 in the paper); required.
        mixture: ``(batch, *dims, time)``; default the sum of the sources (the mixture of
            a clean training example).
        scale_invariant: SI-SNR (True) or SNR (False) for active targets.
        eps: energy guard.

    Returns:
        ``(batch, n_src, n_src)`` loss in dB, ``m[b, i, j]`` for estimate ``i`` against
        source ``j``; with no silent target it equals :func:`pairwise_neg_si_snr` /
        :func:`pairwise_neg_snr` with the same ``snr_max``.
    """
    _check_pair(estimates, sources)
    if snr_max is None:
        raise ValueError("pairwise_neg_snr_var needs snr_max (dB), the threshold that scores silent targets")
    check_snr_max(snr_max)
    active = (pairwise_neg_si_snr if scale_invariant else pairwise_neg_snr)(estimates, sources, eps=eps,
                                                                          snr_max=snr_max)
    with torch.autocast(device_type=estimates.device.type, enabled=False):
        if mixture is None:
            mix = _flat32(sources).sum(1)
        else:
            mix = mixture.reshape(mixture.shape[0], -1)
            mix = mix if mix.dtype == torch.float64 else mix.float()
            if mix.shape != (sources.shape[0], _flat32(sources).shape[-1]):
                raise ValueError(f"mixture {tuple(mixture.shape)} does not fit sources {tuple(sources.shape)}; "
                                 "expected (batch, [channels,] time)")
        mix_energy = mix.pow(2).sum(-1)  # (B,)
        est_energy = _flat32(estimates).pow(2).sum(-1)  # (B, n_est)
        tau = 10.0 ** (-snr_max / 10.0)
        silent_loss = 10.0 * (torch.log10(est_energy + tau * mix_energy[:, None] + eps)
                              - torch.log10(mix_energy[:, None] + eps))  # (B, n_est)
        silent = silent_sources(sources)[:, None, :]  # (B, 1, n_src)
        return torch.where(silent, silent_loss.unsqueeze(-1).to(active.dtype), active)
