"""Training losses: permutation-invariant negative SI-SNR / SNR (PIT).

The pairwise matrices live in :mod:`voxsep.core.pairwise` and the permutation search in
:mod:`voxsep.core.pit`; they are re-exported here because they are what a loss is made of.

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
    - Variable number of talkers (``si_snr_var``, ``snr_var``): the thresholded SNR of
      Wisdom et al., NeurIPS 2020, §3 -- a silent (all-zero) target scores the output's
      energy relative to the mixture, ``10 log10((|ŝ|^2 + tau |x|^2) / |x|^2)``,
      ``tau = 10^(-snr_max/10)`` (:func:`voxsep.core.pairwise.pairwise_neg_snr_var`).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from voxsep.core.pairwise import check_snr_max, pairwise_neg_si_snr, pairwise_neg_snr, pairwise_neg_snr_var
from voxsep.core.pit import pit_from_pairwise, reorder

__all__ = [
    "pairwise_neg_si_snr",
    "pairwise_neg_snr",
    "pairwise_neg_snr_var",
    "pit_from_pairwise",
    "reorder",
    "PITLoss",
]

_PAIRWISE = {"si_snr": pairwise_neg_si_snr, "snr": pairwise_neg_snr}
#: Kinds for a variable number of talkers: silent targets score the output's energy.
_VARIABLE = {"si_snr_var": True, "snr_var": False}  # kind -> scale-invariant on active targets


class PITLoss(nn.Module):
    """Permutation-invariant negative SI-SNR or SNR, averaged over the batch.

    Example:
        >>> loss_fn = PITLoss("si_snr", snr_max=30)
        >>> loss, perm = loss_fn(model(mixture), sources)  # (batch, n_src, time) each
        >>> loss.backward()
        >>> aligned = reorder(estimates, perm)

    Args:
        kind: ``"si_snr"`` (Le Roux et al. 2019) or ``"snr"``; ``"si_snr_var"`` /
            ``"snr_var"`` for a variable number of talkers (padded all-zero targets score
            the output's energy relative to the mixture, Wisdom et al. 2020 §3; see
            :func:`pairwise_neg_snr_var`). With no silent target they equal ``"si_snr"`` /
            ``"snr"`` with the same ``snr_max``.
        snr_max: optional soft cap in dB (Wisdom et al. 2020), None for no cap; required
            by the ``_var`` kinds (the threshold of silent targets, 30 in the paper).
        eps: energy guard, see :func:`pairwise_neg_si_snr`.
    """

    def __init__(self, kind: Literal["si_snr", "snr", "si_snr_var", "snr_var"] = "si_snr",
                 snr_max: float | None = None, eps: float = 1e-8) -> None:
        super().__init__()
        if kind not in _PAIRWISE and kind not in _VARIABLE:
            raise ValueError(f"unknown loss kind {kind!r}; valid kinds: {sorted([*_PAIRWISE, *_VARIABLE])}")
        check_snr_max(snr_max)
        if kind in _VARIABLE and snr_max is None:
            raise ValueError(f"loss kind {kind!r} needs snr_max (dB), the threshold that scores silent targets "
                             "(30 in Wisdom et al. 2020)")
        self.kind = kind
        self.snr_max = snr_max
        self.eps = eps

    def forward(self, estimates: torch.Tensor, sources: torch.Tensor, mixture: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Compute the loss.

        Args:
            estimates: ``(batch, n_src, *dims, time)``.
            sources: same shape.
            mixture: ``(batch, *dims, time)``, used by the ``_var`` kinds only (default:
                the sum of the sources).

        Returns:
            ``(loss, perm)``: scalar float32 mean loss in dB (negative SI-SNR/SNR) and the
            ``(batch, n_src)`` long permutation (see :func:`pit_from_pairwise`).
        """
        if self.kind in _VARIABLE:
            pairwise = pairwise_neg_snr_var(estimates, sources, self.snr_max, mixture=mixture,
                                            scale_invariant=_VARIABLE[self.kind], eps=self.eps)
        else:
            pairwise = _PAIRWISE[self.kind](estimates, sources, eps=self.eps, snr_max=self.snr_max)
        loss, perm = pit_from_pairwise(pairwise)
        return loss.mean(), perm

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, snr_max={self.snr_max}"
