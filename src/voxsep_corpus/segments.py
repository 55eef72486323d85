"""Held-out test sets from long recordings of a few people: cut each person's speech into
segments, then draw two-talker mixtures of segments of two *different* people.

Used by ``benchmarks/radio_voices.py`` (the Codec 2 radio voices); the levels of a mixture
follow :func:`voxsep_corpus.levels.mix_at_levels`, as the offline corpus's do.
"""

from __future__ import annotations

import itertools

import numpy as np


def cut_segments(signal: np.ndarray, sample_rate: int,
                 seconds: tuple[float, float] = (3.0, 5.0)) -> list[np.ndarray]:
    """Consecutive segments of ``seconds[0]``-``seconds[1]`` s, each cut at the quietest 10 ms
    frame between those lengths from the previous cut; a rest shorter than ``seconds[0]`` is dropped."""
    frame = sample_rate // 100
    shortest, longest = (int(s * sample_rate) for s in seconds)
    segments, start = [], 0
    while signal.size - start >= shortest:
        if signal.size - start <= longest:
            segments.append(signal[start:])
            break
        window = signal[start + shortest:start + longest]
        n = window.size // frame
        energy = (window[: n * frame].reshape(n, frame).astype(np.float64) ** 2).mean(axis=1)
        stop = start + shortest + int(np.argmin(energy)) * frame + frame // 2
        segments.append(signal[start:stop])
        start = stop
    return segments


def draw_pairs(counts: dict[str, int], n: int, seed: int = 0, gain_db: float = 2.5
               ) -> list[tuple[tuple[str, int], tuple[str, int], float]]:
    """``n`` mixtures ``((speaker, segment), (speaker, segment), g)`` of two different speakers.

    ``counts`` maps a speaker to its number of segments. A speaker pair is drawn uniformly
    among those with an unused pair of segments, then one of its unused segment pairs;
    which talker is first is random; ``g`` is uniform in ``[-gain_db, gain_db]``.

    Raises:
        ValueError: fewer than ``n`` distinct segment pairs of different speakers.
    """
    rng = np.random.default_rng(seed)
    speakers = sorted(s for s, c in counts.items() if c > 0)
    unused = {pair: [(i, j) for i in range(counts[pair[0]]) for j in range(counts[pair[1]])]
              for pair in itertools.combinations(speakers, 2)}
    if sum(len(v) for v in unused.values()) < n:
        raise ValueError(f"only {sum(len(v) for v in unused.values())} pairs of segments of two speakers, "
                         f"{n} mixtures asked")
    mixtures = []
    while len(mixtures) < n:
        pairs = [pair for pair, left in unused.items() if left]
        pair = pairs[rng.integers(len(pairs))]
        i, j = unused[pair].pop(rng.integers(len(unused[pair])))
        first, second = ((pair[0], i), (pair[1], j)) if rng.random() < 0.5 else ((pair[1], j), (pair[0], i))
        mixtures.append((first, second, float(rng.uniform(-gain_db, gain_db))))
    return mixtures
