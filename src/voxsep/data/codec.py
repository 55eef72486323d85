"""Random lossy codecs for dynamic mixing: the coding that telephone and internet audio adds.

Real talkers often reach a separation model through a speech codec (GSM on mobile and
telephone lines, G.711 µ-law/A-law and ADPCM in telephony, Vorbis/MP3/Opus on the
internet); studio prompts do not. :class:`RandomCodec` puts, with probability
``probability``, every source image of a training mixture through one random codec,
encoding and decoding in memory with libsndfile (via ``soundfile``):

* ``gsm``: GSM 06.10 full rate, 13 kbit/s (8 kHz only) -- the codec of the asterisk prompts;
* ``ulaw`` / ``alaw``: ITU-T G.711 companding, 64 kbit/s;
* ``adpcm``: ITU-T G.721 ADPCM, 32 kbit/s (8 kHz only);
* ``vorbis``: Ogg Vorbis at its lowest quality;
* ``mp3``: MPEG-1/2 Layer III at a low bit rate (compression level 0.9);
* ``opus``: Opus at a low bit rate (compression level 0.9).

Each *source* is coded on its own and the mixture is the sum of the coded sources, as in
the offline corpus' mixtures of coded prompts (the targets are the coded sources, so
``mixture == sum(sources)`` holds, as for :mod:`voxsep.data.channel`). libsndfile's
decoders return the signal without delay (checked by cross-correlation when this was
written), so targets and mixture stay aligned.

It plugs into :class:`voxsep.data.datasets.DynamicMixDataset` (``codec=``) and the
``data.codec_augment`` recipe key.
"""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf

__all__ = ["RandomCodec", "CODECS", "encode_decode"]

#: name -> (libsndfile format, subtype, write options, sample rates it is defined at or None).
CODECS: dict[str, tuple[str, str, dict, tuple[int, ...] | None]] = {
    "gsm": ("WAV", "GSM610", {}, (8000,)),
    "ulaw": ("WAV", "ULAW", {}, None),
    "alaw": ("WAV", "ALAW", {}, None),
    "adpcm": ("WAV", "G721_32", {}, (8000,)),
    "vorbis": ("OGG", "VORBIS", {"compression_level": 1.0}, None),
    "mp3": ("MP3", "MPEG_LAYER_III", {"compression_level": 0.9}, None),
    "opus": ("OGG", "OPUS", {"compression_level": 0.9}, (8000, 12000, 16000, 24000, 48000)),
}

_HEADROOM = 0.95  # integer codecs clip at full scale: code louder signals scaled down to this peak


def encode_decode(audio: np.ndarray, sample_rate: int, codec: str) -> np.ndarray:
    """``audio`` ``(channels, time)`` float through ``codec`` and back, same shape.

    A signal that peaks above 0.95 is scaled down for coding and back up after, so the
    codec never clips it.
    """
    file_format, subtype, options, _ = CODECS[codec]
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    scale = _HEADROOM / peak if peak > _HEADROOM else 1.0
    buffer = io.BytesIO()
    sf.write(buffer, (audio * scale).T.astype(np.float32), sample_rate, format=file_format, subtype=subtype, **options)
    buffer.seek(0)
    decoded, _ = sf.read(buffer, dtype="float64", always_2d=True)
    decoded = decoded.T[:, : audio.shape[-1]]
    if decoded.shape[-1] < audio.shape[-1]:
        decoded = np.pad(decoded, [(0, 0), (0, audio.shape[-1] - decoded.shape[-1])])
    return decoded / scale


class RandomCodec:
    """With probability ``probability``, code every source image with one random codec.

    Args:
        sample_rate: rate of the images, Hz.
        probability: chance that a mixture's sources are coded (0 disables).
        kinds: codecs to draw from, uniformly (keys of :data:`CODECS`); ``None``: all
            that are defined at ``sample_rate``.

    Call with ``(images, rng)``: images ``(n_src, channels, time)`` float, returns the
    coded images, same shape (unchanged when the draw says so).
    """

    def __init__(self, sample_rate: int, probability: float, kinds: tuple[str, ...] | None = None) -> None:
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"codec augmentation probability must be in [0, 1], got {probability}")
        usable = tuple(name for name, (*_, rates) in CODECS.items() if rates is None or sample_rate in rates)
        kinds = usable if kinds is None else tuple(kinds)
        unknown = set(kinds) - set(CODECS)
        if unknown or not kinds:
            raise ValueError(f"unknown codec(s) {sorted(unknown)}; choose from {sorted(CODECS)}")
        unusable = set(kinds) - set(usable)
        if unusable:
            raise ValueError(f"codec(s) {sorted(unusable)} are not defined at {sample_rate} Hz; at this rate use "
                             f"{sorted(usable)}")
        self.sample_rate, self.probability, self.kinds = int(sample_rate), float(probability), kinds

    def draw_codec(self, rng: np.random.Generator) -> str | None:
        """The codec of one mixture, or ``None`` (uncoded)."""
        if rng.random() >= self.probability:
            return None
        return self.kinds[int(rng.integers(len(self.kinds)))]

    def __call__(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        codec = self.draw_codec(rng)
        if codec is None:
            return images
        return np.stack([encode_decode(image, self.sample_rate, codec) for image in images])
