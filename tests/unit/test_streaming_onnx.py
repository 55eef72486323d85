"""Fixed-block streaming step (TasNetBlockStep), its ONNX export and OnnxStreamingSeparator."""

from pathlib import Path

import numpy as np
import pytest
import torch

from voxsep import models
from voxsep.inference.export import OnnxStreamingSeparator, export_streaming_onnx
from voxsep.inference.streaming import StreamingSeparator, TasNetBlockStep

SOUNDS = Path("/usr/share/asterisk/sounds/en")
TINY = {"n_filters": 16, "kernel_size": 8, "bottleneck": 8, "hidden": 16, "skip": 8, "n_blocks": 3, "n_repeats": 2}


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(seed: int = 0, **overrides) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = models.build("conv_tasnet", n_src=2, causal=True, **dict(TINY, **overrides)).eval()
    with torch.no_grad():  # non-trivial norm gains, biases and slopes
        for name, p in model.named_parameters():
            if "weight" not in name or p.dim() == 1:
                p.add_(0.1 * torch.randn_like(p))
    return model


def speech_mixture(seconds: float = 1.5) -> np.ndarray:
    """Two real utterances (8 kHz telephone prompts) overlapped."""
    from voxsep.core.audio import read_audio

    if not SOUNDS.is_dir():
        pytest.skip(f"{SOUNDS} (asterisk-core-sounds-en-wav) is not installed")
    a, _ = read_audio(SOUNDS / "agent-loggedoff.wav", 8000)
    b, _ = read_audio(SOUNDS / "activated.wav", 8000)
    n = int(seconds * 8000)
    a, b = np.resize(a.reshape(-1), n), np.resize(b.reshape(-1), n)
    return (a + 0.7 * np.roll(b, 1234)).astype(np.float32)


def run_step(step: TasNetBlockStep, mixture: np.ndarray) -> np.ndarray:
    state, outputs = step.initial_state(), []
    with torch.no_grad():
        for block in torch.from_numpy(mixture).view(-1, step.block_size):
            out, *state = step(block[None], *state)
            outputs.append(out[:, 0])
    outputs.append(state[step.state_names.index("ola")][:, 0])
    return torch.cat(outputs, dim=-1).numpy()


def run_onnx(st: OnnxStreamingSeparator, mixture: np.ndarray) -> np.ndarray:
    outputs = [st.process(block) for block in mixture.reshape(-1, st.block_size)]
    return np.concatenate([*outputs, st.flush()], axis=-1)


def run_torch_streaming(model, mixture: np.ndarray, block: int) -> np.ndarray:
    st = StreamingSeparator.from_model(model)
    outputs = [st.process(b) for b in mixture.reshape(-1, block)]
    return np.concatenate([*outputs, st.flush()], axis=-1), st.latency_samples


def offline(model, mixture: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(mixture)).numpy()


