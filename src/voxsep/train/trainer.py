"""The training loop: ``train(config, exp_dir)``, readable top to bottom.

:func:`train` first builds everything a run needs -- model, optimiser, schedule, the
restored :class:`~voxsep.train.state.TrainState` when resuming, the datasets
(:func:`voxsep.data.build.build_datasets`), the compiled training step
(:mod:`voxsep.train.compiled`) -- *without writing anything*, so that a run that cannot
start leaves its folder as it was (:mod:`voxsep.train.experiment`). Only then does it
clear a previous run (``overwrite``), write ``config.yaml`` and open ``train.log``.

The loop (:func:`_run_loop`): for each epoch, batches from a ``ResumableSampler``;
:func:`_optimizer_step` runs forward/backward under autocast for ``grad_accum``
micro-batches, clips, and steps unless the loss or gradient is non-finite (skipped,
up to ``train.nan_tolerance`` in a row); every ``valid_every_steps`` (or at each
epoch end) :func:`_validate` scores SI-SNRi and SNRi, the schedule halves the learning
rate on a plateau, and ``last.pt`` / ``best.pt`` are written. The score that selects
``best.pt`` follows the loss (:func:`selection_metric`).

Resumption is exact on CPU: ``last.pt`` holds the model and the ``TrainState``
(optimiser, schedule, scaler, data position, history, RNG states); every example is read
with RNGs seeded from (seed, epoch, index), so its random crop does not depend on the
worker that reads it. Checkpoints are written only at optimiser-step boundaries. A
checkpoint that cannot be written (disk full) ends the run with
:class:`CheckpointWriteError`, recorded in ``train.log``; earlier checkpoints stay.

Ctrl-C: the first one asks the loop to stop at the next step boundary, write
``last.pt`` and return (``status == "interrupted"``); a second one raises at once.

References: mixed precision as in ``torch.amp``; PIT (Yu et al., ICASSP 2017; Kolbæk
et al., TASLP 2017); learning-rate halving on plateau (Luo & Mesgarani, TASLP 2019).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from voxsep import checkpoint, models
from voxsep.models import grow
from voxsep.config import Config, config_to_dict, model_kwargs, n_src_range, save_config, variable_n_src
from voxsep.core.pit import NaNScoresError
from voxsep.data.build import build_datasets
from voxsep.metrics.batch import batch_si_snri, batch_snri
from voxsep.train import distributed as D
from voxsep.train import experiment
from voxsep.train.compiled import compile_for_training, training_input_shape
from voxsep.train.logging import Progress, TensorBoard, attach_log_file, close_logger, setup_logger
from voxsep.train.rng import seed_everything
from voxsep.train.schedule import PlateauSchedule
from voxsep.train.state import TrainState

VALID_METRIC_NAMES = {"si_snri": "SI-SNRi", "snri": "SNRi", "neg_loss": "-loss"}


class TrainingAborted(RuntimeError):
    """The run stopped because of repeated non-finite losses."""


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (e.g. disk full); the run ended, earlier files are intact."""


