"""Fault injection for streaming (issue 27): non-finite blocks are refused without spoiling
the stream, rates and block lengths must be real numbers, long blocks run in bounded pieces."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from faults import speech
from voxsep import checkpoint, models
from voxsep.cli import main
from voxsep.inference.streaming import StreamingSeparator

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = dict(n_filters=16, kernel_size=8, bottleneck=8, hidden=16, skip=8, n_blocks=2, n_repeats=1)


@pytest.fixture(scope="module")
def causal_model():
    torch.manual_seed(0)
    return models.build("conv_tasnet", n_src=2, causal=True, **TINY).eval()


@pytest.fixture(scope="module")
def causal_checkpoint(causal_model, tmp_path_factory):
    return checkpoint.save(tmp_path_factory.mktemp("causal") / "causal.pt", causal_model, sample_rate=8000)


def _stream(st: StreamingSeparator, audio: np.ndarray, block: int) -> np.ndarray:
    return np.concatenate([st.process(audio[i:i + block]) for i in range(0, len(audio), block)], axis=-1)


# ----------------------------------------------------------- item 6: NaN / inf blocks
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e39])
def test_a_non_finite_block_is_refused_and_the_stream_goes_on_unharmed(causal_model, bad):
    audio = speech("en", "agent-alreadyon")[:4000].astype(np.float32)
    clean = StreamingSeparator(causal_model)
    expected = _stream(clean, audio, 400)
    st = StreamingSeparator(causal_model)
    first = st.process(audio[:2000])
    hostile = audio[2000:2400].astype(np.float64)
    hostile[7] = bad  # 1e39 is finite as float64 but inf as the float32 the model runs in
    with pytest.raises(ValueError, match="NaN or infinite"):
        st.process(hostile)
    for tensor in (False, True):  # numpy and torch blocks alike
        with pytest.raises(ValueError, match="not used"):
            st.process(torch.from_numpy(hostile) if tensor else hostile)
    rest = _stream(st, audio[2000:], 400)
    out = np.concatenate([first, rest], axis=-1)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, expected, atol=1e-5)


# ---------------------------------------------- item 12: rates, long blocks in pieces
@pytest.mark.parametrize("rate", [8000.7, float("nan"), float("inf"), 7999.5])
def test_a_fractional_stream_rate_is_refused(causal_checkpoint, rate):
    with pytest.raises(ValueError, match="whole number of Hz"):
        StreamingSeparator.from_checkpoint(causal_checkpoint, sample_rate=rate)
    assert StreamingSeparator.from_checkpoint(causal_checkpoint, sample_rate=8000.0).sample_rate == 8000


def test_a_long_block_runs_in_bounded_pieces_with_the_same_output(causal_model, monkeypatch):
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal(8000 * 5) * 0.1).astype(np.float32)  # 5 s in one block
    expected = _stream(StreamingSeparator(causal_model), audio, 800)
    st = StreamingSeparator(causal_model)
    pushed = []
    real_push = st.engine.push

    def push(segment, frames):
        pushed.append(frames)
        return real_push(segment, frames)

    monkeypatch.setattr(st.engine, "push", push)
    out = st.process(audio)
    assert out.shape == (2, len(audio))
    np.testing.assert_allclose(out, expected, atol=1e-5)
    frames_per_second = 8000 // st.stride
    assert max(pushed) <= frames_per_second + 1, f"one push of {max(pushed)} frames: memory grows with the block"


# -------------------------------------------------------------- item 9: --block-ms
@pytest.mark.parametrize("value", ["inf", "nan", "-5", "0"])
def test_block_ms_must_be_a_finite_positive_number(tmp_path, causal_checkpoint, capsys, value):
    wav = tmp_path / "x.wav"
    sf.write(wav, np.zeros(8000, dtype=np.float32), 8000)
    code = main(["separate", str(wav), "--out", str(tmp_path / "out"), "--model", str(causal_checkpoint), "--stream",
                 "--block-ms", value])
    err = capsys.readouterr().err
    assert code == 2 and "--block-ms" in err and "Traceback" not in err, err
    assert not (tmp_path / "out").exists()
    code = main(["export", "--streaming", "--block-ms", value, str(causal_checkpoint), str(tmp_path / "s.onnx")])
    err = capsys.readouterr().err
    assert code == 2 and "--block-ms" in err, err
    assert not (tmp_path / "s.onnx").exists()
