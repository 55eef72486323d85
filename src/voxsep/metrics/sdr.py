"""Separation metrics in dB: SI-SNR, SNR, BSS-eval SDR and their improvements.

All functions take ``(reference, estimate)`` (the bss_eval order; losses in
:mod:`voxsep.losses` take ``(estimate, reference)``), numpy arrays or torch tensors of
shape ``(..., n_src, time)``, and return per-source values of shape ``(..., n_src)``
ordered like the *references*: ``out[..., j]`` scores the estimate matched to reference
``j``. Estimates are matched to references with the best permutation first:

* :func:`si_snr` and :func:`snr` pick the permutation with the highest mean metric
  (exhaustive for up to 3 sources, Hungarian beyond, via :mod:`voxsep.losses`);
* :func:`sdr` is BSS-eval v3 SDR (512-tap distortion filter) exactly as
  ``mir_eval.separation.bss_eval_sources`` computes it, including its choice of the
  permutation with the highest mean SIR; it is computed by ``fast_bss_eval``
  (Scheibler, "SDR — Medium Rare with Fast Computations", ICASSP 2022) with its torch
  backend in float64, which agrees
  with mir_eval to well under 0.05 dB and is much faster (see BENCHMARKS.md).

Numpy inputs give float64 numpy outputs; if either input is a torch tensor the output is
a float64 tensor on the estimate's device. Everything is computed in float64, on one CPU
thread (see :func:`_single_torch_thread`).

References:
    - SI-SNR: J. Le Roux et al., "SDR – half-baked or well done?", ICASSP 2019.
    - SDR: E. Vincent, R. Gribonval, C. Févotte, "Performance measurement in blind
      audio source separation", IEEE TASLP 2006.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Literal, Union

import numpy as np
import torch

from voxsep.core.pairwise import pairwise_neg_si_snr, pairwise_neg_snr
from voxsep.core.pit import pit_from_pairwise

__all__ = [
    "si_snr",
    "snr",
    "sdr",
    "si_snr_improvement",
    "snr_improvement",
    "sdr_improvement",
]

Array = Union[np.ndarray, torch.Tensor]

#: Energy guard of SI-SNR/SNR, computed in float64: it only matters for (near-)silent
#: signals, where it keeps the values finite (a silent estimate scores 0 dB SI-SNR).
EPS = 1e-12

#: Length of the BSS-eval distortion filter (mir_eval's default, BSS-eval v3).
SDR_FILTER_LENGTH = 512


def _single_torch_thread(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run a metric on one CPU torch thread, then restore the thread count.

    Two reasons. With torch 2.13 (CPU, MKL) a *batched* float64 ``torch.linalg.solve``
    (which fast_bss_eval uses) on more than one intra-op thread can corrupt its LAPACK
    call ("Intel oneMKL ERROR: Parameter 6 was incorrect on entry to DLASWP") and hang;
    reproduced here with a (2, 512, 512) batch on 2 threads (pytorch/pytorch#142815, open
    since torch 2.5). And per-utterance metrics
    are small (a few 10^4 samples, 512 to n_src x 512 unknowns): on a busy shared CPU,
    multi-threaded element-wise ops spend far more time waiting at barriers than
    computing (measured 5-10x slower on 2 threads under load). ``torch.set_num_threads``
    is process-wide, so do not call these metrics concurrently with other torch work in
    threads of the same process. Estimates on a GPU are left alone.
    """

    @functools.wraps(fn)
    def wrapper(reference: Array, estimate: Array, *args: Any, **kwargs: Any) -> Any:
        on_cpu = not any(isinstance(x, torch.Tensor) and x.device.type != "cpu" for x in (reference, estimate))
        previous = torch.get_num_threads()
        if not on_cpu or previous == 1:
            return fn(reference, estimate, *args, **kwargs)
        torch.set_num_threads(1)
        try:
            return fn(reference, estimate, *args, **kwargs)
        finally:
            torch.set_num_threads(previous)

    return wrapper


