"""The training loop on a tiny Conv-TasNet and an in-memory set of real-speech mixtures:
loss falls, resume is bit-for-bit, NaN steps are skipped then abort, Ctrl-C writes
last.pt, fine-tuning checks the architecture, schedule arithmetic."""

from __future__ import annotations

import math
import signal
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import Dataset

from voxsep import checkpoint
from voxsep.config import config_from_dict
from voxsep.train import TrainingAborted, train
from voxsep.metrics.batch import batch_si_snri
from voxsep.train.schedule import PlateauSchedule

SOUNDS = Path("/usr/share/asterisk/sounds")
TINY = {"n_filters": 16, "kernel_size": 16, "bottleneck": 16, "hidden": 32, "skip": 16, "n_blocks": 3, "n_repeats": 1}


def _speech(folder: str, count: int, length: int) -> list[np.ndarray]:
    """``count`` real prompts of one professional speaker, each cut/padded to ``length``."""
    files = sorted((SOUNDS / folder).glob("*.wav"))
    out = []
    for path in files:
        audio, rate = sf.read(path, dtype="float32")
        assert rate == 8000
        if audio.size >= length // 2:
            audio = np.pad(audio, (0, max(0, length - audio.size)))[:length]
            out.append(audio / (np.abs(audio).max() + 1e-6) * 0.5)
        if len(out) == count:
            return out
    raise AssertionError(f"not enough prompts in {SOUNDS / folder}")


class SpeechMixtures(Dataset):
    """Two talkers (the English and the French asterisk speakers), random crop per item.

    The crop uses ``torch.randint`` so that the trainer's per-example seeding is what
    makes runs repeatable.
    """

    def __init__(self, count: int, length: int = 8000, crop: int = 4000, offset: int = 0) -> None:
        first = _speech("en", count + offset, length)[offset:]
        second = _speech("fr_CA_f_June", count + offset, length)[offset:]
        self.sources = torch.from_numpy(np.stack([np.stack(first), np.stack(second)], axis=1))
        self.crop = crop

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, index: int):
        sources = self.sources[index]
        start = int(torch.randint(0, sources.shape[-1] - self.crop + 1, ()))
        sources = sources[:, start:start + self.crop]
        return sources.sum(0), sources


def make_config(num_workers: int = 0, **train_overrides):
    values = {
        "data": {"kind": "manifest", "train": "in-memory", "valid": "in-memory", "batch_size": 2,
                 "num_workers": num_workers, "segment": 0.5, "valid_segment": 0.5, "valid_batch_size": 4},
        "model": {"name": "conv_tasnet", "args": TINY},
        "optim": {"lr": 3e-3},
        "schedule": {"patience": 2, "early_stop_patience": 0},
        "train": {"epochs": 2, "seed": 3, "device": "cpu", "num_threads": 1, **train_overrides},
        "log": {"tensorboard": False, "log_every": 1000},
    }
    return config_from_dict(values)


@pytest.fixture(scope="module")
def sets():
    return SpeechMixtures(16), SpeechMixtures(4, offset=16)


def test_loss_falls_and_checkpoints_are_written(tmp_path, sets):
    config = make_config(epochs=4)
    result = train(config, tmp_path, train_set=sets[0], valid_set=sets[1])
    assert result.status == "finished" and result.step == 4 * 8 and result.epoch == 4
    scores = [h["si_snri"] for h in result.history]
    assert len(scores) == 4
    assert max(scores[1:]) > scores[0] + 0.5, scores
    assert (tmp_path / "config.yaml").is_file() and (tmp_path / "train.log").is_file()
    model, meta = checkpoint.load(tmp_path / "best.pt")
    assert meta["valid_si_snri"] == pytest.approx(max(scores))
    assert meta["model_name"] == "conv_tasnet" and "training" not in meta and "n_src_range" not in meta
    raw = torch.load(tmp_path / "last.pt", weights_only=True)
    assert raw["meta"]["training"]["step"] == 32
    with pytest.raises(FileExistsError, match="resume it"):
        train(config, tmp_path, train_set=sets[0], valid_set=sets[1])


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return checkpoint.read(path)["state_dict"]


def test_resume_mid_epoch_is_bit_for_bit(tmp_path, sets):
    # two DataLoader workers: each example's random crop must not depend on the worker
    config = make_config(num_workers=2, epochs=2, grad_accum=2, valid_every_steps=3)
    straight = train(config, tmp_path / "straight", train_set=sets[0], valid_set=sets[1])

    def interrupt(step: int) -> None:
        if step == 5:  # mid-epoch (4 steps/epoch), between validations
            raise KeyboardInterrupt

    stopped = train(config, tmp_path / "resumed", train_set=sets[0], valid_set=sets[1], on_step=interrupt)
    assert stopped.status == "interrupted" and stopped.step == 5
    resumed = train(config, tmp_path / "resumed", resume=True, train_set=sets[0], valid_set=sets[1])
    assert resumed.step == straight.step == 8
    a, b = _weights(tmp_path / "straight" / "last.pt"), _weights(tmp_path / "resumed" / "last.pt")
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert [h["si_snri"] for h in resumed.history] == [h["si_snri"] for h in straight.history]