@dataclass
class TrainResult:
    """What a run ended with.

    Attributes:
        status: ``finished`` (all epochs), ``max_steps``, ``early_stop``, ``interrupted``
            or ``complete`` (resumed a run that had already ended: nothing was changed).
        step: optimiser steps done.
        epoch: epochs completed.
        history: one dict per validation (step, epoch, si_snri, snri, neg_loss, metric, loss, lr).
        metric: the validation score that selected ``best.pt`` and drove the learning-rate
            halving (:func:`selection_metric`: ``si_snri``, ``snri`` or ``neg_loss``).
        best_score: its best value in dB (``-inf`` if never validated).
    """

    status: str
    step: int
    epoch: int
    history: list[dict[str, float]] = field(default_factory=list)
    metric: str = "si_snri"
    best_score: float = -math.inf

    @property
    def best_si_snri(self) -> float:
        """Best validation SI-SNRi in dB over the history (``-inf`` if never validated)."""
        return max((h["si_snri"] for h in self.history if "si_snri" in h), default=-math.inf)


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
    """Intra-op threads: ``num_threads`` when set (> 0), else ``OMP_NUM_THREADS`` when the
    environment sets it (as torch and torchrun honour it), else the CPUs this process may
    use, shared among local processes."""
    if num_threads <= 0:
        num_threads = _omp_num_threads()
    if num_threads <= 0:
        available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        num_threads = max(1, available // max(1, local_world_size))
    torch.set_num_threads(num_threads)
    return num_threads


def _omp_num_threads() -> int:
    """``OMP_NUM_THREADS`` as a positive int, or 0 when unset or not a plain positive number."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else 0


def build_loss(config: Config) -> torch.nn.Module:
    from voxsep.losses import PITLoss

    return PITLoss(kind=config.loss.kind, snr_max=config.loss.snr_max)


def load_init_weights(model: torch.nn.Module, path: str | os.PathLike) -> list[str]:
    """Copy the weights of checkpoint ``path`` into ``model`` (fine-tuning).

    A checkpoint that differs from ``model`` only in its number of outputs (``n_src``,
    e.g. a two-talker model to start a one-to-three-talker one) gives every weight whose
    shape does not depend on that number; the others keep their fresh initialisation.
    A checkpoint with fewer TCN repeats (``n_repeats``, a model that can grow:
    ``voxsep.models.grow``, Net2DeeperNet) gives all its weights to the first repeats and
    the new ones start silent, so the deeper model starts from the checkpoint's function.

    Returns:
        The names of the weights left at their initialisation (empty: all copied).

    Raises:
        ValueError: the checkpoint's model name or configuration (apart from ``n_src``)
            differs from ``model``'s, naming the differing arguments.
    """
    from voxsep.interop import read_any

    data = read_any(path)  # a voxsep checkpoint (.pt, .safetensors) or a published model it imports
    if data["model_name"] != model.model_name:
        raise ValueError(
            f"init_from {path}: checkpoint holds a {data['model_name']!r} model but the recipe "
            f"builds {model.model_name!r}; use a recipe with model.name={data['model_name']}"
        )
    differing = {
        key: (data["config"].get(key), value)
        for key, value in model.config.items()
        if key not in ("sample_rate",) and data["config"].get(key) != value
    }
    other_outputs = differing.pop("n_src", None) is not None
    # A non-causal Conv-TasNet's weights have the shapes of the causal one's (the cumulative
    # norm and left padding replace the global norm and centred padding): a warm start for
    # a causal fine-tune.
    if differing.get("causal") == (False, True):
        differing.pop("causal")
    deeper = grow.deepening(model, differing)
    if differing:
        details = ", ".join(f"{k}: checkpoint {a!r} vs recipe {b!r}" for k, (a, b) in differing.items())
        raise ValueError(f"init_from {path}: architecture mismatch ({details}); set model.args to match the checkpoint")
    state, fresh = data["state_dict"], []
    own = model.state_dict()
    if other_outputs:
        fresh = [k for k, v in own.items() if k in state and state[k].shape != v.shape]
        state = {k: v for k, v in state.items() if k not in fresh}
    if deeper is not None:
        fresh += [k for k in own if k not in state and k not in fresh]
    try:
        missing, unexpected = model.load_state_dict(state, strict=not fresh)
    except RuntimeError as error:
        raise ValueError(f"init_from {path}: the weights do not fit the model: {error}") from error
    if sorted(missing) != sorted(fresh) or unexpected:
        raise ValueError(f"init_from {path}: the weights do not fit the model: missing {sorted(set(missing) - set(fresh))}, "
                         f"unexpected {unexpected}")
    if deeper is not None:
        grow.silence_repeats(model, deeper)
    return fresh


def _abbreviate(names: list[str], shown: int = 4) -> str:
    return ", ".join(names[:shown]) + (f", … {len(names) - shown} more" if len(names) > shown else "")


def selection_metric(config: Config) -> str:
    """The validation score that picks ``best.pt``, halves the learning rate and stops early.

    It follows the training loss: ``si_snri`` for the SI-SNR loss, ``snri`` for the SNR
    loss (binaural recipes: SI-SNR's scale invariance would hide a wrong level per ear,
    i.e. a wrong ILD, that the SNR loss trains against; Han et al. 2020 report SNRi).
    A run on a variable number of talkers (``data.n_src: [low, high]``) follows the
    negated validation loss (``neg_loss``, in dB): the batch SI-SNRi/SNRi skip silent
    targets, so they cannot see an unused output that still carries a lone talker's
    voice, which the ``_var`` losses score (validate on one- and multi-talker sets).
    """
    if variable_n_src(config.data):
        return "neg_loss"
    return "snri" if config.loss.kind in ("snr", "snr_var") else "si_snri"


def _pit_loss(loss_fn: torch.nn.Module, estimates: torch.Tensor, sources: torch.Tensor) -> torch.Tensor:
    """The PIT loss; a NaN estimate gives a NaN loss (skipped by the loop) instead of raising.

    The NaN loss still goes through ``backward`` so that, under DDP, every rank joins the
    gradient all-reduce and every rank sees the same non-finite gradient norm.
    """
    try:
        loss, _ = loss_fn(estimates, sources)
    except NaNScoresError:
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
                       autocast_dtype: torch.dtype | None, log: logging.Logger) -> Any:
    """The training-step model: compiled when the batch shape is fixed, else ``module``.

    Variable-length crops (``data.segment`` unset) would recompile at every new length,
    so they train eager, with a note in the log. Validation always runs eager (its crops
    have another shape).
    """
    data = config.data
    if not config.train.compile:
        return module
    if data.segment is None:
        log.info("train.compile: data.segment is unset (whole utterances of varying length); training eager")
        return module
    in_channels = int(getattr(models.model_class(config.model.name), "in_channels", 1))
    shape = training_input_shape(data.batch_size, int(round(data.segment * data.sample_rate)), in_channels)
    return compile_for_training(module, shape, device, autocast_dtype, log)[0]


# --------------------------------------------------------------------------- one run

@dataclass
class _Run:
    """Everything the loop reads, built by :func:`_build_run` before anything is written."""

    config: Config
    exp_dir: Path
    device: torch.device
    info: D.DistInfo
    log: logging.Logger
    state: TrainState
    step_model: Any  # the DDP-wrapped and/or compiled model the optimiser steps use
    loss_fn: torch.nn.Module
    autocast_dtype: torch.dtype | None
    metric: str
    train_set: Dataset
    valid_set: Dataset
    sampler: D.ResumableSampler
    train_loader: DataLoader
    valid_loader: DataLoader
    steps_per_epoch: int
    total_steps: int
    threads: int
    tensorboard: TensorBoard | None = None
    updating: bool = False  # inside optimizer.step: weights may be half-updated

    @property
    def metric_name(self) -> str:
        return VALID_METRIC_NAMES[self.metric]

    def autocast(self) -> Any:
        dtype = self.autocast_dtype
        return torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None)


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
        overwrite: start afresh even if ``exp_dir`` already holds an experiment (its
            files are deleted once the new run is known to start).
        train_set, valid_set: datasets to use instead of those described by
            ``config.data`` (items ``(mixture, sources)`` as ``MixtureDataset``'s).
        on_step: called with the step number after every optimiser step.

    Returns:
        ``TrainResult``.

    Raises:
        ExperimentInUseError: ``exp_dir`` holds an experiment and neither ``resume`` nor
            ``overwrite`` was given (:mod:`voxsep.train.experiment`).
        ExperimentLockedError: another live run holds ``exp_dir`` (nothing is changed).
        FileNotFoundError: ``resume`` without ``exp_dir/last.pt``.
        TrainingAborted: ``config.train.nan_tolerance`` non-finite steps in a row.
        CheckpointWriteError: a checkpoint could not be written.
    """
    exp_dir = Path(exp_dir)
    if int(os.environ.get("RANK", "0")) != 0:  # one lock per run: the main process holds it
        return _train(config, exp_dir, resume, init_from, overwrite, train_set, valid_set, on_step)
    if resume and init_from or resume and overwrite:
        experiment.check_can_start(exp_dir, resume, overwrite, init_from)  # refused without touching the folder
    with experiment.lock_experiment(exp_dir):
        return _train(config, exp_dir, resume, init_from, overwrite, train_set, valid_set, on_step)


def _train(config, exp_dir, resume, init_from, overwrite, train_set, valid_set, on_step) -> TrainResult:
    experiment.check_can_start(exp_dir, resume, overwrite, init_from)
    device = resolve_device(config.train.device, int(os.environ.get("LOCAL_RANK", "0")))
    info = D.init_distributed(device)
    log = setup_logger(None, info.is_main)
    try:
        run = _build_run(config, exp_dir, resume, init_from, train_set, valid_set, device, info, log)
        if resume and _already_ended(run):
            return _result(run, "complete")
        _open_experiment(run, overwrite and not resume)
        return _run_loop(run, on_step)
    finally:
        close_logger(log)
        D.shutdown_distributed()


def _build_run(config, exp_dir, resume, init_from, train_set, valid_set, device, info, log) -> _Run:
    """Model, optimiser, restored state, datasets, loaders and the compiled step; no writes."""
    tc, data = config.train, config.data
    threads = configure_threads(tc.num_threads, info.local_world_size)
    seed_everything(tc.seed)
    model = models.build(config.model.name, **model_kwargs(config))
    if init_from:
        fresh = load_init_weights(model, init_from)
        log.info(f"initialised weights from {init_from}"
                 + (f" except {len(fresh)} tensor(s) the checkpoint lacks ({_abbreviate(fresh)}: fresh)" if fresh else ""))
    model.to(device)
    Optimizer = torch.optim.AdamW if config.optim.name == "adamw" else torch.optim.Adam
    optimizer = Optimizer(model.parameters(), lr=config.optim.lr, betas=tuple(config.optim.betas),
                          weight_decay=config.optim.weight_decay, foreach=True)
    sched = config.schedule
    schedule = PlateauSchedule(config.optim.lr, sched.patience, sched.factor, sched.min_lr, sched.warmup_steps)
    if tc.precision == "fp16" and device.type != "cuda":
        raise ValueError("train.precision=fp16 needs a CUDA device; on CPU use train.precision=bf16")
    scaler = torch.amp.GradScaler("cuda", enabled=tc.precision == "fp16")
    state = TrainState(model, optimizer, schedule, scaler)
    metric = selection_metric(config)
    if resume:
        _restore(state, exp_dir / "last.pt", metric, log)

    step_model: Any = model
    if info.enabled:
        # find_unused_parameters: e.g. Conv-TasNet's last residual 1x1 conv feeds nothing
        # when the skip path is the output; DDP must not wait for its gradient.
        step_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True)
    if train_set is None or valid_set is None:
        built_train, built_valid = build_datasets(config)
        train_set, valid_set = train_set or built_train, valid_set or built_valid
    autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(tc.precision)
    step_model = _compiled_or_eager(config, step_model, device, autocast_dtype, log)
    sampler, train_loader, valid_loader = _loaders(config, train_set, valid_set, device, info)
    micro_per_epoch = (len(sampler) + sampler.start_batch * data.batch_size) // data.batch_size
    steps_per_epoch = micro_per_epoch // tc.grad_accum
    if steps_per_epoch == 0:
        raise ValueError(
            f"the training set gives {micro_per_epoch} batch(es) per process per epoch, fewer than "
            f"train.grad_accum={tc.grad_accum}; lower data.batch_size or train.grad_accum")
    total_steps = min(steps_per_epoch * tc.epochs, tc.max_steps or math.inf)
    return _Run(config, exp_dir, device, info, log, state, step_model, build_loss(config), autocast_dtype, metric,
                train_set, valid_set, sampler, train_loader, valid_loader, steps_per_epoch, int(total_steps), threads)


