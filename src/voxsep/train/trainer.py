"""The training loop: one function, ``train(config, exp_dir)``, readable top to bottom.

What it does, in order: pick the device and (under torchrun) join the process group;
seed everything; build the model (or fine-tune from ``init_from``), the optimiser and
the plateau/warm-up schedule; restore ``last.pt`` when resuming; then for each epoch
draw batches from a ``ResumableSampler``, run forward/backward under autocast, clip,
step, and every ``valid_every_steps`` (or at each epoch end) validate SI-SNRi and SNRi,
adjust the learning rate, and write ``last.pt`` / ``best.pt``. The score that selects
``best.pt``, halves the learning rate and stops early follows the loss
(:func:`selection_metric`): SI-SNRi for the SI-SNR loss, SNRi for the SNR loss
(binaural recipes); the log line and the checkpoint meta (``valid_metric``) name it.

Resumption is exact on CPU: ``last.pt`` holds the model, optimiser, schedule, gradient
scaler, the RNG states (torch, CUDA, NumPy, Python — as tensors/lists, loadable with
``weights_only=True``) and the data position (epoch, micro-batches done). Every example
is read with RNGs seeded from (seed, epoch, index), so its random crop does not depend
on the worker that reads it. Checkpoints are written only at optimiser-step boundaries.

Ctrl-C: the first one asks the loop to stop at the next step boundary, write
``last.pt`` and return (``status == "interrupted"``); a second one raises at once.

References: mixed precision as in ``torch.amp``; PIT (Yu et al., ICASSP 2017; Kolbæk
et al., TASLP 2017); learning-rate halving on plateau (Luo & Mesgarani, TASLP 2019).
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from voxsep import checkpoint, models
from voxsep.config import Config, config_to_dict, model_kwargs, save_config
from voxsep.train import distributed as D
from voxsep.train.compiled import compile_for_training, training_input_shape
from voxsep.train.rng import rng_state, seed_everything, set_rng_state
from voxsep.train.logging import Progress, TensorBoard, close_logger, setup_logger

CHECKPOINT_NAMES = ("last.pt", "best.pt")


class TrainingAborted(RuntimeError):
    """The run stopped because of repeated non-finite losses."""


@dataclass
class TrainResult:
    """What a run ended with.

    Attributes:
        status: ``finished`` (all epochs), ``max_steps``, ``early_stop`` or ``interrupted``.
        step: optimiser steps done.
        epoch: epochs completed.
        best_si_snri: best validation SI-SNRi in dB (``-inf`` if never validated).
        history: one dict per validation (step, epoch, si_snri, snri, metric, loss, lr).
        metric: the validation score that selected ``best.pt`` and drove the learning-rate
            halving (:func:`selection_metric`: ``si_snri`` or ``snri``).
        best_score: its best value in dB (``-inf`` if never validated).
    """

    status: str
    step: int
    epoch: int
    best_si_snri: float
    history: list[dict[str, float]] = field(default_factory=list)
    metric: str = "si_snri"
    best_score: float = -math.inf


# --------------------------------------------------------------------------- schedule

class PlateauSchedule:
    """Linear warm-up, then multiply the learning rate by ``factor`` after ``patience``
    validations without improvement (never below ``min_lr``); counts validations since
    the best one for early stopping."""

    def __init__(self, base_lr: float, patience: int, factor: float, min_lr: float, warmup_steps: int) -> None:
        self.lr = base_lr
        self.patience = patience
        self.factor = factor
        self.min_lr = min_lr
        self.warmup_steps = warmup_steps
        self.best = -math.inf
        self.bad_validations = 0  # since the last improvement or halving
        self.since_best = 0

    def lr_at(self, step: int) -> float:
        """Learning rate for optimiser step number ``step`` (0-based)."""
        if self.warmup_steps and step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        return self.lr

    def validated(self, metric: float) -> bool:
        """Record a validation score (higher is better); returns True on improvement."""
        if metric > self.best:
            self.best = metric
            self.bad_validations = 0
            self.since_best = 0
            return True
        self.bad_validations += 1
        self.since_best += 1
        if self.patience and self.bad_validations >= self.patience:
            self.lr = max(self.min_lr, self.lr * self.factor)
            self.bad_validations = 0
        return False

    def state_dict(self) -> dict[str, float]:
        return {"lr": self.lr, "best": self.best, "bad_validations": self.bad_validations, "since_best": self.since_best}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.lr = float(state["lr"])
        self.best = float(state["best"])
        self.bad_validations = int(state["bad_validations"])
        self.since_best = int(state["since_best"])


# --------------------------------------------------------------------------- set-up helpers

def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` → this process's GPU under torchrun (``LOCAL_RANK``) or ``cuda``, else CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"train.device={name} but CUDA is not available here; use train.device=cpu")
        if device.index is None:
            device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    return device


def configure_threads(num_threads: int, local_world_size: int) -> int:
    """Intra-op threads: the CPUs this process may use, shared among local processes."""
    if num_threads <= 0:
        available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        num_threads = max(1, available // max(1, local_world_size))
    torch.set_num_threads(num_threads)
    return num_threads


def build_spatializer(config: Config) -> Any:
    """The :class:`~voxsep.data.spatial.BinauralSpatializer` of ``config.data.hrtf``, or ``None``.

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
        return None
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


