"""Typed experiment configuration: dataclasses ↔ YAML, with ``key=value`` overrides.

A recipe is a YAML file with one mapping per section::

    data:     {kind: manifest, train: ..., valid: ..., sample_rate: 8000, n_src: 2, ...}
    model:    {name: conv_tasnet, args: {n_filters: 512, ...}}
    loss:     {kind: si_snr}
    optim:    {name: adam, lr: 1.0e-3, clip_grad_norm: 5}
    schedule: {patience: 3, factor: 0.5, early_stop_patience: 10}
    train:    {epochs: 100, precision: fp32, ...}
    log:      {tensorboard: true, log_every: 50}

It is read with ``yaml.safe_load`` (no object is ever constructed from YAML), converted
field by field to the annotated types, and validated. Every key must be known: a typo
is a ``ValueError`` listing the valid keys with the closest match. Command-line
overrides use dotted keys (``optim.lr=5e-4 data.segment=3 model.args.hidden=256``) and
are converted to the field's type (``5e-4`` becomes a float even though YAML 1.1 reads
it as a string).

Example::

    config = load_config("recipes/wsj0-2mix/conv_tasnet.yaml", ["optim.lr=5e-4"])
    save_config(config, "exp/config.yaml")
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Union

import yaml

from voxsep.core.files import write_text_atomic

DATA_KINDS = ("manifest", "folder", "dynamic")
LOSS_KINDS = ("si_snr", "snr", "si_snr_var", "snr_var")
#: Loss kinds that score silent (all-zero, padded) targets: needed when data.n_src is a range.
VARIABLE_COUNT_LOSS_KINDS = ("si_snr_var", "snr_var")
OPTIMIZERS = ("adam", "adamw")
PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass
class DataConfig:
    """Where the examples come from.

    Attributes:
        kind: ``manifest`` (LibriMix-style CSV or ``.scp``), ``folder`` (wsj0-mix
            ``mix/ s1/ s2/`` folder) or ``dynamic`` (on-the-fly mixing of ``pool``).
        train, valid, test: manifest paths / folders. For ``dynamic``, ``train`` may be
            empty and ``pool`` is used; ``valid`` is still a fixed manifest. ``train`` and
            ``valid`` may also be lists of manifests (e.g. a 2- and a 3-speaker set with
            ``n_src: [2, 3]``), which are read as one set.
        pool: speaker-labelled utterance list CSV (dynamic mixing).
        noise_pool: optional utterance list of noises for dynamic mixing.
        sample_rate: rate the model works at; audio is resampled to it.
        n_src: number of talkers per mixture: an integer, or a range ``[low, high]`` to
            train on a variable number of talkers (the model gets ``high`` outputs; every
            example has ``low`` to ``high`` talkers and its targets are padded with silent,
            all-zero sources up to ``high``; needs ``loss.kind: si_snr_var`` or
            ``snr_var``). Dynamic mixing draws the count uniformly per example (or by
            ``n_src_weights``); manifests may mix counts in the range.
        n_src_weights: with a range and dynamic mixing, the relative frequency of each
            count ``low..high`` (e.g. ``[1, 4]`` with ``n_src: [1, 2]``: one talker in a
            fifth of the examples); ``null``: uniform.
        segment: training crop in seconds (``null``: whole utterances, batch 1).
        valid_segment: validation crop in seconds (``null``: whole utterances).
        examples_per_epoch: dynamic mixing: examples drawn per epoch.
        batch_size: examples per optimiser micro-batch *per process*.
        valid_batch_size: validation batch size (1 when ``valid_segment`` is null).
        num_workers: DataLoader worker processes (persistent across epochs).
        gain_db: dynamic mixing: per-source gain range in dB.
        speed_perturb: dynamic mixing: speed factor range, e.g. ``[0.95, 1.05]``.
        snr_db: dynamic mixing: speech-to-noise ratio range in dB (with ``noise_pool``).
        channel_augment: dynamic mixing: probability that a mixture goes through a random
            recording channel (telephone band, narrower low-pass or EQ;
            :class:`voxsep.data.channel.RandomChannel`); 0 disables.
        codec_augment: dynamic mixing: probability that a mixture's sources each go through
            one random lossy codec (GSM, G.711, ADPCM, Vorbis, MP3, Opus;
            :class:`voxsep.data.codec.RandomCodec`); 0 disables.
        voice_augment: dynamic mixing: probability that each source becomes a new voice
            (median pitch, formants and pitch range drawn anew with Praat's "Change
            gender"; :class:`voxsep.data.voice.RandomVoice`); 0 disables.
        same_sex: dynamic mixing: probability that all talkers of a mixture share one sex
            (the rest hold both sexes); ``null``: talkers drawn uniformly whatever their
            sex. Needs ``speaker_table``.
        speaker_table: a CSV with ``speaker`` and ``sex`` columns for every pool speaker
            (the ``speakers.csv`` that ``voxsep prepare offline`` / ``librimix`` write).
        hrtf: dynamic binaural mixing: a SOFA file (e.g. the MIT KEMAR set of Debian's
            ``libmysofa1``) or a CIPIC-style folder of per-direction wav files; each talker
            is rendered at a distinct random direction as a two-ear image
            (:class:`voxsep.data.spatial.BinauralSpatializer`). Needs ``kind: dynamic``
            and a two-channel model (``binaural_*``). Empty: single-channel mixing.
        min_separation: binaural mixing: smallest angle between talkers, degrees.
        azimuth_range: binaural mixing: ``[low, high]`` azimuths in degrees (+90 = left).
        elevation_range: binaural mixing: ``[low, high]`` elevations in degrees.
        rt60: binaural mixing, or single-channel mixing with ``room``: ``[low, high]``
            reverberation time in seconds of a random shoebox room (image-source method),
            or ``null`` (binaural: anechoic mixtures as in Binaural-WSJ0Mix; ``room``:
            ``[0.1, 0.8]``).
        room: single-channel dynamic mixing: probability that a mixture is made in a
            simulated room (:class:`voxsep.data.reverb.RoomReverb`, one microphone,
            talkers 0.5-3 m away, each image at its dry level); the reverberant talkers
            are the targets (separation, not dereverberation). 0 disables.
        background: dynamic mixing: probability that a mixture gets background sound --
            babble of ``babble`` other pool talkers (in the same room) plus noise (a
            ``noise_pool`` file or coloured noise) at ``snr_db`` below the louder talker
            (:class:`voxsep.data.background.Background`). With ``background`` > 0,
            ``noise_pool`` is the recorded noise of the background. 0 disables.
        babble: ``[low, high]`` background talkers per background (0 allowed).
    """

    kind: str = "manifest"
    train: Union[list[str], str] = ""
    valid: Union[list[str], str] = ""
    test: str = ""
    pool: str = ""
    noise_pool: str = ""
    sample_rate: int = 8000
    n_src: Union[int, list[int]] = 2
    n_src_weights: Optional[list[float]] = None
    segment: Optional[float] = 4.0
    valid_segment: Optional[float] = None
    examples_per_epoch: int = 20000
    batch_size: int = 4
    valid_batch_size: int = 1
    num_workers: int = 2
    gain_db: list[float] = field(default_factory=lambda: [-5.0, 5.0])
    speed_perturb: Optional[list[float]] = None
    snr_db: list[float] = field(default_factory=lambda: [-5.0, 5.0])
    channel_augment: float = 0.0
    codec_augment: float = 0.0
    voice_augment: float = 0.0
    same_sex: Optional[float] = None
    speaker_table: str = ""
    hrtf: str = ""
    min_separation: float = 10.0
    azimuth_range: list[float] = field(default_factory=lambda: [-90.0, 90.0])
    elevation_range: list[float] = field(default_factory=lambda: [-45.0, 45.0])
    rt60: Optional[list[float]] = None
    room: float = 0.0
    background: float = 0.0
    babble: list[int] = field(default_factory=lambda: [1, 3])


@dataclass
class ModelConfig:
    """``name`` in ``voxsep.models.available()``; ``args`` go to ``models.build``."""

    name: str = "conv_tasnet"
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class LossConfig:
    """Permutation-invariant training loss: negative ``si_snr`` or ``snr``.

    ``snr_max`` (dB) soft-caps the SNR so that easy examples stop dominating
    (SepFormer/“thresholded SNR”); ``null`` disables it.

    ``si_snr_var`` / ``snr_var``: the same PIT over all outputs, but a silent (all-zero)
    target scores the output's energy relative to the mixture (thresholded SNR of
    Wisdom et al., NeurIPS 2020, §3; :func:`voxsep.core.pairwise.pairwise_neg_snr_var`),
    so unused outputs learn to be silent. Required when ``data.n_src`` is a range, and
    they need ``snr_max`` (the threshold; 30 dB in the paper). With no silent target
    they equal ``si_snr`` / ``snr`` with the same ``snr_max``.
    """

    kind: str = "si_snr"
    snr_max: Optional[float] = None


@dataclass
class OptimConfig:
    """Optimiser: ``adam`` or ``adamw``; ``clip_grad_norm`` 0 disables clipping."""

    name: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    clip_grad_norm: float = 5.0


@dataclass
class ScheduleConfig:
    """Learning-rate schedule and stopping.

    Attributes:
        patience: halve (multiply by ``factor``) after this many validations without
            improvement (Conv-TasNet: 3 epochs); 0 disables halving.
        factor: multiplier applied on a plateau.
        min_lr: the learning rate never goes below this.
        warmup_steps: linear warm-up from 0 over this many optimiser steps.
        early_stop_patience: stop after this many validations without improvement
            (0 disables early stopping).
    """

    patience: int = 3
    factor: float = 0.5
    min_lr: float = 1e-8
    warmup_steps: int = 0
    early_stop_patience: int = 10


@dataclass
class TrainConfig:
    """The loop.

    Attributes:
        epochs: passes over the training set (or ``examples_per_epoch`` draws).
        max_steps: stop after this many optimiser steps (0: no limit).
        grad_accum: micro-batches per optimiser step.
        precision: ``fp32``, ``bf16`` (autocast on CPU and GPU) or ``fp16`` (CUDA,
            with gradient scaling).
        seed: seeds the model initialisation, data order and data augmentation.
        valid_every_steps: validate every N optimiser steps (0: at each epoch end).
        nan_tolerance: abort after this many non-finite steps in a row.
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``.
        num_threads: intra-op CPU threads per process (0: ``OMP_NUM_THREADS`` when the
            environment sets it, else the cores available to the process divided among
            the local processes).
        max_valid_batches: cap on validation batches (0: the whole set). The batches are
            read in manifest order: with several ``data.valid`` manifests, a cap can
            leave the later ones out (use 0).
        compile: run the training steps through ``torch.compile`` (inductor), compiled
            once per run for the fixed crop shape; if compilation fails the run goes on
            eager with one warning (``voxsep.train.compiled``). Validation runs eager.
    """

    epochs: int = 100
    max_steps: int = 0
    grad_accum: int = 1
    precision: str = "fp32"
    seed: int = 0
    valid_every_steps: int = 0
    nan_tolerance: int = 10
    device: str = "auto"
    num_threads: int = 0
    max_valid_batches: int = 0
    compile: bool = True


@dataclass
class LogConfig:
    """Logging: TensorBoard scalars/audio/spectrograms, ``train.log`` lines every
    ``log_every`` steps, and ``audio_examples`` fixed validation mixtures rendered at
    each validation."""

    tensorboard: bool = True
    audio_examples: int = 1
    log_every: int = 50


@dataclass
class Config:
    """A whole experiment; see the module docstring for the YAML layout."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    log: LogConfig = field(default_factory=LogConfig)


