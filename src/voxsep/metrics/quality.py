"""Perceptual quality and intelligibility: PESQ and (E)STOI wrappers.

Both need the optional ``eval`` extra (``pip install 'voxsep[eval]'``: PyPI ``pesq`` and
``pystoi``); a clear :class:`ImportError` says so when they are missing. Signals are
already matched to their references (run the permutation matching of
:func:`voxsep.metrics.si_snr` first, e.g. with ``return_perm=True``).

* PESQ (ITU-T P.862, Rix et al. 2001): narrow-band mode at 8 kHz, wide-band (P.862.2)
  at 16 kHz. Other rates are resampled with soxr: to 16 kHz wide-band from above
  16 kHz, to 8 kHz narrow-band between 8 and 16 kHz.
* STOI (Taal et al., IEEE TASLP 2011) and extended STOI (Jensen & Taal 2016); pystoi
  resamples to 10 kHz internally.
"""

from __future__ import annotations

from typing import Any, Callable, Union

import numpy as np

__all__ = ["pesq", "stoi"]

Array = Union[np.ndarray, Any]

_INSTALL_HINT = "install the evaluation extra: pip install 'voxsep[eval]'"


def _import(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError as error:
        raise ImportError(f"{module} is needed for this metric but is not installed; {_INSTALL_HINT}") from error


def _as_pair(reference: Array, estimate: Array) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(reference.detach().cpu() if hasattr(reference, "detach") else reference, dtype=np.float64)
    est = np.asarray(estimate.detach().cpu() if hasattr(estimate, "detach") else estimate, dtype=np.float64)
    if ref.shape != est.shape or ref.ndim == 0:
        raise ValueError(
            f"reference {ref.shape} and estimate {est.shape} must have the same shape (..., time)"
        )
    if not (np.isfinite(ref).all() and np.isfinite(est).all()):
        raise ValueError("reference or estimate contains NaN or inf values")
    return ref, est


def _per_signal(fn: Callable[[np.ndarray, np.ndarray], float], ref: np.ndarray, est: np.ndarray
                ) -> float | np.ndarray:
    lead = ref.shape[:-1]
    flat_ref = ref.reshape(-1, ref.shape[-1])
    flat_est = est.reshape(-1, est.shape[-1])
    values = np.array([fn(r, e) for r, e in zip(flat_ref, flat_est)], dtype=np.float64)
    return float(values[0]) if not lead else values.reshape(lead)


def pesq(reference: Array, estimate: Array, sample_rate: int) -> float | np.ndarray:
    """PESQ MOS-LQO of ``estimate`` against ``reference``.

    Args:
        reference: ``(..., time)`` clean signal (numpy or torch).
        estimate: ``(..., time)`` processed signal, same shape.
        sample_rate: their rate in Hz (>= 8000).

    Returns:
        A float for 1-D inputs, else ``(...)`` float64 array. Narrow-band PESQ (MOS-LQO,
        about -0.5 to 4.5) at 8 kHz, wide-band (about 1.0 to 4.64) at 16 kHz.

    Raises:
        ImportError: ``pesq`` is not installed (``pip install 'voxsep[eval]'``).
        ValueError: shapes differ, the rate is below 8 kHz, or PESQ finds no speech in
            the reference (silent or too short; it needs about 0.25 s or more).
    """
    module = _import("pesq")
    from voxsep.core.audio import resample

    ref, est = _as_pair(reference, estimate)
    if sample_rate < 8000:
        raise ValueError(f"PESQ needs a sample rate of at least 8000 Hz, got {sample_rate}")
    target = 16000 if sample_rate >= 16000 else 8000
    if sample_rate != target:
        ref = resample(ref, sample_rate, target)
        est = resample(est, sample_rate, target)
    mode = "wb" if target == 16000 else "nb"

    def one(r: np.ndarray, e: np.ndarray) -> float:
        if not np.any(r):
            raise ValueError("PESQ is undefined for a silent (all-zero) reference signal")
        try:
            return float(module.pesq(target, r, e, mode))
        except module.PesqError as error:
            raise ValueError(
                f"PESQ failed ({type(error).__name__}: {error}); the reference must contain "
                "speech and be at least ~0.25 s long"
            ) from error

    return _per_signal(one, ref, est)


def stoi(reference: Array, estimate: Array, sample_rate: int, extended: bool = False
         ) -> float | np.ndarray:
    """Short-time objective intelligibility (or extended STOI with ``extended=True``).

    Args:
        reference: ``(..., time)`` clean signal (numpy or torch).
        estimate: ``(..., time)`` processed signal, same shape.
        sample_rate: their rate in Hz.
        extended: compute ESTOI (Jensen & Taal 2016) instead of STOI.

    Returns:
        A float for 1-D inputs, else ``(...)`` float64 array; STOI is in about [0, 1].

    Raises:
        ImportError: ``pystoi`` is not installed (``pip install 'voxsep[eval]'``).
        ValueError: shapes differ or values are not finite.
    """
    module = _import("pystoi")
    ref, est = _as_pair(reference, estimate)
    return _per_signal(lambda r, e: float(module.stoi(r, e, sample_rate, extended=extended)), ref, est)