def build_datasets(config: Config) -> tuple[Dataset, Dataset]:
    """Training and validation datasets described by ``config.data`` (with ``data.hrtf``,
    dynamic mixing renders two-ear mixtures through :func:`build_spatializer`)."""
    from voxsep.data.channel import RandomChannel
    from voxsep.data.datasets import DynamicMixDataset, MixtureDataset, load_speaker_pool

    data = config.data
    if not data.valid:
        raise ValueError("data.valid is empty: give a validation manifest or folder (data.valid=PATH)")
    if data.kind == "dynamic":
        if not data.pool:
            raise ValueError("data.kind=dynamic needs data.pool (an utterance list CSV from 'voxsep prepare')")
        noise_pool = [p for paths in load_speaker_pool(data.noise_pool).values() for p in paths] if data.noise_pool else None
        spatializer = build_spatializer(config)
        train_set: Dataset = DynamicMixDataset(
            load_speaker_pool(data.pool),
            data.n_src,
            data.sample_rate,
            data.segment,
            data.examples_per_epoch,
            seed=config.train.seed,
            gain_db=tuple(data.gain_db),
            speed_perturb=tuple(data.speed_perturb) if data.speed_perturb else None,
            noise_pool=noise_pool,
            snr_db=tuple(data.snr_db),
            spatializer=spatializer,
            channel=RandomChannel(data.sample_rate, data.channel_augment) if data.channel_augment > 0 else None,
        )
    else:
        if not data.train:
            raise ValueError("data.train is empty: give a training manifest or folder (data.train=PATH)")
        train_set = MixtureDataset(data.train, data.n_src, data.sample_rate, segment=data.segment, train=True,
                                   seed=config.train.seed)
    # With valid_segment, validation examples are crops (train=True crops; their
    # positions are fixed because the trainer reads validation examples with fixed seeds
    # and epoch 0); without it, whole utterances.
    valid_set = MixtureDataset(data.valid, data.n_src, data.sample_rate, segment=data.valid_segment,
                               train=data.valid_segment is not None, seed=config.train.seed + 1)
    if data.kind == "dynamic" and data.hrtf and len(valid_set) and valid_set[0][0].dim() != 2:
        raise ValueError(
            f"data.valid={data.valid} holds single-channel mixtures but data.hrtf trains a binaural model; "
            "validate on a binaural set ('voxsep prepare binaural', e.g. data/binaural/2speakers/wav8k/min/cv)"
        )
    return train_set, valid_set


def build_loss(config: Config) -> torch.nn.Module:
    from voxsep.losses import PITLoss

    return PITLoss(kind=config.loss.kind, snr_max=config.loss.snr_max)


