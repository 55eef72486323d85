"""Spectrogram images for ``voxsep serve``: a numpy STFT, a colour map and a PNG encoder
of our own (no matplotlib, no Pillow), so the page works offline with voxsep's own
dependencies."""

from __future__ import annotations

import struct
import zlib

import numpy as np

# Anchor colours of a perceptually ordered map (dark blue -> teal -> yellow), interpolated.
_ANCHORS = np.array([
    [13, 8, 40], [59, 15, 112], [130, 38, 129], [196, 59, 113], [243, 110, 80], [252, 190, 110], [252, 253, 191],
], dtype=np.float64)


def colour_map(values: np.ndarray) -> np.ndarray:
    """``values`` in [0, 1] (any shape) -> uint8 RGB, shape ``values.shape + (3,)``."""
    v = np.clip(np.nan_to_num(values), 0.0, 1.0) * (len(_ANCHORS) - 1)
    low = np.floor(v).astype(int).clip(0, len(_ANCHORS) - 2)
    frac = (v - low)[..., None]
    rgb = _ANCHORS[low] * (1 - frac) + _ANCHORS[low + 1] * frac
    return np.round(rgb).astype(np.uint8)


def encode_png(rgb: np.ndarray) -> bytes:
    """An 8-bit RGB PNG of ``rgb`` (height, width, 3) uint8."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected (height, width, 3) uint8, got {rgb.shape} {rgb.dtype}")
    height, width = rgb.shape[:2]
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rgb.reshape(height, width * 3)], axis=1).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def log_spectrogram(audio: np.ndarray, sample_rate: int, n_fft: int = 512, max_columns: int = 800) -> np.ndarray:
    """Power in dB, shape ``(n_fft // 2 + 1, columns)``; the hop is chosen so that a long
    file gives at most ``max_columns`` columns (Hann window)."""
    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    if audio.size < n_fft:
        audio = np.pad(audio, (0, n_fft - audio.size))
    hop = max(n_fft // 4, int(np.ceil((audio.size - n_fft) / max(max_columns - 1, 1))))
    starts = np.arange(0, audio.size - n_fft + 1, hop)
    window = np.hanning(n_fft)
    frames = np.stack([audio[s:s + n_fft] for s in starts]) * window
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    return (10 * np.log10(power + 1e-12)).T


def spectrogram_png(audio: np.ndarray, sample_rate: int, top_db: float | None = None, dynamic_range: float = 80.0,
                    height: int = 160) -> tuple[bytes, float]:
    """A PNG of ``audio``'s spectrogram (low frequencies at the bottom), ``dynamic_range``
    dB below ``top_db`` (default: the image's own maximum). Returns ``(png, top_db)`` so
    that other images can share the mixture's scale."""
    db = log_spectrogram(audio, sample_rate)
    if top_db is None:
        top_db = float(db.max())
    scaled = (db - (top_db - dynamic_range)) / dynamic_range
    # rows: resample the frequency axis to ``height`` rows by taking the nearest bin
    rows = np.linspace(0, db.shape[0] - 1, height).round().astype(int)
    image = colour_map(scaled[rows][::-1])
    return encode_png(np.ascontiguousarray(image)), top_db