def _restore(state: TrainState, last_path: Path, metric: str, log: logging.Logger) -> None:
    """Load ``last.pt`` into ``state`` after checking that it holds the same model."""
    saved = checkpoint.read(last_path)
    model = state.model
    saved_model = saved["meta"].get("train_config", {}).get("model", {})
    if saved["model_name"] != model.model_name or any(saved["config"].get(k) != v for k, v in model.config.items()):
        raise ValueError(
            f"cannot resume: {last_path} holds a different model ({saved['model_name']} {saved_model.get('args')}) "
            f"than the recipe; resume with the experiment's own config ({last_path.parent / 'config.yaml'})")
    model.load_state_dict(saved["state_dict"])
    state.load_state_dict(saved["meta"]["training"])
    saved_metric = saved["meta"].get("valid_metric") or "si_snri"  # checkpoints before the choice: SI-SNRi
    if saved_metric != metric:
        log.warning(f"{last_path} selected on validation {VALID_METRIC_NAMES.get(saved_metric, saved_metric)}; "
                    f"this run selects on {VALID_METRIC_NAMES[metric]}: the best score and plateau counters "
                    "start afresh")
        state.schedule.best, state.schedule.bad_validations, state.schedule.since_best = -math.inf, 0, 0
    log.info(f"resumed from {last_path}: epoch {state.epoch}, step {state.step}, "
             f"best {VALID_METRIC_NAMES[metric]} {state.schedule.best:.2f} dB")


