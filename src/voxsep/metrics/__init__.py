"""Evaluation metrics, all in ``(reference, estimate)`` order.

* :mod:`voxsep.metrics.sdr` — SI-SNR, SNR, BSS-eval SDR (as mir_eval, via fast_bss_eval)
  and their improvements over the mixture; numpy or torch ``(..., n_src, time)`` ->
  ``(..., n_src)`` dB after best-permutation matching.
* :mod:`voxsep.metrics.quality` — PESQ and STOI wrappers (optional ``voxsep[eval]``).
* :mod:`voxsep.metrics.spatial` — interaural time/level differences for binaural models.
"""

from voxsep.metrics.sdr import (
    sdr,
    sdr_improvement,
    si_snr,
    si_snr_improvement,
    snr,
    snr_improvement,
)
from voxsep.metrics.spatial import binaural_scores, delta_ild, delta_itd, ild, itd

__all__ = [
    "sdr",
    "sdr_improvement",
    "si_snr",
    "si_snr_improvement",
    "snr",
    "snr_improvement",
    "itd",
    "ild",
    "delta_itd",
    "delta_ild",
    "binaural_scores",
]
