"""Binaural training plumbing: the dynamic binaural mixing keys of ``DataConfig`` and
their errors, ``build_spatializer`` (model channels vs mixing), and the validation score
that selects best.pt / halves the learning rate (SNRi for the SNR loss, SI-SNRi for the
SI-SNR loss)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import Dataset

from voxsep import checkpoint
from voxsep.config import config_from_dict
from voxsep.data.spatial import KEMAR_SOFA
from voxsep.train import trainer
from voxsep.data.build import build_spatializer
from voxsep.train.trainer import selection_metric, train

SOUNDS = Path("/usr/share/asterisk/sounds")
TINY = {"n_filters": 16, "kernel_size": 16, "bottleneck": 8, "hidden": 16, "skip": 8, "n_blocks": 2, "n_repeats": 1}


def _config(model: str = "binaural_parallel", **data):
    values = {"data": {"kind": "dynamic", "pool": "pool.csv", "valid": "valid", "segment": 0.5, **data},
              "model": {"name": model}}
    return config_from_dict(values)


def test_binaural_data_keys_are_validated():
    config = _config(hrtf=str(KEMAR_SOFA), min_separation=20, rt60=[0.2, 0.5], azimuth_range=[-60, 60])
    assert config.data.min_separation == 20.0 and config.data.rt60 == [0.2, 0.5]
    with pytest.raises(ValueError, match="data.kind=dynamic"):
        config_from_dict({"data": {"kind": "folder", "train": "t", "valid": "v", "hrtf": str(KEMAR_SOFA)},
                          "model": {"name": "binaural_parallel"}})
    with pytest.raises(ValueError, match="min_separation"):
        _config(hrtf=str(KEMAR_SOFA), min_separation=200)
    with pytest.raises(ValueError, match="data.rt60"):
        _config(hrtf=str(KEMAR_SOFA), rt60=[0.6, 0.2])
    with pytest.raises(ValueError, match="needs data.hrtf"):
        _config(rt60=[0.2, 0.4])
    with pytest.raises(ValueError, match="elevation_range"):
        _config(hrtf=str(KEMAR_SOFA), elevation_range=[-100, 10])
    with pytest.raises(ValueError, match="hrft.*hrtf|hrtf"):  # a typo lists the valid keys
        _config(hrft=str(KEMAR_SOFA))


def test_spatializer_follows_the_config_and_checks_the_model():
    spatializer = build_spatializer(_config(hrtf=str(KEMAR_SOFA), min_separation=40, elevation_range=[0, 0]))
    assert spatializer.min_separation == 40.0 and spatializer.sample_rate == 8000
    assert np.allclose(spatializer.hrirs.elevations, 0.0)
    images = spatializer(np.random.default_rng(0).standard_normal((2, 800)), np.random.default_rng(1))
    assert images.shape == (2, 2, 800)
    assert build_spatializer(_config("conv_tasnet")) is None
    with pytest.raises(ValueError, match="binaural model"):
        build_spatializer(_config("conv_tasnet", hrtf=str(KEMAR_SOFA)))
    with pytest.raises(ValueError, match="set data.hrtf"):
        build_spatializer(_config("binaural_parallel"))
    with pytest.raises(FileNotFoundError, match="MIT_KEMAR"):
        build_spatializer(_config(hrtf="/nonexistent/kemar.sofa"))


# --------------------------------------------------------------------------- selection metric
class SpeechMixtures(Dataset):
    """The English and French asterisk speakers, fixed 0.5-s crops."""

    def __init__(self, count: int, offset: int = 0) -> None:
        talkers = []
        for folder in ("en", "fr_CA_f_June"):
            clips = [sf.read(p, dtype="float32")[0] for p in sorted((SOUNDS / folder).glob("*.wav"))[offset:]]
            talkers.append([c[:4000] for c in clips if c.size >= 4000][:count])
        self.sources = torch.from_numpy(np.stack([np.stack(t) for t in talkers], axis=1))

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, index: int):
        return self.sources[index].sum(0), self.sources[index]


def _scripted(values):
    """A stand-in for a batch metric: the next scripted value at each call (the valid set
    below is one batch, so one call per validation)."""
    calls = iter(values)

    def metric(estimates, sources, mixture):
        return torch.full((mixture.shape[0],), next(calls))

    return metric


def _selection_config(loss: str, max_steps: int):
    return config_from_dict({
        "data": {"kind": "manifest", "train": "in-memory", "valid": "in-memory", "batch_size": 2, "num_workers": 0,
                 "segment": 0.5, "valid_segment": 0.5, "valid_batch_size": 4},
        "model": {"name": "conv_tasnet", "args": TINY},
        "loss": {"kind": loss},
        "optim": {"lr": 1e-3},
        "schedule": {"patience": 1, "factor": 0.5, "early_stop_patience": 0},
        "train": {"epochs": 1, "max_steps": max_steps, "valid_every_steps": 1, "seed": 0, "device": "cpu",
                  "num_threads": 1},
        "log": {"tensorboard": False, "log_every": 1000},
    })


@pytest.mark.parametrize("loss", ["snr", "si_snr"])
def test_best_checkpoint_and_lr_halving_follow_the_loss_metric(tmp_path, monkeypatch, loss):
    # Three validations where SI-SNRi and SNRi disagree: SI-SNRi is best at step 2,
    # SNRi at step 3 (and drops at step 2, which halves the lr with patience 1).
    si_snri, snri = [5.0, 6.0, 4.0], [1.0, 0.0, 2.0]
    monkeypatch.setattr(trainer, "batch_si_snri", _scripted(si_snri))
    monkeypatch.setattr(trainer, "batch_snri", _scripted(snri))
    config = _selection_config(loss, max_steps=3)
    expected = "snri" if loss == "snr" else "si_snri"
    assert selection_metric(config) == expected
    result = train(config, tmp_path, train_set=SpeechMixtures(6), valid_set=SpeechMixtures(4, offset=40))
    assert [h["si_snri"] for h in result.history] == si_snri and [h["snri"] for h in result.history] == snri
    assert result.metric == expected and all(h["metric"] == expected for h in result.history)
    chosen = snri if loss == "snr" else si_snri
    best_step = 1 + int(np.argmax(chosen))
    assert result.best_score == max(chosen) and result.best_si_snri == max(si_snri)
    _, meta = checkpoint.load(tmp_path / "best.pt")
    assert meta["step"] == best_step and meta["valid_metric"] == expected and meta["valid_score"] == max(chosen)
    assert meta["valid_snri"] == snri[best_step - 1] and meta["valid_si_snri"] == si_snri[best_step - 1]
    # lr halves after the first validation without improvement of the chosen metric
    lrs = [h["lr"] for h in result.history]
    halved_at = 1 if loss == "snr" else 2
    assert lrs[halved_at] == pytest.approx(5e-4) and all(lr == pytest.approx(1e-3) for lr in lrs[:halved_at])
    log = (tmp_path / "train.log").read_text()
    name = "SNRi" if loss == "snr" else "SI-SNRi"
    assert f"follow validation {name}" in log
    assert f"validation at step 3 (epoch 1): {name} {chosen[2]:.2f} dB" in log


def test_resuming_with_another_selection_metric_starts_the_best_score_afresh(tmp_path, monkeypatch):
    train_set, valid_set = SpeechMixtures(6), SpeechMixtures(4, offset=40)
    monkeypatch.setattr(trainer, "batch_si_snri", _scripted([5.0, 6.0, 4.0]))
    monkeypatch.setattr(trainer, "batch_snri", _scripted([1.0, 0.0, -3.0]))
    train(_selection_config("si_snr", max_steps=2), tmp_path, train_set=train_set, valid_set=valid_set)
    assert checkpoint.load(tmp_path / "best.pt")[1]["step"] == 2  # SI-SNRi 6.0
    # the same experiment resumed with the SNR loss: SNRi -3.0 is its first (best) score,
    # not compared with the SI-SNRi 6.0 of the first part
    result = train(_selection_config("snr", max_steps=3), tmp_path, resume=True, train_set=train_set,
                   valid_set=valid_set)
    _, meta = checkpoint.load(tmp_path / "best.pt")
    assert meta["step"] == 3 and meta["valid_metric"] == "snri" and meta["valid_score"] == -3.0
    assert result.best_score == -3.0
    assert "start afresh" in (tmp_path / "train.log").read_text()
