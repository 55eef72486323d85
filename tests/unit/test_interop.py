"""Importing published models (voxsep.interop): Asteroid, SpeechBrain, ClearerVoice.

The fixtures are written with plain torch in the toolkits' published layouts (key names
and hyperparameter names as Asteroid 0.7, SpeechBrain 1.x and ClearerVoice-Studio write
them; the ClearerVoice key list in tests/fixtures/ was dumped from its MossFormer2_SS_16K
class). Asteroid's Conv-TasNet and DPRNN are also checked numerically against functional
re-implementations of Asteroid's forward pass (its unfold/fold chunking included); the
whole-model parity against the reference packages themselves is
tests/unit/test_interop_reference.py (runs when they are installed).
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from voxsep import checkpoint
from voxsep.interop import ModelImportError, import_model
from voxsep.interop.common import read_yaml_as_data
from voxsep.interop.speechbrain import sepformer_hyperparams
from voxsep.nn.dual_path import overlap_add, segment

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


pytestmark = pytest.mark.usefixtures("one_thread")


def _rand(generator, *shape, scale=0.3, offset=0.0):
    return torch.randn(*shape, generator=generator) * scale + offset


# ------------------------------------------------------------------ Asteroid fixtures
def asteroid_conv_tasnet(n_src=2, N=24, L=16, B=12, H=16, S=8, P=3, X=2, R=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    sd = {"encoder.filterbank._filters": _rand(g, N, 1, L),
          "masker.bottleneck.0.gamma": _rand(g, N, scale=0.1, offset=1), "masker.bottleneck.0.beta": _rand(g, N, scale=0.1),
          "masker.bottleneck.1.weight": _rand(g, B, N, 1), "masker.bottleneck.1.bias": _rand(g, B, scale=0.1)}
    for i in range(X * R):
        p = f"masker.TCN.{i}."
        sd.update({p + "shared_block.0.weight": _rand(g, H, B, 1), p + "shared_block.0.bias": _rand(g, H, scale=0.1),
                   p + "shared_block.1.weight": _rand(g, 1, scale=0.05, offset=0.25),
                   p + "shared_block.2.gamma": _rand(g, H, scale=0.1, offset=1), p + "shared_block.2.beta": _rand(g, H, scale=0.1),
                   p + "shared_block.3.weight": _rand(g, H, 1, P), p + "shared_block.3.bias": _rand(g, H, scale=0.1),
                   p + "shared_block.4.weight": _rand(g, 1, scale=0.05, offset=0.25),
                   p + "shared_block.5.gamma": _rand(g, H, scale=0.1, offset=1), p + "shared_block.5.beta": _rand(g, H, scale=0.1),
                   p + "res_conv.weight": _rand(g, B, H, 1), p + "res_conv.bias": _rand(g, B, scale=0.1),
                   p + "skip_conv.weight": _rand(g, S, H, 1), p + "skip_conv.bias": _rand(g, S, scale=0.1)})
    sd.update({"masker.mask_net.0.weight": _rand(g, 1, scale=0.05, offset=0.25),
               "masker.mask_net.1.weight": _rand(g, n_src * N, S, 1), "masker.mask_net.1.bias": _rand(g, n_src * N, scale=0.1),
               "decoder.filterbank._filters": _rand(g, N, 1, L)})
    args = {"fb_name": "FreeFB", "n_filters": N, "kernel_size": L, "stride": L // 2, "sample_rate": 8000.0,
            "in_chan": N, "out_chan": N, "bn_chan": B, "hid_chan": H, "skip_chan": S, "conv_kernel_size": P,
            "n_blocks": X, "n_repeats": R, "n_src": n_src, "norm_type": "gLN", "mask_act": "sigmoid", "causal": False,
            "encoder_activation": None}
    return {"model_name": "ConvTasNet", "state_dict": sd, "model_args": args,
            "infos": {"software_versions": {"torch_version": torch.__version__, "asteroid_version": "0.7.0",
                                            "pytorch_lightning_version": "2.0.0"}}}


def asteroid_dprnn(n_src=2, N=16, L=2, B=8, hidden=6, K=10, blocks=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    sd = {"encoder.filterbank._filters": _rand(g, N, 1, L),
          "masker.bottleneck.0.gamma": _rand(g, N, scale=0.1, offset=1), "masker.bottleneck.0.beta": _rand(g, N, scale=0.1),
          "masker.bottleneck.1.weight": _rand(g, B, N, 1), "masker.bottleneck.1.bias": _rand(g, B, scale=0.1)}
    for i in range(blocks):
        for path in ("intra", "inter"):
            p = f"masker.net.{i}.{path}_RNN.rnn."
            for suffix in ("", "_reverse"):
                sd.update({p + "weight_ih_l0" + suffix: _rand(g, 4 * hidden, B), p + "weight_hh_l0" + suffix: _rand(g, 4 * hidden, hidden),
                           p + "bias_ih_l0" + suffix: _rand(g, 4 * hidden, scale=0.1), p + "bias_hh_l0" + suffix: _rand(g, 4 * hidden, scale=0.1)})
            p = f"masker.net.{i}.{path}_"
            sd.update({p + "linear.weight": _rand(g, B, 2 * hidden), p + "linear.bias": _rand(g, B, scale=0.1),
                       p + "norm.gamma": _rand(g, B, scale=0.1, offset=1), p + "norm.beta": _rand(g, B, scale=0.1)})
    sd.update({"masker.first_out.0.weight": _rand(g, 1, scale=0.05, offset=0.25),
               "masker.first_out.1.weight": _rand(g, n_src * B, B, 1, 1), "masker.first_out.1.bias": _rand(g, n_src * B, scale=0.1),
               "masker.net_out.0.weight": _rand(g, B, B, 1), "masker.net_out.0.bias": _rand(g, B, scale=0.1),
               "masker.net_gate.0.weight": _rand(g, B, B, 1), "masker.net_gate.0.bias": _rand(g, B, scale=0.1),
               "masker.mask_net.weight": _rand(g, N, B, 1), "decoder.filterbank._filters": _rand(g, N, 1, L)})
    args = {"fb_name": "FreeFB", "n_filters": N, "kernel_size": L, "stride": max(L // 2, 1), "sample_rate": 8000,
            "in_chan": N, "out_chan": N, "bn_chan": B, "hid_size": hidden, "chunk_size": K, "hop_size": K // 2,
            "n_repeats": blocks, "n_src": n_src, "norm_type": "gLN", "mask_act": "sigmoid", "bidirectional": True,
            "rnn_type": "LSTM", "num_layers": 1, "dropout": 0, "use_mulcat": False, "encoder_activation": None}
    return {"model_name": "DPRNNTasNet", "state_dict": sd, "model_args": args, "infos": {}}


def _gln(x, gamma, beta):  # Asteroid's GlobLN on any (B, C, ...) tensor
    dims = list(range(1, x.dim()))
    mean = x.mean(dims, keepdim=True)
    var = (x - mean).pow(2).mean(dims, keepdim=True)
    return (gamma * ((x - mean) / (var + 1e-8).sqrt()).transpose(1, -1) + beta).transpose(1, -1)


def reference_conv_tasnet(data, wav):
    """Asteroid ConvTasNet's forward, written out (free filterbank, gLN TCN, skip sum)."""
    sd, a = data["state_dict"], data["model_args"]
    m = "masker."
    x = F.conv1d(wav[:, None], sd["encoder.filterbank._filters"], stride=a["stride"])
    out = F.conv1d(_gln(x, sd[m + "bottleneck.0.gamma"], sd[m + "bottleneck.0.beta"]),
                   sd[m + "bottleneck.1.weight"], sd[m + "bottleneck.1.bias"])
    skip = 0
    for i in range(a["n_blocks"] * a["n_repeats"]):
        p, d = f"{m}TCN.{i}.", 2 ** (i % a["n_blocks"])
        y = F.prelu(F.conv1d(out, sd[p + "shared_block.0.weight"], sd[p + "shared_block.0.bias"]), sd[p + "shared_block.1.weight"])
        y = _gln(y, sd[p + "shared_block.2.gamma"], sd[p + "shared_block.2.beta"])
        y = F.conv1d(y, sd[p + "shared_block.3.weight"], sd[p + "shared_block.3.bias"],
                     padding=(a["conv_kernel_size"] - 1) * d // 2, dilation=d, groups=y.shape[1])
        y = _gln(F.prelu(y, sd[p + "shared_block.4.weight"]), sd[p + "shared_block.5.gamma"], sd[p + "shared_block.5.beta"])
        out = out + F.conv1d(y, sd[p + "res_conv.weight"], sd[p + "res_conv.bias"])
        skip = skip + F.conv1d(y, sd[p + "skip_conv.weight"], sd[p + "skip_conv.bias"])
    score = F.conv1d(F.prelu(skip, sd[m + "mask_net.0.weight"]), sd[m + "mask_net.1.weight"], sd[m + "mask_net.1.bias"])
    masks = torch.sigmoid(score.view(x.shape[0], a["n_src"], x.shape[1], -1))
    masked = (masks * x[:, None]).flatten(0, 1)
    est = F.conv_transpose1d(masked, sd["decoder.filterbank._filters"], stride=a["stride"])
    return est.view(x.shape[0], a["n_src"], -1)


def reference_dprnn(data, wav):
    """Asteroid DPRNNTasNet's forward, written out: unfold/fold with padding K, summed overlap."""
    sd, a = data["state_dict"], data["model_args"]
    m, K, hop, C = "masker.", a["chunk_size"], a["hop_size"], a["bn_chan"]
    x = F.conv1d(wav[:, None], sd["encoder.filterbank._filters"], stride=a["stride"])
    batch, _, frames = x.shape
    out = F.conv1d(_gln(x, sd[m + "bottleneck.0.gamma"], sd[m + "bottleneck.0.beta"]),
                   sd[m + "bottleneck.1.weight"], sd[m + "bottleneck.1.bias"])
    out = F.unfold(out.unsqueeze(-1), kernel_size=(K, 1), padding=(K, 0), stride=(hop, 1))
    n_chunks = out.shape[-1]
    out = out.reshape(batch, C, K, n_chunks)
    for i in range(a["n_repeats"]):
        p = f"{m}net.{i}."
        rnns = {}
        for path in ("intra", "inter"):
            rnn = torch.nn.LSTM(C, a["hid_size"], batch_first=True, bidirectional=True)
            rnn.load_state_dict({k[len(f"{p}{path}_RNN.rnn."):]: v for k, v in sd.items() if k.startswith(f"{p}{path}_RNN.rnn.")})
            rnns[path] = rnn
        y = out.transpose(1, -1).reshape(batch * n_chunks, K, C)
        y = F.linear(rnns["intra"](y)[0], sd[p + "intra_linear.weight"], sd[p + "intra_linear.bias"])
        y = y.reshape(batch, n_chunks, K, C).transpose(1, -1)
        out = out + _gln(y, sd[p + "intra_norm.gamma"], sd[p + "intra_norm.beta"])
        y = out.transpose(1, 2).transpose(2, -1).reshape(batch * K, n_chunks, C)
        y = F.linear(rnns["inter"](y)[0], sd[p + "inter_linear.weight"], sd[p + "inter_linear.bias"])
        y = y.reshape(batch, K, n_chunks, C).transpose(1, -1).transpose(2, -1)
        out = out + _gln(y, sd[p + "inter_norm.gamma"], sd[p + "inter_norm.beta"])
    out = F.conv2d(F.prelu(out, sd[m + "first_out.0.weight"]), sd[m + "first_out.1.weight"], sd[m + "first_out.1.bias"])
    out = out.reshape(batch * a["n_src"], C * K, n_chunks)
    out = F.fold(out, (frames, 1), kernel_size=(K, 1), padding=(K, 0), stride=(hop, 1)).reshape(batch * a["n_src"], C, -1)
    out = torch.tanh(F.conv1d(out, sd[m + "net_out.0.weight"], sd[m + "net_out.0.bias"])) * \
        torch.sigmoid(F.conv1d(out, sd[m + "net_gate.0.weight"], sd[m + "net_gate.0.bias"]))
    masks = torch.sigmoid(F.conv1d(out, sd[m + "mask_net.weight"])).view(batch, a["n_src"], x.shape[1], frames)
    est = F.conv_transpose1d((masks * x[:, None]).flatten(0, 1), sd["decoder.filterbank._filters"], stride=a["stride"])
    return est.view(batch, a["n_src"], -1)


def _speechlike(length, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(length) / 8000
    return (0.3 * torch.sin(2 * torch.pi * 180 * t) * (1 + torch.sin(2 * torch.pi * 3 * t))
            + 0.05 * torch.randn(length, generator=g))[None]


@pytest.mark.parametrize("length", [16 + 8 * 199, 16 + 8 * 40])
def test_asteroid_conv_tasnet_matches_asteroid_forward(tmp_path, length, snr_db):
    data = asteroid_conv_tasnet()
    torch.save(data, tmp_path / "pytorch_model.bin")  # as serialize() + torch.save (TorchVersion inside)
    model, meta = import_model(tmp_path / "pytorch_model.bin")
    assert meta["model_name"] == "conv_tasnet" and meta["sample_rate"] == 8000 and meta["n_src"] == 2
    assert meta["config"]["encoder_activation"] is None and meta["config"]["skip"] == 8
    wav = _speechlike(length)
    with torch.no_grad():
        assert snr_db(reference_conv_tasnet(data, wav), model(wav)) > 100


@pytest.mark.parametrize("length", [999, 1000, 37, 5])  # frames a multiple of the hop, and not
def test_asteroid_dprnn_matches_asteroid_forward_including_chunking(tmp_path, length, snr_db):
    data = asteroid_dprnn()
    torch.save(data, tmp_path / "best_model.pth")
    model, meta = import_model(tmp_path / "best_model.pth")
    assert meta["config"]["chunk_padding"] == "asteroid" and meta["config"]["chunk_size"] == 10
    wav = _speechlike(length)
    with torch.no_grad():
        assert snr_db(reference_dprnn(data, wav), model(wav)) > 100


def test_speechbrain_chunk_padding_matches_speechbrain_segmentation():
    """voxsep's "speechbrain" chunking = Dual_Path_Model._padding + _Segmentation."""
    K, P = 10, 5
    for frames in (1, 4, 5, 9, 10, 11, 15, 20, 37, 250):
        x = torch.randn(2, 3, frames)
        gap = K - (P + frames % K) % K
        padded = F.pad(x, (P, gap + P))
        first = padded[:, :, :-P].reshape(2, 3, -1, K)
        second = padded[:, :, P:].reshape(2, 3, -1, K)
        expected = torch.cat([first, second], dim=3).reshape(2, 3, -1, K).transpose(2, 3)
        assert torch.equal(segment(x, K, "speechbrain"), expected), frames
        assert torch.allclose(overlap_add(expected, frames, "speechbrain"), x)


def test_conversion_without_the_padding_layout_would_differ(tmp_path, snr_db):
    """The tests above can fail: voxsep's own chunking gives another DPRNN output."""
    data = asteroid_dprnn()
    torch.save(data, tmp_path / "m.pth")
    model, _ = import_model(tmp_path / "m.pth")
    for module in model.modules():
        if hasattr(module, "chunk_padding"):
            module.chunk_padding = "voxsep"
    wav = _speechlike(999)
    with torch.no_grad():
        assert snr_db(reference_dprnn(data, wav), model(wav)) < 90  # the parity tests require > 100


# --------------------------------------------------------------- SpeechBrain fixture
def hyperparams(N=16, C=8, layers=1, ffn=16, repeats=2, K=10) -> str:
    """hyperparams.yaml of a tiny SepFormer (2 heads) in the published layout."""
    return sepformer_hyperparams(n_filters=N, d_model=C, n_layers=layers, n_heads=2, d_ffn=ffn, n_repeats=repeats,
                                 chunk_size=K)


def write_speechbrain_folder(folder: Path, N=16, C=8, layers=1, ffn=16, repeats=2, K=10, seed=2) -> dict:
    g = torch.Generator().manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hyperparams.yaml").write_text(hyperparams(N=N, C=C, layers=layers, ffn=ffn, repeats=repeats, K=K))
    masknet = {"norm.weight": _rand(g, N, offset=1), "norm.bias": _rand(g, N), "conv1d.weight": _rand(g, C, N, 1)}
    for i in range(repeats):
        for path in ("intra", "inter"):
            p = f"dual_mdl.{i}.{path}_mdl."
            for j in range(layers):
                q = f"{p}mdl.layers.{j}."
                masknet.update({q + "self_att.att.in_proj_weight": _rand(g, 3 * C, C), q + "self_att.att.in_proj_bias": _rand(g, 3 * C),
                                q + "self_att.att.out_proj.weight": _rand(g, C, C), q + "self_att.att.out_proj.bias": _rand(g, C),
                                q + "pos_ffn.ffn.0.weight": _rand(g, ffn, C), q + "pos_ffn.ffn.0.bias": _rand(g, ffn),
                                q + "pos_ffn.ffn.3.weight": _rand(g, C, ffn), q + "pos_ffn.ffn.3.bias": _rand(g, C),
                                q + "norm1.norm.weight": _rand(g, C, offset=1), q + "norm1.norm.bias": _rand(g, C),
                                q + "norm2.norm.weight": _rand(g, C, offset=1), q + "norm2.norm.bias": _rand(g, C)})
            masknet.update({p + "mdl.norm.norm.weight": _rand(g, C, offset=1), p + "mdl.norm.norm.bias": _rand(g, C),
                            p + "pos_enc.pe": torch.zeros(1, 2500, C),
                            f"dual_mdl.{i}.{path}_norm.weight": _rand(g, C, offset=1), f"dual_mdl.{i}.{path}_norm.bias": _rand(g, C)})
    masknet.update({"conv2d.weight": _rand(g, 2 * C, C, 1, 1), "conv2d.bias": _rand(g, 2 * C),
                    "end_conv1x1.weight": _rand(g, N, C, 1), "prelu.weight": _rand(g, 1, offset=0.25),
                    "output.0.weight": _rand(g, C, C, 1), "output.0.bias": _rand(g, C),
                    "output_gate.0.weight": _rand(g, C, C, 1), "output_gate.0.bias": _rand(g, C)})
    torch.save(masknet, folder / "masknet.ckpt")
    torch.save({"conv1d.weight": _rand(g, N, 1, 16)}, folder / "encoder.ckpt")
    torch.save({"weight": _rand(g, N, 1, 16)}, folder / "decoder.ckpt")
    return masknet


def test_speechbrain_folder_in_a_hub_cache_converts(tmp_path, monkeypatch):
    repo = tmp_path / "hub" / "models--speechbrain--sepformer-tiny"
    masknet = write_speechbrain_folder(repo / "snapshots" / "abc123")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    model, meta = import_model("speechbrain/sepformer-tiny")  # a hub id, from the local cache only
    config = meta["config"]
    assert (model.model_name, config["n_filters"], config["d_model"], config["chunk_size"], config["n_repeats"],
            config["n_layers"], config["n_heads"], config["d_ffn"]) == ("sepformer", 16, 8, 10, 2, 1, 2, 16)
    assert config["chunk_padding"] == "speechbrain" and meta["sample_rate"] == 8000
    source = meta["source"]
    assert source["toolkit"] == "speechbrain" and source["hub_id"] == "speechbrain/sepformer-tiny"
    assert [f["file"] for f in source["files"]] == ["hyperparams.yaml", "encoder.ckpt", "masknet.ckpt", "decoder.ckpt"]
    assert all(len(f["sha256"]) == 64 for f in source["files"])
    state = model.state_dict()
    # SpeechBrain sums the two chunk copies of a frame: the factor 2 lives in the gate weights.
    assert torch.equal(state["masker.output.gate.weight"][:8], 2 * masknet["output.0.weight"])
    assert torch.equal(state["masker.output.gate.bias"][8:], masknet["output_gate.0.bias"])
    assert torch.equal(state["masker.blocks.1.inter.layers.0.attention.in_proj.weight"],
                       masknet["dual_mdl.1.inter_mdl.mdl.layers.0.self_att.att.in_proj_weight"])
    with torch.no_grad():
        out = model(_speechlike(800))
    assert out.shape == (1, 2, 800) and torch.isfinite(out).all()
    # The folder itself, and the models--... folder, give the same model.
    for source_path in (repo, repo / "snapshots" / "abc123"):
        again, _ = import_model(source_path)
        assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), state.values()))