# --------------------------------------------------------------------------- conversion

def _unknown_key_error(key: str, valid: list[str], where: str) -> ValueError:
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ValueError(f"unknown config key {where}{key!r}{hint}; valid keys: {', '.join(valid)}")


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Convert ``value`` (from YAML or a command-line string) to ``annotation``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.strip().lower() in ("null", "none", "~", "")):
            if type(None) in args:
                return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _coerce(value, inner[0], key)
        # Several types (e.g. int or [low, high]): the first that accepts the value.
        errors = []
        for option in inner:
            try:
                return _coerce(value, option, key)
            except (ValueError, TypeError, yaml.YAMLError) as error:
                errors.append(str(error))
        raise ValueError("; or ".join(errors))
    if annotation is Any:
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1"):
            return True
        if isinstance(value, str) and value.strip().lower() in ("false", "no", "off", "0"):
            return False
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ValueError(f"config key {key!r} must be true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool) or isinstance(value, (list, dict)):
            raise ValueError(f"config key {key!r} must be an integer, got {value!r}")
        try:
            number = float(value)
        except (ValueError, TypeError):
            raise ValueError(f"config key {key!r} must be an integer, got {value!r}") from None
        if not number.is_integer():
            raise ValueError(f"config key {key!r} must be an integer, got {value!r}")
        return int(number)
    if annotation is float:
        if isinstance(value, bool):
            raise ValueError(f"config key {key!r} must be a number, got {value!r}")
        try:
            return float(value)
        except (ValueError, TypeError):
            raise ValueError(f"config key {key!r} must be a number, got {value!r}") from None
    if annotation is str:
        if isinstance(value, (dict, list)):
            raise ValueError(f"config key {key!r} must be a string, got {value!r}")
        return "" if value is None else str(value)
    if origin is list:
        if isinstance(value, str):
            value = yaml.safe_load(value)
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list):
            raise ValueError(f"config key {key!r} must be a list like [1, 2], got {value!r}")
        return [_coerce(item, args[0] if args else Any, f"{key}[{i}]") for i, item in enumerate(value)]
    if origin is dict:
        if isinstance(value, str):
            value = yaml.safe_load(value)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValueError(f"config key {key!r} must be a mapping, got {value!r}")
        return dict(value)
    raise TypeError(f"unsupported config annotation {annotation!r} for {key!r}")  # pragma: no cover


