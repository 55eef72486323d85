"""Model registry: ``build(name, **kwargs)`` and ``available()``.

With no keyword arguments every model is built in its paper configuration, e.g.
``build("conv_tasnet", n_src=2)``. Model modules register themselves with
``@register("name")``; the list of modules to import is ``_MODEL_MODULES``.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Callable, TypeVar

from voxsep.models.base import EncoderMaskerDecoder, SeparationModel

_MODEL_MODULES = (
    "voxsep.models.conv_tasnet",
    "voxsep.models.dprnn",
    "voxsep.models.sepformer",
    "voxsep.models.mossformer2",
    "voxsep.models.binaural",
    "voxsep.models.tiger",
    "voxsep.models.sudormrf",
    "voxsep.models.dptnet",
)
_REGISTRY: dict[str, type[SeparationModel]] = {}
_loaded = False

ModelClass = TypeVar("ModelClass", bound=type[SeparationModel])


def register(name: str) -> Callable[[ModelClass], ModelClass]:
    """Class decorator adding a model to the registry under ``name``."""

    def decorate(cls: ModelClass) -> ModelClass:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"model name {name!r} is registered twice")
        cls.model_name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    for module in _MODEL_MODULES:
        importlib.import_module(module)
    _loaded = True


def available() -> list[str]:
    """Names of all registered models, sorted."""
    _load_all()
    return sorted(_REGISTRY)


def model_class(name: str) -> type[SeparationModel]:
    """The class registered under ``name``; ``ValueError`` listing the valid names."""
    _load_all()
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; available models: {', '.join(available())}")
    return _REGISTRY[name]


def model_arguments(name: str) -> dict[str, object]:
    """The keyword arguments of model ``name`` with their defaults (paper configuration)."""
    signature = inspect.signature(model_class(name).__init__)
    return {
        p.name: p.default
        for p in signature.parameters.values()
        if p.name != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD
    }


def build(name: str, **kwargs: object) -> SeparationModel:
    """Build model ``name``; unspecified arguments take the paper configuration.

    Raises:
        ValueError: unknown model name, or keyword arguments the model does not take
            (the message lists the valid ones).
    """
    cls = model_class(name)
    valid = model_arguments(name)
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown argument(s) {', '.join(unknown)} for model {name!r}; "
            f"valid arguments: {', '.join(valid)}"
        )
    return cls(**kwargs)


__all__ = [
    "build",
    "available",
    "register",
    "model_class",
    "model_arguments",
    "SeparationModel",
    "EncoderMaskerDecoder",
]
