"""Weight averaging of models of one architecture: checkpoint averaging and fine-tune
interpolation.

* **Checkpoint averaging** (several checkpoints of one run, equal weights): a common last
  step of speech recipes (ESPnet and SpeechBrain average the best checkpoints) that
  smooths the noise of the last updates.
* **Fine-tune interpolation** (WiSE-FT: Wortsman et al., "Robust fine-tuning of zero-shot
  models", CVPR 2022): ``(1 - a) * original + a * fine_tuned``. A model fine-tuned
  towards new conditions (rooms, noise) from a trained one stays in the same basin, and
  the weights in between keep most of the gain on the new conditions while giving back
  less on the old ones than the fine-tune itself; ``a`` is chosen on validation data of
  both.

Only weights of the same architecture and configuration can be averaged (every entry of
the state dict matches in name and shape). Floating-point entries are averaged; other
entries (integer counters) must be equal in every model.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch

__all__ = ["average_models", "normalised_weights"]


def normalised_weights(weights: Sequence[float] | None, count: int) -> list[float]:
    """``weights`` scaled to sum to one (``None``: equal weights for ``count`` models).

    Raises:
        ValueError: a count that differs from the models', a negative or non-finite weight,
            or weights that sum to zero.
    """
    if count < 1:
        raise ValueError("averaging needs at least one model")
    if weights is None:
        return [1.0 / count] * count
    weights = [float(w) for w in weights]
    if len(weights) != count:
        raise ValueError(f"{len(weights)} weights for {count} models: give one weight per model")
    if any(not math.isfinite(w) or w < 0 for w in weights):
        raise ValueError(f"weights must be finite and >= 0, got {weights}")
    total = sum(weights)
    if total <= 0:
        raise ValueError(f"weights sum to {total:g}: at least one must be above 0")
    return [w / total for w in weights]


def _describe(model: torch.nn.Module) -> tuple[str, dict]:
    return getattr(model, "model_name", type(model).__name__), dict(getattr(model, "config", None) or {})


def average_models(models: Sequence[torch.nn.Module], weights: Sequence[float] | None = None,
                   names: Sequence[str] | None = None) -> torch.nn.Module:
    """A new model whose weights are the weighted average of ``models``' (module docstring).

    Args:
        models: models of one architecture and configuration (not modified).
        weights: one weight >= 0 per model, scaled to sum to one (default: equal).
        names: how errors name the models (default: "model 1", "model 2", ...).

    Returns:
        A copy of the first model with the averaged weights, in eval mode.

    Raises:
        ValueError: the models differ in architecture, configuration or state-dict entries
            (the message names the first difference), or the weights are unusable.
    """
    weights = normalised_weights(weights, len(models))
    names = list(names) if names is not None else [f"model {i + 1}" for i in range(len(models))]
    first_name, first_config = _describe(models[0])
    states = [m.state_dict() for m in models]
    for name, model, state in zip(names[1:], models[1:], states[1:]):
        other_name, other_config = _describe(model)
        if other_name != first_name:
            raise ValueError(f"{name} is a {other_name}, {names[0]} a {first_name}: only models of one architecture "
                             "can be averaged")
        changed = sorted(k for k in first_config.keys() | other_config.keys()
                         if first_config.get(k) != other_config.get(k))
        if changed:
            key = changed[0]
            raise ValueError(f"{name} and {names[0]} differ in their configuration ({key}: "
                             f"{other_config.get(key)!r} vs {first_config.get(key)!r}); only models of one "
                             "configuration can be averaged")
        if state.keys() != states[0].keys():
            key = sorted(state.keys() ^ states[0].keys())[0]
            raise ValueError(f"{name} and {names[0]} hold different weights ({key} is in only one of them)")
    averaged = {}
    for key, reference in states[0].items():
        for name, state in zip(names[1:], states[1:]):
            if state[key].shape != reference.shape:
                raise ValueError(f"{name} and {names[0]} differ in the shape of {key}: "
                                 f"{tuple(state[key].shape)} vs {tuple(reference.shape)}")
        if reference.is_floating_point():
            total = torch.zeros_like(reference, dtype=torch.float64)
            for weight, state in zip(weights, states):
                total += weight * state[key].double()
            averaged[key] = total.to(reference.dtype)
        else:
            for name, state in zip(names[1:], states[1:]):
                if not torch.equal(state[key], reference):
                    raise ValueError(f"{name} and {names[0]} differ in {key}, which is not a weight "
                                     "(it cannot be averaged)")
            averaged[key] = reference.clone()
    model = copy.deepcopy(models[0])
    model.load_state_dict(averaged)
    return model.eval()