def _loaders(config: Config, train_set: Dataset, valid_set: Dataset, device: torch.device, info: D.DistInfo
             ) -> tuple[D.ResumableSampler, DataLoader, DataLoader]:
    """The resumable training sampler and loader, and the fixed-seed validation loader."""
    tc, data = config.train, config.data
    sampler = D.ResumableSampler(train_set, info.world_size, info.rank, shuffle=True, seed=tc.seed,
                                 batch_size=data.batch_size, drop_last=True)
    common = dict(num_workers=data.num_workers, persistent_workers=data.num_workers > 0,
                  pin_memory=device.type == "cuda")
    # Each loader gets its own generator so that the global RNG is never consumed.
    train_loader = DataLoader(D.SeededDataset(train_set), batch_size=data.batch_size, sampler=sampler, drop_last=True,
                              generator=torch.Generator().manual_seed(tc.seed), **common)
    # Validation examples are read with fixed per-example seeds: identical at every
    # validation, whatever the worker, rank or resumption.
    valid_keys = [(i, D.item_seed(tc.seed + 1, 0, i)) for i in D.shard_indices(len(valid_set), info)]
    valid_batch = data.valid_batch_size if data.valid_segment is not None else 1
    valid_loader = DataLoader(Subset(D.SeededDataset(valid_set), valid_keys), batch_size=valid_batch, shuffle=False,
                              generator=torch.Generator().manual_seed(tc.seed + 1), **common)
    return sampler, train_loader, valid_loader


