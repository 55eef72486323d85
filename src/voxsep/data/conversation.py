"""Long recordings of talkers who take turns and overlap, with their references.

:func:`make_conversation` lays each talker's utterances one after another with random
pauses between them, independently per talker, so the talkers overlap sometimes, speak
alone sometimes and are both silent sometimes -- the way people talk in a meeting or a
call. It is the test material of long-recording separation (talker order kept over the
whole file, ``voxsep.metrics.order``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["make_conversation"]


def make_conversation(utterances: Sequence[Sequence[np.ndarray]], seconds: float, sample_rate: int,
                      rng: np.random.Generator, pause: tuple[float, float] = (0.1, 2.5),
                      level_db: float = -25.0, gain_db: Sequence[float] | None = None) -> np.ndarray:
    """Talker tracks ``(n_talkers, time)`` of a conversation ``seconds`` long.

    Args:
        utterances: per talker, a list of mono utterances at ``sample_rate``.
        seconds: length of the recording.
        sample_rate: samples per second.
        rng: random generator (utterance order, pauses, start offsets).
        pause: ``(low, high)`` seconds of silence after each utterance of a talker.
        level_db: active level (dBFS) of every utterance.
        gain_db: per talker level offset (default 0 dB each).

    Returns:
        The talkers' tracks; their sum is the recording.
    """
    from voxsep.core.audio import active_rms

    length = int(round(seconds * sample_rate))
    gains = gain_db if gain_db is not None else [0.0] * len(utterances)
    tracks = np.zeros((len(utterances), length))
    for k, (talker, gain) in enumerate(zip(utterances, gains)):
        if not talker:
            raise ValueError(f"talker {k} has no utterances")
        position = int(rng.uniform(0, pause[1]) * sample_rate)
        order: list[int] = []
        while position < length:
            if not order:
                order = list(rng.permutation(len(talker)))
            utterance = np.asarray(talker[order.pop()], dtype=np.float64)
            level = active_rms(utterance, sample_rate)
            if level > 0:
                utterance = utterance * (10 ** ((level_db + gain) / 20) / level)
            end = min(length, position + utterance.shape[-1])
            tracks[k, position:end] = utterance[: end - position]
            position = end + int(rng.uniform(*pause) * sample_rate)
    return tracks
