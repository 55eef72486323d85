"""ClearerVoice-Studio MossFormer2 separation checkpoints → voxsep ``mossformer2``.

The layout read is the authors' release (``alibabasglab/MossFormer2_SS_16K``, ``_8K``)::

    last_best_checkpoint       a text file naming the weights file (e.g. last_best_checkpoint.pt)
    last_best_checkpoint.pt    {"model": state dict, ...} or the bare state dict; keys
                               "model.enc.conv1d.weight", "model.mask_net....", "model.dec.weight"
                               (a "module." prefix from DistributedDataParallel is removed)
    config.yaml (optional)     sampling_rate, num_spks, encoder_embedding_dim,
                               mossformer_sequence_dim, num_mossformer_layer, encoder_kernel_size

The sizes are read from the tensors' shapes and checked against ``config.yaml`` when it
is there. The sample rate comes from ``config.yaml``'s ``sampling_rate``, else from a
``_8K`` / ``_16K`` in the folder or hub name, else from ``sample_rate=``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from voxsep.core.errors import ANY_VALUE, advised
from voxsep.interop.common import (
    ModelImportError,
    build_and_load,
    cat,
    channel_affine,
    fetch,
    file_record,
    read_yaml_as_data,
    safe_torch_load,
    strip_prefixes,
)

MASK = "mask_net."
LAYER = MASK + "mdl.intra_mdl.mossformerM.layers."
FSMN = MASK + "mdl.intra_mdl.mossformerM.fsmn."


def is_clearervoice_state(tensors: Any) -> bool:
    """Whether a state dict (after prefix removal) is a ClearerVoice MossFormer2 separator."""
    return isinstance(tensors, dict) and "enc.conv1d.weight" in tensors and f"{MASK}conv1d_encoder.weight" in tensors


def state_dict_of(data: Any, where: str) -> dict[str, torch.Tensor]:
    """The MossFormer2 tensors of a loaded ``last_best_checkpoint.pt``, prefixes removed."""
    if isinstance(data, dict) and isinstance(data.get("model"), dict):
        data = data["model"]
    if not isinstance(data, dict):
        raise ModelImportError(f"{where}: expected a state dict or {{'model': state dict}}, found {type(data).__name__}")
    tensors = strip_prefixes(data, ("module.", "model.", "module."))
    if not is_clearervoice_state(tensors):
        raise ModelImportError(
            f"{where}: not a ClearerVoice MossFormer2 separation checkpoint (no 'model.enc.conv1d.weight' and "
            f"'model.mask_net.conv1d_encoder.weight'); its first keys: {', '.join(list(tensors)[:4])}"
        )
    return tensors


def infer_config(src: dict[str, torch.Tensor], where: str) -> dict[str, Any]:
    """voxsep ``mossformer2`` arguments read from the tensors' shapes."""
    expected = "a ClearerVoice MossFormer2 separator"
    encoder = fetch(src, "enc.conv1d.weight", where, expected)
    dim = fetch(src, MASK + "conv1d_encoder.weight", where, expected).shape[0]
    n_layers = len({k[len(LAYER):].split(".")[0] for k in src if k.startswith(LAYER)})
    if n_layers == 0:
        raise ModelImportError(f"{where}: no MossFormer layers ({LAYER}<i>.*) found")
    a, f = LAYER + "0.", FSMN + "0."
    depth = len({k for k in src if k.startswith(f + "gated_fsmn.fsmn.conv.conv") and k.endswith(".weight")})
    kernel = encoder.shape[-1]
    return {
        "n_src": fetch(src, MASK + "conv1d_out.weight", where, expected).shape[0] // dim,
        "n_filters": encoder.shape[0],
        "kernel_size": kernel,
        "stride": kernel // 2,
        "dim": dim,
        "n_layers": n_layers,
        "query_key_dim": fetch(src, a + "qk_offset_scale.gamma", where, expected).shape[1],
        "expansion_factor": fetch(src, a + "to_hidden.mdl.1.weight", where, expected).shape[0] / dim,
        "fsmn_inner": fetch(src, f + "conv1.0.weight", where, expected).shape[0],
        "fsmn_order": (fetch(src, f + "gated_fsmn.fsmn.conv.conv1.weight", where, expected).shape[2] + 1) // 2,
        "fsmn_depth": depth,
        "mask_activation": "relu",
        "encoder_activation": "relu",
    }


