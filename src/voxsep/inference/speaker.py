"""Who is talking: a speaker embedding (d-vector) for keeping talkers apart over long files.

:class:`VoiceEncoder` is the GE2E speaker encoder (Wan et al., 2018, "Generalized
end-to-end loss for speaker verification"): 40 mel bands of 16 kHz speech (25 ms windows,
10 ms hop), three LSTM layers of 256 units, the last hidden state through a linear layer
and a ReLU, L2-normalised to a 256-dimensional *d-vector*. Two stretches of speech of the
same person have d-vectors with a high cosine similarity.

The weights are the pretrained ones that the PyPI package ``resemblyzer`` ships
(``resemblyzer/pretrained.pt``, trained on LibriSpeech, VoxCeleb 1 and 2 by Resemble AI;
Apache-2.0). voxsep reads that file with ``torch.load(weights_only=True)`` and runs its
own module and mel front end; it never imports the package (whose voice-activity
detector needs ``pkg_resources``). 1-second pieces of four asterisk voices (three women,
a man) are assigned to their own voice at least 90 % of the time
(``tests/unit/test_speaker.py``).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = ["EMBED_RATE", "VoiceEncoder", "VoiceEncoderUnavailable", "load_voice_encoder", "voice_encoder_weights",
           "voice_vectors"]

EMBED_RATE = 16000
N_FFT, HOP, N_MELS = 400, 160, 40  # 25 ms windows, 10 ms hop at 16 kHz
#: Level every piece is brought to before its mel spectrum (the encoder was trained at it).
LEVEL_DBFS = -30.0


class VoiceEncoderUnavailable(RuntimeError):
    """The pretrained speaker-encoder weights are not installed."""


def voice_encoder_weights() -> Path:
    """Path of the pretrained GE2E weights of the ``resemblyzer`` package.

    Raises:
        VoiceEncoderUnavailable: the package is not installed.
    """
    spec = importlib.util.find_spec("resemblyzer")
    path = Path(spec.origin).parent / "pretrained.pt" if spec and spec.origin else None
    if path is None or not path.is_file():
        raise VoiceEncoderUnavailable("the speaker encoder's weights come with the PyPI package 'resemblyzer', which "
                                      "is not installed (pip install resemblyzer)")
    return path


class VoiceEncoder(nn.Module):
    """GE2E d-vector encoder.

    Shapes:
        ``forward(mels (batch, frames, 40)) -> (batch, 256)`` unit vectors;
        ``embed(audio (batch, samples) at 16 kHz) -> (batch, 256)``.
    """

    def __init__(self, hidden: int = 256, layers: int = 3, embedding: int = 256) -> None:
        super().__init__()
        self.lstm = nn.LSTM(N_MELS, hidden, layers, batch_first=True)
        self.linear = nn.Linear(hidden, embedding)
        self.register_buffer("mel_filters", torch.from_numpy(_mel_filters()).float(), persistent=False)
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(mels)
        embedding = torch.relu(self.linear(hidden[-1]))
        return embedding / embedding.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    def mel_spectrogram(self, audio: torch.Tensor) -> torch.Tensor:
        """Mel power spectrum ``(batch, frames, 40)`` of ``audio (batch, samples)`` at 16 kHz,
        as ``librosa.feature.melspectrogram(sr=16000, n_fft=400, hop_length=160, n_mels=40)``."""
        spec = torch.stft(audio, N_FFT, HOP, window=self.window, center=True, pad_mode="constant",
                          return_complex=True).abs().pow(2)  # (batch, bins, frames)
        return torch.einsum("mf,bft->btm", self.mel_filters, spec)

    @torch.inference_mode()
    def embed(self, audio: torch.Tensor) -> torch.Tensor:
        """d-vectors ``(batch, 256)`` of pieces ``(batch, samples)`` at 16 kHz (each piece
        brought to ``LEVEL_DBFS`` RMS first)."""
        audio = audio.float()
        rms = audio.pow(2).mean(-1, keepdim=True).sqrt().clamp_min(1e-9)
        audio = audio * (10.0 ** (LEVEL_DBFS / 20.0) / rms)
        return self(self.mel_spectrogram(audio))


def _slaney_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (Auditory Toolbox): linear to 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3)
    return np.where(hz >= 1000.0, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0), linear)


def _slaney_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)), mel * (200.0 / 3))


def _mel_filters() -> np.ndarray:
    """Area-normalised triangular filters ``(40, 201)`` on Slaney's mel scale from 0 Hz to
    Nyquist: the filters of ``librosa.filters.mel(sr=16000, n_fft=400, n_mels=40)`` that
    the encoder was trained with (checked against librosa in the tests)."""
    freqs = np.linspace(0, EMBED_RATE / 2, N_FFT // 2 + 1)
    edges = _slaney_hz(np.linspace(_slaney_mel(0.0), _slaney_mel(EMBED_RATE / 2), N_MELS + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - freqs[None, :]
    rising, falling = -ramps[:-2] / widths[:-1, None], ramps[2:] / widths[1:, None]
    return np.maximum(0.0, np.minimum(rising, falling)) * (2.0 / (edges[2:] - edges[:-2]))[:, None]


@functools.lru_cache(maxsize=1)
def load_voice_encoder() -> VoiceEncoder:
    """The pretrained encoder (loaded once per process), in eval mode on the CPU."""
    state = torch.load(voice_encoder_weights(), map_location="cpu", weights_only=True)["model_state"]
    encoder = VoiceEncoder()
    encoder.load_state_dict({k: v for k, v in state.items() if k.startswith(("lstm.", "linear."))})
    return encoder.eval()


def voice_vectors(pieces: np.ndarray, sample_rate: int) -> np.ndarray:
    """Unit d-vectors ``(k, 256)`` of mono ``pieces (k, samples)`` at ``sample_rate``
    (resampled to ``EMBED_RATE`` first), with the pretrained encoder.

    Raises:
        VoiceEncoderUnavailable: the encoder's weights are not installed.
    """
    from voxsep.core.audio import resample

    if sample_rate != EMBED_RATE:
        pieces = np.stack([resample(piece, sample_rate, EMBED_RATE) for piece in pieces])
    return load_voice_encoder().embed(torch.from_numpy(np.ascontiguousarray(pieces, dtype=np.float32))).numpy()

