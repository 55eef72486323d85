"""Batch metrics on the device: SI-SNRi and SNRi per example of a training/validation batch.

Arguments in ``(reference, estimate, mixture)`` order, as everywhere in
:mod:`voxsep.metrics`. Computed with the pairwise matrices of :mod:`voxsep.core.pairwise` and the permutation
search of :mod:`voxsep.core.pit`, in torch, with no copy to the host -- so validating
costs no more than a forward pass. The per-utterance evaluation metrics (float64,
checked against mir_eval) are in :mod:`voxsep.metrics.sdr`.

Silent targets (the all-zero padding of variable-count training, ``data.n_src: [low,
high]``) are skipped: the best assignment is searched over the active sources only (a
silent target may take any output at no cost) and the improvement is averaged over the
active sources of each example. In such a batch the scores are soft-capped at
``SILENT_BATCH_SNR_MAX`` dB (the thresholded SNR of Wisdom et al. 2020), because a
clean one-talker example's mixture *is* its source: uncapped, its SI-SNR would be the
eps-guard's ~80 dB and the improvement of even a perfect estimate hugely negative;
capped, a perfect estimate of a one-talker example scores 0 dB. A batch with no silent
target is scored exactly as before (uncapped, the same operations).
"""

from __future__ import annotations

from typing import Callable

import torch

from voxsep.core.pairwise import pairwise_neg_si_snr, pairwise_neg_snr, silent_sources
from voxsep.core.pit import pit_from_pairwise

#: Soft cap (dB) of the scores of a batch with silent targets (see the module docstring).
SILENT_BATCH_SNR_MAX = 30.0


def _batch_improvement(pairwise: Callable[..., torch.Tensor], sources: torch.Tensor, estimates: torch.Tensor,
                       mixture: torch.Tensor) -> torch.Tensor:
    # core.pairwise takes (estimates, sources); these public functions take (reference, estimate)
    silent = silent_sources(sources)
    if not bool(silent.any()):
        estimate_loss, _ = pit_from_pairwise(pairwise(estimates, sources))
        repeated = mixture.unsqueeze(1).expand_as(sources)
        mixture_loss = torch.diagonal(pairwise(repeated, sources), dim1=1, dim2=2).mean(-1)
        return mixture_loss - estimate_loss
    matrix = pairwise(estimates, sources, snr_max=SILENT_BATCH_SNR_MAX)  # (B, n_est, n_src)
    _, perm = pit_from_pairwise(matrix.masked_fill(silent[:, None, :], 0.0))
    matched = matrix.gather(1, perm[:, None, :]).squeeze(1)  # (B, n_src): loss of the estimate given to source j
    repeated = mixture.unsqueeze(1).expand_as(sources)
    mixture_loss = torch.diagonal(pairwise(repeated, sources, snr_max=SILENT_BATCH_SNR_MAX), dim1=1, dim2=2)
    active = ~silent
    gain = torch.where(active, mixture_loss - matched, torch.zeros_like(matched))
    return gain.sum(-1) / active.sum(-1).clamp_min(1).to(gain.dtype)


def batch_si_snri(reference: torch.Tensor, estimate: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
    """SI-SNR improvement per example, in dB, averaged over sources (best permutation).

    ``(reference, estimate, mixture)`` order, as :mod:`voxsep.metrics`.

    Args:
        reference, estimate: ``(batch, n_src, *dims, time)``: the true sources and the
            model's outputs.
        mixture: ``(batch, *dims, time)``.

    Returns:
        ``(batch,)`` float32: mean over sources of SI-SNR(source, matched estimate) minus
        SI-SNR(source, mixture); silent (all-zero) sources are left out of the matching
        and of the mean (see the module docstring).
    """
    return _batch_improvement(pairwise_neg_si_snr, reference, estimate, mixture)


def batch_snri(reference: torch.Tensor, estimate: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
    """SNR improvement per example, in dB, averaged over sources (best-SNR permutation).

    As :func:`batch_si_snri` with the plain (scale-dependent) SNR; multichannel
    ``dims`` (e.g. the two ears of a binaural image) are scored together, as the
    binaural SNR loss and ``voxsep.metrics.spatial.binaural_scores`` do.
    """
    return _batch_improvement(pairwise_neg_snr, reference, estimate, mixture)
