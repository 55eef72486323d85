"""The GE2E speaker encoder used to keep talkers apart over long files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from voxsep.core.audio import read_audio
from voxsep.inference.speaker import EMBED_RATE, load_voice_encoder

SOUNDS = Path("/usr/share/asterisk/sounds")


def test_mel_front_end_matches_librosa() -> None:
    import librosa

    audio = np.random.default_rng(0).standard_normal(EMBED_RATE).astype(np.float32) * 0.1
    ours = load_voice_encoder().mel_spectrogram(torch.from_numpy(audio)[None])[0].numpy()
    theirs = librosa.feature.melspectrogram(y=audio, sr=EMBED_RATE, n_fft=400, hop_length=160, n_mels=40).T
    error = np.sum((ours - theirs) ** 2) / np.sum(theirs**2)
    assert ours.shape == theirs.shape and 10 * np.log10(1 / error) > 60


@pytest.mark.skipif(not (SOUNDS / "en").is_dir(), reason="asterisk sound packages are not installed")
def test_one_second_pieces_are_closest_to_their_own_voice() -> None:
    encoder = load_voice_encoder()
    voices = {}
    for folder in ("en_US_f_Allison", "it_IT_m_Carlo", "ru_RU_f_IvrvoiceRU", "it_IT_f_Menardi"):
        speech = np.concatenate([read_audio(p, sample_rate=EMBED_RATE, channels=1)[0][0]
                                 for p in sorted((SOUNDS / folder).glob("*.wav"))[10:40]])
        pieces = speech[: 12 * EMBED_RATE].reshape(12, EMBED_RATE)
        pieces = pieces[np.abs(pieces).max(-1) > 0.01]
        voices[folder] = encoder.embed(torch.from_numpy(pieces)).numpy()
    centroids = {name: v[: len(v) // 2].mean(0) for name, v in voices.items()}
    right = total = 0
    for name, vectors in voices.items():
        for vector in vectors[len(vectors) // 2:]:  # pieces not used for the centroids
            right += max(centroids, key=lambda other: float(vector @ centroids[other])) == name
            total += 1
    assert right / total >= 0.9, f"{right} of {total}"
