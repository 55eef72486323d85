"""Shared pieces of the importers: finding the files of a source (a file, a folder, a
Hugging Face cache entry), loading them without running code, and building the voxsep
model with a clear error when the weights do not fit.

Nothing here touches the network. A hub id (``org/name``) is looked up in the local
Hugging Face cache only (``$HF_HUB_CACHE``, ``$HF_HOME/hub``,
``$XDG_CACHE_HOME/huggingface/hub``, ``~/.cache/huggingface/hub``); when it is not there
the error says which command to run on a connected machine.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any, Iterable

import torch
import yaml

from voxsep.checkpoint import CheckpointError

HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ModelImportError(CheckpointError):
    """A source that cannot be converted into a voxsep model (the message says why)."""


# ----------------------------------------------------------------------------- sources
class UnsafeCacheEntry(ModelImportError):
    """A hub cache entry whose ref or snapshot leads outside it: never followed, never
    replaced by a download (the user must look at it)."""


def hub_cache_dirs() -> list[Path]:
    """The folders a Hugging Face hub cache may live in, most specific first."""
    candidates = []
    for variable, suffix in (("HF_HUB_CACHE", ""), ("HUGGINGFACE_HUB_CACHE", ""), ("HF_HOME", "hub")):
        if os.environ.get(variable):
            candidates.append(Path(os.environ[variable]) / suffix)
    xdg = os.environ.get("XDG_CACHE_HOME")
    candidates.append(Path(xdg) / "huggingface" / "hub" if xdg else Path.home() / ".cache" / "huggingface" / "hub")
    return list(dict.fromkeys(candidates))


def snapshot_of_repo_folder(folder: Path) -> Path:
    """The snapshot to use in a cache folder ``models--org--name``: the one ``refs/main``
    names, else the only one; an error when there is none or the choice is ambiguous."""
    snapshots = folder / "snapshots"
    ref = folder / "refs" / "main"
    if ref.is_file():
        revision = ref.read_text(encoding="utf-8", errors="replace").strip()
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", revision) or ".." in revision:
            raise UnsafeCacheEntry(
                f"{ref} names {revision[:80]!r}, not a snapshot of this cache entry (a revision is a plain folder "
                f"name in {snapshots}); refusing to follow it. Fix or delete refs/main, or give the snapshot folder "
                "itself (…/snapshots/<revision>)"
            )
        chosen = snapshots / revision
        if chosen.is_dir():
            if not chosen.resolve().is_relative_to(folder.resolve()):
                raise UnsafeCacheEntry(
                    f"{chosen} (named by {ref}) leads outside the cache entry {folder}, to {chosen.resolve()}; "
                    "refusing to follow it. Give the snapshot folder you mean itself"
                )
            return chosen
    found = sorted(p for p in snapshots.iterdir() if p.is_dir()) if snapshots.is_dir() else []
    if len(found) == 1:
        if not found[0].resolve().is_relative_to(folder.resolve()):
            raise UnsafeCacheEntry(f"{found[0]} leads outside the cache entry {folder}, to {found[0].resolve()}; "
                                   "refusing to follow it. Give the snapshot folder you mean itself")
        return found[0]
    if not found:
        raise ModelImportError(f"{folder} is a Hugging Face cache folder without snapshots (an interrupted download?)")
    raise ModelImportError(
        f"{folder} holds {len(found)} snapshots ({', '.join(p.name for p in found)}) and no refs/main; "
        "give the snapshot folder itself (…/snapshots/<revision>)"
    )


def resolve_source(source: str | os.PathLike) -> tuple[Path, str | None]:
    """``(existing file or folder, hub id or None)`` for ``source``.

    ``source`` is a file, a folder (a Hugging Face cache folder ``models--org--name``
    is replaced by its snapshot), or a hub id ``org/name`` found in the local cache.

    Raises:
        FileNotFoundError: nothing there, with the command that would fetch a hub id.
    """
    path = Path(source).expanduser()
    hub_id = None
    if path.exists():
        match = re.fullmatch(r"models--([^/]+?)--(.+)", path.name)
        if path.is_dir() and match and (path / "snapshots").exists():
            hub_id = f"{match.group(1)}/{match.group(2)}"
            path = snapshot_of_repo_folder(path)
        elif path.parent.name == "snapshots":
            match = re.fullmatch(r"models--([^/]+?)--(.+)", path.parent.parent.name)
            hub_id = f"{match.group(1)}/{match.group(2)}" if match else None
        return path, hub_id
    text = str(source)
    if HUB_ID.match(text):
        folder_name = "models--" + text.replace("/", "--")
        for cache in hub_cache_dirs():
            if (cache / folder_name).is_dir():
                return snapshot_of_repo_folder(cache / folder_name), text
        looked = ", ".join(str(c) for c in hub_cache_dirs())
        raise FileNotFoundError(
            f"{text!r} is not a file or folder here and not in the local Hugging Face cache (looked in {looked}); "
            f"voxsep never downloads. On a machine with internet run:  huggingface-cli download {text}  "
            f"then copy its cache folder {folder_name} into one of those folders (or give the folder's path)"
        )
    raise FileNotFoundError(f"model source not found: {text} (neither a file, a folder nor a hub id org/name)")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_record(path: Path) -> dict[str, str]:
    """``{"file": name, "sha256": hex}`` of a weights file (symlinks followed)."""
    return {"file": path.name, "sha256": sha256(path.resolve())}


# ----------------------------------------------------------------------------- loading
# Harmless classes that published files contain beside their tensors, allowed to load:
# Asteroid's serialize() stores ``torch.__version__`` (a ``str`` subclass) in its infos.
SAFE_EXTRA_GLOBALS = (torch.torch_version.TorchVersion,)


def safe_torch_load(path: Path) -> Any:
    """The tensors of a weights file, never running code from it: a safetensors file
    (``voxsep.checkpoint.read_safetensors``: its dict of tensors) or a PyTorch file read
    with ``torch.load(weights_only=True)`` (tensors and primitives only, plus
    ``SAFE_EXTRA_GLOBALS``, version strings).

    Raises:
        ModelImportError: the file needs arbitrary objects to load (refused), or is not a
            readable PyTorch or safetensors file.
    """
    from voxsep.checkpoint import CheckpointError, is_safetensors, read_safetensors

    if is_safetensors(path):
        try:
            return read_safetensors(path)[0]
        except CheckpointError as error:
            raise ModelImportError(str(error)) from error
    try:
        with torch.serialization.safe_globals(list(SAFE_EXTRA_GLOBALS)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # UnpicklingError, RuntimeError, EOFError, ...
        from voxsep.core.filekind import describe_unloadable, scrub_torch_advice

        described = describe_unloadable(path)  # a plain pickle, zeros, text...: say what it is
        if described:
            raise ModelImportError(described) from error
        message = str(error)
        if re.search(r"Unsupported global|Unsupported class|GLOBAL |REDUCE|reduce", message):
            found = re.search(r"GLOBAL ([\w.]+)", message)  # "Unsupported global: GLOBAL x.y", "unsupported GLOBAL x.y"
            raise ModelImportError(
                f"refused {path}: loading it would construct Python objects "
                f"({found.group(1) if found else 'not only tensors and primitives'}), which could run code; "
                "voxsep reads weights with torch.load(weights_only=True) only. Re-save the weights as a plain "
                "state dict with the toolkit that wrote them"
            ) from error
        first = scrub_torch_advice(message)
        raise ModelImportError(
            f"{path} is not a readable PyTorch file (truncated or corrupt?): {type(error).__name__}: {first}"
        ) from error


class _DataLoader(yaml.SafeLoader):
    """A YAML SafeLoader that keeps every tag (hyperpyyaml's ``!new:``, ``!ref``,
    ``!name:``, ``!apply:``, ...) as data: :class:`Tagged`. Nothing is imported or built."""


class Tagged:
    """A tagged YAML node kept as data: ``tag`` (e.g. ``"!new:speechbrain...Encoder"``)
    and ``value`` (the mapping, sequence or scalar under it)."""

    def __init__(self, tag: str, value: Any) -> None:
        self.tag = tag
        self.value = value

    @property
    def kind(self) -> str:
        """``"new"``, ``"name"``, ``"ref"``, ``"apply"``, ... (the tag up to ``:``)."""
        return self.tag.lstrip("!").split(":", 1)[0]

    @property
    def target(self) -> str:
        """What the tag names after ``:`` (a class or function path), or ``""``."""
        return self.tag.split(":", 1)[1] if ":" in self.tag else ""

    def __repr__(self) -> str:
        return f"Tagged({self.tag!r}, {self.value!r})"


def _construct_tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Tagged:
    if isinstance(node, yaml.MappingNode):
        value: Any = loader.construct_mapping(node, deep=True)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_scalar(node)
    return Tagged("!" + suffix, value)


_DataLoader.add_multi_constructor("!", _construct_tagged)


def read_yaml_as_data(path: Path) -> dict[str, Any]:
    """Parse a (hyper)YAML file without executing anything: tags become :class:`Tagged`.

    Raises:
        ModelImportError: not YAML, not a mapping at the top, or beyond the bounds of
            :mod:`voxsep.interop.bounded_yaml` (size, aliases expanded, depth).
    """
    from voxsep.interop.bounded_yaml import YAMLLimitError, load_bounded

    try:
        data = load_bounded(path, _DataLoader)  # size, alias expansion and depth bounded
    except YAMLLimitError as error:
        raise ModelImportError(f"refused {path}: {error}") from error
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ModelImportError(f"{path} is not readable YAML: {error}") from error
    if not isinstance(data, dict):
        raise ModelImportError(f"{path}: expected a YAML mapping at the top, found {type(data).__name__}")
    return data


def resolve_refs(value: Any, root: dict[str, Any], where: str, depth: int = 0) -> Any:
    """Replace hyperpyyaml references ``!ref <key>`` (also ``<a.b>``/``<a[b]>``) in ``value``
    with the referenced data, recursively. Arithmetic in a reference is refused."""
    if depth > 20:
        raise ModelImportError(f"{where}: references nest too deeply (a cycle?)")
    if isinstance(value, Tagged) and value.kind == "ref":
        text = str(value.value).strip()
        match = re.fullmatch(r"<([^<>]+)>", text)
        if not match:
            raise ModelImportError(f"{where}: the reference '!ref {text}' is an expression; only plain "
                                   "references '!ref <key>' are read (nothing is evaluated)")
        node: Any = root
        for part in re.split(r"[.\[\]]+", match.group(1)):
            if not part:
                continue
            if not isinstance(node, dict) or part not in node:
                raise ModelImportError(f"{where}: '!ref {text}' names nothing in the file")
            node = node[part]
        return resolve_refs(node, root, where, depth + 1)
    if isinstance(value, Tagged):  # e.g. an object an object refers to: resolve inside it
        return Tagged(value.tag, resolve_refs(value.value, root, where, depth + 1))
    if isinstance(value, dict):
        return {k: resolve_refs(v, root, where, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_refs(v, root, where, depth + 1) for v in value]
    return value


# ------------------------------------------------------------------------------ models
def fetch(tensors: dict[str, torch.Tensor], key: str, where: str, expected: str) -> torch.Tensor:
    """``tensors[key]``, or an error naming the file, the key and what was expected."""
    if key not in tensors:
        similar = [k for k in tensors if k.split(".")[0] == key.split(".")[0]][:5]
        raise ModelImportError(
            f"{where}: no tensor {key!r} (expected for {expected}); the file has {len(tensors)} tensors"
            + (f", e.g. {', '.join(similar)}" if similar else f", e.g. {', '.join(list(tensors)[:5])}")
        )
    value = tensors[key]
    if not isinstance(value, torch.Tensor):
        raise ModelImportError(f"{where}: {key!r} is a {type(value).__name__}, not a tensor")
    return value


def build_and_load(name: str, config: dict[str, Any], state: dict[str, torch.Tensor], where: str,
                   expected: str) -> torch.nn.Module:
    """Build voxsep model ``name`` with ``config``, load the converted ``state`` strictly.

    Raises:
        ModelImportError: the configuration is invalid, or a tensor is missing, extra or
            of another shape than the configuration implies (each one named).
    """
    from voxsep import models
    from voxsep.core.audio import check_sample_rate

    if "sample_rate" in config:
        try:
            config = {**config, "sample_rate": check_sample_rate(config["sample_rate"], "the sample rate")}
        except (TypeError, ValueError) as error:
            raise ModelImportError(f"{where}: {error}; give the model's real rate (sample_rate=)") from error
    unusable = [f"{key} is complex ({tensor.dtype}; its imaginary part would be lost)" for key, tensor in state.items()
                if isinstance(tensor, torch.Tensor) and tensor.is_complex()]
    unusable += [f"{key} holds {int((~torch.isfinite(tensor)).sum())} NaN or infinite value(s)"
                 for key, tensor in state.items() if isinstance(tensor, torch.Tensor) and not tensor.is_complex()
                 and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())]
    if unusable:
        shown = "; ".join(unusable[:6]) + (f"; and {len(unusable) - 6} more" if len(unusable) > 6 else "")
        raise ModelImportError(f"{where}: refused: the weights of this {expected} cannot make a working voxsep model: "
                               f"{shown}. Use an undamaged copy of the file")
    try:
        model = models.build(name, **config)
    except (ValueError, TypeError) as error:
        raise ModelImportError(f"{where}: the hyperparameters of this {expected} do not make a voxsep "
                               f"{name!r} model: {error}") from error
    own = model.state_dict()
    problems = []
    for key, tensor in state.items():
        if key not in own:
            problems.append(f"unexpected {key}")
        elif tuple(own[key].shape) != tuple(tensor.shape):
            problems.append(f"{key}: the file has shape {tuple(tensor.shape)}, the hyperparameters imply "
                            f"{tuple(own[key].shape)}")
    problems += [f"missing {key}" for key in own if key not in state]
    if problems:
        shown = "; ".join(problems[:6]) + (f"; and {len(problems) - 6} more" if len(problems) > 6 else "")
        raise ModelImportError(f"{where}: the weights do not fit a {expected} with the stated hyperparameters: {shown}")
    model.load_state_dict({k: v.detach().to(own[k].dtype) for k, v in state.items()})
    return model.eval()


def cat(*tensors: torch.Tensor) -> torch.Tensor:
    return torch.cat(tensors, dim=0)


def channel_affine(tensor: torch.Tensor) -> torch.Tensor:
    """A per-channel norm gain/bias of any of the toolkits' shapes (``(C,)``, ``(C, 1)``,
    ``(1, C, 1)``) as voxsep's ``(1, C, 1)``."""
    return tensor.reshape(1, -1, 1)


def strip_prefixes(tensors: dict[str, Any], prefixes: Iterable[str]) -> dict[str, Any]:
    """Remove each of ``prefixes`` in turn where every key has it (``module.`` from
    DistributedDataParallel, a wrapper's ``model.``)."""
    for prefix in prefixes:
        if tensors and all(k.startswith(prefix) for k in tensors):
            tensors = {k[len(prefix):]: v for k, v in tensors.items()}
    return tensors
