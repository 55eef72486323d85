"""Everything a run must carry across an interruption: :class:`TrainState`.

``last.pt`` stores ``TrainState.state_dict()`` in its meta (``meta["training"]``): the
optimiser, the schedule, the gradient scaler, the data position (epoch, micro-batches
done in it), the validation history and the RNG states as they were at the last
optimiser-step boundary. Everything is tensors, numbers and lists, so the checkpoint
loads with ``torch.load(weights_only=True)``. The model weights are the checkpoint's
own ``state_dict``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from voxsep.train.rng import rng_state, set_rng_state
from voxsep.train.schedule import PlateauSchedule


@dataclass
class TrainState:
    """The mutable state of a training run.

    Attributes:
        model: the (unwrapped) model being trained.
        optimizer, schedule, scaler: as built by the trainer.
        epoch: epochs completed.
        step: optimiser steps done.
        batch_in_epoch: micro-batches consumed in the current epoch.
        history: one dict per validation (step, epoch, scores, metric, loss, lr).
        nan_streak: non-finite steps in a row.
        boundary_rng: RNG states at the last optimiser-step boundary (what a checkpoint
            stores, so that resuming replays exactly the next step).
    """

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    schedule: PlateauSchedule
    scaler: torch.amp.GradScaler
    epoch: int = 0
    step: int = 0
    batch_in_epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    nan_streak: int = 0
    boundary_rng: dict[str, Any] = field(default_factory=rng_state)

    def mark_step_boundary(self) -> None:
        """Record the RNG states after an optimiser step (what ``last.pt`` will hold)."""
        self.boundary_rng = rng_state()

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "batch_in_epoch": self.batch_in_epoch,
            "history": self.history,
            "rng": self.boundary_rng,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore everything but the model weights, and the RNG states."""
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.batch_in_epoch = int(state["batch_in_epoch"])
        self.history = list(state["history"])
        set_rng_state(state["rng"])
        self.boundary_rng = rng_state()