def _already_ended(run: _Run) -> bool:
    """A resumed run that had reached its step/epoch limit or stopped early; says so."""
    tc, state = run.config.train, run.state
    patience = run.config.schedule.early_stop_patience
    reason = ("all epochs" if state.epoch >= tc.epochs else
              f"train.max_steps={tc.max_steps}" if tc.max_steps and state.step >= tc.max_steps else
              "early stopping" if patience and state.schedule.since_best >= patience else None)
    if reason:
        run.log.info(f"the run in {run.exp_dir} is complete ({reason}, step {state.step}); nothing to do. "
                     "To train longer, raise that limit in the config and resume")
    return reason is not None


def _open_experiment(run: _Run, clear_previous: bool) -> None:
    """The run is known to start: clear a previous run (overwrite), write config.yaml, open the log."""
    if not run.info.is_main:
        return
    run.exp_dir.mkdir(parents=True, exist_ok=True)
    experiment.remove_stale_temporaries(run.exp_dir)
    if clear_previous:
        experiment.clear_previous_run(run.exp_dir)
    save_config(run.config, run.exp_dir / "config.yaml")
    attach_log_file(run.log, run.exp_dir)
    run.tensorboard = TensorBoard(run.exp_dir, run.config.log.tensorboard)
    n_params = sum(p.numel() for p in run.state.model.parameters())
    tc, data = run.config.train, run.config.data
    run.log.info(f"best.pt, learning-rate halving and early stopping follow validation {run.metric_name} "
                 f"(loss.kind={run.config.loss.kind})")
    run.log.info(
        f"{run.config.model.name}: {n_params / 1e6:.2f} M parameters | {run.device} x {run.info.world_size} "
        f"process(es), {run.threads} thread(s) each | {tc.precision} | {len(run.train_set)} training / "
        f"{len(run.valid_set)} validation examples | {run.steps_per_epoch} steps/epoch, global batch "
        f"{data.batch_size * tc.grad_accum * run.info.world_size}")


def _result(run: _Run, status: str) -> TrainResult:
    state = run.state
    return TrainResult(status=status, step=state.step, epoch=state.epoch, history=state.history,
                       metric=run.metric, best_score=state.schedule.best)


# --------------------------------------------------------------------------- the loop