def load_init_weights(model: torch.nn.Module, path: str | os.PathLike) -> None:
    """Copy the weights of checkpoint ``path`` into ``model`` (fine-tuning).

    Raises:
        ValueError: the checkpoint's model name or configuration differs from ``model``'s,
            naming the differing arguments.
    """
    data = checkpoint.read(path)
    if data["model_name"] != model.model_name:
        raise ValueError(
            f"--init-from {path}: checkpoint holds a {data['model_name']!r} model but the recipe "
            f"builds {model.model_name!r}; use a recipe with model.name={data['model_name']}"
        )
    differing = {
        key: (data["config"].get(key), value)
        for key, value in model.config.items()
        if key not in ("sample_rate",) and data["config"].get(key) != value
    }
    if differing:
        details = ", ".join(f"{k}: checkpoint {a!r} vs recipe {b!r}" for k, (a, b) in differing.items())
        raise ValueError(f"--init-from {path}: architecture mismatch ({details}); set model.args to match the checkpoint")
    try:
        model.load_state_dict(data["state_dict"])
    except RuntimeError as error:
        raise ValueError(f"--init-from {path}: the weights do not fit the model: {error}") from error


def _batch_improvement(pairwise: Callable[..., torch.Tensor], estimates: torch.Tensor, sources: torch.Tensor,
                       mixture: torch.Tensor) -> torch.Tensor:
    from voxsep.core.pit import pit_from_pairwise

    estimate_loss, _ = pit_from_pairwise(pairwise(estimates, sources))
    repeated = mixture.unsqueeze(1).expand_as(sources)
    mixture_loss = torch.diagonal(pairwise(repeated, sources), dim1=1, dim2=2).mean(-1)
    return mixture_loss - estimate_loss


