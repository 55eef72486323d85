"""Published TIGER models (the authors' ``look2hear`` release) → voxsep ``tiger``.

The layout read is the Hugging Face release (``JusperLee/TIGER-speech``)::

    config.json          in_channels, out_channels, num_blocks, upsampling_depth,
                         att_n_head, att_hid_chan, win, stride, num_sources, sample_rate
                         (att_kernel_size, att_stride: stored, unused by the model)
    model.safetensors    the state dict ("BN.<band>.*", "separator.*", "mask.<band>.*")
                         (or pytorch_model.bin, read with torch.load(weights_only=True))

A weights file is read with the ``config.json`` beside it: the weights do not say how
many times the shared blocks run nor the STFT sizes.

The tensors are renamed to voxsep's modules and the per-head attention projections
concatenated into one matrix (``voxsep.nn.tf_interleaved.FoldedAttention``). The
published files hold a gate for the coarsest scale of each multi-scale block
(``loc_glo_fus.<depth-1>``) whose output the model never uses; it is dropped.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch

from voxsep.interop.common import ModelImportError, build_and_load, fetch, file_record, safe_torch_load, strip_prefixes

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
EXPECTED = "TIGER model"
PATHS = {"freq_path": "band", "frame_path": "frame"}
INJECTION = {"local_embedding": "local", "global_act": "gate", "global_embedding": "fill"}


def is_tiger_state(tensors: Any) -> bool:
    """Whether a state dict is a TIGER model of the authors' code."""
    return (isinstance(tensors, dict) and "separator.freq_path.0.proj_1x1.conv.weight" in tensors
            and any(k.startswith("BN.0.") for k in tensors) and any(k.startswith("mask.0.") for k in tensors))