def _run_loop(run: _Run, on_step: Callable[[int], None] | None) -> TrainResult:
    """Epochs of optimiser steps with validation and checkpoints; see the module docstring."""
    tc, state, log = run.config.train, run.state, run.log
    tensorboard = run.tensorboard or TensorBoard(run.exp_dir, False)
    progress = Progress(run.total_steps, state.step, run.info.is_main, log, run.config.log.log_every)
    window = _Window()
    status, last_valid_step = "finished", -1
    state.model.train()
    try:
        with _StopRequest() as stop:
            while state.epoch < tc.epochs and status == "finished":
                run.sampler.set_epoch(state.epoch)
                run.sampler.set_start_batch(state.batch_in_epoch)
                if hasattr(run.train_set, "set_epoch"):  # new crops / mixtures (shared with the workers)
                    run.train_set.set_epoch(state.epoch)
                for micro_batches in _step_batches(run, window):
                    loss_value, grad_norm = _optimizer_step(run, micro_batches, progress)
                    window.add(loss_value, len(micro_batches) * run.config.data.batch_size * run.info.world_size)
                    window.report(run, loss_value, grad_norm, progress, tensorboard)
                    if on_step is not None:
                        on_step(state.step)
                    end_of_epoch = state.batch_in_epoch >= run.steps_per_epoch * tc.grad_accum
                    if end_of_epoch:
                        state.epoch, state.batch_in_epoch = state.epoch + 1, 0
                    if (tc.valid_every_steps and state.step % tc.valid_every_steps == 0) or (
                            not tc.valid_every_steps and end_of_epoch):
                        status = _validate_and_save(run, progress, tensorboard)
                        last_valid_step = state.step
                    elif end_of_epoch:
                        _save(run, "last.pt", with_state=True, scores=None)
                    if tc.max_steps and state.step >= tc.max_steps and status == "finished":
                        status = "max_steps"
                    if D.broadcast_flag(stop.requested, run.device, run.info):
                        status = "interrupted"
                    if status != "finished" or end_of_epoch:
                        break
    except KeyboardInterrupt:
        status = "interrupted"
        if run.updating:
            log.error(f"interrupted inside an optimiser update: weights may be half-updated, "
                      f"{run.exp_dir / 'last.pt'} is left as it was")
            tensorboard.close()
            raise
    finally:
        progress.close()
    if status in ("interrupted", "max_steps") or last_valid_step != state.step:
        _save(run, "last.pt", with_state=True, scores=None)
        if status == "interrupted":
            log.info(f"interrupted: wrote {run.exp_dir / 'last.pt'} at step {state.step}; continue with resume")
    log.info(f"training {status} at step {state.step}, epoch {state.epoch}; "
             f"best validation {run.metric_name} {state.schedule.best:.2f} dB")
    tensorboard.close()
    return _result(run, status)


def _step_batches(run: _Run, window: "_Window"):
    """Groups of ``grad_accum`` micro-batches ``(mixture, sources)`` on the device, up to the
    epoch's end (a partial group at the end is dropped); the loader wait goes to ``window``."""
    limit = run.steps_per_epoch * run.config.train.grad_accum - run.state.batch_in_epoch
    group, fetch_start = [], time.perf_counter()
    for count, (mixture, sources) in enumerate(run.train_loader):
        window.wait += time.perf_counter() - fetch_start
        if count >= limit:
            break
        group.append((mixture.to(run.device, non_blocking=True), sources.to(run.device, non_blocking=True)))
        if len(group) == run.config.train.grad_accum:
            yield group
            group = []
        fetch_start = time.perf_counter()


