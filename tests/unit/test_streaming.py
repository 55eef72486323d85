"""StreamingSeparator: block-by-block output == offline causal forward delayed by latency_samples."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

import voxsep
from voxsep import models
from voxsep.inference.streaming import StreamingSeparator, _CausalEarAligner
from voxsep.models.binaural import align_ears

TCN_TINY = dict(n_filters=16, kernel_size=8, bottleneck=8, hidden=16, n_blocks=3, n_repeats=2)
TINY = {
    "conv_tasnet": dict(TCN_TINY, skip=8),
    "dprnn": dict(n_filters=16, kernel_size=4, bottleneck=8, hidden=8, chunk_size=10, n_blocks=2),
    "binaural_independent": TCN_TINY,
    "binaural_cross": dict(TCN_TINY, feature_window=32, feature_channels=8),
    "binaural_parallel": dict(TCN_TINY, feature_window=32, feature_channels=8),
}
SPLITS = ("1", "7", "80", "160", "1000", "random")


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(name: str, n_src: int = 2, causal: bool = True, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return models.build(name, n_src=n_src, causal=causal, **TINY[name]).eval()


def block_sizes(split: str, length: int, seed: int = 0) -> list[int]:
    if split != "random":
        size = int(split)
        return [size] * (length // size) + ([length % size] if length % size else [])
    rng = np.random.default_rng(seed)
    sizes = []
    while sum(sizes) < length:
        sizes.append(int(min(rng.integers(1, 400), length - sum(sizes))))
    return sizes


def stream(st: StreamingSeparator, mixture: np.ndarray, sizes: list[int]) -> np.ndarray:
    outputs, start = [], 0
    for size in sizes:
        block = mixture[..., start : start + size]
        out = st.process(block)
        assert out.shape[-1] == size
        outputs.append(out)
        start += size
    outputs.append(st.flush())
    return np.concatenate(outputs, axis=-1)


def mixture_for(model, length: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (length,) if model.in_channels == 1 else (model.in_channels, length)
    return rng.standard_normal(shape).astype(np.float32)


def offline(model, mixture: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(mixture)).numpy()


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("name", sorted(TINY))
def test_any_block_split_equals_offline_causal_forward_delayed(name, split, snr_db):
    model = tiny(name)
    mixture = mixture_for(model, 2413)
    reference = offline(model, mixture)
    st = StreamingSeparator.from_model(model, sample_rate=8000)
    latency = st.latency_samples
    streamed = stream(st, mixture, block_sizes(split, mixture.shape[-1]))
    assert streamed.shape == reference.shape[:-1] + (mixture.shape[-1] + latency,)
    assert np.all(streamed[..., :latency] == 0)
    assert snr_db(reference, streamed[..., latency:]) >= 60


@pytest.mark.parametrize("name", sorted(TINY))
@pytest.mark.parametrize("length", [1, 5, 39])
def test_short_streams_equal_offline(name, length, snr_db):
    model = tiny(name, n_src=3 if name != "binaural_independent" else 2)
    mixture = mixture_for(model, length, seed=length)
    st = StreamingSeparator.from_model(model)
    streamed = stream(st, mixture, block_sizes("7", length))
    assert snr_db(offline(model, mixture), streamed[..., st.latency_samples :]) >= 60


def test_the_test_detects_a_wrong_delay(snr_db):
    model = tiny("conv_tasnet")
    mixture = mixture_for(model, 800)
    st = StreamingSeparator.from_model(model)
    streamed = stream(st, mixture, block_sizes("80", 800))
    assert snr_db(offline(model, mixture), streamed[..., st.latency_samples - 1 : -1]) < 20


@pytest.mark.parametrize(
    "name, expected",
    [
        ("conv_tasnet", 7),  # L - 1
        ("binaural_parallel", 7),
        ("dprnn", (10 - 1) * 2 + 4 - 1),  # (K - 1) * stride + L - 1
    ],
)
def test_latency_samples(name, expected):
    assert StreamingSeparator.from_model(tiny(name)).latency_samples == expected


def test_paper_dprnn_latency_is_one_chunk():
    model = models.build("dprnn", n_src=2, causal=True)
    assert StreamingSeparator.from_model(model).latency_samples == 250  # 249 frames * stride 1 + L - 1


def test_latency_is_minimal_for_single_samples():
    """One sample less of delay and some split is no longer exact: the output at t would need
    input after t + latency (samples at the start of an encoder hop)."""
    model = tiny("conv_tasnet")
    mixture = mixture_for(model, 64)
    reference = offline(model, mixture)
    st = StreamingSeparator.from_model(model)
    latency = st.latency_samples
    changed = mixture.copy()
    # the output at sample 8 (start of a hop) depends on input sample 8 + latency
    changed[8 + latency] += 1.0
    assert np.abs(offline(model, changed)[:, 8] - reference[:, 8]).max() > 1e-4


def test_reset_and_flush_start_a_new_stream(snr_db):
    model = tiny("conv_tasnet")
    first, second = mixture_for(model, 900, seed=1), mixture_for(model, 700, seed=2)
    st = StreamingSeparator.from_model(model)
    latency = st.latency_samples
    stream(st, first, block_sizes("80", 900))  # ends with flush()
    after_flush = stream(st, second, block_sizes("160", 700))
    st.process(first[:333])
    st.reset()
    after_reset = stream(st, second, block_sizes("random", 700))
    fresh = offline(model, second)
    assert snr_db(fresh, after_flush[..., latency:]) >= 60
    assert snr_db(fresh, after_reset[..., latency:]) >= 60


def test_state_does_not_grow_with_the_stream():
    model = tiny("conv_tasnet")
    st = StreamingSeparator.from_model(model)

    def state_size():
        def count(x):
            if isinstance(x, (torch.Tensor, np.ndarray)):
                return x.size if isinstance(x, np.ndarray) else x.numel()
            if dataclasses.is_dataclass(x):
                return count(list(vars(x).values()))
            return sum(count(v) for v in x) if isinstance(x, (list, tuple)) else 0

        assert count(st.engine.states) > 0
        return count(st.engine.states) + st._buffer.numel() + st._queue.numel()

    block = mixture_for(model, 80)
    for _ in range(10):
        st.process(block)
    after_10 = state_size()
    for _ in range(200):
        st.process(block)
    assert state_size() == after_10


def test_tensor_in_tensor_out_and_numpy_in_numpy_out():
    st = StreamingSeparator.from_model(tiny("conv_tasnet"))
    out = st.process(torch.zeros(20))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 20)
    assert isinstance(st.flush(), torch.Tensor)
    out = st.process(np.zeros((1, 20), dtype=np.float32))
    assert isinstance(out, np.ndarray) and out.shape == (2, 20)
    assert isinstance(st.flush(), np.ndarray)


def test_binaural_output_is_stereo_per_talker():
    st = StreamingSeparator.from_model(tiny("binaural_parallel", n_src=3))
    assert st.process(np.zeros((2, 50), dtype=np.float32)).shape == (3, 2, 50)
    assert st.flush().shape == (3, 2, st.latency_samples)


def test_streaming_ear_alignment_follows_offline_on_swapped_ears():
    """Right ear given in the other talker order: both the offline causal alignment and the
    streaming one put it back (after the evidence builds up), sample for sample alike."""
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, 1200)).astype(np.float32)
    delayed = lambda s, d: np.concatenate([np.zeros(d, np.float32), s[:-d]])  # noqa: E731
    estimates = torch.from_numpy(np.stack([np.stack([a, delayed(b, 3)]), np.stack([b, delayed(a, 4)])]))
    estimates = estimates[None]  # (1, n_src, ears, time): right ear of talker 0 is talker 1's
    reference = align_ears(estimates, max_lag=8, causal=True)[0]
    assert torch.allclose(reference[0, 1, -100:], torch.from_numpy(delayed(a, 4))[-100:])  # swapped back
    aligner = _CausalEarAligner(n_src=2, max_lag=8)
    pieces, start = [], 0
    for size in block_sizes("random", 1200, seed=4):
        pieces.append(aligner(estimates[0, ..., start : start + size]))
        start += size
    assert torch.equal(torch.cat(pieces, dim=-1), reference)


def test_non_causal_model_is_refused_naming_causal_true():
    for name in ("conv_tasnet", "dprnn", "binaural_parallel"):
        with pytest.raises(ValueError, match=r"not causal.*causal=True"):
            StreamingSeparator.from_model(tiny(name, causal=False))


def test_unsupported_model_is_refused():
    model = models.build("sepformer", n_filters=16, kernel_size=8, d_model=16, chunk_size=10, n_repeats=1,
                         n_layers=1, n_heads=2, d_ffn=16)
    with pytest.raises(ValueError, match="streaming is not available for 'sepformer'"):
        StreamingSeparator.from_model(model)


def test_sample_rate_mismatch_says_resampling_is_the_callers_job():
    with pytest.raises(ValueError, match=r"16000 Hz.*8000 Hz.*resampl.*caller's job"):
        StreamingSeparator.from_model(tiny("conv_tasnet"), sample_rate=16000)


def test_bad_blocks_raise_clear_errors():
    mono = StreamingSeparator.from_model(tiny("conv_tasnet"))
    with pytest.raises(ValueError, match=r"1-channel.*\(n,\) or \(1, n\), got \(2, 10\)"):
        mono.process(np.zeros((2, 10), np.float32))
    with pytest.raises(ValueError, match="at least one sample"):
        mono.process(np.zeros(0, np.float32))
    with pytest.raises(ValueError, match="floating-point"):
        mono.process(np.zeros(10, np.int16))
    stereo = StreamingSeparator.from_model(tiny("binaural_cross"))
    with pytest.raises(ValueError, match=r"2-channel.*\(2, n\), got \(10,\)"):
        stereo.process(np.zeros(10, np.float32))
    with pytest.raises(ValueError, match=r"2-channel.*\(2, n\), got \(3, 10\)"):
        stereo.process(np.zeros((3, 10), np.float32))


def test_from_checkpoint_and_package_export(tmp_path, snr_db):
    from voxsep import checkpoint

    model = tiny("conv_tasnet")
    path = checkpoint.save(tmp_path / "causal.pt", model, sample_rate=8000)
    st = voxsep.StreamingSeparator.from_checkpoint(path)
    assert st.latency_samples == 7 and st.n_src == 2 and st.sample_rate == 8000
    mixture = mixture_for(model, 500)
    streamed = stream(st, mixture, block_sizes("80", 500))
    assert snr_db(offline(model, mixture), streamed[..., 7:]) >= 60


@pytest.mark.parametrize("name", ["conv_tasnet", "binaural_parallel"])
def test_talker_tracking_is_the_tracker_over_the_plain_stream(name):
    """``track_talkers=True`` = the causal talker tracker applied to the plain stream, fed the
    input delayed by ``latency_samples`` (the samples each output was made from), whatever
    the block split; the plain stream is untouched by the option's existence."""
    from voxsep.core.audio import read_audio
    from voxsep.inference.order import StreamingTalkerOrder

    model = tiny(name)
    speech = read_audio(Path(voxsep.__file__).parent / "pretrained" / "example_mix.wav", sample_rate=8000,
                        channels=1)[0][0]
    mixture = speech if model.in_channels == 1 else np.stack([speech, np.roll(speech, 3)])
    plain_st = StreamingSeparator(model)
    plain = stream(plain_st, mixture, block_sizes("80", mixture.shape[-1]))
    delayed = np.concatenate([np.zeros((*mixture.shape[:-1], plain_st.latency_samples), np.float32), mixture], -1)
    tracker = StreamingTalkerOrder(model.n_src, 8000)
    expected = tracker.process(torch.from_numpy(plain.reshape(model.n_src, -1, plain.shape[-1])),
                               torch.from_numpy(delayed.reshape(-1, delayed.shape[-1]))).numpy().reshape(plain.shape)
    tracked_st = StreamingSeparator(model, track_talkers=True)
    tracked = stream(tracked_st, mixture, block_sizes("random", mixture.shape[-1]))
    assert tracked_st.talker_order is not None and plain_st.talker_order is None
    np.testing.assert_allclose(tracked, expected, atol=1e-6)
    tracked_st.reset()
    assert tracked_st.talker_order.changes == 0 and tracked_st.talker_order.voices is None


