"""Permutation search: which estimate goes with which source. The one home of it.

* :func:`pit_from_pairwise` -- the best assignment from a pairwise loss matrix
  (permutation-invariant training, Yu et al., ICASSP 2017; every permutation for
  ``n_src <= EXHAUSTIVE_MAX_SOURCES``, the Hungarian algorithm beyond);
* :func:`reorder` -- apply a per-example permutation along the source axis;
* :func:`best_permutation_tensor` -- the same exhaustive search with tensor ops only
  (no data-dependent Python branch), for models that align their own outputs inside an
  exported ONNX graph (the binaural cross-ear alignment);
* :func:`align_by_correlation` -- the order of one set of signals that best matches
  another by normalised correlation (chunk-to-chunk speaker alignment in long-file
  inference).
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

__all__ = ["EXHAUSTIVE_MAX_SOURCES", "NaNScoresError", "pit_from_pairwise", "reorder", "best_permutation_tensor",
           "align_by_correlation"]

#: Largest number of sources for which every permutation (n! of them) is enumerated;
#: beyond it the Hungarian algorithm (``scipy.optimize.linear_sum_assignment``) is used.
EXHAUSTIVE_MAX_SOURCES = 3


class NaNScoresError(ValueError):
    """The pairwise matrix holds NaN (a NaN estimate): no assignment is defined."""


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
            raise NaNScoresError("pairwise loss matrix contains NaN; check the estimates for NaN values")
        best = scores.argmin(-1)
        return scores.gather(1, best[:, None]).squeeze(1), perms[best]
    matrix = pairwise.detach().double().cpu().numpy()
    if np.isnan(matrix).any():
        raise NaNScoresError("pairwise loss matrix contains NaN; check the estimates for NaN values")
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


def best_permutation_tensor(cost: torch.Tensor) -> torch.Tensor:
    """Exhaustive best assignment with tensor ops only (ONNX-exportable, any leading dims).

    ``cost[..., i, j]`` is the cost of giving item ``i`` to slot ``j``; returns ``perm
    (..., n)`` with ``item perm[j]`` assigned to slot ``j``, minimising the mean cost --
    the same assignment as :func:`pit_from_pairwise` (same permutation order, first best
    on ties). Meant for small ``n`` (it scores all ``n!`` permutations).
    """
    n = cost.shape[-1]
    perms = torch.from_numpy(_permutations(n)).to(cost.device)  # (P, n)
    cols = torch.arange(n, device=cost.device)
    scores = cost[..., perms, cols].mean(-1)  # (..., P)
    return perms[scores.argmin(-1)]


def align_by_correlation(reference: torch.Tensor, estimate: torch.Tensor) -> list[int]:
    """Order of ``estimate``'s signals that best matches ``reference``'s.

    Args:
        reference: ``(n_src, samples)`` (channels flattened into samples).
        estimate: ``(n_src, samples)``.

    Returns:
        ``perm`` such that ``estimate[perm[i]]`` goes with ``reference[i]``; it maximises
        the sum of normalised correlations (:func:`pit_from_pairwise` on their negatives).
    """
    ref = reference.double()
    est = estimate.double()
    ref = ref / ref.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    est = est / est.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    # pairwise[i, j]: cost of estimate i for reference j
    _, perm = pit_from_pairwise(-(est @ ref.T).unsqueeze(0))
    return [int(p) for p in perm[0]]