def _optimizer_step(run: _Run, micro_batches: list[tuple[torch.Tensor, torch.Tensor]],
                    progress: Progress) -> tuple[float, float]:
    """Forward/backward of each micro-batch, clip, and step unless non-finite.

    Returns ``(loss, grad_norm)`` as floats (one host sync). A non-finite step is skipped
    with a warning; ``train.nan_tolerance`` of them in a row raise :class:`TrainingAborted`.
    """
    tc, state = run.config.train, run.state
    accumulated = torch.zeros((), device=run.device)
    for i, (mixture, sources) in enumerate(micro_batches):
        last = i == len(micro_batches) - 1
        with run.step_model.no_sync() if run.info.enabled and not last else contextlib.nullcontext():
            with run.autocast():
                estimates = run.step_model(mixture)
            loss = _pit_loss(run.loss_fn, estimates.float(), sources)
            state.scaler.scale(loss / tc.grad_accum).backward()
        accumulated += loss.detach()
    for group in state.optimizer.param_groups:
        group["lr"] = state.schedule.lr_at(state.step)
    state.scaler.unscale_(state.optimizer)
    grad_norm = torch.nn.utils.clip_grad_norm_(state.model.parameters(), run.config.optim.clip_grad_norm or math.inf)
    mean_loss = accumulated / tc.grad_accum
    if run.info.enabled:
        torch.distributed.all_reduce(mean_loss)
        mean_loss /= run.info.world_size
    loss_value, norm_value = torch.stack([mean_loss.float(), grad_norm.float()]).tolist()
    if math.isfinite(loss_value) and (math.isfinite(norm_value) or state.scaler.is_enabled()):
        run.updating = True
        state.scaler.step(state.optimizer)
        state.scaler.update()
        run.updating = False
        state.nan_streak = 0
    else:
        _skip_non_finite(run, loss_value, norm_value, progress)
    state.optimizer.zero_grad(set_to_none=True)
    state.batch_in_epoch += len(micro_batches)
    state.step += 1
    state.mark_step_boundary()
    return loss_value, norm_value


def _skip_non_finite(run: _Run, loss_value: float, norm_value: float, progress: Progress) -> None:
    state, tolerance = run.state, run.config.train.nan_tolerance
    state.nan_streak += 1
    progress.write(f"warning: non-finite loss/gradient at step {state.step} (loss {loss_value}, grad norm "
                   f"{norm_value}); batch skipped ({state.nan_streak} in a row, limit {tolerance})")
    if state.scaler.is_enabled():
        state.scaler.update()
    if state.nan_streak >= tolerance:
        raise TrainingAborted(
            f"{state.nan_streak} non-finite steps in a row (train.nan_tolerance={tolerance}); stopping. Lower "
            f"optim.lr, enable optim.clip_grad_norm, or check the data; {run.exp_dir / 'last.pt'} holds the "
            "last good state")


class _Window:
    """Training numbers accumulated between two log lines."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.loss, self.count, self.examples, self.steps, self.wait = 0.0, 0, 0, 0, 0.0
        self.start = time.perf_counter()

    def add(self, loss_value: float, examples: int) -> None:
        if math.isfinite(loss_value):
            self.loss += loss_value
            self.count += 1
        self.examples += examples
        self.steps += 1

    def report(self, run: _Run, loss_value: float, grad_norm: float, progress: Progress,
               tensorboard: TensorBoard) -> None:
        """Every ``log.log_every`` steps: the window's means to the log and TensorBoard."""
        step = run.state.step
        if step % run.config.log.log_every or not self.count:
            progress.update(step, {"loss": loss_value})
            return
        values = {"loss": self.loss / self.count, "lr": run.state.optimizer.param_groups[0]["lr"],
                  "grad_norm": grad_norm, "examples_per_s": self.examples / max(time.perf_counter() - self.start, 1e-9),
                  "data_wait_s": self.wait / max(self.steps, 1)}
        tensorboard.scalars({f"train/{k}": v for k, v in values.items()}, step)
        progress.update(step, values)
        self.reset()


def _validate_and_save(run: _Run, progress: Progress, tensorboard: TensorBoard) -> str:
    """Validate, update the schedule, log, write best.pt/last.pt; returns the loop status."""
    state, metric = run.state, run.metric
    scores = _validate(run)
    valid_loss = -scores["neg_loss"]
    improved = state.schedule.validated(scores[metric])
    state.history.append({"step": state.step, "epoch": state.epoch, **scores, "metric": metric,
                          "loss": valid_loss, "lr": state.schedule.lr})
    tensorboard.scalars({"valid/si_snri": scores["si_snri"], "valid/snri": scores["snri"],
                         "valid/loss": valid_loss, "train/lr_after_valid": state.schedule.lr}, state.step)
    _log_audio_examples(run, tensorboard)
    tensorboard.flush()
    others = "".join(f", {VALID_METRIC_NAMES[m]} {scores[m]:.2f} dB" for m in ("si_snri", "snri") if m != metric)
    progress.write(
        f"validation at step {state.step} (epoch {state.epoch}): {run.metric_name} {scores[metric]:.2f} dB"
        f"{' (best)' if improved else ''}{others}, loss {valid_loss:.3f}, lr {state.schedule.lr:.3g}")
    if improved:
        _save(run, "best.pt", with_state=False, scores=scores)
    _save(run, "last.pt", with_state=True, scores=scores)
    patience = run.config.schedule.early_stop_patience
    return "early_stop" if patience and state.schedule.since_best >= patience else "finished"