def _to_float64(reference: Array, estimate: Array, name: str = "estimate"
                ) -> tuple[torch.Tensor, torch.Tensor, bool, torch.device]:
    """Validate shapes; return float64 tensors, whether to return torch, and the device."""
    want_torch = isinstance(reference, torch.Tensor) or isinstance(estimate, torch.Tensor)
    device = estimate.device if isinstance(estimate, torch.Tensor) else torch.device("cpu")
    ref = torch.as_tensor(np.asarray(reference) if not isinstance(reference, torch.Tensor) else reference)
    est = torch.as_tensor(np.asarray(estimate) if not isinstance(estimate, torch.Tensor) else estimate)
    ref = ref.detach().to(device=device, dtype=torch.float64)
    est = est.detach().to(device=device, dtype=torch.float64)
    if ref.dim() < 2:
        raise ValueError(
            f"expected reference of shape (..., n_src, time), got {tuple(ref.shape)}; "
            "for a single source use reference[None]"
        )
    if ref.shape != est.shape:
        raise ValueError(
            f"reference {tuple(ref.shape)} and {name} {tuple(est.shape)} must have the same shape "
            "(..., n_src, time); trim or pad them to one length"
        )
    if ref.shape[-1] == 0:
        raise ValueError("reference and estimate are empty (time axis has length 0)")
    if not (torch.isfinite(ref).all() and torch.isfinite(est).all()):
        raise ValueError(f"reference or {name} contains NaN or inf values")
    return ref, est, want_torch, device


def _output(values: torch.Tensor, want_torch: bool) -> Array:
    return values if want_torch else values.cpu().numpy()


def _matched(pairwise_loss: Callable[..., torch.Tensor], reference: Array, estimate: Array,
             return_perm: bool) -> Array | tuple[Array, Array]:
    """Best-permutation metric from a pairwise negative-metric function of voxsep.losses."""
    ref, est, want_torch, _ = _to_float64(reference, estimate)
    lead, (n_src, n_time) = ref.shape[:-2], ref.shape[-2:]
    ref = ref.reshape(-1, n_src, n_time)
    est = est.reshape(-1, n_src, n_time)
    pairwise = pairwise_loss(est, ref, eps=EPS)  # (B, n_est, n_ref)
    _, perm = pit_from_pairwise(pairwise)
    values = -pairwise.gather(1, perm[:, None, :]).squeeze(1)  # indexed by reference
    values = _output(values.reshape(*lead, n_src), want_torch)
    if return_perm:
        return values, _output(perm.reshape(*lead, n_src), want_torch)
    return values


@_single_torch_thread
def si_snr(reference: Array, estimate: Array, *, return_perm: bool = False
           ) -> Array | tuple[Array, Array]:
    """Scale-invariant SNR (SI-SDR of Le Roux et al. 2019) after best-permutation matching.

    ``10 log10(|a s|^2 / |a s - e|^2)`` with zero-mean ``s``, ``e`` and
    ``a = <e, s> / |s|^2``; invariant to the scale of the estimate.

    Args:
        reference: ``(..., n_src, time)`` true sources.
        estimate: ``(..., n_src, time)`` separated signals, in any order.
        return_perm: also return ``perm`` ``(..., n_src)``, the estimate index matched to
            each reference.

    Returns:
        ``(..., n_src)`` SI-SNR in dB per reference (and ``perm`` if asked).

    Raises:
        ValueError: shapes differ, fewer than 2 axes, or non-finite values.
    """
    return _matched(pairwise_neg_si_snr, reference, estimate, return_perm)


@_single_torch_thread
def snr(reference: Array, estimate: Array, *, return_perm: bool = False
        ) -> Array | tuple[Array, Array]:
    """Plain SNR ``10 log10(|s|^2 / |s - e|^2)`` after best-permutation matching.

    Args:
        reference: ``(..., n_src, time)`` true sources.
        estimate: ``(..., n_src, time)`` separated signals, in any order.
        return_perm: also return ``perm`` ``(..., n_src)``.

    Returns:
        ``(..., n_src)`` SNR in dB per reference (and ``perm`` if asked).

    Raises:
        ValueError: shapes differ, fewer than 2 axes, or non-finite values.
    """
    return _matched(pairwise_neg_snr, reference, estimate, return_perm)