@pytest.mark.parametrize("block", [4, 8, 80])  # 1, 2 and 20 frames: shorter and longer than the histories
def test_block_step_equals_offline_delayed(block, snr_db):
    model = tiny()
    mixture = np.random.default_rng(1).standard_normal(block * (1600 // block)).astype(np.float32)
    step = TasNetBlockStep(model, block)
    assert step.latency_samples == 4  # L - S
    streamed = run_step(step, mixture)
    assert streamed.shape == (2, mixture.size + 4)
    assert np.all(streamed[:, :4] == 0)
    assert snr_db(offline(model, mixture), streamed[:, 4:]) >= 60


def test_block_step_the_test_detects_unmasked_start_frames(snr_db):
    """Without masking the frame before the stream, the output is measurably wrong."""
    model = tiny()
    mixture = np.random.default_rng(1).standard_normal(800).astype(np.float32)
    step = TasNetBlockStep(model, 80)
    step.masked_frames = 0
    assert snr_db(offline(model, mixture), run_step(step, mixture)[:, 4:]) < 40


def test_onnx_streaming_equals_pytorch_streaming_on_real_speech(tmp_path, snr_db):
    model = tiny()
    mixture = speech_mixture()  # 1.5 s = 150 blocks of 10 ms
    path = export_streaming_onnx(model, tmp_path / "stream.onnx", block_ms=10)
    st = OnnxStreamingSeparator(path)
    assert (st.block_size, st.latency_samples, st.n_src, st.sample_rate) == (80, 4, 2, 8000)
    onnx_out = run_onnx(st, mixture)
    torch_out, torch_latency = run_torch_streaming(model, mixture, 80)
    # both are the offline output delayed: by L - S (ONNX) and L - 1 (any-split PyTorch stream)
    shift = torch_latency - st.latency_samples
    assert snr_db(torch_out[:, shift:], onnx_out) >= 60
    assert snr_db(offline(model, mixture), onnx_out[:, st.latency_samples :]) >= 60
    # a second stream after flush() starts from a fresh state
    again = run_onnx(st, mixture[:4000])
    assert snr_db(offline(model, mixture[:4000]), again[:, st.latency_samples :]) >= 60
    with pytest.raises(ValueError, match="exactly 80 samples"):
        st.process(mixture[:79])


def test_onnx_streaming_takes_blocks_of_any_size(tmp_path, snr_db):
    """any_block_size: samples wait for a whole step; block_size - 1 more latency; any split exact."""
    model = tiny()
    mixture = speech_mixture(0.77)[:6001]  # not a whole number of steps: flush pads the last one with zeros
    path = export_streaming_onnx(model, tmp_path / "stream.onnx", block_ms=10)
    st = OnnxStreamingSeparator(path, any_block_size=True)
    assert st.latency_samples == 4 + 79
    padded = np.pad(mixture, (0, -mixture.size % 80))
    reference = offline(model, padded)[:, : mixture.size]  # the stream zero-padded to whole steps
    assert snr_db(offline(model, mixture)[:, :-8], reference[:, :-8]) >= 60  # differs in the last L - S only
    for seed in (0, 1):
        sizes = np.random.default_rng(seed).integers(1, 200, 80).cumsum()
        blocks = np.split(mixture, sizes[sizes < mixture.size])
        outputs = [st.process(b) for b in blocks]
        assert [o.shape[-1] for o in outputs] == [b.size for b in blocks]
        streamed = np.concatenate([*outputs, st.flush()], axis=-1)  # flush starts a new stream
        assert streamed.shape == (2, mixture.size + st.latency_samples)
        assert np.all(streamed[:, : st.latency_samples] == 0)
        assert snr_db(reference, streamed[:, st.latency_samples :]) >= 60
    with pytest.raises(ValueError, match="any_block_size=True"):
        OnnxStreamingSeparator(path).process(mixture[:79])


def test_onnx_streaming_of_a_longer_kernel(tmp_path, snr_db):
    """L = 4 S: three masked start frames, an overlap-add of four parts."""
    torch.manual_seed(0)
    model = models.build("conv_tasnet", n_src=2, causal=True, **dict(TINY, kernel_size=8)).eval()
    model.encoder.conv.stride = (2,)  # L = 8, S = 2
    model.decoder.conv.stride = (2,)
    model.stride = 2
    mixture = speech_mixture(0.5)
    reference = offline(model, mixture)
    path = export_streaming_onnx(model, tmp_path / "stream.onnx", block_ms=0.5)  # 4 samples, 2 frames
    st = OnnxStreamingSeparator(path)
    assert st.latency_samples == 6
    assert snr_db(reference, run_onnx(st, mixture)[:, 6:]) >= 60


def test_refusals(tmp_path):
    with pytest.raises(ValueError, match=r"not causal.*causal=True"):
        TasNetBlockStep(models.build("conv_tasnet", n_src=2, causal=False, **TINY), 80)
    sepformer = models.build("sepformer", n_filters=16, kernel_size=8, d_model=16, chunk_size=10, n_repeats=1,
                             n_layers=1, n_heads=2, d_ffn=16)
    with pytest.raises(ValueError, match=r"dprnn only \(DPRNN: DPRNNBlockStep\), not 'sepformer'"):
        export_streaming_onnx(sepformer, tmp_path / "d.onnx")
    with pytest.raises(ValueError, match=r"multiple of the encoder stride \(4 samples"):
        TasNetBlockStep(tiny(), 10)
    with pytest.raises(ValueError, match="not a whole number of samples"):
        export_streaming_onnx(tiny(), tmp_path / "x.onnx", block_ms=0.3)
    assert not list(tmp_path.iterdir())


def test_plain_export_is_not_a_streaming_model(tmp_path):
    from voxsep.inference.export import export_onnx

    path = export_onnx(tiny(), tmp_path / "plain.onnx", example_seconds=0.1)
    with pytest.raises(ValueError, match="not a streaming export.*export_streaming_onnx"):
        OnnxStreamingSeparator(path)


def test_cli_export_streaming(tmp_path, capsys):
    from voxsep import checkpoint
    from voxsep.cli import main

    ckpt = checkpoint.save(tmp_path / "causal.pt", tiny(), sample_rate=8000)
    assert main(["export", "--streaming", "--block-ms", "4", str(ckpt), str(tmp_path / "s.onnx")]) == 0
    out = capsys.readouterr().out
    assert "block 32 samples (4 ms), latency 4 samples" in out
    assert OnnxStreamingSeparator(tmp_path / "s.onnx").block_size == 32


# --------------------------------------------------------------------------- voxsep separate --stream
def test_separate_stream_writes_the_levelled_offline_causal_output_and_reports_times(tmp_path, capsys, snr_db):
    from voxsep import checkpoint
    from voxsep.cli import main
    from voxsep.core.audio import read_audio, write_audio
    from voxsep.inference.streaming import StreamingLevel

    model = tiny()
    ckpt = checkpoint.save(tmp_path / "causal.pt", model, sample_rate=8000)
    mixture = 0.5 * speech_mixture(1.0)
    write_audio(tmp_path / "call.wav", mixture, 8000, subtype="FLOAT")
    code = main(["separate", str(tmp_path / "call.wav"), "--out", str(tmp_path / "out"), "--model", str(ckpt),
                 "--stream", "--block-ms", "10"])
    assert code == 0
    out = capsys.readouterr().out
    assert "streamed in 10 ms blocks (80 samples, 100 blocks): RTF " in out
    assert "block time median " in out and "p99 " in out
    assert "latency 7 samples (0.88 ms) algorithmic, 10.88 ms with the block" in out
    written = [read_audio(tmp_path / "out" / f"call_spk{i}.wav")[0][0] for i in (1, 2)]
    # the stream is the offline causal forward with the stream's level rule, which runs
    # `latency` samples behind the input; the files are aligned with the input
    latency = 7

    def delayed(x: np.ndarray) -> torch.Tensor:
        return torch.cat([torch.zeros(*x.shape[:-1], latency), torch.from_numpy(x)], -1)

    levelled = StreamingLevel(2, 8000).process(delayed(offline(model, mixture).reshape(2, -1)),
                                               delayed(mixture.reshape(-1)))
    reference = levelled[:, latency:].numpy()
    # the files are the levelled stream, scaled by one peak factor at most
    for estimate, ref in zip(written, reference):
        scale = float(estimate @ ref / (ref @ ref))
        assert 0.2 < scale <= 1.001
        assert snr_db(ref * scale, estimate) >= 40  # 16-bit files


def test_separate_stream_resamples_a_file_at_another_rate(tmp_path, capsys):
    from voxsep import checkpoint
    from voxsep.cli import main
    from voxsep.core.audio import audio_info, resample, write_audio

    ckpt = checkpoint.save(tmp_path / "causal.pt", tiny(), sample_rate=8000)
    write_audio(tmp_path / "wide.wav", resample(0.5 * speech_mixture(0.5)[None], 8000, 16000)[0], 16000)
    assert main(["separate", str(tmp_path / "wide.wav"), "--out", str(tmp_path / "out"), "--model", str(ckpt),
                 "--stream", "--block-ms", "4"]) == 0
    assert "4 ms blocks (32 samples" in capsys.readouterr().out
    info = audio_info(tmp_path / "out" / "wide_spk1.wav")
    assert info.sample_rate == 16000 and info.frames == 8000


def test_separate_stream_refuses_a_non_causal_model(tmp_path, capsys):
    from voxsep import checkpoint
    from voxsep.cli import main
    from voxsep.core.audio import write_audio

    ckpt = checkpoint.save(tmp_path / "offline.pt", models.build("conv_tasnet", n_src=2, **TINY), sample_rate=8000)
    write_audio(tmp_path / "call.wav", np.zeros(800, np.float32), 8000)
    code = main(["separate", str(tmp_path / "call.wav"), "--out", str(tmp_path / "out"), "--model", str(ckpt),
                 "--stream"])
    assert code != 0
    assert "not causal" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- the one TCN step
@pytest.mark.parametrize(
    "overrides",
    [{}, {"skip": 0}, {"mask_activation": "softmax", "encoder_activation": None}, {"conv_kernel": 5, "hidden": 24}],
)
def test_stream_and_block_step_equal_offline_for_every_masker_shape(overrides, snr_db):
    """The in-place stream (any split) and the pure fixed-block step run the same kernel."""
    model = tiny(**overrides)
    st = StreamingSeparator.from_model(model)
    mixture = speech_mixture(0.4)
    sizes = np.random.default_rng(0).integers(1, 300, 40).cumsum()
    blocks = np.split(mixture, sizes[sizes < mixture.size])
    streamed = np.concatenate([*(st.process(b) for b in blocks), st.flush()], axis=-1)
    reference = offline(model, mixture)
    assert snr_db(reference, streamed[:, st.latency_samples :]) >= 60
    step = TasNetBlockStep(model, 8)
    whole = mixture[: 8 * (mixture.size // 8)]
    assert snr_db(offline(model, whole), run_step(step, whole)[:, step.latency_samples :]) >= 60