def _dataclass_from_dict(cls: type, values: dict[str, Any], where: str,
                         convert: Callable[[Any, Any, str], Any]) -> Any:
    """``cls(**values)``, each value passed through ``convert(value, annotation, key)``.

    Raises:
        ValueError: a key that is not a field of ``cls`` (``where`` says where it stood);
            the message lists the valid keys.
    """
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in values.items():
        if key not in names:
            raise _unknown_key_error(str(key), names, where)
        kwargs[key] = convert(value, hints[key], key)
    return cls(**kwargs)


def _section_from_dict(cls: type, values: Any, section: str) -> Any:
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ValueError(f"config section {section!r} must be a mapping, got {values!r}")
    return _dataclass_from_dict(cls, values, f"in section {section!r}: ",
                                lambda value, annotation, key: _coerce(value, annotation, f"{section}.{key}"))


def config_from_dict(values: dict[str, Any]) -> Config:
    """Build and validate a ``Config`` from a plain nested dict (e.g. parsed YAML)."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ValueError(f"a config must be a mapping of sections, got {type(values).__name__}")
    config = _dataclass_from_dict(Config, values, "section ",
                                  lambda value, annotation, key: _section_from_dict(annotation, value, key))
    validate_config(config)
    return config


def config_to_dict(config: Config) -> dict[str, Any]:
    """The config as plain nested dicts/lists/scalars (what ``save_config`` writes)."""
    return dataclasses.asdict(config)


def validate_config(config: Config) -> None:
    """Check choices and ranges, and the model arguments against the model's signature.

    Raises:
        ValueError: naming the key, the bad value and what is allowed.
    """

    def choice(key: str, value: str, allowed: tuple[str, ...]) -> None:
        if value not in allowed:
            raise ValueError(f"config key {key!r} is {value!r}; choose one of {', '.join(allowed)}")

    def positive(key: str, value: float, allow_zero: bool = False) -> None:
        if value < 0 or (value == 0 and not allow_zero):
            raise ValueError(f"config key {key!r} must be {'>= 0' if allow_zero else '> 0'}, got {value}")

    choice("data.kind", config.data.kind, DATA_KINDS)
    choice("loss.kind", config.loss.kind, LOSS_KINDS)
    choice("optim.name", config.optim.name, OPTIMIZERS)
    choice("train.precision", config.train.precision, PRECISIONS)
    positive("data.sample_rate", config.data.sample_rate)
    _validate_n_src(config)
    positive("data.batch_size", config.data.batch_size)
    positive("data.valid_batch_size", config.data.valid_batch_size)
    positive("data.num_workers", config.data.num_workers, allow_zero=True)
    if config.data.segment is not None:
        positive("data.segment", config.data.segment)
    if config.data.valid_segment is not None:
        positive("data.valid_segment", config.data.valid_segment)
    positive("optim.lr", config.optim.lr)
    positive("optim.clip_grad_norm", config.optim.clip_grad_norm, allow_zero=True)
    if len(config.optim.betas) != 2:
        raise ValueError(f"config key 'optim.betas' must have two values, got {config.optim.betas}")
    if not 0 < config.schedule.factor <= 1:
        raise ValueError(f"config key 'schedule.factor' must be in (0, 1], got {config.schedule.factor}")
    positive("train.epochs", config.train.epochs)
    positive("train.grad_accum", config.train.grad_accum)
    positive("train.nan_tolerance", config.train.nan_tolerance)
    for key in ("max_steps", "valid_every_steps", "num_threads", "max_valid_batches"):
        positive(f"train.{key}", getattr(config.train, key), allow_zero=True)
    for key in ("patience", "warmup_steps", "early_stop_patience"):
        positive(f"schedule.{key}", getattr(config.schedule, key), allow_zero=True)
    if config.data.kind == "dynamic" and config.data.segment is None:
        raise ValueError("dynamic mixing needs a fixed 'data.segment' (seconds)")
    if config.data.same_sex is not None:
        if not 0 <= config.data.same_sex <= 1:
            raise ValueError(f"config key 'data.same_sex' must be a probability in [0, 1], got {config.data.same_sex}")
        if config.data.kind != "dynamic" or not config.data.speaker_table:
            raise ValueError("config key 'data.same_sex' needs dynamic mixing (data.kind=dynamic) and "
                             "data.speaker_table (a CSV of speaker,sex, e.g. the speakers.csv of 'voxsep prepare')")
    if config.data.segment is None and config.data.batch_size != 1:
        raise ValueError(
            "'data.segment' is null (whole utterances of different lengths): set "
            "data.batch_size=1 or give a segment length in seconds"
        )

    _validate_mixing(config)

    from voxsep import models

    valid_args = list(models.model_arguments(config.model.name))  # ValueError on unknown names
    for key in config.model.args:
        if key not in valid_args:
            raise _unknown_key_error(str(key), valid_args, f"in 'model.args' for {config.model.name!r}: ")
    for key, expected in (("n_src", model_n_src(config.data)), ("sample_rate", config.data.sample_rate)):
        if key in config.model.args and config.model.args[key] != expected:
            raise ValueError(
                f"model.args.{key}={config.model.args[key]} disagrees with data.{key}={expected}; "
                f"drop model.args.{key} (it is taken from data.{key})"
            )


def n_src_range(data: DataConfig) -> tuple[int, int]:
    """``(low, high)`` talkers per example: ``(n, n)`` for a fixed ``data.n_src: n``."""
    value = data.n_src
    if isinstance(value, int):
        return int(value), int(value)
    return int(value[0]), int(value[1])


def model_n_src(data: DataConfig) -> int:
    """The model's number of outputs: ``data.n_src``, or the high end of its range."""
    return n_src_range(data)[1]


