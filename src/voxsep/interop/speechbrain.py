"""SpeechBrain SepFormer separation folders → voxsep ``sepformer``.

The layout read is SpeechBrain's pretrained separation folder (``speechbrain/sepformer-
wsj02mix``, ``-whamr``, ``-libri2mix``, ...; what ``SepformerSeparation.from_hparams``
fetches)::

    hyperparams.yaml   Encoder / MaskNet (Dual_Path_Model with SBTransformerBlock intra and
                       inter models) / Decoder, sample_rate, num_spks
    encoder.ckpt       {"conv1d.weight"}
    masknet.ckpt       {"norm.*", "conv1d.weight", "dual_mdl.<i>.{intra,inter}_mdl...",
                        "dual_mdl.<i>.{intra,inter}_norm.*", "conv2d.*", "prelu.weight",
                        "output.0.*", "output_gate.0.*", "end_conv1x1.weight"}
    decoder.ckpt       {"weight"}

``hyperparams.yaml`` is read as data (``voxsep.interop.common.read_yaml_as_data``): its
``!new:`` / ``!ref`` tags are never constructed or evaluated. The ``.ckpt`` files are
loaded with ``torch.load(weights_only=True)``.

SpeechBrain pads the chunk sequence to a whole number of chunks and sums the two copies
of each frame: the model is built with ``chunk_padding="speechbrain"`` and the factor 2
is folded into the gated output's weights. Supported: ``norm: ln`` or ``gln``,
``skip_around_intra: true``, ``linear_layer_after_inter_intra: false``, no global
positional encoding, pre-LN transformer blocks with positional encoding (the published
SepFormers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from voxsep.core.errors import ANY_VALUE, advised
from voxsep.interop.common import (
    ModelImportError,
    Tagged,
    build_and_load,
    cat,
    channel_affine,
    fetch,
    file_record,
    read_yaml_as_data,
    resolve_refs,
    safe_torch_load,
    strip_prefixes,
)

FILES = ("hyperparams.yaml", "encoder.ckpt", "masknet.ckpt", "decoder.ckpt")


def is_speechbrain_folder(folder: Path) -> bool:
    return (folder / "hyperparams.yaml").is_file() and (folder / "masknet.ckpt").exists()


def _module(hparams: dict[str, Any], name: str, classes: tuple[str, ...], where: str) -> dict[str, Any]:
    """The keyword arguments of the ``!new:`` object ``name`` of one of ``classes``."""
    node = hparams.get(name)
    if not isinstance(node, Tagged) or node.kind != "new":
        raise ModelImportError(f"{where}: expected '{name}: !new:...' ({' or '.join(classes)}), found {node!r:.120}")
    if node.target.rsplit(".", 1)[-1] not in classes:
        raise ModelImportError(f"{where}: {name} is {node.target}; supported: {', '.join(classes)} "
                               "(SpeechBrain SepFormer: dual_path.Encoder, Dual_Path_Model, Decoder)")
    value = resolve_refs(node.value or {}, hparams, where)
    if not isinstance(value, dict):
        raise ModelImportError(f"{where}: {name} must take keyword arguments (a mapping)")
    return value


def _transformer(node: Any, label: str, where: str) -> dict[str, Any]:
    if not isinstance(node, Tagged) or node.target.rsplit(".", 1)[-1] != "SBTransformerBlock":
        found = node.target if isinstance(node, Tagged) else type(node).__name__
        raise ModelImportError(f"{where}: MaskNet {label} is {found}; only SBTransformerBlock (SepFormer) is "
                               "supported")
    args = node.value or {}
    checks = [
        (args.get("norm_before", False) is True, "norm_before: true"),
        (args.get("use_positional_encoding", False) is True, "use_positional_encoding: true"),
        (args.get("attention_type", "regularMHA") == "regularMHA", "attention_type: regularMHA"),
        (args.get("activation", "relu") in ("relu", "gelu"), "activation relu or gelu"),
        (args.get("kdim") is None and args.get("vdim") is None, "no kdim/vdim"),
    ]
    for ok, wanted in checks:
        if not ok:
            raise ModelImportError(f"{where}: MaskNet {label} differs from the published SepFormer: voxsep needs "
                                   f"{wanted}")
    return {
        "n_layers": int(args["num_layers"]),
        "d_model": int(args["d_model"]),
        "n_heads": int(args["nhead"]),
        "d_ffn": int(args.get("d_ffn", 2048)),
        "activation": args.get("activation", "relu"),
    }


def sepformer_hyperparams(n_filters: int, d_model: int, n_layers: int, n_heads: int, d_ffn: int, n_repeats: int,
                          chunk_size: int, sample_rate: int = 8000, n_src: int = 2, kernel_size: int = 16) -> str:
    """The ``hyperparams.yaml`` of a SpeechBrain SepFormer folder with these sizes, in the
    layout of the published ones (``speechbrain/sepformer-wsj02mix``; what
    :func:`read_hparams` reads): encoder stride ``kernel_size // 2``, ``norm: ln``.
    ``n_src=3`` is the layout of ``sepformer-wsj03mix`` / ``-libri3mix``, ``sample_rate=16000``
    that of ``sepformer-whamr16k`` (same kernel 16, stride 8, at 16 kHz).

    voxsep never writes SpeechBrain folders itself; this serves the tests and
    ``benchmarks/check_interop_parity.py``, which write such folders to import them.
    """
    transformer = "\n".join([
        "!new:speechbrain.lobes.models.dual_path.SBTransformerBlock",
        f"    num_layers: {n_layers}", "    d_model: !ref <out_channels>", f"    nhead: {n_heads}",
        f"    d_ffn: {d_ffn}", "    dropout: 0", "    use_positional_encoding: true", "    norm_before: true",
    ])
    return f"""\