def mossformer2_state(src: dict[str, torch.Tensor], where: str = "ClearerVoice MossFormer2") -> dict[str, torch.Tensor]:
    """voxsep ``mossformer2`` state dict from the tensors of ClearerVoice's ``MossFormer``
    (keys ``enc.*``, ``mask_net.*``, ``dec.*``). ScaleNorm gains and the FSMN's LayerNorm
    affines are folded into voxsep's fused projections."""
    expected = "a ClearerVoice MossFormer2 separator"

    def get(key: str) -> torch.Tensor:
        return fetch(src, key, where, expected)

    m = MASK
    out = {
        "encoder.conv.weight": get("enc.conv1d.weight"),
        "decoder.conv.weight": get("dec.weight"),
        "masker.input_norm.weight": channel_affine(get(m + "norm.weight")),
        "masker.input_norm.bias": channel_affine(get(m + "norm.bias")),
        "masker.input_proj.weight": get(m + "conv1d_encoder.weight"),
        "masker.position.scale": get(m + "pos_enc.scale"),
        "masker.stack.norm.weight": get(m + "mdl.intra_mdl.norm.weight"),
        "masker.stack.norm.bias": get(m + "mdl.intra_mdl.norm.bias"),
        "masker.stack_norm.weight": channel_affine(get(m + "mdl.intra_norm.weight")),
        "masker.stack_norm.bias": channel_affine(get(m + "mdl.intra_norm.bias")),
        "masker.to_sources.0.weight": get(m + "prelu.weight"),
        "masker.to_sources.1.weight": get(m + "conv1d_out.weight"),
        "masker.to_sources.1.bias": get(m + "conv1d_out.bias"),
        "masker.output.gate.weight": cat(get(m + "output.0.weight"), get(m + "output_gate.0.weight")),
        "masker.output.gate.bias": cat(get(m + "output.0.bias"), get(m + "output_gate.0.bias")),
        "masker.output.mask_conv.weight": get(m + "conv1_decoder.weight"),
    }
    n_layers = len({k[len(LAYER):].split(".")[0] for k in src if k.startswith(LAYER)})
    for i in range(n_layers):
        a, o = f"{LAYER}{i}.", f"masker.stack.attention.{i}."
        # Fold each ScaleNorm gain into its linear layer (voxsep's fused projection has one).
        out[o + "to_hidden_qk.norm.gain"] = torch.ones_like(get(a + "to_hidden.mdl.0.g"))
        out[o + "to_hidden_qk.linear.weight"] = cat(get(a + "to_hidden.mdl.1.weight") * get(a + "to_hidden.mdl.0.g"),
                                                    get(a + "to_qk.mdl.1.weight") * get(a + "to_qk.mdl.0.g"))
        out[o + "to_hidden_qk.linear.bias"] = cat(get(a + "to_hidden.mdl.1.bias"), get(a + "to_qk.mdl.1.bias"))
        out[o + "to_hidden_qk.conv.conv.weight"] = cat(get(a + "to_hidden.mdl.3.sequential.1.conv.weight"),
                                                       get(a + "to_qk.mdl.3.sequential.1.conv.weight"))
        out[o + "offset_scale.gamma"] = get(a + "qk_offset_scale.gamma")
        out[o + "offset_scale.beta"] = get(a + "qk_offset_scale.beta")
        out[o + "to_out.norm.gain"] = get(a + "to_out.mdl.0.g")
        out[o + "to_out.linear.weight"] = get(a + "to_out.mdl.1.weight")
        out[o + "to_out.linear.bias"] = get(a + "to_out.mdl.1.bias")
        out[o + "to_out.conv.conv.weight"] = get(a + "to_out.mdl.3.sequential.1.conv.weight")
        f, o = f"{FSMN}{i}.", f"masker.stack.fsmn.{i}."
        out[o + "bottleneck.0.weight"] = get(f + "conv1.0.weight").squeeze(-1)
        out[o + "bottleneck.0.bias"] = get(f + "conv1.0.bias")
        out[o + "bottleneck.1.weight"] = get(f + "conv1.1.weight")
        for name in ("norm1", "norm2"):
            out[o + name + ".weight"] = get(f + name + ".weight")
            out[o + name + ".bias"] = get(f + name + ".bias")
        out[o + "output.weight"] = get(f + "conv2.weight").squeeze(-1)
        out[o + "output.bias"] = get(f + "conv2.bias")
        g = f + "gated_fsmn."
        # Fold the u/v LayerNorm affines into one fused projection: W(n*w + b) + c.
        weights, biases = [], []
        for branch in ("to_u", "to_v"):
            w, b = get(g + branch + ".mdl.0.weight"), get(g + branch + ".mdl.0.bias")
            lin_w, lin_b = get(g + branch + ".mdl.1.weight"), get(g + branch + ".mdl.1.bias")
            weights.append(lin_w * w)
            biases.append(lin_w @ b + lin_b)
        out[o + "gated_fsmn.to_uv.norm.weight"] = torch.ones_like(get(g + "to_u.mdl.0.weight"))
        out[o + "gated_fsmn.to_uv.norm.bias"] = torch.zeros_like(get(g + "to_u.mdl.0.bias"))
        out[o + "gated_fsmn.to_uv.linear.weight"] = cat(*weights)
        out[o + "gated_fsmn.to_uv.linear.bias"] = cat(*biases)
        out[o + "gated_fsmn.to_uv.conv.conv.weight"] = cat(get(g + "to_u.mdl.3.sequential.1.conv.weight"),
                                                           get(g + "to_v.mdl.3.sequential.1.conv.weight"))
        out[o + "gated_fsmn.fsmn.linear.weight"] = get(g + "fsmn.linear.weight")
        out[o + "gated_fsmn.fsmn.linear.bias"] = get(g + "fsmn.linear.bias")
        out[o + "gated_fsmn.fsmn.project.weight"] = get(g + "fsmn.project.weight")
        depth = len({k for k in src if k.startswith(g + "fsmn.conv.conv") and k.endswith(".weight")})
        out[o + "gated_fsmn.fsmn.memory.norm_weight"] = torch.stack(
            [get(g + f"fsmn.conv.norm{d + 1}.weight").view(-1, 1) for d in range(depth)])
        out[o + "gated_fsmn.fsmn.memory.norm_bias"] = torch.stack(
            [get(g + f"fsmn.conv.norm{d + 1}.bias").view(-1, 1) for d in range(depth)])
        for d in range(depth):
            out[o + f"gated_fsmn.fsmn.memory.convs.{d}.weight"] = get(g + f"fsmn.conv.conv{d + 1}.weight").squeeze(-1)
            out[o + f"gated_fsmn.fsmn.memory.activations.{d}.weight"] = get(g + f"fsmn.conv.prelu{d + 1}.weight")
    return out


