"""The ONNX streaming step of the causal binaural variants (issue 28, item 3): the same TCN
step as the PyTorch streaming engine (TasNetBlockStep), 2-channel blocks in, ``(n_src, 2,
block)`` out; equal to StreamingSeparator and to the offline model for several block sizes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from voxsep import models
from voxsep.core.audio import read_audio

pytest.importorskip("onnxruntime", reason="pip install 'voxsep[export]'")

from voxsep.inference.export import OnnxStreamingSeparator, export_streaming_onnx  # noqa: E402
from voxsep.inference.streaming import StreamingSeparator, TasNetBlockStep  # noqa: E402

SMALL = dict(n_filters=16, kernel_size=8, bottleneck=8, hidden=16, n_blocks=2, n_repeats=1)
FEATURES = dict(feature_window=32, feature_channels=8)
VARIANTS = ("binaural_independent", "binaural_cross", "binaural_parallel")

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def two_ear_speech() -> np.ndarray:
    """Two real talkers, one on each side (interaural delay and level), ``(2, 4000)``."""
    a = read_audio("/usr/share/asterisk/sounds/en/agent-incorrect.wav", channels=1)[0][0]
    b = read_audio("/usr/share/asterisk/sounds/fr_CA_f_June/agent-incorrect.wav", channels=1)[0][0]
    n = 4000
    a, b = np.resize(a, n), np.resize(b, n)
    left = a + 0.5 * np.roll(b, 4)
    right = 0.5 * np.roll(a, 5) + b
    return np.stack([left, right]).astype(np.float32)


def causal_model(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = models.build(name, n_src=2, causal=True, **dict(SMALL, **({} if name == "binaural_independent" else FEATURES)))
    with torch.no_grad():  # non-trivial norm gains, biases and slopes
        for key, p in model.named_parameters():
            if "weight" not in key or p.dim() == 1:
                p.add_(0.1 * torch.randn_like(p))
    return model.eval()


def offline(model, mixture: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(mixture)[None])[0].numpy()


@pytest.mark.parametrize("name", VARIANTS)
def test_binaural_onnx_stream_equals_pytorch_stream_and_offline(name, tmp_path, two_ear_speech, snr_db):
    model = causal_model(name)
    mixture = two_ear_speech
    reference = offline(model, mixture)
    st = StreamingSeparator.from_model(model)
    torch_out = np.concatenate([*(st.process(b) for b in np.split(mixture, 50, axis=-1)), st.flush()], axis=-1)
    for block_ms in (1, 10):  # 8 samples = 2 frames (shorter than the histories), 80 samples = 20 frames
        path = export_streaming_onnx(model, tmp_path / f"{name}_{block_ms}.onnx", block_ms=block_ms)
        onnx_st = OnnxStreamingSeparator(path)
        assert (onnx_st.in_channels, onnx_st.latency_samples, onnx_st.block_size) == (2, 4, 8 * block_ms)
        blocks = np.split(mixture, mixture.shape[-1] // onnx_st.block_size, axis=-1)
        outputs = [onnx_st.process(b) for b in blocks]
        assert outputs[0].shape == (2, 2, onnx_st.block_size)
        streamed = np.concatenate([*outputs, onnx_st.flush()], axis=-1)
        assert streamed.shape == (2, 2, mixture.shape[-1] + 4) and np.all(streamed[..., :4] == 0)
        assert snr_db(reference, streamed[..., 4:]) >= 60, block_ms
        shift = st.latency_samples - onnx_st.latency_samples  # PyTorch: L - 1 (any split); ONNX: L - S
        assert snr_db(torch_out[..., shift:], streamed) >= 60, block_ms
    # blocks of any size through the same file (zero-padded to whole steps at the end)
    onnx_st = OnnxStreamingSeparator(path, any_block_size=True)
    sizes = np.random.default_rng(0).integers(1, 200, 60).cumsum()
    pieces = np.split(mixture, sizes[sizes < mixture.shape[-1]], axis=-1)
    outputs = [onnx_st.process(b) for b in pieces]
    assert [o.shape[-1] for o in outputs] == [b.shape[-1] for b in pieces]
    streamed = np.concatenate([*outputs, onnx_st.flush()], axis=-1)[..., onnx_st.latency_samples :]
    assert snr_db(reference, streamed) >= 60  # 4000 samples: whole steps, no padding


@pytest.mark.parametrize("name", VARIANTS)
def test_binaural_block_step_in_pytorch_equals_offline(name, two_ear_speech, snr_db):
    """The pure step itself (no export) for a third block size: 5 frames."""
    model = causal_model(name)
    mixture = two_ear_speech[:, :4000]
    step = TasNetBlockStep(model, 20)
    state, outputs = step.initial_state(), []
    with torch.no_grad():
        for block in torch.from_numpy(mixture).split(20, dim=-1):
            out, *state = step(block, *state)
            outputs.append(out)
    streamed = torch.cat(outputs, dim=-1).numpy()[..., step.latency_samples :]
    assert snr_db(offline(model, mixture)[..., : streamed.shape[-1]], streamed) >= 60


def test_binaural_onnx_stream_refuses_mono_blocks(tmp_path, two_ear_speech):
    path = export_streaming_onnx(causal_model("binaural_parallel"), tmp_path / "p.onnx", block_ms=10)
    with pytest.raises(ValueError, match=r"2-channel audio: a block must have shape \(2, n\)"):
        OnnxStreamingSeparator(path).process(two_ear_speech[0, :80])


def test_non_causal_binaural_is_refused(tmp_path):
    model = models.build("binaural_parallel", n_src=2, causal=False, **SMALL, **FEATURES)
    with pytest.raises(ValueError, match=r"not causal.*causal=True"):
        export_streaming_onnx(model, tmp_path / "p.onnx")
    assert not list(tmp_path.iterdir())


def test_cli_export_streaming_of_a_binaural_model(tmp_path, capsys):
    from voxsep import checkpoint
    from voxsep.cli import main

    ckpt = checkpoint.save(tmp_path / "causal.pt", causal_model("binaural_cross"), sample_rate=8000)
    assert main(["export", "--streaming", "--block-ms", "10", str(ckpt), str(tmp_path / "s.onnx")]) == 0
    out = capsys.readouterr().out
    assert "streaming step of binaural_cross, block 80 samples (10 ms), latency 4 samples" in out
    snr = float(out.split("streamed vs offline on 200 blocks: ")[1].split(" dB")[0])
    assert snr >= 60
    assert OnnxStreamingSeparator(tmp_path / "s.onnx").in_channels == 2