def _validate(run: _Run) -> dict[str, float]:
    """Mean validation ``{"si_snri", "snri", "neg_loss"}`` (dB; ``neg_loss``: the negated
    PIT loss) over all ranks' shards."""
    model, max_batches = run.state.model, run.config.train.max_valid_batches
    model.eval()
    total_si_snri, total_snri, total_loss, count = 0.0, 0.0, 0.0, 0
    with torch.no_grad():
        for i, (mixture, sources) in enumerate(run.valid_loader):
            if max_batches and i >= max_batches:
                break
            mixture, sources = mixture.to(run.device), sources.to(run.device)
            with run.autocast():
                estimates = model(mixture)
            estimates = estimates.float()
            loss, _ = run.loss_fn(estimates, sources)
            total_si_snri += float(batch_si_snri(sources, estimates, mixture).sum())
            total_snri += float(batch_snri(sources, estimates, mixture).sum())
            total_loss += float(loss) * mixture.shape[0]
            count += mixture.shape[0]
    total_si_snri, total_snri, total_loss, count = D.all_reduce_sum(
        [total_si_snri, total_snri, total_loss, count], run.device, run.info)
    model.train()
    if count == 0:
        raise ValueError("the validation set is empty; check data.valid")
    return {"si_snri": total_si_snri / count, "snri": total_snri / count, "neg_loss": -total_loss / count}


def _log_audio_examples(run: _Run, tensorboard: TensorBoard) -> None:
    """The first ``log.audio_examples`` validation mixtures and their estimates, rank 0."""
    if not run.info.is_main:
        return
    model, seed = run.state.model, run.config.train.seed
    model.eval()
    with torch.no_grad():
        for i in range(min(run.config.log.audio_examples, len(run.valid_set))):
            mixture, _ = D.SeededDataset(run.valid_set)[(i, D.item_seed(seed + 1, 0, i))]
            with run.autocast():
                estimates = model(mixture.unsqueeze(0).to(run.device))[0].float().cpu()
            if mixture.dim() == 2:  # multichannel: show the first channel
                mixture, estimates = mixture[0], estimates[:, 0]
            tensorboard.audio_example(f"example{i}", mixture.numpy(), estimates.numpy(),
                                      run.config.data.sample_rate, run.state.step)
    model.train()


def _save(run: _Run, name: str, with_state: bool, scores: dict[str, float] | None) -> None:
    """Rank 0 writes ``exp_dir/name`` atomically.

    ``scores``: this step's validation scores (``None``: not validated); the meta names
    the selection metric (``valid_metric``) and its value (``valid_score``).

    Raises:
        CheckpointWriteError: the write failed (logged to train.log); the previous file
            under that name is intact.
    """
    if not run.info.is_main:
        return
    state, scores, path = run.state, scores or {}, run.exp_dir / name
    meta: dict[str, Any] = {
        "sample_rate": run.config.data.sample_rate, "epoch": state.epoch, "step": state.step,
        "valid_metric": run.metric, "valid_score": scores.get(run.metric),
        "valid_si_snri": scores.get("si_snri"), "valid_snri": scores.get("snri"),
        "train_config": config_to_dict(run.config),
    }
    if variable_n_src(run.config.data):  # counting at inference (Separator n_src="auto")
        meta["n_src_range"] = list(n_src_range(run.config.data))
    if with_state:
        meta["training"] = state.state_dict()
    try:
        checkpoint.save(path, state.model, **meta)
    except OSError as error:
        run.log.error(f"{error}; the run stops at step {state.step}. Free space (or fix the folder) and resume")
        raise CheckpointWriteError(error.errno, f"{error}; the run stopped at step {state.step}; "
                                   "free space (or fix the folder), then resume") from error