def test_hyperparams_yaml_is_parsed_as_data_never_executed(tmp_path):
    marker = tmp_path / "executed"
    folder = tmp_path / "sb"
    write_speechbrain_folder(folder)
    text = (folder / "hyperparams.yaml").read_text()
    text += f"evil: !apply:os.system ['touch {marker}']\nevil2: !!python/object/apply:os.system ['touch {marker}']\n"
    (folder / "hyperparams.yaml").write_text(text)
    with pytest.raises(ModelImportError, match="not readable YAML"):  # !!python tags are refused by SafeLoader
        import_model(folder)
    (folder / "hyperparams.yaml").write_text(hyperparams()
                                            + f"evil: !apply:os.system ['touch {marker}']\n"
                                            + "net: !new:torch.nn.Linear {in_features: 2, out_features: 2}\n")
    model, _ = import_model(folder)
    assert not marker.exists() and model.model_name == "sepformer"
    data = read_yaml_as_data(folder / "hyperparams.yaml")
    assert data["evil"].kind == "apply" and data["net"].target == "torch.nn.Linear"


def test_speechbrain_errors_name_the_file_and_what_is_expected(tmp_path):
    folder = tmp_path / "sb"
    write_speechbrain_folder(folder)
    (folder / "masknet.ckpt").unlink()
    with pytest.raises(ModelImportError, match=r"missing masknet\.ckpt"):
        import_model(folder)
    write_speechbrain_folder(folder, C=12)  # weights of d_model 12 ...
    (folder / "hyperparams.yaml").write_text(hyperparams())  # ... sizes of 8
    with pytest.raises(ModelImportError, match=r"masknet\.ckpt|do not fit") as error:
        import_model(folder)
    assert str(folder) in str(error.value) and "shape" in str(error.value)
    (folder / "hyperparams.yaml").write_text(hyperparams().replace(
        "dual_path.SBTransformerBlock", "dual_path.SBRNNBlock", 1))
    with pytest.raises(ModelImportError, match="SBRNNBlock.*only SBTransformerBlock"):
        import_model(folder)