def test_separator_streams_in_the_models_order_without_the_speaker_encoder(monkeypatch):
    """Fault injection: no speaker encoder -> a warning that says what is lost, and the stream
    still runs (in the model's order)."""
    import voxsep.inference.speaker as speaker
    from voxsep.inference.api import Separator

    model = tiny("conv_tasnet")
    assert Separator(model, stream_block_ms=10, stream_track_talkers=True).streaming.talker_order is not None
    plain = Separator(model, stream_block_ms=10)  # tracking is opt-in; the level rule is always on
    assert plain.streaming.talker_order is None and plain.streaming.level is not None

    def missing():
        raise speaker.VoiceEncoderUnavailable("resemblyzer is not installed (injected)")

    monkeypatch.setattr(speaker, "load_voice_encoder", missing)
    with pytest.warns(UserWarning, match="keeps the model's talker order.*injected"):
        separator = Separator(model, stream_block_ms=10, stream_track_talkers=True)
    assert separator.streaming.talker_order is None
    out = separator.separate(mixture_for(model, 4000), 8000, n_src="all")
    assert out.shape == (2, 4000) and np.isfinite(out).all()


@pytest.mark.parametrize("name", ["conv_tasnet", "binaural_parallel"])
def test_level_rule_is_the_streaming_level_over_the_plain_stream_for_any_split(name):
    """``match_level=True`` = :class:`StreamingLevel` applied to the plain stream, fed the input
    delayed by ``latency_samples``, whatever the block split (its gains change on hops of the
    stream, not on blocks); with ``track_talkers`` the tracker hears the levelled outputs."""
    from voxsep.inference.order import StreamingTalkerOrder
    from voxsep.inference.streaming import StreamingLevel

    model = tiny(name)
    mixture = mixture_for(model, 6000)
    plain_st = StreamingSeparator(model)
    plain = torch.from_numpy(stream(plain_st, mixture, block_sizes("80", mixture.shape[-1])))
    delayed = torch.from_numpy(np.concatenate(
        [np.zeros((*mixture.shape[:-1], plain_st.latency_samples), np.float32), mixture], -1))
    levelled = StreamingLevel(model.n_src, 8000).process(plain, delayed)
    for split in ("1", "7", "160", "random"):
        got = stream(StreamingSeparator(model, match_level=True), mixture, block_sizes(split, mixture.shape[-1]))
        np.testing.assert_allclose(got, levelled.numpy(), rtol=1e-5, atol=1e-6 * float(levelled.abs().max()))
    both = stream(StreamingSeparator(model, track_talkers=True, match_level=True), mixture,
                  block_sizes("random", mixture.shape[-1], seed=2))
    tracked = StreamingTalkerOrder(model.n_src, 8000).process(levelled.reshape(model.n_src, -1, levelled.shape[-1]),
                                                              delayed.reshape(-1, delayed.shape[-1]))
    np.testing.assert_allclose(both, tracked.reshape(levelled.shape).numpy(), rtol=1e-5,
                               atol=1e-6 * float(levelled.abs().max()))


