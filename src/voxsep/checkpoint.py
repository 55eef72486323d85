"""Model checkpoints: ``save(path, model, **meta)`` and ``load(path) -> (model, meta)``.

A checkpoint is a plain dict of tensors and primitives, loaded with
``torch.load(weights_only=True)`` so that a file from a stranger cannot run code::

    {"format": "voxsep-checkpoint", "format_version": 1,
     "model_name": str, "config": dict, "state_dict": dict,
     "sample_rate": int, "n_src": int, "voxsep_version": str, "meta": dict}

Writing never imports the trainer. Files are written atomically: a temporary file in
the same folder, then ``os.replace``; a failed write leaves any previous file intact.

A checkpoint may also be a **safetensors** file (written when the path ends in
``.safetensors``): the state dict as its tensors and the other entries, JSON-encoded, in
its string metadata. Safetensors files are read with the ``safetensors`` package, which
never runs code; a corrupt one is reported as such, and a valid one of foreign weights as
"not a voxsep checkpoint".

This module knows its own format only. Published models of Asteroid, SpeechBrain,
ClearerVoice-Studio and TIGER (files, folders, Hugging Face cache entries and hub ids) are
converted by ``voxsep.interop.import_model``, which sits above this module; there,
``load_any(source)`` takes a voxsep checkpoint or any of those, and ``read_any(source)``
the raw checkpoint dict of either (fine-tuning from a published model).
"""

from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path
from typing import Any

import torch

from voxsep import __version__
from voxsep.core.files import atomic_write

FORMAT = "voxsep-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A file that is not a loadable voxsep checkpoint."""


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename it into place.

    Raises:
        OSError: the write failed (e.g. disk full); ``path`` is left as it was.
    """
    path = Path(path)
    try:
        with atomic_write(path) as tmp:
            with open(tmp, "wb") as handle:
                try:
                    torch.save(obj, handle)
                except RuntimeError as error:
                    # torch's zip writer reports a failed write (disk full, I/O error) as
                    # RuntimeError("[enforce fail at inline_container.cc] unexpected pos ...")
                    raise _write_error(handle, error) from error
                handle.flush()
                os.fsync(handle.fileno())
    except OSError as error:
        raise OSError(error.errno, f"could not write checkpoint {path}: {error.strerror or error}; "
                      "any previous file there is unchanged") from error


def _write_error(handle: Any, error: RuntimeError) -> OSError:
    """The OSError behind torch's RuntimeError for a failed write; ENOSPC when the disk is full."""
    import errno
    import shutil

    try:
        free = shutil.disk_usage(Path(handle.name).parent).free
    except OSError:
        free = None
    if free is not None and free < 1 << 20:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else "write failed"
    return OSError(errno.EIO, f"write failed ({first_line[:200]})")


def checkpoint_dict(model: torch.nn.Module, **meta: Any) -> dict[str, Any]:
    """The serialisable checkpoint dict for ``model`` (see module docstring)."""
    name = getattr(model, "model_name", "")
    config = getattr(model, "config", None)
    if not name or config is None:
        raise ValueError(
            f"{type(model).__name__} is not a registered voxsep model (no model_name/config); "
            "build it with voxsep.models.build(...)"
        )
    state_dict = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_name": name,
        "config": dict(config),
        "state_dict": state_dict,
        "sample_rate": int(meta.pop("sample_rate", getattr(model, "sample_rate", 0))),
        "n_src": int(getattr(model, "n_src", 0)),
        "voxsep_version": __version__,
        "meta": meta,
    }


def save(path: str | os.PathLike, model: torch.nn.Module, **meta: Any) -> Path:
    """Save ``model`` with its name, config and ``meta`` (primitives/tensors) atomically;
    as a safetensors file when ``path`` ends in ``.safetensors`` (``meta`` then JSON)."""
    data = checkpoint_dict(model, **meta)
    if Path(path).suffix == ".safetensors":
        _save_safetensors(data, Path(path))
    else:
        atomic_torch_save(data, path)
    return Path(path)


# ----------------------------------------------------------------------------- safetensors
SAFETENSORS_SUFFIX = ".safetensors"


def is_safetensors(path: str | os.PathLike) -> bool:
    """Whether ``path`` is (or is named as) a safetensors file: the ``.safetensors`` suffix,
    or the format's start (an 8-byte little-endian header length, then a JSON object)."""
    path = Path(path)
    if path.suffix == SAFETENSORS_SUFFIX:
        return True
    try:
        with open(path, "rb") as handle:
            head = handle.read(9)
            size = os.fstat(handle.fileno()).st_size
    except OSError:
        return False
    if len(head) < 9:
        return False
    header_length = struct.unpack("<Q", head[:8])[0]
    return head[8:9] == b"{" and 2 <= header_length <= size - 8


