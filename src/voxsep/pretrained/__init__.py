"""Models bundled inside the voxsep package (no download at run time).

Each bundled model is a voxsep checkpoint ``<name>.pt`` in this folder with a model card
``<name>.md`` beside it (recipe, data, sample rate, scores, licence). The example
recording ``example_mix.wav`` with its references ``example_s1.wav``, ``example_s2.wav``
is used by ``make demo`` (``python -m voxsep.pretrained.demo``).
"""

from __future__ import annotations

from pathlib import Path

PRETRAINED_DIR = Path(__file__).resolve().parent

# name -> (checkpoint file, one-line description). The first entry is the default model.
BUNDLED: dict[str, tuple[str, str]] = {
    "convtasnet_offline8k": (
        "convtasnet_offline8k.pt",
        "small Conv-TasNet, 1-2 talkers (counts them), 8 kHz, offline corpus incl. 59 real voices; 5.5 dB SI-SNRi on unseen real talkers (a demo)",
    ),
    "convtasnet_causal8k": (
        "convtasnet_causal8k.pt",
        "causal companion of convtasnet_offline8k for streaming (block by block, live mode, streaming ONNX), trained with rooms; 2.4 dB SI-SNRi on unseen real talkers, 1.4 in rooms (weak)",
    ),
}
DEFAULT_MODEL = next(iter(BUNDLED))
STREAMING_MODEL = "convtasnet_causal8k"  # the default of --stream, live mode and Separator(stream_block_ms=...)
EXAMPLE_MIXTURE = PRETRAINED_DIR / "example_mix.wav"
EXAMPLE_SOURCES = (PRETRAINED_DIR / "example_s1.wav", PRETRAINED_DIR / "example_s2.wav")


def list_pretrained() -> list[str]:
    """Names of the bundled models, the default first."""
    return list(BUNDLED)


def default_model(streaming: bool = False) -> str:
    """The bundled model used when none is named: ``STREAMING_MODEL`` for block-by-block
    (causal) separation, ``DEFAULT_MODEL`` otherwise."""
    return STREAMING_MODEL if streaming else DEFAULT_MODEL


def pretrained_path(name: str | None = None) -> Path:
    """Path of the checkpoint of bundled model ``name`` (default: ``DEFAULT_MODEL``).

    Raises:
        ValueError: unknown name (the message lists the bundled ones).
        FileNotFoundError: the name is known but its file is not in this installation.
    """
    name = name or DEFAULT_MODEL
    if name not in BUNDLED:
        raise ValueError(f"unknown pretrained model {name!r}; bundled models: {', '.join(BUNDLED)}")
    path = PRETRAINED_DIR / BUNDLED[name][0]
    if not path.is_file():
        raise FileNotFoundError(
            f"the bundled model {name!r} is missing from this installation: {path} does not exist. "
            f"Train it with the recipe its model card names ({path.with_suffix('.md').name}) or pass a checkpoint path instead "
            "(Separator.from_checkpoint(path), or the path as the model of 'voxsep separate')"
        )
    return path


def model_card(name: str | None = None) -> Path:
    """Path of the model card (``<name>.md``) of bundled model ``name``."""
    return pretrained_path(name).with_suffix(".md")
