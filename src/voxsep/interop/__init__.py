"""Published models of other toolkits, run as voxsep models.

``import_model(source) -> (model, meta)`` converts, in memory:

* an **Asteroid** ``ConvTasNet`` (causal or not) / ``DPRNNTasNet`` / ``SuDORMRFNet`` /
  ``SuDORMRFImprovedNet`` / ``DPTNet`` file (``serialize()`` / ``save_pretrained`` / hub
  ``pytorch_model.bin`` / recipe ``best_model.pth``) → ``conv_tasnet`` / ``dprnn`` /
  ``sudormrf`` / ``dptnet`` (``voxsep.interop.asteroid``);
* a **SpeechBrain** SepFormer folder (``hyperparams.yaml`` + ``encoder.ckpt``,
  ``masknet.ckpt``, ``decoder.ckpt``; 2 or 3 talkers, 8 or 16 kHz) → ``sepformer`` (``voxsep.interop.speechbrain``);
* a **ClearerVoice-Studio** MossFormer2 separation checkpoint (``last_best_checkpoint.pt``
  [+ ``config.yaml``]) → ``mossformer2`` (``voxsep.interop.clearervoice``);
* a **TIGER** release (``config.json`` + ``model.safetensors``, the authors' look2hear
  layout, e.g. ``JusperLee/TIGER-speech``) → ``tiger`` (``voxsep.interop.tiger``);
* a Hugging Face cache entry of any of those: a snapshot folder
  (``models--org--name/snapshots/<rev>/``), the ``models--org--name`` folder, or the hub
  id ``org/name`` — from the local cache, or downloaded with ``download=True``
  (``voxsep.interop.hub``: staged, nothing half-written, ``HF_HUB_OFFLINE`` respected);
* a voxsep checkpoint (loaded as it is).

``load_any(source)`` and ``read_any(source)`` are the one way to load "anything" (the API,
the command line, ``--init-from`` and ``voxsep serve`` use them): a voxsep checkpoint by
``voxsep.checkpoint`` (which knows its own format only), anything else by ``import_model``.

Weights are read with ``torch.load(weights_only=True)`` or the ``safetensors`` package,
and YAML/JSON as data, so a file cannot run code. ``meta`` holds ``model_name``, ``config``, ``sample_rate``, ``n_src`` and
``source``: ``{"toolkit", "architecture", "path", "hub_id", "files": [{"file",
"sha256"}, ...]}``; ``voxsep.checkpoint.save(path, model, **meta_to_save(meta))`` keeps
it in a voxsep checkpoint (``voxsep import-model``).

This package may import ``voxsep.models``, ``voxsep.checkpoint`` and ``voxsep.core``,
nothing from training or inference; ``voxsep.checkpoint`` never imports it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from voxsep.interop import asteroid, clearervoice, speechbrain, tiger
from voxsep.interop.common import HUB_ID, ModelImportError, file_record, resolve_source, safe_torch_load

SUPPORTED = (
    "an Asteroid ConvTasNet/DPRNNTasNet/SuDORMRFNet/SuDORMRFImprovedNet/DPTNet file (serialize() layout: model_name, model_args, state_dict; "
    "pytorch_model.bin, best_model.pth), a SpeechBrain SepFormer folder (hyperparams.yaml, encoder.ckpt, "
    "masknet.ckpt, decoder.ckpt), a ClearerVoice MossFormer2 checkpoint (last_best_checkpoint.pt [+ config.yaml]), "
    "a Hugging Face cache folder or hub id of one of those, or a voxsep checkpoint"
)
# Weights files of an Asteroid folder (hub snapshot, recipe exp dir), in order of preference.
ASTEROID_FILES = ("pytorch_model.bin", "best_model.pth", "model.pth")
WEIGHT_SUFFIXES = (".bin", ".pth", ".pt", ".ckpt", ".safetensors")


def _describe(data: Any) -> str:
    if isinstance(data, dict):
        keys = list(data)
        return f"a dict with keys {', '.join(map(str, keys[:8]))}{' ...' if len(keys) > 8 else ''}"
    return f"a {type(data).__name__}"


def _convert_file(path: Path, sample_rate: int | None, hub_id: str | None) -> tuple[torch.nn.Module, dict[str, Any]]:
    from voxsep import checkpoint

    ours = False
    if checkpoint.is_safetensors(path):
        try:
            data, metadata = checkpoint.read_safetensors(path)
        except checkpoint.CheckpointError as error:
            raise ModelImportError(str(error)) from error
        ours = metadata.get("format") == f'"{checkpoint.FORMAT}"'  # JSON-encoded (checkpoint._save_safetensors)
    else:
        data = safe_torch_load(path)
        ours = isinstance(data, dict) and data.get("format") == checkpoint.FORMAT
    if ours:
        model, meta = checkpoint.load(path)
        return model, {"toolkit": "voxsep", "architecture": meta["model_name"], "files": [file_record(path)],
                       "_meta": meta}
    if asteroid.is_asteroid(data):
        model, info = asteroid.convert(data, str(path), sample_rate)
        return model, {**info, "files": [file_record(path)]}
    if tiger.is_tiger_state(tiger.strip_prefixes(data, ("module.", "model.", "audio_model."))
                            if isinstance(data, dict) else data):
        return tiger.convert_file(path, sample_rate, tensors=data)
    try:
        return clearervoice.convert_file(path, sample_rate, hub_id, data=data)
    except ModelImportError as error:
        if "not a ClearerVoice" not in str(error):
            raise
    if path.suffix == ".ckpt" and speechbrain.is_speechbrain_folder(path.parent):
        raise ModelImportError(f"{path} is one part of a SpeechBrain model; give its folder {path.parent}")
    raise ModelImportError(f"{path}: unknown layout ({_describe(data)}); supported: {SUPPORTED}")


def _convert_folder(folder: Path, sample_rate: int | None, hub_id: str | None) -> tuple[torch.nn.Module, dict[str, Any]]:
    if speechbrain.is_speechbrain_folder(folder) or (folder / "hyperparams.yaml").is_file():
        return speechbrain.convert_folder(folder, sample_rate)
    if clearervoice.is_clearervoice_folder(folder):
        return clearervoice.convert_file(clearervoice.weights_file(folder), sample_rate, hub_id)
    if tiger.is_tiger_folder(folder):
        return tiger.convert_folder(folder, sample_rate)
    for name in ASTEROID_FILES:
        if (folder / name).is_file():
            return _convert_file(folder / name, sample_rate, hub_id)
    candidates = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    if len(candidates) == 1:
        return _convert_file(candidates[0], sample_rate, hub_id)
    found = ", ".join(sorted(p.name for p in folder.iterdir())[:12]) or "nothing"
    raise ModelImportError(f"{folder}: no known model layout (found {found}); supported: {SUPPORTED}")


def import_model(source: str | os.PathLike, sample_rate: int | None = None, *, download: bool = False,
                 revision: str | None = None, offline: bool | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Convert a published model into a voxsep model (in memory; nothing is written).

    Args:
        source: a file, a folder, a Hugging Face cache folder or a hub id (module docstring).
        sample_rate: the rate the model works at, where the files do not say it (or to
            override what they say).
        download: for a hub id, download what the local cache lacks
            (``voxsep.interop.hub.download``); without it a hub id must be in the cache.
        revision: for a hub id, the branch, tag or commit to use (default: ``main``).
        offline: never touch the network (default: ``HF_HUB_OFFLINE``).

    Returns:
        ``(model in eval mode, meta)``; ``meta`` as from ``voxsep.checkpoint.load`` plus
        ``source`` (toolkit, architecture, path, hub id, files with their sha256).

    Raises:
        FileNotFoundError: no such source (for a hub id: the command that fetches it).
        ModelImportError (a ``ValueError``): unsupported layout or architecture,
            missing files or tensors, shapes that do not fit, or a file that would run
            code to load; the message names the file and what was expected.
    """
    if sample_rate is not None:  # 0 is not "unset", 8000.5 is not 8000
        from voxsep.core.audio import check_sample_rate

        sample_rate = check_sample_rate(sample_rate, "sample_rate")
    text = str(source)
    if not Path(text).expanduser().exists() and HUB_ID.match(text) and (download or revision):
        from voxsep.interop import hub

        if download:
            source = hub.download(text, revision=revision, offline=offline)
        else:
            source = hub.cached_snapshot(text, revision) or _raise_not_cached(text, revision)
    path, hub_id = resolve_source(source)
    convert = _convert_folder if path.is_dir() else _convert_file
    model, info = convert(path, sample_rate, hub_id)
    previous = info.pop("_meta", None)
    info.update(path=str(path), hub_id=hub_id)
    snapshot = next((p for p in [path, *path.parents] if p.parent.name == "snapshots"), None)
    if snapshot is not None:
        info["revision"] = snapshot.name
    if previous is not None:  # a voxsep checkpoint: keep its own metadata
        previous.setdefault("source", info)
        return model, previous
    meta = {
        "model_name": model.model_name,
        "config": dict(model.config),
        "sample_rate": int(model.sample_rate),
        "n_src": int(model.n_src),
        "source": info,
    }
    return model, meta


