"""Random lossy codecs (``voxsep.data.codec``): each codec really codes (distorts by the
amount its bit rate implies, keeps the time alignment), every source is coded on its own,
and dynamic mixing keeps mixture == sum(sources)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from voxsep.data.codec import CODECS, RandomCodec, encode_decode


def _speechlike(seconds: float = 1.0, sample_rate: int = 8000, seed: int = 0) -> np.ndarray:
    """Coloured noise with a syllable-rate envelope, ``(1, time)``, peak ~0.3."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    x = signal.lfilter([1.0], [1.0, -0.9], rng.standard_normal(n))
    x *= 0.5 + 0.5 * np.sin(2 * np.pi * 4 * np.arange(n) / sample_rate) ** 2
    return (0.3 * x / np.abs(x).max())[None]


def _snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference**2) / np.sum((estimate - reference) ** 2)))


@pytest.mark.parametrize("codec", sorted(CODECS))
def test_each_codec_distorts_as_much_as_its_bit_rate_implies_and_keeps_alignment(codec):
    audio = _speechlike()
    coded = encode_decode(audio, 8000, codec)
    assert coded.shape == audio.shape
    snr = _snr_db(audio, coded)
    # measured when written: gsm ~10, mp3 ~9-14, vorbis ~12, opus ~17, adpcm ~26, G.711 ~37 dB
    assert 3.0 < snr < 45.0, snr
    # aligned: the best lag of the cross-correlation is zero
    lags = signal.correlation_lags(coded.shape[-1], audio.shape[-1])
    assert lags[np.argmax(signal.correlate(coded[0], audio[0]))] == 0


def test_a_loud_signal_is_not_clipped_by_integer_codecs():
    audio = _speechlike() * (1.4 / 0.3)  # peak 1.4: would clip at full scale
    assert _snr_db(audio, encode_decode(audio, 8000, "ulaw")) > 30


def test_every_source_is_coded_on_its_own_and_probability_zero_is_identity():
    images = np.stack([_speechlike(seed=1), _speechlike(seed=2)])  # (n_src, channels, time)
    assert RandomCodec(8000, 0.0)(images, np.random.default_rng(0)) is images
    codec = RandomCodec(8000, 1.0, kinds=("gsm",))
    coded = codec(images, np.random.default_rng(0))
    for image, result in zip(images, coded):
        assert np.allclose(result, encode_decode(image, 8000, "gsm"))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        RandomCodec(8000, -0.1)
    with pytest.raises(ValueError, match="unknown codec"):
        RandomCodec(8000, 0.5, kinds=("amr",))
    with pytest.raises(ValueError, match="not defined at 16000 Hz"):
        RandomCodec(16000, 0.5, kinds=("gsm",))
    assert "gsm" not in RandomCodec(16000, 0.5).kinds and "gsm" in RandomCodec(8000, 0.5).kinds


def test_dynamic_mixing_with_a_codec_keeps_mixture_equal_to_sum(check_augmented_mixing):
    check_augmented_mixing(codec=RandomCodec(8000, 1.0))


def test_recipe_keys_reach_the_dataset(offline_corpus, mix2_manifests):
    """data.codec_augment (and data.voice_augment, voxsep.data.voice) build the augmentations."""
    from voxsep.config import config_from_dict
    from voxsep.data.build import build_datasets
    from voxsep.data.voice import RandomVoice

    data = {"kind": "dynamic", "pool": str(offline_corpus / "wav8k" / "utterances_train.csv"),
            "valid": str(mix2_manifests["valid"]), "codec_augment": 0.5, "voice_augment": 0.25}
    train_set, _ = build_datasets(config_from_dict({"data": data}))
    assert isinstance(train_set.codec, RandomCodec) and train_set.codec.probability == 0.5
    assert isinstance(train_set.voice, RandomVoice) and train_set.voice.probability == 0.25
    for key in ("codec_augment", "voice_augment"):
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            build_datasets(config_from_dict({"data": {**data, key: -0.5}}))
