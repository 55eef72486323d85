"""TIGER (voxsep.models.tiger) and its importer (voxsep.interop.tiger).

The published model (``JusperLee/TIGER-speech``: config.json + model.safetensors, with
the authors' code's outputs on real speech in reference_io.npz) is looked up at
``../shared/published/JusperLee--TIGER-speech`` beside the repository; the tests that
need it skip when it is not there (a user's clone). The importer is also tested without
it: a small voxsep model is written out in the authors' layout (tensor names, per-head
projections, the unused coarsest-scale gate) and imported back.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from voxsep import checkpoint, cli, models
from voxsep.interop import ModelImportError, import_model
from voxsep.nn import tf_interleaved

PUBLISHED = Path(__file__).resolve().parents[3] / "shared" / "published" / "JusperLee--TIGER-speech"
needs_published = pytest.mark.skipif(
    not (PUBLISHED / "model.safetensors").is_file(),
    reason=f"the published TIGER-speech files are not at {PUBLISHED} (they are outside the repository)",
)
pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(channels=16, hidden=24, n_blocks=2, depth=3, n_heads=2, head_dim=2)


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    reference, estimate = np.asarray(reference, np.float64), np.asarray(estimate, np.float64)
    return float(10 * np.log10((reference**2).sum() / max(((reference - estimate) ** 2).sum(), 1e-30)))


def randomised(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """``model`` with every parameter drawn at random (norm gains near 1), so that a wrong
    mapping of any tensor shows in the output."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if re.search(r"(norm|gamma)", name) and "beta" not in name and "bias" not in name:
                p.copy_(1 + 0.1 * noise)
            elif "slope" in name or name.endswith("act.weight"):
                p.copy_(0.25 + 0.05 * noise)
            else:
                p.copy_(0.2 * noise)
    return model.eval()