@_single_torch_thread
def sdr(reference: Array, estimate: Array, *, filter_length: int = SDR_FILTER_LENGTH,
        permutation: Literal["sir", "sdr"] = "sir", return_perm: bool = False
        ) -> Array | tuple[Array, Array]:
    """BSS-eval SDR, as ``mir_eval.separation.bss_eval_sources`` (Vincent et al. 2006).

    The estimate may be distorted by a ``filter_length``-tap filter of its reference
    without penalty. By default estimates are matched to references by the permutation
    with the highest mean SIR, as bss_eval does; that needs the projection of each
    estimate on *all* references (an ``n_src * filter_length`` system).
    ``permutation="sdr"`` matches by the highest mean SDR instead and skips that system
    (about 3x faster; the same values whenever SIR and SDR prefer the same assignment,
    which is the usual case for separated speech). Computed with ``fast_bss_eval`` in
    float64.

    Args:
        reference: ``(..., n_src, time)`` true sources; none may be all zeros.
        estimate: ``(..., n_src, time)`` separated signals, in any order; none all zeros.
        filter_length: distortion filter length in samples (512 in BSS-eval v3).
        permutation: ``"sir"`` (mir_eval's rule, default) or ``"sdr"``.
        return_perm: also return ``perm`` ``(..., n_src)``, the estimate index matched to
            each reference (mir_eval's ``perm``).

    Returns:
        ``(..., n_src)`` SDR in dB per reference (and ``perm`` if asked). With one source
        (a one-talker set) the SDR is its distortion SDR; there is no SIR to choose by.

    Raises:
        ValueError: shapes differ, a signal is silent (SDR is undefined there, as in
            mir_eval; use :func:`si_snr` / :func:`snr` or drop the example), the signal is
            shorter than ``filter_length``, or values are non-finite.
    """
    import fast_bss_eval

    if permutation not in ("sir", "sdr"):
        raise ValueError(f"permutation must be 'sir' (as mir_eval) or 'sdr', got {permutation!r}")
    ref, est, want_torch, _ = _to_float64(reference, estimate)
    if ref.shape[-1] < filter_length:
        raise ValueError(
            f"signals of {ref.shape[-1]} samples are shorter than the SDR distortion filter "
            f"({filter_length} taps); pass a smaller filter_length or longer signals"
        )
    for name, signal in (("reference", ref), ("estimate", est)):
        silent = (signal == 0).all(-1)
        if silent.any():
            index = tuple(int(i) for i in torch.nonzero(silent)[0])
            raise ValueError(
                f"{name}{list(index)} is all zeros: BSS-eval SDR is undefined for silent "
                "signals; use si_snr/snr, which handle silence, or drop the example"
            )
    if ref.shape[-2] == 1:  # one source: no interference (no SIR) and nothing to permute, which fast_bss_eval's
        # permutation solvers fail on; its SDR of the one pair is what bss_eval_sources gives
        values = -fast_bss_eval.sdr_loss(est, ref, filter_length=filter_length)
        perm = torch.zeros(values.shape, dtype=torch.long)
    elif permutation == "sir":
        values, _, _, perm = fast_bss_eval.bss_eval_sources(ref, est, filter_length=filter_length)
    else:
        values, perm = fast_bss_eval.sdr(ref, est, filter_length=filter_length, return_perm=True)
    values = _output(values, want_torch)
    if return_perm:
        return values, _output(perm, want_torch)
    return values


def _improvement(metric: Callable[..., Array], reference: Array, estimate: Array,
                 mixture: Array, **baseline_kwargs: Any) -> Array:
    ref, est, want_torch, device = _to_float64(reference, estimate)
    mix = mixture if isinstance(mixture, torch.Tensor) else torch.as_tensor(np.asarray(mixture))
    mix = mix.detach().to(device=device, dtype=torch.float64)
    expected = ref.shape[:-2] + ref.shape[-1:]
    if mix.shape != expected:
        raise ValueError(
            f"mixture {tuple(mix.shape)} must have the reference shape without the source axis, "
            f"{tuple(expected)} for reference {tuple(ref.shape)}"
        )
    baseline = mix.unsqueeze(-2).expand_as(ref)
    gain = metric(ref, est) - metric(ref, baseline, **baseline_kwargs)
    return _output(gain, want_torch)


@_single_torch_thread
def si_snr_improvement(reference: Array, estimate: Array, mixture: Array) -> Array:
    """SI-SNRi: ``si_snr(reference, estimate) - si_snr(reference, mixture)``.

    Args:
        reference: ``(..., n_src, time)``.
        estimate: ``(..., n_src, time)``.
        mixture: ``(..., time)`` the unprocessed input.

    Returns:
        ``(..., n_src)`` gain in dB per reference.
    """
    return _improvement(si_snr, reference, estimate, mixture)


@_single_torch_thread
def snr_improvement(reference: Array, estimate: Array, mixture: Array) -> Array:
    """SNRi: ``snr(reference, estimate) - snr(reference, mixture)``; shapes as :func:`si_snr_improvement`."""
    return _improvement(snr, reference, estimate, mixture)


@_single_torch_thread
def sdr_improvement(reference: Array, estimate: Array, mixture: Array) -> Array:
    """SDRi: ``sdr(reference, estimate) - sdr(reference, mixture)``; shapes as :func:`si_snr_improvement`.

    The mixture is scored as the estimate of every source, as in the wsj0-2mix
    recipes of Asteroid and ESPnet. Those estimates are identical, so every assignment
    gives the same values and the baseline skips the SIR-based matching.
    """
    return _improvement(sdr, reference, estimate, mixture, permutation="sdr")