def _raise_not_cached(repo_id: str, revision: str | None) -> Path:
    from voxsep.interop import hub

    raise FileNotFoundError(hub.not_cached_message(repo_id, revision, "downloading was not asked for"))


def load_any(source: str | os.PathLike, map_location: str | torch.device = "cpu", **hub: Any
             ) -> tuple[torch.nn.Module, dict[str, Any]]:
    """``voxsep.checkpoint.load`` for a voxsep checkpoint, ``import_model`` for anything else it
    supports (``hub``: ``download``, ``revision``, ``offline`` for a hub id)."""
    from voxsep import checkpoint

    if Path(source).is_file():
        try:
            return checkpoint.load(source, map_location)
        except checkpoint.CheckpointError:
            pass  # not ours: import_model says what it is (or why it cannot be read)
    return import_model(source, **hub)


def read_any(source: str | os.PathLike) -> dict[str, Any]:
    """The raw checkpoint dict (``voxsep.checkpoint.read``) of a voxsep checkpoint, or of a
    published model that ``import_model`` converts (its ``meta`` holding the source); for
    fine-tuning.

    Raises:
        FileNotFoundError, CheckpointError, ModelImportError: as ``checkpoint.read`` / ``import_model``.
    """
    from voxsep import checkpoint

    if Path(source).is_file():
        try:
            return checkpoint.read(source)
        except checkpoint.CheckpointError as error:
            if "not a voxsep checkpoint" not in str(error):
                raise  # corrupt, unsafe or too new: importing would not help
    model, meta = import_model(source)
    return checkpoint.checkpoint_dict(model, **meta_to_save(meta))


def meta_to_save(meta: dict[str, Any]) -> dict[str, Any]:
    """The part of ``meta`` that ``voxsep.checkpoint.save`` stores as extra metadata."""
    return {k: v for k, v in meta.items() if k not in ("model_name", "config", "n_src", "format_version",
                                                       "voxsep_version")}


__all__ = ["import_model", "load_any", "read_any", "meta_to_save", "ModelImportError", "SUPPORTED"]