def authors_layout(state: dict[str, torch.Tensor], depth: int, n_heads: int, head_dim: int, value_dim: int,
                   seed: int = 1) -> dict[str, torch.Tensor]:
    """A voxsep ``tiger`` state dict written with the authors' tensor names and shapes (the
    inverse of voxsep.interop.tiger.convert_state), plus the coarsest-scale gate their
    files hold and the model never uses (random)."""
    out: dict[str, torch.Tensor] = {}
    inj = {"local": "local_embedding", "gate": "global_act", "fill": "global_embedding"}
    g = torch.Generator().manual_seed(seed)
    for key, t in state.items():
        if m := re.fullmatch(r"band_in\.(\d+)\.(norm|proj)\.(\w+)", key):
            out[f"BN.{m[1]}.{0 if m[2] == 'norm' else 1}.{m[3]}"] = t
        elif m := re.fullmatch(r"band_out\.(\d+)\.(act|conv)\.(\w+)", key):
            out[f"mask.{m[1]}.{0 if m[2] == 'act' else 1}.{m[3]}"] = t
        elif key == "separator.merge_scale":
            out["separator.concat_block.0.weight"] = t.view(-1, 1, 1, 1)
        elif key == "separator.merge_bias":
            out["separator.concat_block.0.bias"] = t
        elif key == "separator.merge_slope":
            out["separator.concat_block.1.weight"] = t
        elif m := re.fullmatch(r"separator\.(band|frame)_msb\.(.+)", key):
            path = "freq_path" if m[1] == "band" else "frame_path"
            rest = m[2]
            if n := re.fullmatch(r"(fuse|merge)\.(\d+)\.(local|gate|fill)\.(.+)", rest):
                rest = f"{'loc_glo_fus' if n[1] == 'fuse' else 'last_layer'}.{n[2]}.{inj[n[3]]}.{n[4]}"
            else:
                for ours, theirs in (("expand.", "proj_1x1."), ("down.", "spp_dw."), ("context.depthwise.", "globalatt.dwconv."),
                                     ("context.", "globalatt."), ("project.", "res_conv.")):
                    if rest.startswith(ours):
                        rest = theirs + rest[len(ours):]
                        break
            out[f"separator.{path}.0.{rest}"] = t
        elif m := re.fullmatch(r"separator\.(band|frame)_norm\.(weight|bias)", key):
            path = "freq_path" if m[1] == "band" else "frame_path"
            out[f"separator.{path}.2.{'gamma' if m[2] == 'weight' else 'beta'}"] = t.view(1, -1, 1, 1)
    for ours, path in (("band", "freq_path"), ("frame", "frame_path")):
        p, a = f"separator.{ours}_attn.", f"separator.{path}.1."
        sizes = [head_dim] * (2 * n_heads) + [value_dim] * n_heads
        names = [f"{kind}.{h}" for kind in ("Queries", "Keys", "Values") for h in range(n_heads)]
        for name, w, b, slope, gamma, beta in zip(
            names, state[p + "qkv.weight"].split(sizes), state[p + "qkv.bias"].split(sizes), state[p + "qkv_slopes"],
            state[p + "qkv_gamma"].split(sizes), state[p + "qkv_beta"].split(sizes),
        ):
            out.update({a + f"{name}.conv.weight": w[:, :, None, None], a + f"{name}.conv.bias": b,
                        a + f"{name}.act.weight": slope.view(1), a + f"{name}.norm.gamma": gamma.view(1, -1, 1, 1),
                        a + f"{name}.norm.beta": beta.view(1, -1, 1, 1)})
        out.update({a + "attn_concat_proj.conv.weight": state[p + "out.weight"][:, :, None, None],
                    a + "attn_concat_proj.conv.bias": state[p + "out.bias"],
                    a + "attn_concat_proj.act.weight": state[p + "out_slope"],
                    a + "attn_concat_proj.norm.gamma": state[p + "out_norm.weight"].view(1, -1, 1, 1),
                    a + "attn_concat_proj.norm.beta": state[p + "out_norm.bias"].view(1, -1, 1, 1)})
        hidden = state[f"separator.{ours}_msb.project.weight"].shape[1]
        for part in ("local_embedding", "global_act", "global_embedding"):
            base = f"separator.{path}.0.loc_glo_fus.{depth - 1}.{part}."
            out.update({base + "conv.weight": torch.randn(hidden, 1, 1, generator=g),
                        base + "norm.weight": torch.randn(hidden, generator=g), base + "norm.bias": torch.randn(hidden, generator=g)})
    return out


def authors_config(config: dict) -> dict:
    return {"in_channels": config["hidden"], "out_channels": config["channels"], "num_blocks": config["n_blocks"],
            "upsampling_depth": config["depth"], "att_n_head": config["n_heads"], "att_hid_chan": config["head_dim"],
            "att_kernel_size": 8, "att_stride": 1, "win": config["n_fft"], "stride": config["hop"],
            "num_sources": config["n_src"], "sample_rate": config["sample_rate"]}


def write_published_folder(folder: Path, model: torch.nn.Module) -> Path:
    from safetensors.torch import save_file

    c = model.config
    folder.mkdir(parents=True, exist_ok=True)
    tensors = authors_layout(model.state_dict(), c["depth"], c["n_heads"], c["head_dim"], c["channels"] // c["n_heads"])
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(authors_config(c)))
    return folder


# ------------------------------------------------------------------------- the model
@pytest.mark.parametrize("length", [1, 200, 321, 4001, 16001])
def test_any_length_and_batch_gives_the_input_length(length):
    model = randomised(models.build("tiger", **TINY))
    with torch.inference_mode():
        out = model(torch.randn(2, length))
        single = model(torch.randn(length))
    assert out.shape == (2, 2, length) and single.shape == (2, length)
    assert torch.isfinite(out).all()


def test_the_gains_of_the_talkers_sum_to_one_so_the_estimates_sum_to_the_mixture():
    model = randomised(models.build("tiger", **TINY))
    x = torch.randn(1, 8000)
    with torch.inference_mode():
        estimates = model(x)
    assert snr_db(x.numpy(), estimates.sum(1).numpy()) > 60  # STFT round trip of sum(gains) * mixture


