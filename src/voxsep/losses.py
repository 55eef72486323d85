"""Training losses: pairwise negative SI-SNR / SNR and permutation-invariant training (PIT).

Every loss here takes ``(estimate, reference)`` (the PyTorch convention; metrics in
:mod:`voxsep.metrics` take ``(reference, estimate)``). The building block is a *pairwise*
loss matrix of shape ``(batch, n_src, n_src)`` with ``m[b, i, j] = loss(estimates[b, i],
sources[b, j])``; :func:`pit_from_pairwise` picks, per example, the assignment of
estimates to sources with the lowest mean loss and returns it, so that callers (the
trainer, chunked inference, metrics) can reorder the estimates.

Inputs are ``(batch, n_src, *dims, time)``. Trailing ``dims`` (e.g. the two ears of a
binaural model) are flattened together with time, so a multichannel source is scored as
one signal and the permutation is shared across its channels.

Losses are computed in float32 (float64 inputs stay float64) with autocast disabled, so
they are safe to call inside a ``torch.autocast(dtype=torch.bfloat16)`` region. Energies
are sums of squares (never norms), and both numerator and denominator carry ``eps``, so
all-zero sources or estimates give finite values and finite gradients: an estimate
scored against a silent source gets ``10 log10(eps / (|est|^2 + eps))`` (any output
energy is penalised), and an all-zero estimate gets 0 dB SI-SNR (its projection on the
source is undefined) and 0 dB SNR.

References:
    - SI-SNR: J. Le Roux et al., "SDR – half-baked or well done?", ICASSP 2019.
    - PIT: D. Yu et al., "Permutation invariant training of deep models for
      speaker-independent multi-talker speech separation", ICASSP 2017.
    - Soft SNR cap (``snr_max``): S. Wisdom et al., "Unsupervised sound separation
      using mixture invariant training", NeurIPS 2020.
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache
from typing import Literal

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

__all__ = [
    "pairwise_neg_si_snr",
    "pairwise_neg_snr",
    "pit_from_pairwise",
    "reorder",
    "PITLoss",
]

#: Largest number of sources for which PIT enumerates every permutation (n! of them);
#: beyond it the Hungarian algorithm (``scipy.optimize.linear_sum_assignment``) is used.
EXHAUSTIVE_MAX_SOURCES = 3


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


def _check_snr_max(snr_max: float | None) -> None:
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
    _check_snr_max(snr_max)
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
    _check_snr_max(snr_max)
    with torch.autocast(device_type=estimates.device.type, enabled=False):
        est = _flat32(estimates).unsqueeze(2)
        src = _flat32(sources).unsqueeze(1)
        return -_snr_db(src, src - est, eps, snr_max)


@lru_cache(maxsize=None)
def _permutations(n_src: int) -> np.ndarray:
    return np.array(list(itertools.permutations(range(n_src))), dtype=np.int64)


def pit_from_pairwise(pairwise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Best assignment of estimates to sources from a pairwise loss matrix.

    For ``n_src <= 3`` every permutation is scored at once (a single gather over the
    ``n_src!`` permutations); beyond that the Hungarian algorithm
    (``scipy.optimize.linear_sum_assignment``) solves each example in ``O(n_src^3)``.
    The returned loss is differentiable with respect to ``pairwise``.

    Args:
        pairwise: ``(batch, n_src, n_src)`` with ``pairwise[b, i, j]`` the loss of
            estimate ``i`` against source ``j`` (lower is better).

    Returns:
        ``(loss, perm)``: ``loss`` ``(batch,)`` is the mean over sources of the matched
        losses; ``perm`` ``(batch, n_src)`` long, such that ``estimates[b, perm[b]]``
        (see :func:`reorder`) is aligned with ``sources[b]``.

    Raises:
        ValueError: ``pairwise`` is not ``(batch, n, n)`` or contains NaN.
    """
    if pairwise.dim() != 3 or pairwise.shape[1] != pairwise.shape[2]:
        raise ValueError(
            f"expected a pairwise loss matrix of shape (batch, n_src, n_src), got {tuple(pairwise.shape)}"
        )
    batch, n_src, _ = pairwise.shape
    cols = torch.arange(n_src, device=pairwise.device)
    if n_src <= EXHAUSTIVE_MAX_SOURCES:
        perms = torch.from_numpy(_permutations(n_src)).to(pairwise.device)  # (P, n)
        # scores[b, p] = mean_j pairwise[b, perms[p, j], j]
        scores = pairwise[:, perms, cols].mean(-1)  # (B, P)
        if torch.isnan(scores).any():
            raise ValueError("pairwise loss matrix contains NaN; check the estimates for NaN values")
        best = scores.argmin(-1)
        return scores.gather(1, best[:, None]).squeeze(1), perms[best]
    matrix = pairwise.detach().double().cpu().numpy()
    if np.isnan(matrix).any():
        raise ValueError("pairwise loss matrix contains NaN; check the estimates for NaN values")
    perm = np.empty((batch, n_src), dtype=np.int64)
    for b in range(batch):
        # Rows of the transposed matrix are sources, so the column indices are the
        # estimate assigned to each source, in source order.
        _, perm[b] = linear_sum_assignment(matrix[b].T)
    perm_t = torch.from_numpy(perm).to(pairwise.device)
    loss = pairwise.gather(1, perm_t[:, None, :]).squeeze(1).mean(-1)
    return loss, perm_t


