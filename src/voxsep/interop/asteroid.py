"""Asteroid models (``ConvTasNet``, ``DPRNNTasNet``, ``SuDORMRFNet``, ``SuDORMRFImprovedNet``,
``DPTNet``) → voxsep ``conv_tasnet`` / ``dprnn`` / ``sudormrf`` / ``dptnet``.

The layout read is what Asteroid's ``BaseModel.serialize()`` returns and what its
``save_pretrained``, its hub uploads (``pytorch_model.bin``) and its recipes'
``best_model.pth`` hold (``serialize()`` plus dataset information)::

    {"model_name": "ConvTasNet" | "DPRNNTasNet",
     "state_dict": {"encoder.filterbank._filters": ..., "masker....": ..., ...},
     "model_args": {"n_filters", "kernel_size", "stride", "sample_rate", "fb_name",
                    "n_src", "bn_chan", "hid_chan" | "hid_size", "norm_type", "mask_act",
                    ...,  "encoder_activation"},
     "infos": {...}}

Supported: the learned ("free") filterbank with stride = kernel_size // 2; Conv-TasNet
non-causal with gLN, or causal with cumulative LN (Asteroid's ``cgLN``); DPRNN
non-causal with gLN, single-layer LSTM/GRU, hop = chunk_size / 2, no MulCat. Asteroid's
DPRNN chunks its sequence with a whole chunk of zeros on each side and sums the two
copies of each frame: the model is built with ``chunk_padding="asteroid"`` and the
factor 2 is folded into the gated output's weights. SuDO-RM-RF (both variants): the
learned filterbank with stride = kernel_size // 2; its group norms (``GroupNorm(1, C)``)
and gLNs are both voxsep gLNs. DPTNet: gLN, ReLU feed-forward, n_filters a multiple of
n_heads, hop = chunk_size / 2, chunked like Asteroid's DPRNN (``chunk_padding="asteroid"``;
its overlap-add averages, so no factor is folded in).
"""

from __future__ import annotations

from typing import Any

import torch

from voxsep.interop.common import ModelImportError, build_and_load, cat, channel_affine, fetch, strip_prefixes
from voxsep.nn.activations import MASK_ACTIVATIONS

MODELS = ("ConvTasNet", "DPRNNTasNet", "SuDORMRFNet", "SuDORMRFImprovedNet", "DPTNet")


def is_asteroid(data: Any) -> bool:
    """Whether a loaded file has the Asteroid ``serialize()`` layout."""
    return isinstance(data, dict) and "model_args" in data and "state_dict" in data


def _require(condition: bool, where: str, message: str) -> None:
    if not condition:
        raise ModelImportError(f"{where}: {message}")


def _common_args(args: dict[str, Any], where: str, stride_rule: int) -> dict[str, Any]:
    fb_name = args.get("fb_name", "free")
    _require(fb_name in ("free", "FreeFB"), where,
             f"filterbank {fb_name!r} is not supported (only Asteroid's learned 'free' filterbank)")
    n_filters, kernel_size = int(args["n_filters"]), int(args["kernel_size"])
    stride = args.get("stride") or kernel_size // 2
    _require(int(stride) == stride_rule, where,
             f"stride {stride} with kernel_size {kernel_size} is not supported (voxsep uses stride {stride_rule})")
    for name in ("in_chan", "out_chan"):
        _require(args.get(name) in (None, n_filters), where,
                 f"{name}={args.get(name)} differs from n_filters={n_filters}, which voxsep does not support")
    mask_act = args.get("mask_act", "sigmoid")
    _require(mask_act in MASK_ACTIVATIONS, where,
             f"mask_act {mask_act!r} is not supported; voxsep has {', '.join(MASK_ACTIVATIONS)}")
    activation = args.get("encoder_activation")
    _require(activation in (None, "linear", "relu"), where,
             f"encoder_activation {activation!r} is not supported (None/linear or relu)")
    sample_rate = args.get("sample_rate")
    _require(sample_rate is not None, where, "model_args has no sample_rate; pass the sample_rate argument")
    return {
        "n_src": int(args["n_src"]),
        "n_filters": n_filters,
        "kernel_size": kernel_size,
        "mask_activation": mask_act,
        "sample_rate": int(round(float(sample_rate))),
        "encoder_activation": "relu" if activation == "relu" else None,
    }