def test_it_trains_every_parameter_gets_a_gradient():
    model = models.build("tiger", **TINY, dropout=0.0).train()
    model(torch.randn(2, 4000)).pow(2).mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing


def test_band_layout_of_the_published_configuration_and_a_rate_it_does_not_fit():
    widths = models.build("tiger").band_widths
    assert len(widths) == 67 and sum(widths) == 321 and widths[:2] == [1, 1] and widths[-2:] == [20, 1]
    with pytest.raises(ValueError, match="band layout does not fit sample_rate=8000"):
        models.build("tiger", sample_rate=8000)


def test_the_export_stft_matches_torch_stft(monkeypatch):
    stft = tf_interleaved.RealSTFT(640, 160)
    x = torch.randn(2, 16001)
    fft_spec = stft(x)
    fft_back = stft.inverse(fft_spec, x.shape[-1])
    monkeypatch.setattr(tf_interleaved.RealSTFT, "_exporting", staticmethod(lambda: True))
    dft_spec = stft(x)
    dft_back = stft.inverse(dft_spec, x.shape[-1])
    assert snr_db(fft_spec.numpy(), dft_spec.numpy()) > 100
    assert snr_db(fft_back.numpy(), dft_back.numpy()) > 100 and snr_db(x.numpy(), dft_back.numpy()) > 100