def is_tiger_folder(folder: Path) -> bool:
    """A folder with ``config.json`` naming TIGER hyperparameters and a weights file."""
    config = folder / "config.json"
    if not config.is_file() or not any((folder / name).is_file() for name in WEIGHT_FILES):
        return False
    try:
        data = json.loads(config.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and {"num_blocks", "upsampling_depth", "win", "stride"} <= set(data)


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ModelImportError(f"{path}: not readable JSON ({error})") from error
    if not isinstance(data, dict):
        raise ModelImportError(f"{path}: expected a JSON object of hyperparameters, found {type(data).__name__}")
    return data


def config_from_json(data: dict[str, Any], where: str, sample_rate: int | None) -> dict[str, Any]:
    """voxsep ``tiger`` arguments from the authors' ``config.json``."""
    names = {"num_sources": "n_src", "sample_rate": "sample_rate", "win": "n_fft", "stride": "hop",
             "out_channels": "channels", "in_channels": "hidden", "num_blocks": "n_blocks",
             "upsampling_depth": "depth", "att_n_head": "n_heads", "att_hid_chan": "head_dim"}
    missing = [key for key in names if key not in data and key != "sample_rate"]
    if missing:
        raise ModelImportError(f"{where}: config.json lacks {', '.join(missing)} (expected for {EXPECTED})")
    config = {ours: int(data[theirs]) for theirs, ours in names.items() if theirs in data}
    if sample_rate:
        config["sample_rate"] = sample_rate
    elif "sample_rate" not in config:
        raise ModelImportError(f"{where}: config.json does not state sample_rate; give the model's rate")
    return config


def convert_state(src: dict[str, torch.Tensor], depth: int, n_heads: int, where: str) -> dict[str, torch.Tensor]:
    """The authors' tensors renamed and regrouped for voxsep's ``tiger`` (module docstring)."""
    state: dict[str, torch.Tensor] = {}
    attention: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in src.items():
        if match := re.fullmatch(r"BN\.(\d+)\.([01])\.(weight|bias)", key):
            state[f"band_in.{match[1]}.{'norm' if match[2] == '0' else 'proj'}.{match[3]}"] = tensor
        elif match := re.fullmatch(r"mask\.(\d+)\.([01])\.(weight|bias)", key):
            state[f"band_out.{match[1]}.{'act' if match[2] == '0' else 'conv'}.{match[3]}"] = tensor
        elif key == "separator.concat_block.0.weight":
            state["separator.merge_scale"] = tensor.reshape(-1)
        elif key == "separator.concat_block.0.bias":
            state["separator.merge_bias"] = tensor
        elif key == "separator.concat_block.1.weight":
            state["separator.merge_slope"] = tensor.reshape(1)
        elif match := re.fullmatch(r"separator\.(freq_path|frame_path)\.0\.(.+)", key):
            path, rest = PATHS[match[1]], match[2]
            if m := re.fullmatch(r"(loc_glo_fus|last_layer)\.(\d+)\.(\w+)\.(.+)", rest):
                if m[1] == "loc_glo_fus" and int(m[2]) == depth - 1:
                    continue  # the coarsest scale's gate: never used by the model
                rest = f"{'fuse' if m[1] == 'loc_glo_fus' else 'merge'}.{m[2]}.{INJECTION[m[3]]}.{m[4]}"
            else:
                for theirs, ours in (("proj_1x1.", "expand."), ("spp_dw.", "down."), ("globalatt.dwconv.", "context.depthwise."),
                                     ("globalatt.", "context."), ("res_conv.", "project.")):
                    if rest.startswith(theirs):
                        rest = ours + rest[len(theirs):]
                        break
                else:
                    raise ModelImportError(f"{where}: unexpected tensor {key!r} for {EXPECTED}")
            state[f"separator.{path}_msb.{rest}"] = tensor
        elif match := re.fullmatch(r"separator\.(freq_path|frame_path)\.1\.(.+)", key):
            attention.setdefault(PATHS[match[1]], {})[match[2]] = tensor
        elif match := re.fullmatch(r"separator\.(freq_path|frame_path)\.2\.(gamma|beta)", key):
            state[f"separator.{PATHS[match[1]]}_norm.{'weight' if match[2] == 'gamma' else 'bias'}"] = tensor.reshape(-1)
        else:
            raise ModelImportError(f"{where}: unexpected tensor {key!r} for {EXPECTED}")
    for path, parts in attention.items():
        prefix = f"separator.{path}_attn."
        where_path = f"{where} ({path} attention)"
        projections = [f"{kind}.{h}" for kind in ("Queries", "Keys", "Values") for h in range(n_heads)]
        get = lambda name: fetch(parts, name, where_path, EXPECTED)  # noqa: E731
        state[prefix + "qkv.weight"] = torch.cat([get(f"{p}.conv.weight").flatten(1) for p in projections])
        state[prefix + "qkv.bias"] = torch.cat([get(f"{p}.conv.bias") for p in projections])
        state[prefix + "qkv_slopes"] = torch.cat([get(f"{p}.act.weight").reshape(1) for p in projections])
        state[prefix + "qkv_gamma"] = torch.cat([get(f"{p}.norm.gamma").reshape(-1) for p in projections])
        state[prefix + "qkv_beta"] = torch.cat([get(f"{p}.norm.beta").reshape(-1) for p in projections])
        state[prefix + "out.weight"] = get("attn_concat_proj.conv.weight").flatten(1)
        state[prefix + "out.bias"] = get("attn_concat_proj.conv.bias")
        state[prefix + "out_slope"] = get("attn_concat_proj.act.weight").reshape(1)
        state[prefix + "out_norm.weight"] = get("attn_concat_proj.norm.gamma").reshape(-1)
        state[prefix + "out_norm.bias"] = get("attn_concat_proj.norm.beta").reshape(-1)
        used = {f"{p}.{t}" for p in projections for t in ("conv.weight", "conv.bias", "act.weight", "norm.gamma", "norm.beta")}
        used |= {f"attn_concat_proj.{t}" for t in ("conv.weight", "conv.bias", "act.weight", "norm.gamma", "norm.beta")}
        extra = sorted(set(parts) - used)
        if extra:
            raise ModelImportError(f"{where_path}: unexpected tensors {', '.join(extra[:4])} for {EXPECTED}")
    return state


def convert(tensors: dict[str, torch.Tensor], weights: Path, config_json: dict[str, Any] | None,
            sample_rate: int | None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """``(voxsep tiger model, source info)`` from the authors' tensors (+ their config.json)."""
    where = str(weights)
    src = strip_prefixes(dict(tensors), ("module.", "model.", "audio_model."))
    if not is_tiger_state(src):
        raise ModelImportError(f"{where}: not a TIGER state dict (no 'separator.freq_path.0.proj_1x1.conv.weight', "
                               f"'BN.0.*', 'mask.0.*'); its first keys: {', '.join(list(src)[:4])}")
    if config_json is None:
        raise ModelImportError(
            f"{where} holds TIGER weights but there is no config.json beside it; the weights do not say how many "
            "times the shared blocks run (num_blocks) nor the STFT sizes (win, stride). Put the published "
            "config.json in the same folder and give the folder"
        )
    config = config_from_json(config_json, str(weights.parent / "config.json"), sample_rate)
    state = convert_state(src, config["depth"], config["n_heads"], where)
    model = build_and_load("tiger", config, state, where, EXPECTED)
    return model, {"toolkit": "look2hear", "architecture": "TIGER"}


def convert_file(weights: Path, sample_rate: int | None, tensors: dict[str, torch.Tensor] | None = None
                 ) -> tuple[torch.nn.Module, dict[str, Any]]:
    """A TIGER weights file with the ``config.json`` beside it → ``(model, source info with files)``."""
    config_path = weights.parent / "config.json"
    config_json = _read_config(weights.parent) if config_path.is_file() else None
    model, info = convert(safe_torch_load(weights) if tensors is None else tensors, weights, config_json, sample_rate)
    return model, {**info, "files": [file_record(config_path), file_record(weights)]}


def convert_folder(folder: Path, sample_rate: int | None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """A published TIGER folder (module docstring) → ``(model, source info with files)``."""
    return convert_file(next(folder / name for name in WEIGHT_FILES if (folder / name).is_file()), sample_rate)
