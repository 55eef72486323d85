"""voxsep: speech separation — data, models, training, evaluation, inference, export."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "Separator", "StreamingSeparator"]


def __getattr__(name: str) -> Any:  # lazy, so ``import voxsep`` stays light
    if name == "Separator":
        from voxsep.inference.api import Separator

        return Separator
    if name == "StreamingSeparator":
        from voxsep.inference.streaming import StreamingSeparator

        return StreamingSeparator
    raise AttributeError(f"module 'voxsep' has no attribute {name!r}")