def read_safetensors(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """``(tensors, string metadata)`` of a safetensors file, on the CPU; no code runs.

    Raises:
        CheckpointError: the ``safetensors`` package is missing, or the file is truncated or
            corrupt (the message says so and quotes the reader's reason).
    """
    try:
        from safetensors import safe_open
    except ImportError as error:  # a dependency of voxsep; only a broken install lacks it
        raise CheckpointError(f"{path} is a safetensors file and reading it needs the safetensors package, "
                              "which is not installed: pip install safetensors") from error
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = dict(handle.metadata() or {})
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as error:  # SafetensorError, OSError, ValueError for a damaged file
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise CheckpointError(
            f"{path} is not a readable safetensors file (truncated or corrupt?): {type(error).__name__}: {first}; "
            "download or copy it again"
        ) from error
    return tensors, metadata


def _save_safetensors(data: dict[str, Any], path: Path) -> None:
    """A checkpoint dict as a safetensors file: tensors = state dict, metadata = the rest (JSON)."""
    from safetensors.torch import save_file

    metadata = {key: json.dumps(value) for key, value in data.items() if key != "state_dict"}
    try:
        metadata["meta"] = json.dumps(data["meta"])
    except TypeError as error:
        raise ValueError(f"a safetensors checkpoint keeps its metadata as JSON; {error}") from error
    tensors = {key: value.contiguous().clone() for key, value in data["state_dict"].items()}
    with atomic_write(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def _checkpoint_from_safetensors(path: Path) -> dict[str, Any]:
    tensors, metadata = read_safetensors(path)
    if json.loads(metadata.get("format", "null")) != FORMAT:
        raise CheckpointError(
            f"{path} is a safetensors file of weights but not a voxsep checkpoint (its metadata has no "
            f"'format': '{FORMAT}'); convert published weights with voxsep.interop.import_model"
        )
    try:
        data = {key: json.loads(value) for key, value in metadata.items()}
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path}: the voxsep metadata of this safetensors file is not valid JSON ({error})") from error
    data["state_dict"] = tensors
    return data


def read(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and validate the raw checkpoint dict (no model is built).

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: not a voxsep checkpoint, truncated/corrupt, or a newer format.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if is_safetensors(path):
        data = _checkpoint_from_safetensors(path)
        if str(map_location) != "cpu":
            data["state_dict"] = {k: v.to(map_location) for k, v in data["state_dict"].items()}
    else:
        try:
            data = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as error:  # torch raises several types for corrupt or unsafe files
            raise CheckpointError(_load_error_message(path, error)) from error
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is a PyTorch file but not a voxsep checkpoint (no 'format': '{FORMAT}' "
            "entry); for Asteroid, SpeechBrain or ClearerVoice weights use "
            "voxsep.interop.import_model / voxsep import-model"
        )
    version = data.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {version}, newer than this voxsep "
            f"({__version__}) reads (<= {FORMAT_VERSION}); upgrade voxsep"
        )
    missing = [k for k in ("model_name", "config", "state_dict") if k not in data]
    if missing:
        raise CheckpointError(f"{path} is missing the checkpoint entries {missing}")
    return data


def _load_error_message(path: Path, error: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` refused ``path``, in voxsep's words.

    torch's own message for a blocked object suggests loading again with
    ``weights_only=False``, which would run whatever code the file holds; it is never
    passed on.
    """
    from voxsep.core.filekind import describe_unloadable, scrub_torch_advice

    described = describe_unloadable(path)  # a plain pickle, zeros, text...: say what it is
    if described:
        return described
    message = str(error)
    blocked = re.search(r"GLOBAL ([\w.]+)", message)
    if blocked or "weights only load failed" in message.lower():
        what = f"the Python object {blocked.group(1)}" if blocked else "Python objects other than tensors"
        return (
            f"{path} refers to {what}; a voxsep checkpoint holds only tensors and plain values, and voxsep will "
            "not load anything else (loading it could run code from the file). Use a checkpoint written by "
            "voxsep (voxsep.checkpoint.save / voxsep train), or import weights of other toolkits with "
            "voxsep import-model"
        )
    first = scrub_torch_advice(message)
    return (
        f"{path} is not a readable voxsep checkpoint (truncated, corrupt, or not a PyTorch file): "
        f"{type(error).__name__}: {first}"
    )


def build_from_dict(data: dict[str, Any]) -> torch.nn.Module:
    """Rebuild the model described by a checkpoint dict and load its weights."""
    from voxsep import models

    model = models.build(data["model_name"], **data["config"])
    try:
        model.load_state_dict(data["state_dict"])
    except RuntimeError as error:
        raise CheckpointError(
            f"the weights do not fit model {data['model_name']!r} with the stored config: {error}"
        ) from error
    return model


def load(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict[str, Any]]:
    """Load a checkpoint: returns ``(model in eval mode, meta)``.

    ``meta`` holds ``model_name``, ``config``, ``sample_rate``, ``n_src``,
    ``voxsep_version`` and the extra metadata given to ``save``.
    """
    data = read(path, map_location)
    model = build_from_dict(data)
    model.eval()
    meta = {k: v for k, v in data.items() if k not in ("state_dict", "meta", "format")}
    meta.update(data.get("meta", {}))
    return model, meta