def reorder(estimates: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """Reorder estimates along the source axis: ``out[b] = estimates[b, perm[b]]``.

    Args:
        estimates: ``(batch, n_src, ...)``.
        perm: ``(batch, n_src)`` long, as returned by :func:`pit_from_pairwise`.

    Returns:
        ``(batch, n_src, ...)`` estimates aligned with the sources.
    """
    if perm.dim() != 2 or perm.shape != estimates.shape[:2]:
        raise ValueError(
            f"perm {tuple(perm.shape)} must be (batch, n_src) matching estimates "
            f"{tuple(estimates.shape)}"
        )
    batch_index = torch.arange(estimates.shape[0], device=estimates.device)[:, None]
    return estimates[batch_index, perm.to(estimates.device)]


_PAIRWISE = {"si_snr": pairwise_neg_si_snr, "snr": pairwise_neg_snr}


class PITLoss(nn.Module):
    """Permutation-invariant negative SI-SNR or SNR, averaged over the batch.

    Example:
        >>> loss_fn = PITLoss("si_snr", snr_max=30)
        >>> loss, perm = loss_fn(model(mixture), sources)  # (batch, n_src, time) each
        >>> loss.backward()
        >>> aligned = reorder(estimates, perm)

    Args:
        kind: ``"si_snr"`` (Le Roux et al. 2019) or ``"snr"``.
        snr_max: optional soft cap in dB (Wisdom et al. 2020), None for no cap.
        eps: energy guard, see :func:`pairwise_neg_si_snr`.
    """

    def __init__(self, kind: Literal["si_snr", "snr"] = "si_snr", snr_max: float | None = None,
                 eps: float = 1e-8) -> None:
        super().__init__()
        if kind not in _PAIRWISE:
            raise ValueError(f"unknown loss kind {kind!r}; valid kinds: {sorted(_PAIRWISE)}")
        _check_snr_max(snr_max)
        self.kind = kind
        self.snr_max = snr_max
        self.eps = eps

    def forward(self, estimates: torch.Tensor, sources: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Compute the loss.

        Args:
            estimates: ``(batch, n_src, *dims, time)``.
            sources: same shape.

        Returns:
            ``(loss, perm)``: scalar float32 mean loss in dB (negative SI-SNR/SNR) and the
            ``(batch, n_src)`` long permutation (see :func:`pit_from_pairwise`).
        """
        pairwise = _PAIRWISE[self.kind](estimates, sources, eps=self.eps, snr_max=self.snr_max)
        loss, perm = pit_from_pairwise(pairwise)
        return loss.mean(), perm

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, snr_max={self.snr_max}"
