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
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from voxsep.core.pairwise import check_snr_max, pairwise_neg_si_snr, pairwise_neg_snr
from voxsep.core.pit import pit_from_pairwise, reorder

__all__ = [
    "pairwise_neg_si_snr",
    "pairwise_neg_snr",
    "pit_from_pairwise",
    "reorder",
    "PITLoss",
]

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
        check_snr_max(snr_max)
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