def variable_n_src(data: DataConfig) -> bool:
    """Whether examples have a variable number of talkers (``data.n_src: [low, high]``, low < high)."""
    low, high = n_src_range(data)
    return low < high


def _validate_n_src(config: Config) -> None:
    value = config.data.n_src
    if isinstance(value, int):
        if value < 1:
            raise ValueError(f"config key 'data.n_src' must be > 0, got {value}")
    elif len(value) != 2 or not 1 <= value[0] <= value[1]:
        raise ValueError(f"config key 'data.n_src' must be a number of talkers or a range [low, high] with "
                         f"1 <= low <= high, got {value}")
    weights = config.data.n_src_weights
    if weights is not None:
        low, high = n_src_range(config.data)
        if not variable_n_src(config.data) or config.data.kind != "dynamic":
            raise ValueError(f"data.n_src_weights={weights} weighs the talker counts of dynamic mixing: it needs "
                             "data.kind=dynamic and a range data.n_src: [low, high]; drop it otherwise")
        if len(weights) != high - low + 1 or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"data.n_src_weights must give one non-negative weight per count {low}..{high} "
                             f"({high - low + 1} numbers, not all zero), got {weights}")
    if variable_n_src(config.data) and config.loss.kind not in VARIABLE_COUNT_LOSS_KINDS:
        raise ValueError(
            f"data.n_src={value} trains on a variable number of talkers (silent padded targets), which "
            f"loss.kind={config.loss.kind!r} cannot score; use loss.kind={config.loss.kind}_var with loss.snr_max "
            "(e.g. 30)")
    if config.loss.kind in VARIABLE_COUNT_LOSS_KINDS and config.loss.snr_max is None:
        raise ValueError(f"loss.kind={config.loss.kind} needs loss.snr_max, the threshold in dB that scores silent "
                         "targets (30 in Wisdom et al. 2020)")