# ---------------------------------------------------------------- ClearerVoice fixture
def write_clearervoice_folder(folder: Path, prefix="model.", wrap=True, config=True, seed=3) -> dict:
    g = torch.Generator().manual_seed(seed)
    shapes = json.loads((FIXTURES / "clearervoice_mossformer2_ss_tiny_keys.json").read_text())
    state = {}
    for key, shape in shapes.items():
        ones = key.endswith((".g", "norm.weight", "norm1.weight", "norm2.weight", "intra_norm.weight")) or ".norm" in key
        state[prefix + key[len("model."):]] = _rand(g, *shape, scale=0.1, offset=1.0 if ones else 0.0)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"model": state, "epoch": 99, "step": 12345} if wrap else state, folder / "last_best_checkpoint.pt")
    (folder / "last_best_checkpoint").write_text("last_best_checkpoint.pt\n")
    if config:
        (folder / "config.yaml").write_text("mode: 'inference'\nsampling_rate: 16000\nnetwork: \"MossFormer2_SS_16K\"\n"
                                            "num_spks: 2\nencoder_kernel_size: 16\nencoder_embedding_dim: 16\n"
                                            "mossformer_sequence_dim: 16\nnum_mossformer_layer: 1\n")
    return state


@pytest.mark.parametrize("prefix,wrap", [("model.", True), ("module.model.", True), ("model.", False)])
def test_clearervoice_checkpoint_converts(tmp_path, prefix, wrap):
    folder = tmp_path / "MossFormer2_SS_16K"
    state = write_clearervoice_folder(folder, prefix, wrap)
    model, meta = import_model(folder)
    assert meta["model_name"] == "mossformer2" and meta["sample_rate"] == 16000 and meta["n_src"] == 2
    assert (meta["config"]["dim"], meta["config"]["n_layers"], meta["config"]["fsmn_order"]) == (16, 1, 20)
    assert [f["file"] for f in meta["source"]["files"]] == ["last_best_checkpoint.pt", "config.yaml"]
    assert torch.equal(model.state_dict()["masker.stack.fsmn.0.output.weight"],
                       state[prefix + "mask_net.mdl.intra_mdl.mossformerM.fsmn.0.conv2.weight"].squeeze(-1))
    with torch.no_grad():
        assert torch.isfinite(model(_speechlike(16 + 8 * 100))).all()


