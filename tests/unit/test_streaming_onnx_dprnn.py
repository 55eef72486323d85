"""The fixed-block streaming step of a causal DPRNN (DPRNNBlockStep) and its ONNX export
(issue 28, item 3): bidirectional intra-chunk RNN, unidirectional inter-chunk RNN whose
state is carried explicitly; blocks of whole chunk hops; exact against the offline model
and the PyTorch stream (StreamingSeparator)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from voxsep import models
from voxsep.inference.streaming import DPRNNBlockStep, StreamingSeparator

pytest.importorskip("onnxruntime", reason="pip install 'voxsep[export]'")

from voxsep.inference.export import OnnxStreamingSeparator, export_streaming_onnx  # noqa: E402

TINY = dict(n_filters=16, kernel_size=4, bottleneck=8, hidden=8, chunk_size=10, n_blocks=2)  # S = 2: hop 5 frames = 10 samples

pytestmark = pytest.mark.usefixtures("one_thread")


def causal_dprnn(rnn_type: str = "LSTM", **overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    model = models.build("dprnn", n_src=2, causal=True, rnn_type=rnn_type, **dict(TINY, **overrides))
    with torch.no_grad():  # non-trivial norm gains and biases
        for key, p in model.named_parameters():
            if "norm" in key:
                p.add_(0.1 * torch.randn_like(p))
    return model.eval()


def speech(n: int = 2400) -> np.ndarray:
    from voxsep.core.audio import read_audio

    a = read_audio("/usr/share/asterisk/sounds/en/agent-incorrect.wav", channels=1)[0][0]
    b = read_audio("/usr/share/asterisk/sounds/fr_CA_f_June/agent-incorrect.wav", channels=1)[0][0]
    return (np.resize(a, n) + 0.7 * np.resize(b, n)).astype(np.float32)


def offline(model, mixture: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(mixture)[None])[0].numpy()


def run_step(step: DPRNNBlockStep, mixture: np.ndarray) -> np.ndarray:
    """Whole blocks, then the end-of-stream steps; the stream aligned with the input."""
    state, outputs = step.initial_state(), []
    with torch.no_grad():
        for block in torch.from_numpy(mixture).split(step.block_size):
            out, *state = step(block[None], *state)
            outputs.append(out[:, 0])
        index = step.state_names.index("frame_index")
        state[index] = torch.full_like(state[index], step.END_FRAME_INDEX)
        for _ in range(-(-step.latency_samples // step.block_size)):
            out, *state = step(torch.zeros(1, step.block_size), *state)
            outputs.append(out[:, 0])
    streamed = torch.cat(outputs, dim=-1).numpy()
    assert np.all(streamed[:, : step.latency_samples] == 0)
    return streamed[:, step.latency_samples : step.latency_samples + mixture.size]


@pytest.mark.parametrize("block", [10, 20, 60])  # 1, 2 and 6 chunk hops per step
def test_block_step_equals_offline(block, snr_db):
    model = causal_dprnn()
    mixture = speech()
    step = DPRNNBlockStep(model, block)
    assert step.latency_samples == 20  # K * S
    assert snr_db(offline(model, mixture), run_step(step, mixture)) >= 60


def test_the_test_detects_a_remembered_padding_chunk(snr_db, monkeypatch):
    """If the chunk before the stream advanced the inter-chunk state, the output would be wrong."""
    import voxsep.inference.streaming as streaming

    model = causal_dprnn()
    mixture = np.random.default_rng(0).standard_normal(1200).astype(np.float32)  # loud from the first sample
    start = offline(model, mixture)[:, :30]  # the LSTM states forget: the error shows in the first chunks
    assert snr_db(start, run_step(DPRNNBlockStep(model, 20), mixture)[:, :30]) >= 60
    original = streaming.dprnn_chunks_step
    monkeypatch.setattr(streaming, "dprnn_chunks_step", lambda m, c, s, first=None: original(m, c, s, first & False))
    assert snr_db(start, run_step(DPRNNBlockStep(model, 20), mixture)[:, :30]) < 55  # 130 dB when right


@pytest.mark.parametrize("rnn_type, block_ms", [("LSTM", 1.25), ("LSTM", 7.5), ("GRU", 2.5)])
def test_onnx_stream_equals_pytorch_stream_and_offline(rnn_type, block_ms, tmp_path, snr_db):
    model = causal_dprnn(rnn_type)
    mixture = speech()
    path = export_streaming_onnx(model, tmp_path / "dprnn.onnx", block_ms=block_ms)
    st = OnnxStreamingSeparator(path)
    assert (st.block_size, st.latency_samples, st.in_channels) == (int(block_ms * 8), 20, 1)
    outputs = [st.process(b) for b in np.split(mixture, mixture.size // st.block_size)]
    streamed = np.concatenate([*outputs, st.flush()], axis=-1)
    assert streamed.shape == (2, mixture.size + 20)
    assert snr_db(offline(model, mixture), streamed[:, 20:]) >= 60
    torch_st = StreamingSeparator.from_model(model)  # latency (K - 1) S + L - 1 = 21
    torch_out = np.concatenate([*(torch_st.process(b) for b in np.split(mixture, 30)), torch_st.flush()], axis=-1)
    shift = torch_st.latency_samples - st.latency_samples
    assert snr_db(torch_out[:, shift:], streamed) >= 60
    # a second stream after flush() starts afresh
    again = np.concatenate([*(st.process(b) for b in np.split(mixture[:1200], 1200 // st.block_size)), st.flush()], -1)
    assert snr_db(offline(model, mixture[:1200]), again[:, 20:]) >= 60


def test_block_must_be_whole_chunk_hops(tmp_path):
    with pytest.raises(ValueError, match=r"multiple of the chunk hop \(5 frames = 10 samples = 1.25 ms"):
        DPRNNBlockStep(causal_dprnn(), 8)
    with pytest.raises(ValueError, match=r"multiple of the chunk hop"):
        export_streaming_onnx(causal_dprnn(), tmp_path / "d.onnx", block_ms=1)
    with pytest.raises(ValueError, match=r"not causal.*causal=True"):
        DPRNNBlockStep(models.build("dprnn", n_src=2, causal=False, **TINY), 10)
    assert not list(tmp_path.iterdir())


def test_cli_export_streaming_of_a_dprnn(tmp_path, capsys):
    from voxsep import checkpoint
    from voxsep.cli import main

    ckpt = checkpoint.save(tmp_path / "dprnn.pt", causal_dprnn(), sample_rate=8000)
    assert main(["export", "--streaming", "--block-ms", "10", str(ckpt), str(tmp_path / "s.onnx")]) == 0
    out = capsys.readouterr().out
    assert "streaming step of dprnn, block 80 samples (10 ms), latency 20 samples" in out
    assert float(out.split("streamed vs offline on 200 blocks: ")[1].split(" dB")[0]) >= 60