def test_sigint_stops_at_a_step_boundary_and_writes_last(tmp_path, sets):
    config = make_config(epochs=3)
    before = signal.getsignal(signal.SIGINT)  # default_int_handler; SIG_IGN under `nohup ... &`
    result = train(config, tmp_path, train_set=sets[0], valid_set=sets[1],
                   on_step=lambda step: step == 3 and signal.raise_signal(signal.SIGINT))
    assert result.status == "interrupted" and result.step == 3
    assert checkpoint.read(tmp_path / "last.pt")["meta"]["training"]["step"] == 3
    assert signal.getsignal(signal.SIGINT) is before, "the caller's SIGINT handler is restored"


class NaNAfter(Dataset):
    """Wraps a dataset; examples ``>= bad_from`` (in index order) are NaN."""

    def __init__(self, dataset: Dataset, bad: set[int]) -> None:
        self.dataset, self.bad = dataset, bad

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        mixture, sources = self.dataset[index]
        if index in self.bad:
            mixture = mixture * math.nan
        return mixture, sources


def test_nan_batches_are_skipped_then_the_run_aborts(tmp_path, sets, caplog):
    config = make_config(epochs=1, nan_tolerance=3)
    result = train(config, tmp_path / "skip", train_set=NaNAfter(sets[0], {5}), valid_set=sets[1])
    assert result.status == "finished" and result.step == 8
    log = (tmp_path / "skip" / "train.log").read_text()
    assert log.count("non-finite") == 1
    weights = _weights(tmp_path / "skip" / "last.pt")
    assert all(torch.isfinite(w).all() for w in weights.values())
    with pytest.raises(TrainingAborted, match="3 non-finite steps in a row"):
        train(config, tmp_path / "abort", train_set=NaNAfter(sets[0], set(range(16))), valid_set=sets[1])


def test_init_from_checks_the_architecture(tmp_path, sets):
    config = make_config(epochs=1, max_steps=2)
    train(config, tmp_path / "a", train_set=sets[0], valid_set=sets[1])
    result = train(config, tmp_path / "b", init_from=tmp_path / "a" / "last.pt", train_set=sets[0], valid_set=sets[1])
    assert result.step == 2
    other = config_from_dict({**_as_dict(config), "model": {"name": "conv_tasnet", "args": {**TINY, "hidden": 24}}})
    with pytest.raises(ValueError, match="architecture mismatch.*hidden"):
        train(other, tmp_path / "c", init_from=tmp_path / "a" / "last.pt", train_set=sets[0], valid_set=sets[1])
    # A causal model may start from a non-causal one (same weights), not the other way round.
    causal = config_from_dict({**_as_dict(config), "model": {"name": "conv_tasnet", "args": {**TINY, "causal": True}}})
    started = train(causal, tmp_path / "d", init_from=tmp_path / "a" / "last.pt", train_set=sets[0], valid_set=sets[1])
    assert started.step == 2
    with pytest.raises(ValueError, match="architecture mismatch.*causal"):
        train(config, tmp_path / "e", init_from=tmp_path / "d" / "last.pt", train_set=sets[0], valid_set=sets[1])


def test_init_from_a_model_with_another_number_of_outputs_copies_the_rest(tmp_path):
    from voxsep import checkpoint, models
    from voxsep.train.trainer import load_init_weights

    torch.manual_seed(0)
    two = models.build("conv_tasnet", n_src=2, **TINY)
    path = checkpoint.save(tmp_path / "two.pt", two, sample_rate=8000)
    three = models.build("conv_tasnet", n_src=3, **TINY)
    before = {k: v.clone() for k, v in three.state_dict().items()}
    fresh = load_init_weights(three, path)
    assert fresh and all("mask" in k or "output" in k for k in fresh), fresh
    for key, value in three.state_dict().items():
        source = before[key] if key in fresh else two.state_dict()[key]
        assert torch.equal(value, source), key
    assert all(three.state_dict()[k].shape != two.state_dict()[k].shape for k in fresh)



def test_init_from_a_shallower_conv_tasnet_grows_it_and_keeps_its_output(tmp_path):
    from voxsep import checkpoint, models
    from voxsep.train.trainer import load_init_weights

    torch.manual_seed(0)
    shallow = models.build("conv_tasnet", n_src=2, **TINY)
    path = checkpoint.save(tmp_path / "shallow.pt", shallow, sample_rate=8000)
    deep = models.build("conv_tasnet", n_src=2, **{**TINY, "n_repeats": TINY["n_repeats"] + 1})
    fresh = load_init_weights(deep, path)
    assert fresh and all(k.startswith("masker.tcn.blocks.") for k in fresh)
    mixture = torch.randn(2, 4000)
    with torch.no_grad():
        assert torch.allclose(deep(mixture), shallow(mixture), atol=1e-6)
    new_blocks = deep.masker.tcn.blocks[len(shallow.masker.tcn.blocks):]
    assert all(b.residual.weight.abs().sum() == 0 and b.in_conv.weight.abs().sum() > 0 for b in new_blocks)
    # A deeper checkpoint cannot start a shallower model.
    back = models.build("conv_tasnet", n_src=2, **TINY)
    with pytest.raises(ValueError, match="architecture mismatch.*n_repeats"):
        load_init_weights(back, checkpoint.save(tmp_path / "deep.pt", deep, sample_rate=8000))

