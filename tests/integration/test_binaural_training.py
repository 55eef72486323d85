"""Binaural sets from the offline corpus, the Binaural-WSJ0Mix reader, the two-ear SNR loss,
and a short training of the MIMO TasNet that must improve SNRi."""

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from voxsep_corpus.binaural import build_binaural, load_binaural_wsj0mix
from voxsep.data.spatial import angular_distance
from voxsep.metrics.spatial import binaural_scores, itd

MIN_SEPARATION = 30.0


@pytest.fixture(scope="module")
def binaural_sets(offline_corpus: Path, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("binaural") / "sets"
    build_binaural(output, corpus=offline_corpus, n_src=[2], counts={"train": 16, "valid": 4, "test": 4},
                   min_separation=MIN_SEPARATION, seed=0, jobs=1)
    return output


def test_prepared_sets_are_two_ear_mixtures_of_spatialised_talkers(binaural_sets):
    root = binaural_sets / "2speakers" / "wav8k" / "min"
    assert (binaural_sets / "README.md").exists()
    for code, count in (("tr", 16), ("cv", 4), ("tt", 4)):
        with open(root / f"{code}_directions.csv", newline="") as handle:
            directions = {row["mixture_ID"]: row for row in csv.DictReader(handle)}
        assert len(directions) == count and len(list((root / code / "mix").glob("*.wav"))) == count
    for name, row in directions.items():  # the test split
        mix, rate = sf.read(root / "tt" / "mix" / f"{name}.wav", always_2d=True)
        s1, _ = sf.read(root / "tt" / "s1" / f"{name}.wav", always_2d=True)
        s2, _ = sf.read(root / "tt" / "s2" / f"{name}.wav", always_2d=True)
        assert rate == 8000 and mix.shape[1] == 2 and s1.shape == mix.shape
        np.testing.assert_allclose(mix, s1 + s2, atol=3 / 2**15)  # PCM_16 rounding of three files
        az = [float(row["azimuth_1"]), float(row["azimuth_2"])]
        el = [float(row["elevation_1"]), float(row["elevation_2"])]
        assert angular_distance(az[0], el[0], az[1], el[1]) >= MIN_SEPARATION - 1e-6
        for source, azimuth in zip((s1, s2), az):
            if abs(azimuth) >= 20:  # lateral talkers: ITD sign = side (+ = left)
                assert np.sign(itd(source.T, rate)) == np.sign(azimuth)


def test_rebuilding_resumes_without_rewriting(binaural_sets, offline_corpus):
    mix = next((binaural_sets / "2speakers" / "wav8k" / "min" / "tt" / "mix").glob("*.wav"))
    before = mix.stat().st_mtime_ns
    build_binaural(binaural_sets, corpus=offline_corpus, n_src=[2], counts={"train": 16, "valid": 4, "test": 4},
                   min_separation=MIN_SEPARATION, seed=0, jobs=1)
    assert mix.stat().st_mtime_ns == before
    with pytest.raises(FileExistsError, match="other settings"):
        build_binaural(binaural_sets, corpus=offline_corpus, n_src=[2], counts={"train": 16, "valid": 4, "test": 4},
                       min_separation=45.0, seed=0, jobs=1)


def test_reader_of_a_binaural_wsj0mix_layout(binaural_sets, tmp_path):
    from voxsep.data.datasets import MixtureDataset

    # The published layout: <root>/2speakers/wav8k/min/tt/{mix,s1,s2}, no manifests.
    published = tmp_path / "binaural-wsj0mix"
    shutil.copytree(binaural_sets / "2speakers" / "wav8k" / "min" / "tt", published / "2speakers/wav8k/min/tt")
    records = load_binaural_wsj0mix(published, n_src=2, sample_rate=8000, split="test")
    assert len(records) == 4
    mixture, sources = MixtureDataset(records, n_src=2, sample_rate=8000, train=False)[0]
    assert mixture.shape[0] == 2 and sources.shape == (2, 2, mixture.shape[1])
    with pytest.raises(FileNotFoundError, match="cv"):
        load_binaural_wsj0mix(published, n_src=2, split="valid")
    # A single-channel wsj0-2mix folder is not a binaural set.
    mono = tmp_path / "wsj0-2mix" / "tt"
    for folder in ("mix", "s1", "s2"):
        (mono / folder).mkdir(parents=True)
        sf.write(mono / folder / "a.wav", np.zeros(800), 8000)
    with pytest.raises(ValueError, match="stereo"):
        load_binaural_wsj0mix(mono, n_src=2)


def test_snr_pit_loss_scores_both_ears_together():
    from voxsep.losses import PITLoss

    torch.manual_seed(0)
    sources = torch.randn(3, 2, 2, 400)
    estimates = sources.flip(1) + 0.1 * torch.randn(3, 2, 2, 400)
    right_level_kept, _ = PITLoss(kind="snr")(estimates, sources)
    estimates[:, :, 1] *= 0.5  # right ears too quiet: ILD wrong, SNR must see it
    loss, perm = PITLoss(kind="snr")(estimates, sources)
    assert (perm == torch.tensor([1, 0])).all()
    aligned = estimates.flip(1)
    by_hand = 10 * torch.log10(sources.pow(2).sum((2, 3)) / (sources - aligned).pow(2).sum((2, 3)))
    torch.testing.assert_close(loss, -by_hand.mean(), rtol=1e-4, atol=1e-4)
    assert float(loss) > float(right_level_kept) + 10.0  # ~9 dB instead of ~20 dB


def _scores(model, folder: Path) -> dict[str, float]:
    from voxsep.data.datasets import MixtureDataset

    dataset = MixtureDataset(folder, n_src=2, sample_rate=8000, train=False)
    totals: dict[str, list[float]] = {}
    model.eval()
    with torch.no_grad():
        for mixture, sources in dataset:
            scores = binaural_scores(sources, model(mixture[None])[0], mixture, 8000)
            for key, values in scores.items():
                totals.setdefault(key, []).append(float(np.mean(values)))
    return {key: float(np.mean(values)) for key, values in totals.items()}


@pytest.mark.slow
def test_short_training_of_the_mimo_tasnet_improves_snri(binaural_sets, tmp_path):
    from voxsep import checkpoint, models
    from voxsep.config import Config, DataConfig, LogConfig, LossConfig, ModelConfig, OptimConfig, TrainConfig
    from voxsep.train.trainer import train

    root = binaural_sets / "2speakers" / "wav8k" / "min"
    args = dict(n_filters=32, kernel_size=16, bottleneck=32, hidden=64, n_blocks=4, n_repeats=1,
                feature_window=128, feature_channels=16)
    config = Config(
        data=DataConfig(kind="folder", train=str(root / "tr"), valid=str(root / "cv"), n_src=2, segment=0.5,
                        batch_size=4, num_workers=0),
        model=ModelConfig(name="binaural_parallel", args=args),
        loss=LossConfig(kind="snr"),
        optim=OptimConfig(lr=5e-3),
        train=TrainConfig(epochs=100, max_steps=100, seed=0, valid_every_steps=100, device="cpu", num_threads=1),
        log=LogConfig(tensorboard=False, audio_examples=0, log_every=50),
    )
    torch.manual_seed(0)
    before = _scores(models.build("binaural_parallel", n_src=2, **args), root / "tt")
    train(config, tmp_path / "exp")
    model, _ = checkpoint.load(tmp_path / "exp" / "last.pt")
    after = _scores(model, root / "tt")
    # ~100 steps of 4 x 0.5 s reach about +3 dB from about -0.6 dB at initialisation.
    assert after["snri"] > before["snri"] + 2.0, (before, after)
    assert after["snri"] > 1.0, after
    assert np.isfinite(after["delta_itd_us"]) and np.isfinite(after["delta_ild_db"])


def test_dynamic_binaural_mixing_recipe_trains(binaural_sets, offline_corpus, tmp_path):
    """recipes/binaural/parallel_dynamic.yaml (KEMAR SOFA + offline pool) with a tiny model:
    the datasets are two-ear and a couple of optimiser steps run and save a checkpoint."""
    from voxsep import checkpoint
    from voxsep.config import load_config
    from voxsep.data.build import build_datasets
    from voxsep.train.trainer import train

    recipe = Path(__file__).resolve().parents[2] / "recipes" / "binaural" / "parallel_dynamic.yaml"
    overrides = [
        f"data.pool={offline_corpus / 'wav8k' / 'utterances_train.csv'}",
        f"data.valid={binaural_sets / '2speakers' / 'wav8k' / 'min' / 'cv'}",
        "data.segment=0.5", "data.examples_per_epoch=8", "data.num_workers=0", "data.min_separation=30",
        "model.args.n_filters=16", "model.args.bottleneck=8", "model.args.hidden=16", "model.args.n_blocks=2",
        "model.args.n_repeats=1", "model.args.feature_window=64", "model.args.feature_channels=8",
        "train.max_steps=2", "train.valid_every_steps=2", "train.device=cpu", "train.num_threads=1",
        "log.tensorboard=false", "log.audio_examples=0",
    ]
    config = load_config(recipe, overrides)
    assert config.data.hrtf.endswith(".sofa") and config.model.name == "binaural_parallel"
    train_set, valid_set = build_datasets(config)
    mixture, sources = train_set[0]
    assert mixture.shape == (2, 4000) and sources.shape == (2, 2, 4000)
    torch.testing.assert_close(mixture, sources.sum(0), atol=1e-5, rtol=0)
    spatializer = train_set.spatializer
    azimuths = [a for a, _ in spatializer.last_directions]
    elevations = [e for _, e in spatializer.last_directions]
    assert angular_distance(azimuths[0], elevations[0], azimuths[1], elevations[1]) >= 30 - 1e-6
    result = train(config, tmp_path / "exp")
    assert result.step == 2 and result.history and np.isfinite(result.history[-1]["snri"])
    model, meta = checkpoint.load(tmp_path / "exp" / "last.pt")
    assert model.in_channels == 2 and meta["train_config"]["data"]["hrtf"] == config.data.hrtf