def test_streaming_level_restores_outputs_an_si_snr_model_left_at_any_level():
    """Outputs that are the talkers at arbitrary levels (1e-3 and 20 times, one inverted): after
    the first hops the levelled stream is the talkers themselves, as the offline rule makes them."""
    from voxsep.core.audio import read_audio
    from voxsep.inference.separate import match_mixture_level
    from voxsep.inference.streaming import StreamingLevel

    talkers = torch.stack([torch.from_numpy(read_audio(Path(voxsep.__file__).parent / "pretrained" / name,
                                                       sample_rate=8000, channels=1)[0][0])
                           for name in ("example_s1.wav", "example_s2.wav")]).double()
    mixture = talkers.sum(0)
    outputs = talkers * torch.tensor([[1e-3], [-20.0]], dtype=torch.float64)
    level = StreamingLevel(2, 8000)
    levelled = torch.cat([level.process(outputs[:, a:a + 80], mixture[a:a + 80])
                          for a in range(0, mixture.shape[-1], 80)], -1)
    settled = slice(800, None)  # after 0.1 s
    error = (levelled[:, settled] - talkers[:, settled]).pow(2).sum() / talkers[:, settled].pow(2).sum()
    assert 10 * torch.log10(1 / error) > 60
    assert torch.allclose(match_mixture_level(mixture, outputs), talkers, atol=1e-6)
    silent = StreamingLevel(2, 8000)  # a stream that starts silent passes unscaled until a signal comes
    assert torch.equal(silent.process(torch.zeros(2, 400), torch.zeros(400)), torch.zeros(2, 400))
    assert torch.equal(silent.gains, torch.ones(2, dtype=torch.float64))