def test_clearervoice_sample_rate_from_name_and_errors(tmp_path):
    folder = tmp_path / "MossFormer2_SS_8K"
    write_clearervoice_folder(folder, config=False)
    assert import_model(folder)[1]["sample_rate"] == 8000
    other = tmp_path / "weights"
    write_clearervoice_folder(other, config=False)
    with pytest.raises(ModelImportError, match="sample rate is not stated"):
        import_model(other)
    assert import_model(other, sample_rate=16000)[1]["sample_rate"] == 16000
    (other / "config.yaml").write_text("sampling_rate: 16000\nnum_mossformer_layer: 24\n")
    with pytest.raises(ModelImportError, match="num_mossformer_layer=24 but the weights"):
        import_model(other)


# ------------------------------------------------------------------- safety and errors
class _Evil:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path(__import__('os').environ['VOXSEP_EVIL']).touch()",))


def test_a_file_that_would_run_code_is_refused(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    monkeypatch.setenv("VOXSEP_EVIL", str(marker))
    data = asteroid_conv_tasnet()
    data["infos"]["payload"] = _Evil()
    with open(tmp_path / "pytorch_model.bin", "wb") as handle:
        pickle.dump(data, handle)  # a plain pickle, as an old torch.save would be read
    torch.save(data, tmp_path / "evil.pth")
    for name in ("evil.pth", "pytorch_model.bin"):
        with pytest.raises(ModelImportError, match=f"{name}"):
            import_model(tmp_path / name)
    with pytest.raises(ModelImportError, match="refused.*could run code"):
        import_model(tmp_path / "evil.pth")
    assert not marker.exists()


def test_unsupported_layouts_say_what_was_found_and_what_is_supported(tmp_path):
    torch.save({"weights": torch.zeros(3)}, tmp_path / "x.pt")
    with pytest.raises(ModelImportError, match=r"unknown layout \(a dict with keys weights\); supported: an Asteroid"):
        import_model(tmp_path / "x.pt")
    data = asteroid_conv_tasnet()
    data["model_name"] = "DCUNet"
    torch.save(data, tmp_path / "dcunet.pth")
    with pytest.raises(ModelImportError, match="'DCUNet' is not supported; supported: ConvTasNet, DPRNNTasNet"):
        import_model(tmp_path / "dcunet.pth")
    data = asteroid_conv_tasnet()
    del data["state_dict"]["masker.TCN.2.res_conv.weight"]
    torch.save(data, tmp_path / "missing.pth")
    with pytest.raises(ModelImportError, match=r"missing\.pth: no tensor 'masker\.TCN\.2\.res_conv\.weight'"):
        import_model(tmp_path / "missing.pth")
    data = asteroid_conv_tasnet()
    data["model_args"]["hid_chan"] = 32  # the tensors have 16
    torch.save(data, tmp_path / "shape.pth")
    with pytest.raises(ModelImportError, match=r"shape\.pth: the weights do not fit .* shape \(16, 12, 1\)"):
        import_model(tmp_path / "shape.pth")
    data = asteroid_dprnn()
    data["model_args"]["use_mulcat"] = True
    torch.save(data, tmp_path / "mulcat.pth")
    with pytest.raises(ModelImportError, match="MulCat"):
        import_model(tmp_path / "mulcat.pth")
    (tmp_path / "garbage.bin").write_bytes(b"not a torch file")
    with pytest.raises(ModelImportError, match="not a readable PyTorch file"):
        import_model(tmp_path / "garbage.bin")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelImportError, match=r"no known model layout \(found nothing\)"):
        import_model(empty)


