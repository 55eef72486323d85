"""The learning-rate schedule: linear warm-up, then halving on a validation plateau
(Luo & Mesgarani, TASLP 2019: "halved if the accuracy of validation set is not improved
in 3 consecutive epochs"), and the early-stopping count."""

from __future__ import annotations

import math


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