# SepFormer for speech separation, in the layout of speechbrain/sepformer-wsj02mix
sample_rate: {sample_rate}
num_spks: {n_src}
N_encoder_out: {n_filters}
out_channels: {d_model}
kernel_size: {kernel_size}
kernel_stride: {kernel_size // 2}

Encoder: !new:speechbrain.lobes.models.dual_path.Encoder
    kernel_size: !ref <kernel_size>
    out_channels: !ref <N_encoder_out>

SBtfintra: {transformer}

SBtfinter: {transformer}

MaskNet: !new:speechbrain.lobes.models.dual_path.Dual_Path_Model
    num_spks: !ref <num_spks>
    in_channels: !ref <N_encoder_out>
    out_channels: !ref <out_channels>
    num_layers: {n_repeats}
    K: {chunk_size}
    intra_model: !ref <SBtfintra>
    inter_model: !ref <SBtfinter>
    norm: ln
    linear_layer_after_inter_intra: false
    skip_around_intra: true

Decoder: !new:speechbrain.lobes.models.dual_path.Decoder
    in_channels: !ref <N_encoder_out>
    out_channels: 1
    kernel_size: !ref <kernel_size>
    stride: !ref <kernel_stride>
    bias: false

modules:
    encoder: !ref <Encoder>
    decoder: !ref <Decoder>
    masknet: !ref <MaskNet>

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        encoder: !ref <Encoder>
        masknet: !ref <MaskNet>
        decoder: !ref <Decoder>
"""


def read_hparams(folder: Path) -> dict[str, Any]:
    """The voxsep ``sepformer`` configuration described by ``folder/hyperparams.yaml``."""
    path = folder / "hyperparams.yaml"
    where = str(path)
    try:
        return _read_hparams(path, where)
    except (TypeError, ValueError, KeyError) as error:
        if isinstance(error, ModelImportError):
            raise
        raise ModelImportError(f"{where}: a size is missing or not a number ({type(error).__name__}: {error}); "
                               "expected the SepFormer layout of speechbrain/sepformer-wsj02mix") from error


def _read_hparams(path: Path, where: str) -> dict[str, Any]:
    hparams = read_yaml_as_data(path)
    encoder = _module(hparams, "Encoder", ("Encoder",), where)
    masknet = _module(hparams, "MaskNet", ("Dual_Path_Model",), where)
    decoder = _module(hparams, "Decoder", ("Decoder",), where)
    intra = _transformer(masknet.get("intra_model"), "intra_model", where)
    inter = _transformer(masknet.get("inter_model"), "inter_model", where)
    if intra != inter:
        raise ModelImportError(f"{where}: the intra and inter transformers differ ({intra} vs {inter}); voxsep's "
                               "SepFormer uses one size for both")
    if intra["activation"] != "relu":
        raise ModelImportError(f"{where}: transformer activation {intra['activation']!r}; voxsep's SepFormer uses relu")
    checks = [
        (masknet.get("norm", "ln") in ("ln", "gln"), "norm: ln (or gln)"),
        (masknet.get("skip_around_intra", True) is True, "skip_around_intra: true"),
        (masknet.get("linear_layer_after_inter_intra", True) is False, "linear_layer_after_inter_intra: false"),
        (masknet.get("use_global_pos_enc", False) is False, "use_global_pos_enc: false"),
        (int(encoder.get("in_channels", 1)) == 1, "a single-channel Encoder"),
        (int(decoder.get("out_channels", 1)) == 1, "a single-channel Decoder"),
        (decoder.get("bias", True) is False, "Decoder bias: false"),
    ]
    for ok, wanted in checks:
        if not ok:
            raise ModelImportError(f"{where}: this model differs from the published SepFormer: voxsep needs {wanted}")
    kernel = int(encoder.get("kernel_size", 2))
    n_filters = int(encoder.get("out_channels", 64))
    if int(decoder.get("kernel_size", -1)) != kernel or int(decoder.get("stride", -1)) != kernel // 2:
        raise ModelImportError(f"{where}: Decoder kernel_size/stride {decoder.get('kernel_size')}/"
                               f"{decoder.get('stride')} do not mirror the Encoder's {kernel}/{kernel // 2}")
    if int(masknet.get("in_channels", -1)) != n_filters or int(decoder.get("in_channels", -1)) != n_filters:
        raise ModelImportError(f"{where}: MaskNet/Decoder in_channels do not equal the Encoder's out_channels "
                               f"({n_filters})")
    if int(masknet.get("out_channels", -1)) != intra["d_model"]:
        raise ModelImportError(f"{where}: MaskNet out_channels {masknet.get('out_channels')} differs from the "
                               f"transformers' d_model {intra['d_model']}")
    sample_rate = hparams.get("sample_rate")
    n_src = masknet.get("num_spks", hparams.get("num_spks", 2))
    return {
        "n_src": int(n_src),
        "n_filters": n_filters,
        "kernel_size": kernel,
        "stride": kernel // 2,
        "d_model": intra["d_model"],
        "chunk_size": int(masknet.get("K", 200)),
        "n_repeats": int(masknet.get("num_layers", 1)),
        "n_layers": intra["n_layers"],
        "n_heads": intra["n_heads"],
        "d_ffn": intra["d_ffn"],
        "dropout": 0.0,
        "mask_activation": "relu",
        "sample_rate": int(sample_rate) if isinstance(sample_rate, (int, float)) else None,
        "encoder_activation": "relu",
        "chunk_padding": "speechbrain",
    }


def sepformer_block_state(src: dict[str, torch.Tensor], prefix: str, out_prefix: str, n_layers: int,
                          where: str = "SpeechBrain Dual_Computation_Block") -> dict[str, torch.Tensor]:
    """voxsep ``SepFormerBlock`` tensors (under ``out_prefix``) from the tensors of a
    SpeechBrain ``Dual_Computation_Block`` (under ``prefix``) with SBTransformerBlocks."""
    out = {}
    expected = "a SpeechBrain Dual_Computation_Block"
    for path in ("intra", "inter"):
        out[f"{out_prefix}{path}_norm.weight"] = channel_affine(fetch(src, f"{prefix}{path}_norm.weight", where, expected))
        out[f"{out_prefix}{path}_norm.bias"] = channel_affine(fetch(src, f"{prefix}{path}_norm.bias", where, expected))
        m = f"{prefix}{path}_mdl.mdl."
        out[f"{out_prefix}{path}.norm.weight"] = fetch(src, m + "norm.norm.weight", where, expected)
        out[f"{out_prefix}{path}.norm.bias"] = fetch(src, m + "norm.norm.bias", where, expected)
        for i in range(n_layers):
            a, o = f"{m}layers.{i}.", f"{out_prefix}{path}.layers.{i}."
            out[o + "attention.in_proj.weight"] = fetch(src, a + "self_att.att.in_proj_weight", where, expected)
            out[o + "attention.in_proj.bias"] = fetch(src, a + "self_att.att.in_proj_bias", where, expected)
            out[o + "attention.out_proj.weight"] = fetch(src, a + "self_att.att.out_proj.weight", where, expected)
            out[o + "attention.out_proj.bias"] = fetch(src, a + "self_att.att.out_proj.bias", where, expected)
            for ours, theirs in (("ffn.0", "pos_ffn.ffn.0"), ("ffn.3", "pos_ffn.ffn.3"),
                                 ("norm1", "norm1.norm"), ("norm2", "norm2.norm")):
                out[o + ours + ".weight"] = fetch(src, a + theirs + ".weight", where, expected)
                out[o + ours + ".bias"] = fetch(src, a + theirs + ".bias", where, expected)
        if f"{m}layers.{n_layers}.norm1.norm.weight" in src:
            raise ModelImportError(f"{where}: {path} transformer has more than the {n_layers} layers the "
                                   "hyperparameters state")
    return out


def sepformer_state(encoder: dict[str, Any], masknet: dict[str, Any], decoder: dict[str, Any],
                    n_repeats: int, n_layers: int, where: str) -> dict[str, torch.Tensor]:
    """voxsep ``sepformer`` state dict from SpeechBrain's three module state dicts."""
    expected = f"a SepFormer MaskNet with num_layers={n_repeats}"
    state = {
        "encoder.conv.weight": fetch(encoder, "conv1d.weight", f"{where}/encoder.ckpt", "the Encoder"),
        "decoder.conv.weight": fetch(decoder, "weight", f"{where}/decoder.ckpt", "the Decoder"),
    }
    where = f"{where}/masknet.ckpt"
    state["masker.input_norm.weight"] = channel_affine(fetch(masknet, "norm.weight", where, expected))
    state["masker.input_norm.bias"] = channel_affine(fetch(masknet, "norm.bias", where, expected))
    state["masker.input_proj.weight"] = fetch(masknet, "conv1d.weight", where, expected)
    for i in range(n_repeats):
        state.update(sepformer_block_state(masknet, f"dual_mdl.{i}.", f"masker.blocks.{i}.", n_layers, where))
    if f"dual_mdl.{n_repeats}.intra_norm.weight" in masknet:
        raise ModelImportError(f"{where}: more dual-path blocks than the {n_repeats} the hyperparameters state")
    state["masker.to_sources.0.weight"] = fetch(masknet, "prelu.weight", where, expected)
    state["masker.to_sources.1.weight"] = fetch(masknet, "conv2d.weight", where, expected)
    state["masker.to_sources.1.bias"] = fetch(masknet, "conv2d.bias", where, expected)
    # SpeechBrain's _over_add sums the two chunk copies of each frame, voxsep averages them.
    state["masker.output.gate.weight"] = 2 * cat(fetch(masknet, "output.0.weight", where, expected),
                                                 fetch(masknet, "output_gate.0.weight", where, expected))
    state["masker.output.gate.bias"] = cat(fetch(masknet, "output.0.bias", where, expected),
                                           fetch(masknet, "output_gate.0.bias", where, expected))
    state["masker.output.mask_conv.weight"] = fetch(masknet, "end_conv1x1.weight", where, expected)
    return state


def convert_folder(folder: Path, sample_rate: int | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """A SpeechBrain SepFormer folder → ``(voxsep sepformer, info)``."""
    missing = [name for name in FILES if not (folder / name).exists()]
    if missing:
        raise ModelImportError(f"{folder}: a SpeechBrain separation folder needs {', '.join(FILES)}; missing "
                               f"{', '.join(missing)}")
    config = read_hparams(folder)
    if sample_rate:
        config["sample_rate"] = int(sample_rate)
    if not config["sample_rate"]:
        raise advised(ModelImportError, f"{folder}/hyperparams.yaml states no sample_rate", "sample_rate", ANY_VALUE)
    tensors = {}
    for name in ("encoder", "masknet", "decoder"):
        data = safe_torch_load(folder / f"{name}.ckpt")
        if not isinstance(data, dict):
            raise ModelImportError(f"{folder}/{name}.ckpt: expected a state dict, found {type(data).__name__}")
        tensors[name] = strip_prefixes(data, ("module.",))
    state = sepformer_state(tensors["encoder"], tensors["masknet"], tensors["decoder"], config["n_repeats"],
                            config["n_layers"], str(folder))
    model = build_and_load("sepformer", config, state, str(folder), "SpeechBrain SepFormer")
    files = [file_record(folder / name) for name in FILES]
    return model, {"toolkit": "speechbrain", "architecture": "SepFormer", "files": files}
