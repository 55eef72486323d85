"""Model growth: a bigger Conv-TasNet that starts from a trained one's function (Net2Net).

Chen, Goodfellow & Shlens, "Net2Net: accelerating learning via knowledge transfer",
ICLR 2016. Both operations keep what the trained model computes, so training the bigger
model goes on from where the smaller one stopped:

* **Net2WiderNet** (§2.2), :func:`widen_state` / :func:`widen_checkpoint`: every TCN
  block's hidden width doubled (H -> 2H). Every hidden channel is duplicated (the 1x1
  input convolution's rows, the depthwise convolution, the two norms' affines) and the
  1x1 convolutions that read the hidden channels (residual and skip) take half of each
  weight per copy; gLN's mean and variance over duplicated channels are unchanged.
  Noise of ``noise`` times the weights' standard deviation on the copies' input weights
  breaks the symmetry (without it the copies stay identical in training).
* **Net2DeeperNet** (§2.3), :func:`deepening` / :func:`silence_repeats`: more TCN
  repeats; a shallower checkpoint's weights go to the first repeats and the new ones
  have their residual and skip outputs zeroed, so they add nothing at the start.
  Gradients still reach the zeroed layers (their inputs are not zero), so the new
  repeats start learning at the first step.

``voxsep train --init-from`` deepens (``voxsep.train.trainer.load_init_weights``);
``benchmarks/widen_conv_tasnet.py`` is a command line over :func:`widen_checkpoint`.
"""

from __future__ import annotations

from typing import Any

import torch

#: The models that can grow (their masker is a ``voxsep.nn.tcn.TCN``).
GROWABLE = ("conv_tasnet",)

_DUPLICATED_ROWS = ("in_conv.weight", "in_conv.bias", "depthwise.weight", "depthwise.bias")
_DUPLICATED_AFFINES = ("in_norm.weight", "in_norm.bias", "dw_norm.weight", "dw_norm.bias")  # (1, H, 1)
_HALVED_INPUTS = ("residual.weight", "skip.weight")  # (out, H, 1)


def widen_state(state: dict[str, torch.Tensor], noise: float = 0.0, seed: int = 0) -> dict[str, torch.Tensor]:
    """A Conv-TasNet ``state_dict`` with every TCN block's hidden width doubled (Net2WiderNet).

    With ``noise=0`` the wider model computes what ``state``'s does; ``noise`` (times each
    weight's standard deviation, drawn with ``seed``) on the copies' input weights breaks
    the symmetry of the copies.
    """
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    generator = torch.Generator().manual_seed(seed)
    wide = {}
    for name, value in state.items():
        leaf = name.split(".tcn.blocks.", 1)[1].split(".", 1)[1] if ".tcn.blocks." in name else ""
        if leaf in _DUPLICATED_ROWS:
            copy = value.clone()
            if leaf == "in_conv.weight" and noise:
                copy += noise * value.std() * torch.randn(value.shape, generator=generator)
            value = torch.cat([value, copy], 0)
        elif leaf in _DUPLICATED_AFFINES:
            value = torch.cat([value, value], 1)
        elif leaf in _HALVED_INPUTS:
            value = torch.cat([value / 2, value / 2], 1)
        wide[name] = value
    return wide


def widen_checkpoint(data: dict[str, Any], noise: float = 0.0, seed: int = 0) -> dict[str, Any]:
    """The checkpoint dictionary (``voxsep.checkpoint.read``) of the twice-as-wide model.

    The configuration's ``hidden`` is doubled and the training state (optimiser, step)
    dropped: the result is a new model, to be trained with ``--init-from``.

    Raises:
        ValueError: the checkpoint holds a model that cannot grow (not in :data:`GROWABLE`).
    """
    if data["model_name"] not in GROWABLE:
        raise ValueError(f"the checkpoint holds a {data['model_name']!r} model; only {', '.join(GROWABLE)} can be widened")
    return {
        **data,
        "state_dict": widen_state(data["state_dict"], noise, seed),
        "config": {**data["config"], "hidden": 2 * data["config"]["hidden"]},
        "meta": {k: v for k, v in data.get("meta", {}).items() if k != "training"},
    }


@torch.no_grad()
def silence_blocks(tcn: torch.nn.Module, start: int) -> None:
    """Zero the residual and skip outputs of ``tcn.blocks[start:]`` so that they add nothing.

    The TCN (``voxsep.nn.tcn.TCN``) then computes what its first ``start`` blocks compute.
    """
    blocks = tcn.blocks
    if not 0 <= start <= len(blocks):
        raise ValueError(f"start must be in 0..{len(blocks)}, got {start}")
    for block in blocks[start:]:
        for layer in (block.residual, block.skip):
            if layer is not None:
                layer.weight.zero_()
                layer.bias.zero_()


def silence_repeats(model: torch.nn.Module, start: int) -> None:
    """Make a Conv-TasNet's TCN repeats ``start..R-1`` add nothing (Net2DeeperNet).

    After loading the weights of a trained model with ``start`` repeats into its first
    repeats, ``model`` computes what that one computes.
    """
    if getattr(model, "model_name", None) not in GROWABLE:
        raise ValueError(f"{type(model).__name__} cannot grow; only {', '.join(GROWABLE)} can")
    silence_blocks(model.masker.tcn, start * model.config["n_blocks"])


def deepening(model: torch.nn.Module, differing: dict[str, tuple[Any, Any]]) -> int | None:
    """The checkpoint's number of TCN repeats when ``model`` grows it by more repeats, else None.

    ``differing`` maps a configuration argument to ``(checkpoint value, model value)``;
    when the checkpoint can start ``model`` by deepening, ``n_repeats`` is removed from it.
    """
    old, new = differing.get("n_repeats", (None, None))
    if not (getattr(model, "model_name", None) in GROWABLE and isinstance(old, int) and isinstance(new, int)
            and old < new):
        return None
    del differing["n_repeats"]
    return old
