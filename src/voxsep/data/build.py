"""Datasets from a recipe: ``build_datasets(config)`` and the binaural mixer it may need.

The one place where ``config.data`` becomes :class:`~voxsep.data.datasets.MixtureDataset`
/ :class:`~voxsep.data.datasets.DynamicMixDataset` objects (with a spatializer for
binaural dynamic mixing and a random recording channel), so the trainer only asks for
"the datasets of this config".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from voxsep import models
from voxsep.config import Config, n_src_range


def build_spatializer(config: Config) -> Any:
    """The :class:`~voxsep.data.spatial.BinauralSpatializer` of ``config.data.hrtf``, the
    one-microphone room of ``data.room`` (:func:`_single_channel_room`), or ``None``.

    Dynamic binaural mixing (Binaural-WSJ0Mix style, Han et al. 2020): every talker at a
    random HRIR direction, ``data.min_separation`` degrees apart, optionally in a random
    room (``data.rt60``). The model must take two-ear mixtures, and conversely a
    two-channel model trained by dynamic mixing needs ``data.hrtf``.

    Raises:
        FileNotFoundError: ``data.hrtf`` does not exist.
        ValueError: the model's input channels and the mixing disagree.
    """
    data = config.data
    in_channels = int(getattr(models.model_class(config.model.name), "in_channels", 1))
    if not data.hrtf:
        if data.kind == "dynamic" and in_channels != 1:
            raise ValueError(
                f"model {config.model.name!r} takes {in_channels}-channel mixtures but dynamic mixing without "
                "data.hrtf makes single-channel ones; set data.hrtf (a SOFA file, e.g. "
                "/usr/share/libmysofa/MIT_KEMAR_normal_pinna.sofa, or a CIPIC-style wav folder)"
            )
        return _single_channel_room(config)

    if in_channels != 2:
        raise ValueError(
            f"data.hrtf makes two-ear (binaural) mixtures but model {config.model.name!r} takes {in_channels}-channel "
            "input; use a binaural model (binaural_independent, binaural_cross, binaural_parallel) or drop data.hrtf"
        )
    from voxsep.data.spatial import BinauralSpatializer, load_hrirs

    path = Path(data.hrtf)
    if not path.exists():
        raise FileNotFoundError(
            f"data.hrtf={data.hrtf} does not exist; give a SOFA file (Debian's libmysofa1 ships "
            "/usr/share/libmysofa/MIT_KEMAR_normal_pinna.sofa) or a CIPIC-style folder of per-direction wav files"
        )
    return BinauralSpatializer(
        load_hrirs(path),
        data.sample_rate,
        min_separation=data.min_separation,
        azimuth_range=tuple(data.azimuth_range),
        elevation_range=tuple(data.elevation_range),
        rt60=tuple(data.rt60) if data.rt60 is not None else None,
    )


#: Rooms of single-channel training (``data.room``): issue-sized rooms, talkers 0.5-3 m from
#: the microphone, a bank of simulated rooms so that a worker simulates each room once.
ROOM_BANK_SIZE = 500


def _single_channel_room(config: Config) -> Any:
    """The one-microphone :class:`~voxsep.data.reverb.RoomReverb` of ``data.room``, or ``None``."""
    data = config.data
    if not data.room:
        return None
    from voxsep.data.reverb import RoomReverb

    return RoomReverb(data.sample_rate, rt60=tuple(data.rt60) if data.rt60 is not None else (0.1, 0.8),
                      source_distance=(0.5, 3.0), bank_size=ROOM_BANK_SIZE, bank_seed=config.train.seed,
                      probability=data.room, keep_level=True)


class MissingDataError(FileNotFoundError):
    """A recipe's ``data.<key>`` names a file or folder that does not exist (a corpus not
    built yet, or not where the recipe expects it). ``key`` is the ``data.*`` key,
    ``path`` the missing path."""

    def __init__(self, key: str, path: str) -> None:
        self.key, self.path = key, path
        super().__init__(f"data.{key}: {path} not found; build the corpus with 'voxsep prepare' or set "
                         f"data.{key} to where it is")


def check_data_paths(config: Config) -> None:
    """Refuse a recipe whose data files are missing, naming the ``data.*`` key.

    Checks the paths the datasets will read (``train``/``valid`` manifests or folders,
    ``pool``/``noise_pool`` for dynamic mixing, ``speaker_table``) before anything is built.

    Raises:
        MissingDataError: the first missing one.
    """
    data = config.data
    keys = ["pool", "noise_pool", "speaker_table"] if data.kind == "dynamic" else ["train"]
    for key in [*keys, "valid"]:
        value = getattr(data, key, None)
        for path in ([value] if isinstance(value, str) else list(value or [])):
            if path and not Path(path).exists():
                raise MissingDataError(key, str(path))


def build_datasets(config: Config) -> tuple[Dataset, Dataset]:
    """Training and validation datasets described by ``config.data`` (with ``data.hrtf``,
    dynamic mixing renders two-ear mixtures through :func:`build_spatializer`).

    With ``data.n_src: [low, high]`` both get the range: ``low..high`` talkers per
    example, targets padded with silent sources up to ``high``; ``data.train`` /
    ``data.valid`` may list several manifests."""
    from voxsep.data.background import Background
    from voxsep.data.channel import RandomChannel
    from voxsep.data.codec import RandomCodec
    from voxsep.data.voice import RandomVoice
    from voxsep.data.datasets import DynamicMixDataset, MixtureDataset, load_speaker_pool
    from voxsep.data.manifest import load_speaker_sexes

    data = config.data
    low, high = n_src_range(data)
    n_src = (low, high) if low < high else high  # a range: examples padded with silent targets
    if not data.valid:
        raise ValueError("data.valid is empty: give a validation manifest or folder (data.valid=PATH)")
    check_data_paths(config)
    if data.kind == "dynamic":
        if not data.pool:
            raise ValueError("data.kind=dynamic needs data.pool (an utterance list CSV from 'voxsep prepare')")
        noise_pool = [p for paths in load_speaker_pool(data.noise_pool).values() for p in paths] if data.noise_pool else None
        background = None
        if data.background:
            background = Background(data.background, tuple(data.babble), noise_files=noise_pool or [],
                                    snr_db=tuple(data.snr_db))
            noise_pool = None  # the recorded noise is part of the background
        spatializer = build_spatializer(config)
        train_set: Dataset = DynamicMixDataset(
            load_speaker_pool(data.pool),
            n_src,
            data.sample_rate,
            data.segment,
            data.examples_per_epoch,
            seed=config.train.seed,
            gain_db=tuple(data.gain_db),
            speed_perturb=tuple(data.speed_perturb) if data.speed_perturb else None,
            noise_pool=noise_pool,
            snr_db=tuple(data.snr_db),
            spatializer=spatializer,
            channel=RandomChannel(data.sample_rate, data.channel_augment) if data.channel_augment != 0 else None,
            count_weights=tuple(data.n_src_weights) if data.n_src_weights else None,
            codec=RandomCodec(data.sample_rate, data.codec_augment) if data.codec_augment != 0 else None,
            voice=RandomVoice(data.sample_rate, data.voice_augment) if data.voice_augment != 0 else None,
            same_sex=data.same_sex,
            speaker_sexes=load_speaker_sexes(data.speaker_table) if data.speaker_table else None,
            background=background,
        )
    else:
        if not data.train:
            raise ValueError("data.train is empty: give a training manifest or folder (data.train=PATH)")
        train_set = MixtureDataset(data.train, n_src, data.sample_rate, segment=data.segment, train=True,
                                   seed=config.train.seed)
    # With valid_segment, validation examples are crops (train=True crops; their
    # positions are fixed because the trainer reads validation examples with fixed seeds
    # and epoch 0); without it, whole utterances.
    valid_set = MixtureDataset(data.valid, n_src, data.sample_rate, segment=data.valid_segment,
                               train=data.valid_segment is not None, seed=config.train.seed + 1)
    if data.kind == "dynamic" and data.hrtf and len(valid_set) and valid_set[0][0].dim() != 2:
        raise ValueError(
            f"data.valid={data.valid} holds single-channel mixtures but data.hrtf trains a binaural model; "
            "validate on a binaural set ('voxsep prepare binaural', e.g. data/binaural/2speakers/wav8k/min/cv)"
        )
    return train_set, valid_set