@pytest.mark.parametrize("coarse,length", [(5, 67), (13, 201), (34, 67), (34, 68), (1, 9), (9, 17)])
def test_inject_equals_resizing_first(coarse, length):
    local = torch.randn(3, 8, 1, length).contiguous(memory_format=torch.channels_last)
    gate = torch.randn(3, 8, 1, coarse).contiguous(memory_format=torch.channels_last)
    fill = torch.randn(3, 8, 1, coarse).contiguous(memory_format=torch.channels_last)
    expected = local * F.interpolate(gate, size=(1, length)) + F.interpolate(fill, size=(1, length))
    with torch.inference_mode():
        got = tf_interleaved.inject(local, gate, fill)
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("cache_elements", [1, 300, 5000])
def test_inference_in_cache_sized_pieces_equals_the_whole_tensor_path(monkeypatch, cache_elements):
    # inference splits the multi-scale blocks' batch and the attention's row-wise stages
    # into pieces of about CACHE_ELEMENTS activations; training runs whole tensors
    torch.manual_seed(0)
    model = models.build("tiger", n_src=2, **TINY).eval()
    x = torch.randn(2, 6000)
    with torch.enable_grad():
        whole = model(x).detach()
    monkeypatch.setattr(tf_interleaved, "CACHE_ELEMENTS", cache_elements)
    with torch.inference_mode():
        pieces = model(x)
    torch.testing.assert_close(pieces, whole, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("transposed", [False, True])
def test_the_attention_inference_path_equals_the_whole_tensor_path(monkeypatch, transposed):
    # inference: channel-first query/key/value norms, channel-major head vectors, the
    # output norm and residual applied per piece; training: group norms on rows, whole tensors
    torch.manual_seed(0)
    attention = tf_interleaved.FoldedAttention(16, n_heads=2, head_dim=3)
    with torch.no_grad():
        for p in attention.parameters():
            p.add_(0.3 * torch.randn_like(p))
    norm = torch.nn.LayerNorm(16)
    x = torch.randn(2, 9, 5, 16)
    x = x.transpose(1, 2).contiguous().transpose(1, 2) if transposed else x  # strides as in a TIGER step
    residual = torch.randn(2, 9, 5, 16)
    with torch.enable_grad():
        whole = attention(x, norm, residual).detach()
    monkeypatch.setattr(tf_interleaved, "CACHE_ELEMENTS", 3 * 5 * 16)  # pieces of 3 slices of A
    with torch.inference_mode():
        pieces = attention(x, norm, residual)
        plain = attention(x)
    torch.testing.assert_close(pieces, whole, rtol=1e-4, atol=1e-5)
    with torch.enable_grad():
        torch.testing.assert_close(plain, attention(x).detach(), rtol=1e-4, atol=1e-5)


def test_the_multi_scale_inference_path_is_bitwise_the_module_path(monkeypatch):
    torch.manual_seed(0)
    block = tf_interleaved.MultiScaleBlock(16, 24, depth=4, dropout=0.0).eval()
    with torch.no_grad():
        for p in block.parameters():
            p.add_(0.3 * torch.randn_like(p))
        x = torch.randn(3, 50, 16)  # 50 -> 25 -> 13 -> 7: a gathered (13 runs) and run-wise injects
        for parts in (1, 2):
            monkeypatch.setattr(tf_interleaved, "SUB_PIECES", parts)
            got = block._forward_inference(x, out=torch.empty_like(x))
            if parts == 1:
                assert torch.equal(got, block._forward(x))
            torch.testing.assert_close(got, block._forward(x), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------- importer
def test_the_authors_layout_imports_to_the_same_function(tmp_path):
    model = randomised(models.build("tiger", **TINY))
    folder = write_published_folder(tmp_path / "TIGER-tiny", model)
    imported, meta = import_model(folder)
    assert meta["model_name"] == "tiger" and meta["source"]["toolkit"] == "look2hear"
    assert [f["file"] for f in meta["source"]["files"]] == ["config.json", "model.safetensors"]
    assert all(len(f["sha256"]) == 64 for f in meta["source"]["files"])
    x = torch.randn(1, 6000)
    with torch.inference_mode():
        torch.testing.assert_close(imported(x), model(x))
    # the weights file alone, with config.json beside it
    imported_file, _ = import_model(folder / "model.safetensors")
    with torch.inference_mode():
        torch.testing.assert_close(imported_file(x), model(x))


def test_import_errors_say_what_is_missing(tmp_path):
    model = randomised(models.build("tiger", **TINY))
    folder = write_published_folder(tmp_path / "t", model)
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    with pytest.raises(ModelImportError, match="no config.json beside it.*num_blocks"):
        import_model(lone / "model.safetensors")
    config = json.loads((folder / "config.json").read_text())
    config["in_channels"] = 32  # the weights were made with 24
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelImportError, match="do not fit a TIGER model.*shape"):
        import_model(folder)


def test_init_from_a_published_folder_fine_tunes_from_its_weights(tmp_path):
    from voxsep.train.trainer import load_init_weights

    source = randomised(models.build("tiger", **TINY))
    folder = write_published_folder(tmp_path / "pub", source)
    fresh = models.build("tiger", **TINY)
    assert load_init_weights(fresh, folder) == []
    for (name, a), b in zip(source.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(a, b), name


# ------------------------------------------------------------------------- the published file
@needs_published
def test_published_tiger_matches_the_authors_outputs_on_real_speech():
    model, meta = import_model(PUBLISHED)
    assert meta["config"]["n_blocks"] == 8 and meta["sample_rate"] == 16000
    reference = np.load(PUBLISHED / "reference_io.npz")
    for name in ("short", "long"):
        with torch.inference_mode():
            out = model(torch.from_numpy(reference[f"input_{name}"])[None])[0].numpy()
        assert out.shape == reference[f"output_{name}"].shape
        assert snr_db(reference[f"output_{name}"], out) >= 60, name


@needs_published
def test_published_tiger_cli_import_and_sha256(tmp_path, capsys):
    out = tmp_path / "tiger.pt"
    assert cli.main(["import-model", str(PUBLISHED), str(out)]) == 0
    assert "tiger (0.82 M parameters), n_src=2, sample_rate=16000" in capsys.readouterr().out
    model, meta = checkpoint.load(out)
    readme = (PUBLISHED / "README.md").read_text()
    for record in meta["source"]["files"]:
        assert record["sha256"] in readme  # the hashes the folder's README states
    reference = np.load(PUBLISHED / "reference_io.npz")
    with torch.inference_mode():
        y = model(torch.from_numpy(reference["input_short"])[None])[0].numpy()
    assert snr_db(reference["output_short"], y) >= 60


@needs_published
def test_published_tiger_separates_from_its_folder(tmp_path):
    import soundfile as sf

    reference = np.load(PUBLISHED / "reference_io.npz")
    wav = tmp_path / "mix.wav"
    sf.write(wav, reference["input_short"], 16000, subtype="FLOAT")
    assert cli.main(["separate", str(wav), "--out", str(tmp_path / "out"), "--model", str(PUBLISHED)]) == 0
    for i in range(2):
        y, rate = sf.read(tmp_path / "out" / f"mix_spk{i + 1}.wav", dtype="float32")
        r = reference["output_short"][i]
        gain = float(y @ r / (r @ r))  # the output level rule rescales each talker
        assert rate == 16000 and snr_db(gain * r, y) > 60


class _ToneMixtures(torch.utils.data.Dataset):
    """Two harmonic 'talkers' with random pitch and on/off envelopes, 16 kHz."""

    def __init__(self, count: int, length: int = 8000, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        t = torch.arange(length) / 16000
        items = []
        for _ in range(count):
            sources = []
            for low, high in ((100, 180), (200, 320)):
                f0 = low + (high - low) * torch.rand((), generator=g)
                wave = sum(torch.sin(2 * np.pi * f0 * k * t + torch.rand((), generator=g) * 6) / k for k in range(1, 6))
                envelope = (torch.rand(8, generator=g) > 0.3).float().repeat_interleave(length // 8)
                sources.append(0.2 * wave * envelope)
            items.append(torch.stack(sources))
        self.sources = torch.stack(items)

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, index: int):
        return self.sources[index].sum(0), self.sources[index]


def test_it_trains_with_the_voxsep_trainer(tmp_path):
    from voxsep.config import config_from_dict
    from voxsep.train import train

    config = config_from_dict({
        "data": {"kind": "manifest", "train": "in-memory", "valid": "in-memory", "batch_size": 2, "num_workers": 0,
                 "segment": 0.5, "valid_segment": 0.5, "valid_batch_size": 2, "sample_rate": 16000},
        "model": {"name": "tiger", "args": TINY},
        "loss": {"kind": "snr", "snr_max": None},
        "optim": {"lr": 1e-3},
        "schedule": {"patience": 2, "early_stop_patience": 0},
        "train": {"epochs": 2, "seed": 0, "device": "cpu", "num_threads": 1, "compile": False},
        "log": {"tensorboard": False, "log_every": 1000},
    })
    result = train(config, tmp_path, train_set=_ToneMixtures(4), valid_set=_ToneMixtures(2, seed=1))
    assert result.status == "finished" and result.step == 4
    assert all(np.isfinite(h["si_snri"]) for h in result.history)
    model, meta = checkpoint.load(tmp_path / "last.pt")
    assert meta["model_name"] == "tiger" and meta["sample_rate"] == 16000


@pytest.mark.slow
@pytest.mark.skipif(not __import__("os").environ.get("VOXSEP_TIGER_ONNX"),
                    reason="exporting TIGER to ONNX takes minutes (about 8 min for a tiny model on the shared 2-core "
                           "machine: torch.export through the per-band loops); set VOXSEP_TIGER_ONNX=1 to run it")
def test_onnx_export_has_a_dynamic_time_axis(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from voxsep.inference.export import OnnxModel, export_onnx

    model = randomised(models.build("tiger", **TINY))
    onnx_model = OnnxModel(export_onnx(model, tmp_path / "tiger.onnx"))
    assert onnx_model.sample_rate == 16000 and onnx_model.n_src == 2 and onnx_model.min_length == 321
    for length in (100, 3001, 16000, 16001):  # 100: shorter than one frame, padded by OnnxModel as in PyTorch
        x = np.random.default_rng(length).standard_normal((2, length)).astype(np.float32)
        with torch.inference_mode():
            expected = model(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(onnx_model(x), expected, atol=1e-4 * max(1.0, np.abs(expected).max()), rtol=0)
