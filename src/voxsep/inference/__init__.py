"""Inference: chunked separation, the ``Separator`` API, streaming, ONNX export, fast paths."""

from __future__ import annotations

from typing import Any

__all__ = ["Separator", "StreamingSeparator", "separate_mixture", "export_onnx", "OnnxModel"]


def __getattr__(name: str) -> Any:  # lazy: importing voxsep.inference stays cheap
    if name == "Separator":
        from voxsep.inference.api import Separator

        return Separator
    if name == "StreamingSeparator":
        from voxsep.inference.streaming import StreamingSeparator

        return StreamingSeparator
    if name == "separate_mixture":
        from voxsep.inference.separate import separate_mixture

        return separate_mixture
    if name in ("export_onnx", "OnnxModel"):
        from voxsep.inference import export

        return getattr(export, name)
    raise AttributeError(f"module 'voxsep.inference' has no attribute {name!r}")