def _as_dict(config):
    from voxsep.config import config_to_dict

    return config_to_dict(config)


def test_plateau_schedule_halves_and_counts_for_early_stop():
    schedule = PlateauSchedule(1e-3, patience=2, factor=0.5, min_lr=3e-4, warmup_steps=4)
    assert schedule.lr_at(0) == pytest.approx(2.5e-4) and schedule.lr_at(4) == pytest.approx(1e-3)
    assert schedule.validated(5.0)
    assert not schedule.validated(4.0) and schedule.lr == 1e-3
    assert not schedule.validated(5.0) and schedule.lr == pytest.approx(5e-4)
    assert not schedule.validated(4.9) and not schedule.validated(4.9)
    assert schedule.lr == pytest.approx(3e-4)  # clamped at min_lr
    assert schedule.since_best == 4


def test_batch_si_snri_matches_a_direct_computation(sets):
    mixture, sources = sets[1][0]
    estimates = torch.stack([sources[1] + 0.1 * sources[0], sources[0] + 0.05 * sources[1]])  # swapped order

    def si_snr(ref, est):
        ref, est = ref - ref.mean(), est - est.mean()
        target = (est @ ref) / (ref @ ref) * ref
        return 10 * torch.log10(target.pow(2).sum() / (est - target).pow(2).sum())

    expected = ((si_snr(sources[0], estimates[1]) + si_snr(sources[1], estimates[0])) / 2
                - (si_snr(sources[0], mixture) + si_snr(sources[1], mixture)) / 2)
    got = batch_si_snri(sources[None], estimates[None], mixture[None])
    assert got.shape == (1,)
    assert float(got[0]) == pytest.approx(float(expected), abs=1e-3)


def test_tensorboard_gets_scalars_audio_and_spectrogram(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from voxsep.train.logging import TensorBoard, spectrogram_image

    speech = _speech("en", 1, 8000)[0]
    image = spectrogram_image(speech, 8000)
    assert image.dtype == np.uint8 and image.shape[2] == 3 and image.shape[0] == 129
    assert image.std() > 10  # speech gives structure, not a flat picture
    board = TensorBoard(tmp_path, enabled=True)
    board.scalars({"valid/si_snri": 3.5}, 10)
    board.audio_example("example0", speech, np.stack([speech * 0.5, speech * 0.1]), 8000, 10)
    board.close()
    events = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"audio": 0, "images": 0})
    events.Reload()
    tags = events.Tags()
    assert tags["scalars"] == ["valid/si_snri"] and tags["images"] == ["example0/spectrograms"]
    assert sorted(tags["audio"]) == ["example0/estimate1", "example0/estimate2", "example0/mixture"]


class OneOrTwoTalkers(SpeechMixtures):
    """Odd items keep only the first talker and a silent (all-zero) second target."""

    def __getitem__(self, index: int):
        mixture, sources = super().__getitem__(index)
        if index % 2:
            sources = torch.stack([sources[0], torch.zeros_like(sources[1])])
            mixture = sources[0].clone()
        return mixture, sources


def test_variable_count_training_records_the_range_and_validates_on_active_targets(tmp_path):
    values = _as_dict(make_config(epochs=1))
    values["data"]["n_src"] = [1, 2]
    values["loss"] = {"kind": "si_snr_var", "snr_max": 30.0}
    config = config_from_dict(values)
    result = train(config, tmp_path, train_set=OneOrTwoTalkers(8), valid_set=OneOrTwoTalkers(4, offset=8))
    assert result.status == "finished"
    assert all(math.isfinite(h["si_snri"]) and math.isfinite(h["loss"]) for h in result.history)
    # SI-SNRi of a silent target would be about -80 dB: skipped, the mean stays in a sane range
    assert all(abs(h["si_snri"]) < 40 for h in result.history)
    _, meta = checkpoint.load(tmp_path / "last.pt")
    assert meta["n_src_range"] == [1, 2] and meta["n_src"] == 2
    # best.pt follows the validation loss, which scores an unused output that is not silent
    assert result.metric == "neg_loss" and meta["valid_metric"] == "neg_loss"
    assert all(h["neg_loss"] == -h["loss"] for h in result.history)
    best = max(result.history, key=lambda h: h["neg_loss"])
    assert checkpoint.load(tmp_path / "best.pt")[1]["step"] == best["step"]
