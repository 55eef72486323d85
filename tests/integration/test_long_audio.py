"""A long recording through the Separator: no speaker swaps across many chunk boundaries.

The mixture is three minutes of real speech from two talkers (asterisk prompts,
concatenated); a test-only oracle model returns each chunk's true sources in a random
order with random gains and signs, so any swap or level jump would show.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from voxsep.core.audio import read_audio
from voxsep.inference.api import Separator
from voxsep.inference.separate import DEFAULT_CHUNK_SECONDS, DEFAULT_OVERLAP_SECONDS, chunk_bounds

SOUNDS = Path("/usr/share/asterisk/sounds")


def talker(language: str, seconds: float) -> np.ndarray:
    parts, total = [], 0
    for path in sorted((SOUNDS / language).glob("*.wav")):
        audio = read_audio(path, sample_rate=8000, channels=1)[0][0]
        parts.append(audio)
        total += len(audio)
        if total >= seconds * 8000:
            break
    return np.concatenate(parts)[: int(seconds * 8000)]


class ShufflingOracle(torch.nn.Module):
    n_src, sample_rate, in_channels = 2, 8000, 1

    def __init__(self, sources: torch.Tensor) -> None:
        super().__init__()
        self.sources = sources
        self.bounds = chunk_bounds(sources.shape[-1], int(DEFAULT_CHUNK_SECONDS * 8000), int(DEFAULT_OVERLAP_SECONDS * 8000))
        self.rng = np.random.default_rng(0)
        self.calls = 0
        self.first_perm: list[int] = []

    def forward(self, chunk: torch.Tensor) -> torch.Tensor:
        start, end = self.bounds[self.calls]
        self.calls += 1
        perm = list(self.rng.permutation(2))
        self.first_perm = self.first_perm or perm
        gains = torch.tensor(self.rng.uniform(0.01, 100, 2) * self.rng.choice([-1, 1], 2), dtype=torch.float32)
        return (self.sources[perm, start:end] * gains[:, None]).unsqueeze(0)


def test_three_minutes_keep_the_speaker_order_in_every_chunk():
    sources = torch.from_numpy(np.stack([talker("en", 180), talker("ru", 180)]) * 0.5)
    oracle = ShufflingOracle(sources)
    estimates = Separator(oracle, fast=False).separate(sources.sum(0).numpy(), 8000)
    assert oracle.calls == len(oracle.bounds) > 20
    aligned = torch.from_numpy(estimates)[np.argsort(oracle.first_perm)]
    # Score every 2-second window: a swap anywhere would make one window fail.
    window = 16000
    for start in range(0, sources.shape[-1] - window, window):
        ref, est = sources[:, start : start + window].double(), aligned[:, start : start + window].double()
        for i in range(2):
            if ref[i].pow(2).mean() < 1e-6:
                continue  # a silent stretch of this talker
            snr = 10 * torch.log10(ref[i].pow(2).sum() / (ref[i] - est[i]).pow(2).sum().clamp_min(1e-30))
            assert snr > 50, f"talker {i} at {start / 8000:.0f} s: {snr:.1f} dB"