def _filterbanks(sd: dict[str, Any], where: str) -> dict[str, torch.Tensor]:
    return {
        "encoder.conv.weight": fetch(sd, "encoder.filterbank._filters", where, "the learned encoder"),
        "decoder.conv.weight": fetch(sd, "decoder.filterbank._filters", where, "the learned decoder"),
    }


def _conv_tasnet(args: dict[str, Any], sd: dict[str, Any], where: str) -> torch.nn.Module:
    config = _common_args(args, where, int(args["kernel_size"]) // 2)
    causal = bool(args.get("causal", False))
    norm = args.get("norm_type", "gLN")
    _require((norm, causal) in (("gLN", False), ("cgLN", True)), where,
             f"norm_type {norm!r} with causal={causal} is not supported: voxsep's Conv-TasNet uses gLN "
             "(non-causal) or cumulative LN (Asteroid 'cgLN', causal)")
    conv_kernel = int(args.get("conv_kernel_size", 3))
    _require(causal or conv_kernel % 2 == 1, where, f"an even conv_kernel_size ({conv_kernel}) is not supported")
    n_blocks, n_repeats = int(args.get("n_blocks", 8)), int(args.get("n_repeats", 3))
    skip = int(args.get("skip_chan") or 0)
    config.update(bottleneck=int(args.get("bn_chan", 128)), hidden=int(args.get("hid_chan", 512)), skip=skip,
                  conv_kernel=conv_kernel, n_blocks=n_blocks, n_repeats=n_repeats, causal=causal)
    expected = f"Asteroid ConvTasNet with n_blocks={n_blocks}, n_repeats={n_repeats}"
    m = "masker."
    state = _filterbanks_and_bottleneck(sd, where, expected)
    state.update(_prelu_conv(sd, "masker.output.", m + "mask_net.", where, expected))
    depthwise = "shared_block.3.0." if causal else "shared_block.3."
    for i in range(n_blocks * n_repeats):
        a, o = f"{m}TCN.{i}.", f"masker.tcn.blocks.{i}."
        parts = [("in_conv", "shared_block.0."), ("depthwise", depthwise), ("residual", "res_conv.")]
        if skip:
            parts.append(("skip", "skip_conv."))
        for ours, theirs in parts:
            for p in ("weight", "bias"):
                state[f"{o}{ours}.{p}"] = fetch(sd, a + theirs + p, where, expected)
        state[o + "in_act.weight"] = fetch(sd, a + "shared_block.1.weight", where, expected)
        state[o + "dw_act.weight"] = fetch(sd, a + "shared_block.4.weight", where, expected)
        for ours, theirs in (("in_norm", "shared_block.2."), ("dw_norm", "shared_block.5.")):
            state[f"{o}{ours}.weight"] = channel_affine(fetch(sd, a + theirs + "gamma", where, expected))
            state[f"{o}{ours}.bias"] = channel_affine(fetch(sd, a + theirs + "beta", where, expected))
    _require(f"{m}TCN.{n_blocks * n_repeats}.res_conv.weight" not in sd, where,
             f"the file has more TCN blocks than n_blocks x n_repeats = {n_blocks * n_repeats}")
    return build_and_load("conv_tasnet", config, state, where, expected)


def _filterbanks_and_bottleneck(sd: dict[str, Any], where: str, expected: str) -> dict[str, torch.Tensor]:
    """Encoder/decoder and the masker's input norm + bottleneck, shared by both Asteroid maskers."""
    state = _filterbanks(sd, where)
    state["masker.input_norm.weight"] = channel_affine(fetch(sd, "masker.bottleneck.0.gamma", where, expected))
    state["masker.input_norm.bias"] = channel_affine(fetch(sd, "masker.bottleneck.0.beta", where, expected))
    for p in ("weight", "bias"):
        state[f"masker.bottleneck.{p}"] = fetch(sd, f"masker.bottleneck.1.{p}", where, expected)
    return state


def _prelu_conv(sd: dict[str, Any], ours: str, theirs: str, where: str, expected: str) -> dict[str, torch.Tensor]:
    """A masker's PReLU -> convolution head (``Sequential`` index 0: the PReLU slope, 1: the
    convolution's weight and bias), from Asteroid's prefix ``theirs`` to voxsep's ``ours``."""
    state = {f"{ours}1.{p}": fetch(sd, f"{theirs}1.{p}", where, expected) for p in ("weight", "bias")}
    state[f"{ours}0.weight"] = fetch(sd, f"{theirs}0.weight", where, expected)
    return state


def _dprnn(args: dict[str, Any], sd: dict[str, Any], where: str) -> torch.nn.Module:
    config = _common_args(args, where, max(int(args["kernel_size"]) // 2, 1))
    chunk_size = int(args.get("chunk_size", 100))
    hop = args.get("hop_size") or chunk_size // 2
    _require(chunk_size % 2 == 0 and int(hop) == chunk_size // 2, where,
             f"chunk_size {chunk_size} with hop_size {hop} is not supported (voxsep: even chunk_size, hop = chunk/2)")
    norm, bidirectional = args.get("norm_type", "gLN"), bool(args.get("bidirectional", True))
    _require(norm == "gLN" and bidirectional, where,
             f"norm_type {norm!r} with bidirectional={bidirectional} is not supported (only the non-causal "
             "DPRNN: gLN, bidirectional inter-chunk RNNs)")
    rnn_type = str(args.get("rnn_type", "LSTM")).upper()
    _require(rnn_type in ("LSTM", "GRU"), where, f"rnn_type {rnn_type!r} is not supported (LSTM or GRU)")
    _require(int(args.get("num_layers", 1)) == 1, where,
             f"num_layers={args.get('num_layers')} RNN layers per path is not supported (1)")
    _require(not args.get("use_mulcat", False), where, "use_mulcat=True (MulCat RNNs) is not supported")
    n_blocks = int(args.get("n_repeats", 6))
    config.update(bottleneck=int(args.get("bn_chan", 128)), hidden=int(args.get("hid_size", 128)),
                  chunk_size=chunk_size, n_blocks=n_blocks, rnn_type=rnn_type, causal=False,
                  chunk_padding="asteroid")
    expected = f"Asteroid DPRNNTasNet with n_repeats={n_blocks}"
    m = "masker."
    state = _filterbanks_and_bottleneck(sd, where, expected)
    state.update(_prelu_conv(sd, "masker.to_sources.", m + "first_out.", where, expected))
    # Asteroid's fold() sums the two chunk copies of each frame, voxsep averages them.
    state["masker.output.gate.weight"] = 2 * cat(fetch(sd, m + "net_out.0.weight", where, expected),
                                                 fetch(sd, m + "net_gate.0.weight", where, expected))
    state["masker.output.gate.bias"] = cat(fetch(sd, m + "net_out.0.bias", where, expected),
                                           fetch(sd, m + "net_gate.0.bias", where, expected))
    state["masker.output.mask_conv.weight"] = fetch(sd, m + "mask_net.weight", where, expected)
    rnn_params = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
    rnn_params += tuple(p + "_reverse" for p in rnn_params)
    for i in range(n_blocks):
        a, o = f"{m}net.{i}.", f"masker.blocks.{i}."
        for path in ("intra", "inter"):
            for p in rnn_params:
                state[f"{o}{path}_rnn.{p}"] = fetch(sd, f"{a}{path}_RNN.rnn.{p}", where, expected)
            for p in ("weight", "bias"):
                state[f"{o}{path}_linear.{p}"] = fetch(sd, f"{a}{path}_linear.{p}", where, expected)
            state[f"{o}{path}_norm.weight"] = channel_affine(fetch(sd, f"{a}{path}_norm.gamma", where, expected))
            state[f"{o}{path}_norm.bias"] = channel_affine(fetch(sd, f"{a}{path}_norm.beta", where, expected))
    _require(f"{m}net.{n_blocks}.intra_linear.weight" not in sd, where,
             f"the file has more dual-path blocks than n_repeats = {n_blocks}")
    return build_and_load("dprnn", config, state, where, expected)


def _dptnet(args: dict[str, Any], sd: dict[str, Any], where: str) -> torch.nn.Module:
    kernel_size = int(args["kernel_size"])
    stride = int(args.get("stride") or kernel_size // 2)
    config = _common_args({"mask_act": "relu", **args, "stride": stride}, where, stride)
    chunk_size = int(args.get("chunk_size", 100))
    hop = args.get("hop_size") or chunk_size // 2
    _require(chunk_size % 2 == 0 and int(hop) == chunk_size // 2, where,
             f"chunk_size {chunk_size} with hop_size {hop} is not supported (voxsep: even chunk_size, hop = chunk/2)")
    n_heads, n_filters = int(args.get("n_heads", 4)), config["n_filters"]
    _require(n_filters % n_heads == 0, where,
             f"n_filters={n_filters} is not a multiple of n_heads={n_heads} (Asteroid's extra input layer is not "
             "supported)")
    _require(args.get("norm_type", "gLN") == "gLN", where, f"norm_type {args.get('norm_type')!r} is not supported (gLN)")
    _require(args.get("ff_activation", "relu") == "relu", where,
             f"ff_activation {args.get('ff_activation')!r} is not supported (relu)")
    n_blocks = int(args.get("n_repeats", 6))
    config.update(stride=stride, n_heads=n_heads, hidden=int(args.get("ff_hid", 256)), chunk_size=chunk_size,
                  n_blocks=n_blocks, bidirectional=bool(args.get("bidirectional", True)), dropout=0.0,
                  chunk_padding="asteroid")
    expected = f"Asteroid DPTNet with n_repeats={n_blocks}"
    m = "masker."
    state = _filterbanks(sd, where)
    state["masker.input_norm.weight"] = channel_affine(fetch(sd, m + "in_norm.gamma", where, expected))
    state["masker.input_norm.bias"] = channel_affine(fetch(sd, m + "in_norm.beta", where, expected))
    rnn_params = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
    for i in range(n_blocks):
        for j, path in enumerate(("intra", "inter")):
            a, o = f"{m}layers.{i}.{j}.", f"masker.blocks.{i}.{path}."
            state[o + "attention.in_proj.weight"] = fetch(sd, a + "mha.in_proj_weight", where, expected)
            state[o + "attention.in_proj.bias"] = fetch(sd, a + "mha.in_proj_bias", where, expected)
            for p in ("weight", "bias"):
                state[f"{o}attention.out_proj.{p}"] = fetch(sd, f"{a}mha.out_proj.{p}", where, expected)
                state[f"{o}linear.{p}"] = fetch(sd, f"{a}linear.{p}", where, expected)
            for p in rnn_params + tuple(r + "_reverse" for r in rnn_params if f"{a}recurrent.{r}_reverse" in sd):
                state[f"{o}rnn.{p}"] = fetch(sd, f"{a}recurrent.{p}", where, expected)
            for ours, theirs in (("attention_norm", "norm_mha"), ("ff_norm", "norm_ff")):
                state[f"{o}{ours}.weight"] = channel_affine(fetch(sd, f"{a}{theirs}.gamma", where, expected))
                state[f"{o}{ours}.bias"] = channel_affine(fetch(sd, f"{a}{theirs}.beta", where, expected))
    _require(f"{m}layers.{n_blocks}.0.linear.weight" not in sd, where,
             f"the file has more dual-path blocks than n_repeats = {n_blocks}")
    state.update(_prelu_conv(sd, "masker.to_sources.", m + "first_out.", where, expected))
    # DPTNet's DualPathProcessing.fold() averages the two chunk copies of each frame, as voxsep does.
    state["masker.output.gate.weight"] = cat(fetch(sd, m + "net_out.0.weight", where, expected),
                                             fetch(sd, m + "net_gate.0.weight", where, expected))
    state["masker.output.gate.bias"] = cat(fetch(sd, m + "net_out.0.bias", where, expected),
                                           fetch(sd, m + "net_gate.0.bias", where, expected))
    return build_and_load("dptnet", config, state, where, expected)


def _sudormrf(name: str, args: dict[str, Any], sd: dict[str, Any], where: str) -> torch.nn.Module:
    improved = name == "SuDORMRFImprovedNet"
    config = _common_args({"mask_act": "relu" if improved else "softmax", **args}, where,
                          int(args["kernel_size"]) // 2)
    n_blocks, depth = int(args.get("num_blocks", 16)), int(args.get("upsampling_depth", 4))
    bottleneck = int(args.get("bn_chan", 128))
    # Asteroid's SuDORMRFNet always runs a ReLU encoder, SuDORMRFImprovedNet a linear one
    config.update(bottleneck=bottleneck, n_blocks=n_blocks, depth=depth,
                  variant="improved" if improved else "original",
                  encoder_activation=None if improved else "relu")
    expected = f"Asteroid {name} with num_blocks={n_blocks}, upsampling_depth={depth}"
    # the original's norms are GroupNorm(1, C) (weight/bias), the improved one's gLN (gamma/beta)
    gain, shift = ("gamma", "beta") if improved else ("weight", "bias")
    m = "masker."

    def norm(ours: str, theirs: str) -> None:
        state[f"{ours}.weight"] = channel_affine(fetch(sd, f"{theirs}.{gain}", where, expected))
        state[f"{ours}.bias"] = channel_affine(fetch(sd, f"{theirs}.{shift}", where, expected))

    def conv(ours: str, theirs: str) -> None:
        for p in ("weight", "bias"):
            state[f"{ours}.{p}"] = fetch(sd, f"{theirs}.{p}", where, expected)

    state = {
        "encoder.conv.weight": fetch(sd, "encoder.encoder.filterbank._filters", where, "the learned encoder"),
        "decoder.conv.weight": fetch(sd, "decoder.filterbank._filters", where, "the learned decoder"),
    }
    norm("masker.input_norm", m + "ln")
    conv("masker.bottleneck", m + ("bottleneck" if improved else "l1"))
    for i in range(n_blocks):
        a, o = f"{m}sm.{i}.", f"masker.blocks.{i}."
        conv(o + "expand", a + "proj_1x1.conv")
        norm(o + "expand_norm", a + "proj_1x1.norm")
        state[o + "expand_act.weight"] = fetch(sd, a + "proj_1x1.act.weight", where, expected)
        for k in range(depth):
            conv(f"{o}levels.{k}", f"{a}spp_dw.{k}.conv")
            norm(f"{o}level_norms.{k}", f"{a}spp_dw.{k}.norm")
        _require(f"{a}spp_dw.{depth}.conv.weight" not in sd, where,
                 f"block {i} has more resolution levels than upsampling_depth = {depth}")
        norm(o + "merge_norm", a + "final_norm.norm")
        state[o + "merge_act.weight"] = fetch(sd, a + "final_norm.act.weight", where, expected)
        if improved:
            conv(o + "project", a + "res_conv")
        else:
            conv(o + "project", a + "conv_1x1_exp.conv")
            norm(o + "project_norm", a + "conv_1x1_exp.norm")
            norm(o + "out_norm", a + "module_act.norm")
            state[o + "out_act.weight"] = fetch(sd, a + "module_act.act.weight", where, expected)
    _require(f"{m}sm.{n_blocks}.proj_1x1.conv.weight" not in sd, where,
             f"the file has more U-ConvBlocks than num_blocks = {n_blocks}")
    if improved:
        state.update(_prelu_conv(sd, "masker.output.", m + "mask_net.", where, expected))
    else:
        if bottleneck != config["n_filters"]:
            conv("masker.to_filters", m + "reshape_before_masks")
        conv("masker.mask_conv", m + "m")
    return build_and_load("sudormrf", config, state, where, expected)


def convert(data: dict[str, Any], where: str, sample_rate: int | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """An Asteroid ``serialize()`` dict → ``(voxsep model, info)``.

    ``sample_rate`` overrides (or supplies) ``model_args["sample_rate"]``.
    """
    name = data.get("model_name")
    args = data.get("model_args")
    state = data.get("state_dict")
    _require(isinstance(args, dict) and isinstance(state, dict), where,
             "model_args and state_dict must be dictionaries (Asteroid serialize() layout)")
    _require(name in MODELS, where,
             f"Asteroid model {name!r} is not supported; supported: {', '.join(MODELS)}")
    args = dict(args)
    if sample_rate:
        args["sample_rate"] = sample_rate
    state = strip_prefixes(dict(state), ("module.",))
    missing = [k for k in ("n_src", "n_filters", "kernel_size") if k not in args]
    _require(not missing, where, f"model_args lacks {', '.join(missing)}")
    if name == "ConvTasNet":
        model = _conv_tasnet(args, state, where)
    elif name == "DPRNNTasNet":
        model = _dprnn(args, state, where)
    elif name == "DPTNet":
        model = _dptnet(args, state, where)
    else:
        model = _sudormrf(name, args, state, where)
    return model, {"toolkit": "asteroid", "architecture": name}