def test_asteroid_dptnet_and_sudormrf_files_voxsep_cannot_read_say_why(tmp_path):
    # whole-model parity of these two is in test_interop_reference.py (needs Asteroid)
    args = {"n_src": 2, "n_filters": 10, "kernel_size": 16, "stride": 8, "sample_rate": 8000, "n_heads": 4}
    torch.save({"model_name": "DPTNet", "model_args": args, "state_dict": {}}, tmp_path / "dpt.bin")
    with pytest.raises(ModelImportError, match=r"dpt\.bin: n_filters=10 is not a multiple of n_heads=4"):
        import_model(tmp_path / "dpt.bin")
    args = {**args, "n_filters": 16, "norm_type": "cLN"}
    torch.save({"model_name": "DPTNet", "model_args": args, "state_dict": {}}, tmp_path / "dpt_cln.bin")
    with pytest.raises(ModelImportError, match=r"norm_type 'cLN' is not supported \(gLN\)"):
        import_model(tmp_path / "dpt_cln.bin")
    args = {"n_src": 2, "n_filters": 16, "kernel_size": 21, "sample_rate": 8000}
    torch.save({"model_name": "SuDORMRFNet", "model_args": args, "state_dict": {}}, tmp_path / "sudo.bin")
    with pytest.raises(ModelImportError, match=r"sudo\.bin: no tensor 'encoder\.encoder\.filterbank\._filters'"):
        import_model(tmp_path / "sudo.bin")


