"""Talker order over a long recording: how often the outputs swap people.

A separated long recording is cut into windows; in every window where all talkers speak,
the order of outputs that best matches the references (summed SI-SNR over the talkers) is
compared with the next best. A window is *clear* when the best order wins by more than
``margin_db``; a *swap* is a clear window whose best order differs from the order most
clear windows agree on (the file's majority order). A user hears a swap as an output
jumping from one person to another.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from voxsep.metrics.sdr import si_snr

__all__ = ["OrderReport", "talker_order_swaps"]


@dataclass
class OrderReport:
    """Per-window talker order of one separated recording.

    Attributes:
        windows: start second of every window judged (all talkers active).
        orders: best order (tuple: reference ``k`` -> output ``order[k]``) per judged window,
            ``None`` where it was not clear.
        si_snr: summed SI-SNR (dB) of the majority order per judged window, divided by the
            number of talkers (mean over talkers).
        majority: the order most clear windows agree on (``None``: no clear window).
    """

    windows: list[float] = field(default_factory=list)
    orders: list[tuple[int, ...] | None] = field(default_factory=list)
    si_snr: list[float] = field(default_factory=list)
    majority: tuple[int, ...] | None = None

    @property
    def clear(self) -> int:
        return sum(order is not None for order in self.orders)

    @property
    def swaps(self) -> int:
        return sum(order is not None and order != self.majority for order in self.orders)

    def swapped_windows(self) -> list[float]:
        return [w for w, order in zip(self.windows, self.orders) if order is not None and order != self.majority]


def _active_seconds(signal: np.ndarray, floor: float, sample_rate: int, frame: int) -> float:
    n = signal.shape[-1] // frame
    energy = (signal[: n * frame].reshape(n, frame) ** 2).mean(1)
    return float((energy >= floor).sum() * frame / sample_rate)


def talker_order_swaps(references: np.ndarray, estimates: np.ndarray, sample_rate: int, window_seconds: float = 4.0,
                       margin_db: float = 12.0, min_active_seconds: float = 1.0,
                       active_db: float = -30.0) -> OrderReport:
    """Count talker swaps of a separated recording against its references (module docstring).

    Args:
        references: ``(n_talkers, time)`` each talker alone.
        estimates: ``(n_outputs, time)`` with ``n_outputs >= n_talkers``.
        sample_rate: their rate.
        window_seconds: window length (windows do not overlap).
        margin_db: summed-SI-SNR lead of the best order over the next for a clear window.
        min_active_seconds: a talker speaks in a window when at least this much of it has
            frame energy within ``active_db`` of that talker's loudest 20 ms frame.

    Returns:
        An :class:`OrderReport`.
    """
    references = np.asarray(references, dtype=np.float64)
    estimates = np.asarray(estimates, dtype=np.float64)
    n_talkers, length = references.shape
    if estimates.shape[0] < n_talkers or estimates.shape[-1] != length:
        raise ValueError(f"estimates {estimates.shape} must hold at least the {n_talkers} talkers of references "
                         f"{references.shape}, same length")
    frame = max(1, int(0.02 * sample_rate))
    floors = []
    for ref in references:
        n = length // frame
        loudest = float((ref[: n * frame].reshape(n, frame) ** 2).mean(1).max())
        floors.append(loudest * 10 ** (active_db / 10))
    orders = list(itertools.permutations(range(estimates.shape[0]), n_talkers))
    window = int(round(window_seconds * sample_rate))
    report = OrderReport()
    sums_per_window = []
    for start in range(0, length - window + 1, window):
        refs, ests = references[:, start: start + window], estimates[:, start: start + window]
        if any(_active_seconds(r, f, sample_rate, frame) < min_active_seconds for r, f in zip(refs, floors)):
            continue
        pair = np.array([[float(si_snr(refs[k:k + 1], ests[j:j + 1])[0]) for j in range(ests.shape[0])]
                         for k in range(n_talkers)])
        sums = np.array([sum(pair[k, order[k]] for k in range(n_talkers)) for order in orders])
        ranked = np.argsort(-sums)
        report.windows.append(start / sample_rate)
        clear = len(orders) == 1 or sums[ranked[0]] - sums[ranked[1]] > margin_db
        report.orders.append(orders[ranked[0]] if clear else None)
        sums_per_window.append(dict(zip(orders, sums)))
    votes = Counter(order for order in report.orders if order is not None)
    report.majority = votes.most_common(1)[0][0] if votes else None
    if report.majority is not None:
        report.si_snr = [sums[report.majority] / n_talkers for sums in sums_per_window]
    return report