def _validate_mixing(config: Config) -> None:
    """Dynamic mixing keys: rooms and background (``room``, ``background``, ``babble``) and binaural
    mixing (``data.hrtf``, ``min_separation``, ranges, ``rt60``)."""
    data = config.data

    def pair(key: str, value: Any, low: float, high: float) -> None:
        if value is None or len(value) != 2 or not low <= value[0] <= value[1] <= high:
            raise ValueError(f"config key 'data.{key}' must be [low, high] with {low} <= low <= high <= {high}, got {value}")

    for key in ("room", "background"):
        if not 0.0 <= getattr(data, key) <= 1.0:
            raise ValueError(f"config key 'data.{key}' is a probability in [0, 1], got {getattr(data, key)}")
    if (data.room or data.background) and data.kind != "dynamic":
        raise ValueError("config keys 'data.room' and 'data.background' act in dynamic mixing and need "
                         f"data.kind=dynamic (got {data.kind!r})")
    if len(data.babble) != 2 or not 0 <= data.babble[0] <= data.babble[1]:
        raise ValueError(f"config key 'data.babble' must be [low, high] talkers with 0 <= low <= high, got {data.babble}")
    if data.room and data.hrtf:
        raise ValueError("config key 'data.room' is the single-channel room; binaural mixing puts talkers in a room "
                         "with data.rt60 alone: drop data.room")
    if not data.hrtf:
        if data.rt60 is not None and not data.room:
            raise ValueError("config key 'data.rt60' needs data.hrtf (the room of dynamic binaural mixing) or "
                             "data.room > 0 (single-channel mixing in rooms); drop data.rt60 or set one of them")
        if data.rt60 is not None:
            pair("rt60", data.rt60, 0.0, 10.0)
            if data.rt60[0] <= 0:
                raise ValueError(f"config key 'data.rt60' needs positive reverberation times in seconds, got {data.rt60}")
        return
    if data.kind != "dynamic":
        raise ValueError(
            f"config key 'data.hrtf' renders talkers on the fly and needs data.kind=dynamic (got {data.kind!r}); "
            "a prepared binaural set ('voxsep prepare binaural') is read with data.kind=folder and no data.hrtf"
        )
    if not 0 <= data.min_separation < 180:
        raise ValueError(f"config key 'data.min_separation' must be in [0, 180) degrees, got {data.min_separation}")
    pair("azimuth_range", data.azimuth_range, -180.0, 180.0)
    pair("elevation_range", data.elevation_range, -90.0, 90.0)
    if data.rt60 is not None:
        pair("rt60", data.rt60, 0.0, 10.0)
        if data.rt60[0] <= 0:
            raise ValueError(f"config key 'data.rt60' needs positive reverberation times in seconds, got {data.rt60}")