def test_a_hub_id_not_in_the_cache_names_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="huggingface-cli download speechbrain/sepformer-whamr"):
        import_model("speechbrain/sepformer-whamr")


# -------------------------------------------------------- checkpoint, Separator, CLI
def test_import_model_cli_writes_a_checkpoint_with_the_source(tmp_path, capsys):
    from voxsep import cli
    from voxsep.inference.api import Separator

    source = tmp_path / "asteroid"  # the output goes outside the source folder (never into it)
    source.mkdir()
    torch.save(asteroid_conv_tasnet(), source / "pytorch_model.bin")
    out = tmp_path / "cvt.pt"
    assert cli.main(["import-model", str(source), str(out)]) == 0
    assert "conv_tasnet" in capsys.readouterr().out
    model, meta = checkpoint.load(out)
    assert meta["sample_rate"] == 8000 and meta["n_src"] == 2 and meta["source"]["toolkit"] == "asteroid"
    assert meta["source"]["files"][0]["file"] == "pytorch_model.bin"
    assert cli.main(["import-model", str(source), str(out)]) == 2  # exists: refused without --overwrite
    wav = _speechlike(16 + 8 * 300)
    direct, _ = import_model(source)
    with torch.no_grad():
        assert torch.equal(model(wav), direct(wav))
    # Separator takes the foreign source directly (converted in memory), like its checkpoint.
    a = Separator.from_checkpoint(source / "pytorch_model.bin", fast=False).separate(wav[0].numpy(), 8000)
    b = Separator.load(str(out), fast=False).separate(wav[0].numpy(), 8000)
    assert a.shape == (2, wav.shape[-1]) and np.allclose(a, b, atol=1e-6)


def test_separate_cli_accepts_a_speechbrain_folder(tmp_path):
    from voxsep import cli
    from voxsep.core.audio import write_audio

    folder = tmp_path / "sepformer"
    write_speechbrain_folder(folder)
    write_audio(tmp_path / "mix.wav", _speechlike(4000)[0].numpy(), 8000)
    assert cli.main(["separate", str(tmp_path / "mix.wav"), "--out", str(tmp_path / "out"), "--model", str(folder)]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["mix_spk1.wav", "mix_spk2.wav"]
