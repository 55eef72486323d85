"""Batch metrics on the device: SI-SNRi and SNRi per example of a training/validation batch.

Computed with the pairwise matrices of :mod:`voxsep.core.pairwise` and the permutation
search of :mod:`voxsep.core.pit`, in torch, with no copy to the host -- so validating
costs no more than a forward pass. The per-utterance evaluation metrics (float64,
checked against mir_eval) are in :mod:`voxsep.metrics.sdr`.
"""

from __future__ import annotations

from typing import Callable

import torch

from voxsep.core.pairwise import pairwise_neg_si_snr, pairwise_neg_snr
from voxsep.core.pit import pit_from_pairwise


def _batch_improvement(pairwise: Callable[..., torch.Tensor], estimates: torch.Tensor, sources: torch.Tensor,
                       mixture: torch.Tensor) -> torch.Tensor:
    estimate_loss, _ = pit_from_pairwise(pairwise(estimates, sources))
    repeated = mixture.unsqueeze(1).expand_as(sources)
    mixture_loss = torch.diagonal(pairwise(repeated, sources), dim1=1, dim2=2).mean(-1)
    return mixture_loss - estimate_loss


def batch_si_snri(estimates: torch.Tensor, sources: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
    """SI-SNR improvement per example, in dB, averaged over sources (best permutation).

    Args:
        estimates, sources: ``(batch, n_src, *dims, time)``.
        mixture: ``(batch, *dims, time)``.

    Returns:
        ``(batch,)`` float32: mean over sources of SI-SNR(source, matched estimate) minus
        SI-SNR(source, mixture).
    """
    return _batch_improvement(pairwise_neg_si_snr, estimates, sources, mixture)


def batch_snri(estimates: torch.Tensor, sources: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
    """SNR improvement per example, in dB, averaged over sources (best-SNR permutation).

    As :func:`batch_si_snri` with the plain (scale-dependent) SNR; multichannel
    ``dims`` (e.g. the two ears of a binaural image) are scored together, as the
    binaural SNR loss and ``voxsep.metrics.spatial.binaural_scores`` do.
    """
    return _batch_improvement(pairwise_neg_snr, estimates, sources, mixture)
