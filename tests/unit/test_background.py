"""Background sound (babble + noise) and single-channel rooms in dynamic mixing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from voxsep.config import Config, validate_config
from voxsep.core.audio import active_rms
from voxsep.data.background import Background, coloured_noise, scale_background
from voxsep.data.datasets import DynamicMixDataset
from voxsep.data.reverb import RoomReverb

SOUNDS = Path("/usr/share/asterisk/sounds")
SPEAKERS = ["en", "fr_CA_f_June", "it", "ru", "es_MX_f_Allison"]
RATE = 8000


def prompts(speaker: str, count: int = 6) -> list[Path]:
    return sorted((SOUNDS / speaker).glob("*.wav"))[20: 20 + 4 * count: 4]


@pytest.mark.parametrize("exponent", [0.0, 1.0, 2.0])
def test_coloured_noise_has_its_spectral_slope(exponent: float) -> None:
    from scipy.signal import welch

    noise = coloured_noise(2**17, exponent, np.random.default_rng(0))
    assert noise.shape == (2**17,) and np.sqrt(np.mean(noise**2)) == pytest.approx(1.0)
    freqs, power = welch(noise, nperseg=4096)
    band = (freqs > 0.005) & (freqs < 0.4)
    slope = np.polyfit(np.log(freqs[band]), np.log(power[band]), 1)[0]
    assert slope == pytest.approx(-exponent, abs=0.15)


def test_scale_background_sets_the_snr_below_the_louder_talker() -> None:
    rng = np.random.default_rng(1)
    talkers = np.stack([0.1 * rng.standard_normal((1, 8000)), 0.3 * rng.standard_normal((1, 8000))])
    babble = 0.5 * rng.standard_normal((2, 1, 8000))
    noise = rng.standard_normal((1, 8000))
    sound = scale_background(talkers, babble, noise, RATE, noise_to_babble_db=-6.0, snr_db=10.0)
    louder = active_rms(talkers[1], RATE)
    assert 20 * np.log10(louder / active_rms(sound, RATE)) == pytest.approx(10.0, abs=0.05)
    # Noise only (no babble) and a silent background.
    alone = scale_background(talkers, np.zeros((0, 1, 8000)), noise, RATE, 0.0, 3.0)
    assert 20 * np.log10(louder / active_rms(alone, RATE)) == pytest.approx(3.0, abs=0.05)
    assert not scale_background(talkers, np.zeros((0, 1, 8000)), 0 * noise, RATE, 0.0, 3.0).any()


def test_background_checks_its_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="probability"):
        Background(probability=1.5)
    with pytest.raises(ValueError, match="babble"):
        Background(babble=(3, 1))
    with pytest.raises(FileNotFoundError, match="noise file"):
        Background(noise_files=[tmp_path / "missing.wav"])


@pytest.mark.skipif(not (SOUNDS / "en").is_dir(), reason="asterisk sound packages are not installed")
def test_dynamic_mix_background_is_babble_of_other_talkers_at_the_drawn_snr() -> None:
    pool = {speaker: prompts(speaker) for speaker in SPEAKERS}
    background = Background(probability=1.0, babble=(2, 2), noise_files=prompts("ru", 1), recorded_share=0.0,
                            snr_db=(5.0, 5.0))
    dataset = DynamicMixDataset(pool, n_src=2, sample_rate=RATE, segment=1.0, examples_per_epoch=4, seed=3,
                                background=background)
    plain = DynamicMixDataset(pool, n_src=2, sample_rate=RATE, segment=1.0, examples_per_epoch=4, seed=3)
    for index in range(4):
        plan = dataset.draw(index)
        babblers = {Path(p).parent.name for p in plan["background"]["babble_utterances"]}
        assert len(babblers) == 2 and not babblers & set(plan["speakers"])
        mixture, sources = dataset[index]
        residual = (mixture - sources.sum(0)).numpy()
        louder = max(active_rms(s.numpy(), RATE) for s in sources)
        assert 20 * np.log10(louder / active_rms(residual, RATE)) == pytest.approx(5.0, abs=0.1)
        assert torch.equal(dataset[index][0], mixture)  # deterministic
        # The talkers are those the plain dataset draws (the background draws after them).
        assert plan["speakers"] == plain.draw(index)["speakers"]


@pytest.mark.skipif(not (SOUNDS / "en").is_dir(), reason="asterisk sound packages are not installed")
def test_single_channel_room_keeps_levels_and_mixes_dry_examples() -> None:
    dry = 0.1 * np.stack([np.asarray(np.random.default_rng(i).standard_normal(4000)) for i in range(2)])
    dry[1] *= 0.3
    reverb = RoomReverb(RATE, rt60=(0.3, 0.5), source_distance=(0.5, 3.0), keep_level=True, max_order=10)
    images = reverb(dry, np.random.default_rng(0))
    for image, source in zip(images, dry):
        assert active_rms(image, RATE) == pytest.approx(active_rms(source, RATE), rel=1e-6)
    sometimes = RoomReverb(RATE, probability=0.5, max_order=10)
    outputs = [sometimes(dry, np.random.default_rng(i)) for i in range(12)]
    kept = [np.array_equal(out[:, 0], dry) for out in outputs]
    assert 0 < sum(kept) < 12
    with pytest.raises(ValueError, match="n_mics=1"):
        RoomReverb(RATE, probability=0.5, n_mics=2)


def test_config_room_and_background_keys() -> None:
    def config(**data: object) -> Config:
        cfg = Config()
        cfg.data.kind = "dynamic"
        for key, value in data.items():
            setattr(cfg.data, key, value)
        return cfg

    validate_config(config(room=0.5, rt60=[0.1, 0.8], background=0.7, babble=[0, 3]))
    with pytest.raises(ValueError, match="data.rt60"):
        validate_config(config(rt60=[0.1, 0.8]))
    with pytest.raises(ValueError, match="data.room"):
        validate_config(config(room=2.0))
    with pytest.raises(ValueError, match="data.babble"):
        validate_config(config(background=0.5, babble=[2, 1]))
    with pytest.raises(ValueError, match="data.room"):
        validate_config(config(room=0.5, hrtf="x.sofa"))
    manifest = config(background=0.5)
    manifest.data.kind = "manifest"
    with pytest.raises(ValueError, match="dynamic"):
        validate_config(manifest)