def weights_file(folder: Path) -> Path:
    """The weights file of a ClearerVoice checkpoint folder (``last_best_checkpoint`` names it)."""
    pointer = folder / "last_best_checkpoint"
    if pointer.is_file():
        name = pointer.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        name = name[0].strip() if name else ""
        if name and "/" not in name and "\\" not in name and (folder / name).is_file():
            return folder / name
    if (folder / "last_best_checkpoint.pt").is_file():
        return folder / "last_best_checkpoint.pt"
    raise ModelImportError(f"{folder}: no ClearerVoice weights (last_best_checkpoint.pt, or the file named in "
                           "last_best_checkpoint)")


def is_clearervoice_folder(folder: Path) -> bool:
    return (folder / "last_best_checkpoint.pt").is_file() or (folder / "last_best_checkpoint").is_file()


def _rate_from_name(*names: str) -> int | None:
    for name in names:
        match = re.search(r"_(8|16|32|44|48)K(?![A-Za-z0-9])", name or "", flags=re.IGNORECASE)
        if match:
            return {"8": 8000, "16": 16000, "32": 32000, "44": 44100, "48": 48000}[match.group(1)]
    return None


def convert_file(path: Path, sample_rate: int | None = None, hub_id: str | None = None,
                 data: Any = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """A ClearerVoice MossFormer2 weights file (with ``config.yaml`` beside it, if any) →
    ``(voxsep mossformer2, info)``."""
    where = str(path)
    src = state_dict_of(safe_torch_load(path) if data is None else data, where)
    config = infer_config(src, where)
    files = [file_record(path)]
    yaml_path = path.parent / "config.yaml"
    rate = None
    if yaml_path.is_file():
        settings = read_yaml_as_data(yaml_path)
        files.append(file_record(yaml_path))
        for key, ours in (("num_spks", "n_src"), ("encoder_embedding_dim", "n_filters"),
                          ("mossformer_sequence_dim", "dim"), ("num_mossformer_layer", "n_layers"),
                          ("encoder_kernel_size", "kernel_size")):
            if key in settings and int(settings[key]) != config[ours]:
                raise ModelImportError(f"{yaml_path}: {key}={settings[key]} but the weights in {path.name} have "
                                       f"{ours}={config[ours]}")
        if isinstance(settings.get("sampling_rate"), (int, float)):
            rate = int(settings["sampling_rate"])
    rate = sample_rate or rate or _rate_from_name(hub_id or "", str(path.parent.parent.parent.name),
                                                   path.parent.name, path.name)
    if not rate:
        raise advised(ModelImportError, f"{path}: the sample rate is not stated (no config.yaml sampling_rate, "
                      "no _8K/_16K in the name)", "sample_rate", ANY_VALUE)
    config["sample_rate"] = rate
    model = build_and_load("mossformer2", config, mossformer2_state(src, where), where,
                           "ClearerVoice MossFormer2 separator")
    return model, {"toolkit": "clearervoice", "architecture": "MossFormer2", "files": files}