def model_kwargs(config: Config) -> dict[str, Any]:
    """Arguments for ``models.build``: ``model.args`` plus n_src/sample_rate from ``data``."""
    from voxsep import models

    kwargs = dict(config.model.args)
    valid = models.model_arguments(config.model.name)
    for key, value in (("n_src", model_n_src(config.data)), ("sample_rate", config.data.sample_rate)):
        if key in valid:
            kwargs[key] = value
    return kwargs


# --------------------------------------------------------------------------- overrides

def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` strings to a nested dict (in place; also returned).

    ``model.args.<name>=value`` sets a model argument; its value is parsed as YAML
    (``true``, ``3``, ``[1, 2]``) and converted to the type of the model's default.
    Other values are converted later to the dataclass field types.

    Raises:
        ValueError: malformed override or unknown key (with the valid keys listed).
    """
    hints = typing.get_type_hints(Config)
    sections = [f.name for f in dataclasses.fields(Config)]
    for override in overrides:
        if "=" not in override:
            raise ValueError(f"override {override!r} is not of the form section.key=value (e.g. optim.lr=5e-4)")
        dotted, raw = override.split("=", 1)
        parts = dotted.strip().split(".")
        if parts[0] not in sections:
            raise _unknown_key_error(parts[0], sections, "section ")
        section = values.setdefault(parts[0], {}) or {}
        values[parts[0]] = section
        names = [f.name for f in dataclasses.fields(hints[parts[0]])]
        if len(parts) < 2 or parts[1] not in names:
            raise _unknown_key_error(parts[1] if len(parts) > 1 else "", names, f"in section {parts[0]!r}: ")
        if parts[0] == "model" and parts[1] == "args" and len(parts) == 3:
            section.setdefault("args", {})
            if section["args"] is None:
                section["args"] = {}
            section["args"][parts[2]] = _model_arg_value(values, parts[2], raw)
        elif len(parts) == 2:
            section[parts[1]] = raw
        else:
            raise ValueError(f"override key {dotted!r} is too deep; only model.args.<name> has a third level")
    return values


def _model_arg_value(values: dict[str, Any], name: str, raw: str) -> Any:
    from voxsep import models

    model_name = (values.get("model") or {}).get("name", ModelConfig.name)
    valid = models.model_arguments(model_name)
    if name not in valid:
        raise _unknown_key_error(name, list(valid), f"in 'model.args' for {model_name!r}: ")
    parsed = yaml.safe_load(raw) if raw.strip() else None
    default = valid[name]
    if isinstance(default, bool):
        return _coerce(raw, bool, f"model.args.{name}")
    if isinstance(default, float) and isinstance(parsed, (int, str)):
        return _coerce(raw, float, f"model.args.{name}")
    if isinstance(default, str) and parsed is not None and not isinstance(parsed, str):
        return raw
    return parsed


# --------------------------------------------------------------------------- YAML I/O

def load_config(path: str | os.PathLike | None, overrides: list[str] | None = None) -> Config:
    """Read a YAML recipe (``None``: all defaults), apply overrides, validate.

    Raises:
        FileNotFoundError: no such recipe.
        ValueError: invalid YAML, unknown key, wrong type or value.
    """
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"recipe not found: {path} (recipes live under recipes/<corpus>/<model>.yaml)")
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as error:
            raise ValueError(f"{path} is not valid YAML: {error}") from error
        if not isinstance(values, dict):
            raise ValueError(f"{path} must hold a mapping of sections (data, model, ...), got {type(values).__name__}")
    try:
        return config_from_dict(apply_overrides(values, list(overrides or [])))
    except ValueError as error:
        where = f"{path}: " if path is not None else ""
        raise ValueError(f"{where}{error}") from None


def dump_config(config: Config) -> str:
    """The YAML text of ``config`` (sections in the dataclass order)."""
    return yaml.safe_dump(config_to_dict(config), sort_keys=False, default_flow_style=False)


def save_config(config: Config, path: str | os.PathLike) -> Path:
    """Write ``config`` as YAML atomically (temporary file + ``os.replace``)."""
    return write_text_atomic(path, dump_config(config))


__all__ = [
    "Config",
    "DataConfig",
    "ModelConfig",
    "LossConfig",
    "OptimConfig",
    "ScheduleConfig",
    "TrainConfig",
    "LogConfig",
    "load_config",
    "save_config",
    "dump_config",
    "config_from_dict",
    "config_to_dict",
    "apply_overrides",
    "validate_config",
    "model_kwargs",
    "n_src_range",
    "model_n_src",
    "variable_n_src",
]