def batch_si_snri(estimates: torch.Tensor, sources: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
    """SI-SNR improvement per example, in dB, averaged over sources (best permutation).

    Args:
        estimates, sources: ``(batch, n_src, *dims, time)``.
        mixture: ``(batch, *dims, time)``.

    Returns:
        ``(batch,)`` float32: mean over sources of SI-SNR(source, matched estimate) minus
        SI-SNR(source, mixture). Computed on the device with ``voxsep.losses`` (no copy to
        the host), so validation costs no more than a forward pass.
    """
    from voxsep.core.pairwise import pairwise_neg_si_snr

    return _batch_improvement(pairwise_neg_si_snr, estimates, sources, mixture)


def batch_snri(estimates: torch.Tensor, sources: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
    """SNR improvement per example, in dB, averaged over sources (best-SNR permutation).

    As :func:`batch_si_snri` with the plain (scale-dependent) SNR; multichannel
    ``dims`` (e.g. the two ears of a binaural image) are scored together, as the
    binaural SNR loss and ``voxsep.metrics.spatial.binaural_scores`` do.
    """
    from voxsep.core.pairwise import pairwise_neg_snr

    return _batch_improvement(pairwise_neg_snr, estimates, sources, mixture)


VALID_METRIC_NAMES = {"si_snri": "SI-SNRi", "snri": "SNRi"}


def selection_metric(config: Config) -> str:
    """The validation score that picks ``best.pt``, halves the learning rate and stops early.

    It follows the training loss: ``si_snri`` for the SI-SNR loss, ``snri`` for the SNR
    loss (binaural recipes: SI-SNR's scale invariance would hide a wrong level per ear,
    i.e. a wrong ILD, that the SNR loss trains against; Han et al. 2020 report SNRi).
    """
    return "snri" if config.loss.kind == "snr" else "si_snri"


def _pit_loss(loss_fn: torch.nn.Module, estimates: torch.Tensor, sources: torch.Tensor) -> torch.Tensor:
    """The PIT loss; a NaN estimate gives a NaN loss (skipped by the loop) instead of raising.

    The NaN loss still goes through ``backward`` so that, under DDP, every rank joins the
    gradient all-reduce and every rank sees the same non-finite gradient norm.
    """
    try:
        loss, _ = loss_fn(estimates, sources)
    except ValueError as error:
        if "NaN" not in str(error):
            raise
        loss = estimates.sum() * math.nan
    return loss


class _StopRequest:
    """SIGINT handler: the first Ctrl-C asks for a clean stop, the second raises."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> "_StopRequest":
        import threading

        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _compiled_or_eager(config: Config, module: torch.nn.Module, device: torch.device,
                       autocast_dtype: torch.dtype | None, log: Any) -> tuple[Any, float | None]:
    """The training-step model: compiled when the batch shape is fixed, else ``module``.

    Variable-length crops (``data.segment`` unset) would recompile at every new length,
    so they train eager, with a note in the log.
    """
    data = config.data
    if data.segment is None:
        log.info("train.compile: data.segment is unset (whole utterances of varying length); training eager")
        return module, None
    in_channels = int(getattr(models.model_class(config.model.name), "in_channels", 1))
    shape = training_input_shape(data.batch_size, int(round(data.segment * data.sample_rate)), in_channels)
    return compile_for_training(module, shape, device, autocast_dtype, log)


# --------------------------------------------------------------------------- the loop

def train(
    config: Config,
    exp_dir: str | os.PathLike,
    resume: bool = False,
    init_from: str | os.PathLike | None = None,
    *,
    overwrite: bool = False,
    train_set: Dataset | None = None,
    valid_set: Dataset | None = None,
    on_step: Callable[[int], None] | None = None,
) -> TrainResult:
    """Train ``config`` in ``exp_dir``; see the module docstring.

    Args:
        config: the experiment (``voxsep.config.load_config``).
        exp_dir: experiment folder: ``config.yaml``, ``train.log``, ``last.pt``,
            ``best.pt``, ``tensorboard/``.
        resume: continue from ``exp_dir/last.pt``.
        init_from: checkpoint whose weights initialise the model (fine-tuning: new
            optimiser and schedule). The architecture must match.
        overwrite: start afresh even if ``exp_dir`` already holds checkpoints.
        train_set, valid_set: datasets to use instead of those described by
            ``config.data`` (items ``(mixture, sources)`` as ``MixtureDataset``'s).
        on_step: called with the step number after every optimiser step.

    Returns:
        ``TrainResult``.

    Raises:
        FileExistsError: ``exp_dir`` holds checkpoints and neither ``resume`` nor
            ``overwrite`` was given.
        FileNotFoundError: ``resume`` without ``exp_dir/last.pt``.
        TrainingAborted: ``config.train.nan_tolerance`` non-finite steps in a row.
    """
    exp_dir = Path(exp_dir)
    tc = config.train
    device = resolve_device(tc.device, int(os.environ.get("LOCAL_RANK", "0")))
    info = D.init_distributed(device)
    try:
        return _train(config, exp_dir, resume, init_from, overwrite, train_set, valid_set, on_step, device, info)
    finally:
        D.shutdown_distributed()


def _train(config, exp_dir, resume, init_from, overwrite, train_set, valid_set, on_step, device, info) -> TrainResult:  # noqa: C901 - the loop is meant to be read in one place
    tc, data = config.train, config.data
    last_path, best_path = exp_dir / "last.pt", exp_dir / "best.pt"
    if resume and init_from:
        raise ValueError("use either --resume (continue this experiment) or --init-from (fine-tune), not both")
    if resume and not last_path.is_file():
        raise FileNotFoundError(f"--resume: {last_path} does not exist; start without --resume")
    if not resume and not overwrite and any((exp_dir / n).exists() for n in CHECKPOINT_NAMES):
        raise FileExistsError(f"{exp_dir} already holds checkpoints; pass --resume to continue or --overwrite to start again")
    if info.is_main:
        exp_dir.mkdir(parents=True, exist_ok=True)
        if overwrite and not resume:
            for name in CHECKPOINT_NAMES + ("train.log",):
                (exp_dir / name).unlink(missing_ok=True)
            shutil.rmtree(exp_dir / "tensorboard", ignore_errors=True)
        save_config(config, exp_dir / "config.yaml")
    log = setup_logger(exp_dir if info.is_main else None, info.is_main)
    threads = configure_threads(tc.num_threads, info.local_world_size)

    # ---- model, optimiser, schedule
    seed_everything(tc.seed)
    model = models.build(config.model.name, **model_kwargs(config))
    if init_from:
        load_init_weights(model, init_from)
        log.info(f"initialised weights from {init_from}")
    model.to(device)
    n_params = sum(p.numel() for p in model.parameters())
    Optimizer = torch.optim.AdamW if config.optim.name == "adamw" else torch.optim.Adam
    optimizer = Optimizer(
        model.parameters(), lr=config.optim.lr, betas=tuple(config.optim.betas),
        weight_decay=config.optim.weight_decay, foreach=True,
    )
    sched = config.schedule
    schedule = PlateauSchedule(config.optim.lr, sched.patience, sched.factor, sched.min_lr, sched.warmup_steps)
    if tc.precision == "fp16" and device.type != "cuda":
        raise ValueError("train.precision=fp16 needs a CUDA device; on CPU use train.precision=bf16")
    scaler = torch.amp.GradScaler("cuda", enabled=tc.precision == "fp16")
    autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(tc.precision)
    loss_fn = build_loss(config)
    metric = selection_metric(config)
    metric_name = VALID_METRIC_NAMES[metric]

    # ---- state to resume
    epoch, step, batch_in_epoch, nan_streak = 0, 0, 0, 0
    history: list[dict[str, float]] = []
    if resume:
        saved = checkpoint.read(last_path)
        saved_model = saved["meta"].get("train_config", {}).get("model", {})
        if saved["model_name"] != model.model_name or any(saved["config"].get(k) != v for k, v in model.config.items()):
            raise ValueError(
                f"--resume: {last_path} holds a different model ({saved['model_name']} {saved_model.get('args')}) "
                "than the recipe; resume with the experiment's own config.yaml"
            )
        model.load_state_dict(saved["state_dict"])
        state = saved["meta"]["training"]
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        scaler.load_state_dict(state["scaler"])
        epoch, step, batch_in_epoch = int(state["epoch"]), int(state["step"]), int(state["batch_in_epoch"])
        history = list(state["history"])
        set_rng_state(state["rng"])
        saved_metric = saved["meta"].get("valid_metric") or "si_snri"  # checkpoints before the choice: SI-SNRi
        if saved_metric != metric:
            log.warning(f"{last_path} selected on validation {VALID_METRIC_NAMES.get(saved_metric, saved_metric)}; "
                        f"this run selects on {metric_name}: the best score and plateau counters start afresh")
            schedule.best, schedule.bad_validations, schedule.since_best = -math.inf, 0, 0
        log.info(f"resumed from {last_path}: epoch {epoch}, step {step}, best {metric_name} {schedule.best:.2f} dB")
    boundary_rng = rng_state()

    ddp_model = model
    if info.enabled:
        # find_unused_parameters: e.g. Conv-TasNet's last residual 1x1 conv feeds nothing
        # when the skip path is the output; DDP must not wait for its gradient.
        ddp_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True
        )

    # ---- the compiled training path (validation stays eager: its crops differ in shape)
    train_model, compile_seconds = ddp_model, None
    if tc.compile:
        train_model, compile_seconds = _compiled_or_eager(config, ddp_model, device, autocast_dtype, log)

    # ---- data
    if train_set is None or valid_set is None:
        built_train, built_valid = build_datasets(config)
        train_set = train_set or built_train
        valid_set = valid_set or built_valid
    sampler = D.ResumableSampler(train_set, info.world_size, info.rank, shuffle=True, seed=tc.seed,
                                 batch_size=data.batch_size, drop_last=True)
    loader_kwargs = dict(
        num_workers=data.num_workers,
        persistent_workers=data.num_workers > 0,
        pin_memory=device.type == "cuda",
    )
    # Each loader gets its own generator so that the global RNG is never consumed.
    train_loader = DataLoader(D.SeededDataset(train_set), batch_size=data.batch_size, sampler=sampler, drop_last=True,
                              generator=torch.Generator().manual_seed(tc.seed), **loader_kwargs)
    # Validation examples are read with fixed per-example seeds: identical at every
    # validation, whatever the worker, rank or resumption.
    valid_keys = [(i, D.item_seed(tc.seed + 1, 0, i), 0) for i in D.shard_indices(len(valid_set), info)]
    valid_batch = data.valid_batch_size if data.valid_segment is not None else 1
    valid_loader = DataLoader(Subset(D.SeededDataset(valid_set), valid_keys), batch_size=valid_batch, shuffle=False,
                              generator=torch.Generator().manual_seed(tc.seed + 1), **loader_kwargs)
    micro_per_epoch = (len(sampler) + sampler.start_batch * data.batch_size) // data.batch_size
    steps_per_epoch = micro_per_epoch // tc.grad_accum
    if steps_per_epoch == 0:
        raise ValueError(
            f"the training set gives {micro_per_epoch} batch(es) per process per epoch, fewer than "
            f"train.grad_accum={tc.grad_accum}; lower data.batch_size or train.grad_accum"
        )
    total_steps = steps_per_epoch * tc.epochs
    if tc.max_steps:
        total_steps = min(total_steps, tc.max_steps)

    tensorboard = TensorBoard(exp_dir, config.log.tensorboard and info.is_main)
    example_ids = list(range(min(config.log.audio_examples, len(valid_set)))) if info.is_main else []
    log.info(f"best.pt, learning-rate halving and early stopping follow validation {metric_name} "
             f"(loss.kind={config.loss.kind})")
    log.info(
        f"{config.model.name}: {n_params / 1e6:.2f} M parameters | {device} x {info.world_size} process(es), "
        f"{threads} thread(s) each | {tc.precision} | {len(train_set)} training / {len(valid_set)} validation examples | "
        f"{steps_per_epoch} steps/epoch, global batch {data.batch_size * tc.grad_accum * info.world_size}"
    )

    # ---- helpers closed over the state above
    def validate() -> tuple[dict[str, float], float]:
        """Mean validation ``{"si_snri", "snri"}`` (dB) and PIT loss over all ranks' shards."""
        model.eval()
        total_si_snri, total_snri, total_loss, count = 0.0, 0.0, 0.0, 0
        with torch.no_grad():
            for i, (mixture, sources) in enumerate(valid_loader):
                if tc.max_valid_batches and i >= tc.max_valid_batches:
                    break
                mixture, sources = mixture.to(device), sources.to(device)
                with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                    estimates = model(mixture)
                estimates = estimates.float()
                loss, _ = loss_fn(estimates, sources)
                total_si_snri += float(batch_si_snri(estimates, sources, mixture).sum())
                total_snri += float(batch_snri(estimates, sources, mixture).sum())
                total_loss += float(loss) * mixture.shape[0]
                count += mixture.shape[0]
        total_si_snri, total_snri, total_loss, count = D.all_reduce_sum(
            [total_si_snri, total_snri, total_loss, count], device, info)
        model.train()
        if count == 0:
            raise ValueError("the validation set is empty; check data.valid")
        return {"si_snri": total_si_snri / count, "snri": total_snri / count}, total_loss / count

    def log_audio_examples() -> None:
        model.eval()
        with torch.no_grad():
            for i in example_ids:
                mixture, _ = D.SeededDataset(valid_set)[(i, D.item_seed(tc.seed + 1, 0, i), 0)]
                with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                    estimates = model(mixture.unsqueeze(0).to(device))[0].float().cpu()
                if mixture.dim() == 2:  # multichannel: show the first channel
                    mixture, estimates = mixture[0], estimates[:, 0]
                tensorboard.audio_example(f"example{i}", mixture.numpy(), estimates.numpy(), data.sample_rate, step)
        model.train()

    def save_checkpoint(path: Path, rng: dict[str, Any], with_state: bool, scores: dict[str, float] | None) -> bool:
        """Rank 0 writes ``path`` atomically; on failure the old file stays and we say so.

        ``scores``: this step's validation scores (``None``: not validated); the meta
        names the selection metric (``valid_metric``) and its value (``valid_score``).
        """
        if not info.is_main:
            return True
        scores = scores or {}
        meta: dict[str, Any] = {
            "sample_rate": data.sample_rate,
            "epoch": epoch,
            "step": step,
            "valid_metric": metric,
            "valid_score": scores.get(metric),
            "valid_si_snri": scores.get("si_snri"),
            "valid_snri": scores.get("snri"),
            "train_config": config_to_dict(config),
        }
        if with_state:
            meta["training"] = {
                "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(),
                "scaler": scaler.state_dict(),
                "epoch": epoch,
                "step": step,
                "batch_in_epoch": batch_in_epoch,
                "history": history,
                "rng": rng,
            }
        try:
            checkpoint.save(path, model, **meta)
            return True
        except OSError as error:
            log.error(f"{error}; training goes on, the previous {path.name} (if any) is intact")
            return False

    # ---- the loop
    status = "finished"
    model.train()
    progress = Progress(total_steps, step, info.is_main, log, config.log.log_every)
    window_loss, window_count, window_examples, window_start = 0.0, 0, 0, time.perf_counter()
    window_wait, window_steps = 0.0, 0
    last_valid_step = -1
    in_update = False
    try:
        with _StopRequest() as stop:
            while epoch < tc.epochs and status == "finished":
                sampler.set_epoch(epoch)
                sampler.set_start_batch(batch_in_epoch)
                micro, accumulated = 0, torch.zeros((), device=device)
                fetch_start = time.perf_counter()
                for mixture, sources in train_loader:
                    window_wait += time.perf_counter() - fetch_start
                    if batch_in_epoch + micro >= steps_per_epoch * tc.grad_accum:
                        break  # a partial accumulation window at the epoch end is dropped
                    mixture = mixture.to(device, non_blocking=True)
                    sources = sources.to(device, non_blocking=True)
                    micro += 1
                    sync = micro % tc.grad_accum == 0
                    with ddp_model.no_sync() if info.enabled and not sync else contextlib.nullcontext():
                        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                            estimates = train_model(mixture)
                        loss = _pit_loss(loss_fn, estimates.float(), sources)
                        scaler.scale(loss / tc.grad_accum).backward()
                    accumulated += loss.detach()
                    if not sync:
                        fetch_start = time.perf_counter()
                        continue

                    # ---- optimiser step (one host sync: loss and gradient norm)
                    for group in optimizer.param_groups:
                        group["lr"] = schedule.lr_at(step)
                    scaler.unscale_(optimizer)
                    max_norm = config.optim.clip_grad_norm or math.inf
                    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
                    mean_loss = accumulated / tc.grad_accum
                    if info.enabled:
                        torch.distributed.all_reduce(mean_loss)
                        mean_loss /= info.world_size
                    loss_value, norm_value = torch.stack([mean_loss.float(), grad_norm.float()]).tolist()
                    finite = math.isfinite(loss_value) and (math.isfinite(norm_value) or scaler.is_enabled())
                    if finite:
                        in_update = True
                        scaler.step(optimizer)
                        scaler.update()
                        in_update = False
                        nan_streak = 0
                    else:
                        nan_streak += 1
                        progress.write(
                            f"warning: non-finite loss/gradient at step {step} (loss {loss_value}, grad norm "
                            f"{norm_value}); batch skipped ({nan_streak} in a row, limit {tc.nan_tolerance})"
                        )
                        if scaler.is_enabled():
                            scaler.update()
                        if nan_streak >= tc.nan_tolerance:
                            raise TrainingAborted(
                                f"{nan_streak} non-finite steps in a row (train.nan_tolerance={tc.nan_tolerance}); "
                                f"stopping. Lower optim.lr, enable optim.clip_grad_norm, or check the data; "
                                f"{last_path} holds the last good state"
                            )
                    optimizer.zero_grad(set_to_none=True)
                    accumulated = torch.zeros((), device=device)
                    batch_in_epoch += micro
                    micro = 0
                    step += 1
                    boundary_rng = rng_state()

                    if finite:
                        window_loss += loss_value
                        window_count += 1
                    window_examples += data.batch_size * tc.grad_accum * info.world_size
                    window_steps += 1
                    if step % config.log.log_every == 0 and window_count:
                        elapsed = time.perf_counter() - window_start
                        values = {"loss": window_loss / window_count, "lr": optimizer.param_groups[0]["lr"],
                                  "grad_norm": norm_value, "examples_per_s": window_examples / max(elapsed, 1e-9),
                                  "data_wait_s": window_wait / max(window_steps, 1)}
                        tensorboard.scalars({f"train/{k}": v for k, v in values.items()}, step)
                        progress.update(step, values)
                        window_loss, window_count, window_examples, window_start = 0.0, 0, 0, time.perf_counter()
                        window_wait, window_steps = 0.0, 0
                    else:
                        progress.update(step, {"loss": loss_value})
                    if on_step is not None:
                        on_step(step)
                    fetch_start = time.perf_counter()

                    end_of_epoch = batch_in_epoch >= steps_per_epoch * tc.grad_accum
                    if end_of_epoch:
                        epoch, batch_in_epoch = epoch + 1, 0
                    due = (tc.valid_every_steps and step % tc.valid_every_steps == 0) or (not tc.valid_every_steps and end_of_epoch)
                    if due:
                        scores, valid_loss = validate()
                        last_valid_step = step
                        improved = schedule.validated(scores[metric])
                        record = {"step": step, "epoch": epoch, **scores, "metric": metric, "loss": valid_loss,
                                  "lr": schedule.lr}
                        history.append(record)
                        tensorboard.scalars({"valid/si_snri": scores["si_snri"], "valid/snri": scores["snri"],
                                             "valid/loss": valid_loss, "train/lr_after_valid": schedule.lr}, step)
                        log_audio_examples()
                        tensorboard.flush()
                        other = "snri" if metric == "si_snri" else "si_snri"
                        progress.write(
                            f"validation at step {step} (epoch {epoch}): {metric_name} {scores[metric]:.2f} dB"
                            f"{' (best)' if improved else ''}, "
                            f"{VALID_METRIC_NAMES[other]} {scores[other]:.2f} dB, loss {valid_loss:.3f}, lr {schedule.lr:.3g}"
                        )
                        if improved:
                            save_checkpoint(best_path, boundary_rng, False, scores)
                        save_checkpoint(last_path, boundary_rng, True, scores)
                        if sched.early_stop_patience and schedule.since_best >= sched.early_stop_patience:
                            status = "early_stop"
                    elif end_of_epoch:
                        save_checkpoint(last_path, boundary_rng, True, None)
                    if tc.max_steps and step >= tc.max_steps and status == "finished":
                        status = "max_steps"
                    if D.broadcast_flag(stop.requested, device, info):
                        status = "interrupted"
                    if status != "finished" or end_of_epoch:
                        break
    except KeyboardInterrupt:
        status = "interrupted"
        if in_update:
            log.error(f"interrupted inside an optimiser update: weights may be half-updated, {last_path} is left as it was")
            progress.close()
            close_logger(log)
            tensorboard.close()
            raise
    finally:
        progress.close()

    if status in ("interrupted", "max_steps") or last_valid_step != step:
        if save_checkpoint(last_path, boundary_rng, True, None) and status == "interrupted":
            log.info(f"interrupted: wrote {last_path} at step {step}; continue with --resume")
    log.info(f"training {status} at step {step}, epoch {epoch}; best validation {metric_name} {schedule.best:.2f} dB")
    tensorboard.close()
    close_logger(log)
    best_si_snri = max((h["si_snri"] for h in history if "si_snri" in h), default=-math.inf)
    return TrainResult(status=status, step=step, epoch=epoch, best_si_snri=best_si_snri, history=history,
                       metric=metric, best_score=schedule.best)
