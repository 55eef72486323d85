"""Chunked separation: chunk layout, speaker-order alignment, level rule, chunked vs whole."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from voxsep import models
from voxsep.core.audio import read_audio
from voxsep.core.pit import align_by_correlation
from voxsep.inference.separate import chunk_bounds, count_talkers, least_squares_gains, separate_mixture

SOUNDS = "/usr/share/asterisk/sounds"
TINY = dict(n_filters=16, kernel_size=8, bottleneck=8, hidden=16, skip=8, n_blocks=3, n_repeats=1)


def speech(language: str, names: list[str], rate: int = 8000) -> np.ndarray:
    """Real speech: asterisk prompts of one talker, concatenated."""
    parts = [read_audio(f"{SOUNDS}/{language}/{name}.wav", sample_rate=rate, channels=1)[0][0] for name in names]
    return np.concatenate(parts).astype(np.float32)


class OracleModel(torch.nn.Module):
    """Test-only model: returns the true sources of each chunk, in a random order and with
    a random gain and sign per source, as a scale-invariant model might."""

    def __init__(self, sources: torch.Tensor, bounds: list[tuple[int, int]], seed: int = 0) -> None:
        super().__init__()
        self.sources, self.bounds = sources, bounds
        self.n_src, self.sample_rate, self.in_channels = sources.shape[0], 8000, 1
        self.rng = np.random.default_rng(seed)
        self.calls = 0
        self.permutations: list[list[int]] = []

    def forward(self, chunk: torch.Tensor) -> torch.Tensor:
        start, end = self.bounds[self.calls]
        self.calls += 1
        assert chunk.shape[-1] == end - start
        perm = list(self.rng.permutation(self.n_src))
        self.permutations.append(perm)
        gains = torch.from_numpy(self.rng.uniform(0.2, 50, self.n_src) * self.rng.choice([-1, 1], self.n_src))
        return (self.sources[perm, start:end] * gains.float()[:, None]).unsqueeze(0)


def test_chunk_bounds_cover_everything_with_bounded_overlap():
    for length in (1, 100, 1000, 1001, 1600, 1601, 1799, 5000, 12345):
        bounds = chunk_bounds(length, 1000, 200)
        assert bounds[0][0] == 0 and bounds[-1][1] == length
        for (s0, e0), (s1, e1) in zip(bounds, bounds[1:]):
            assert s1 < e0 <= e1, "consecutive chunks must overlap"
            assert e0 - s1 >= 200
        for (s0, e0), (s2, e2) in zip(bounds, bounds[2:]):
            assert s2 >= e0, "no sample may lie in three chunks"
        assert all(500 <= e - s <= 1500 for s, e in bounds) or len(bounds) == 1
    with pytest.raises(ValueError, match="overlap"):
        chunk_bounds(5000, 1000, 600)


def test_best_permutation_and_least_squares_gains():
    torch.manual_seed(0)
    reference = torch.randn(3, 500)
    assert align_by_correlation(reference, reference[[2, 0, 1]]) == [1, 2, 0]
    big = torch.randn(5, 400)
    assert align_by_correlation(big, big[[4, 3, 0, 1, 2]] * 3) == [2, 3, 4, 1, 0]  # Hungarian path
    sources = torch.randn(2, 800)
    gains = least_squares_gains(sources.sum(0), sources * torch.tensor([[1e4], [-0.5]]))
    torch.testing.assert_close(gains.float(), torch.tensor([1e-4, -2.0]), rtol=1e-4, atol=0)


@pytest.mark.parametrize("n_src", [2, 3])
def test_oracle_chunks_in_random_order_come_out_aligned_and_at_the_right_level(n_src, snr_db):
    voices = [
        speech("en", ["agent-alreadyon", "agent-incorrect", "agent-loggedoff", "activated"]),
        speech("fr_CA_f_June", ["agent-alreadyon", "agent-incorrect", "agent-loggedoff", "activated"]),
        speech("ru", ["agent-alreadyon", "agent-incorrect", "agent-loggedoff", "activated"]),
    ][:n_src]
    length = min(len(v) for v in voices)
    sources = torch.from_numpy(np.stack([v[:length] for v in voices]))
    mixture = sources.sum(0)
    chunk, overlap = 8000, 2000
    bounds = chunk_bounds(length, chunk, overlap)
    assert len(bounds) >= 3
    oracle = OracleModel(sources, bounds, seed=n_src)
    estimates = separate_mixture(oracle, mixture, chunk_size=chunk, overlap=overlap)
    assert oracle.calls == len(bounds)
    assert len({tuple(p) for p in oracle.permutations}) > 1, "the oracle should have shuffled some chunks"
    # Same speaker order as chunk 0 throughout, at the sources' own level.
    order = np.argsort(oracle.permutations[0])
    aligned = estimates[order]
    for i in range(n_src):
        assert snr_db(sources[i], aligned[i]) > 60
    torch.testing.assert_close(estimates.sum(0), mixture, atol=1e-4, rtol=0)


class BandSplitModel(torch.nn.Module):
    """Test-only model with a short receptive field: low band and high band of the input
    (complementary 63-tap FIR filters), so chunking is the only source of differences."""

    def __init__(self) -> None:
        super().__init__()
        self.n_src, self.sample_rate, self.in_channels = 2, 8000, 1
        taps = torch.from_numpy(np.sinc(np.arange(-31, 32) / 4) * np.hamming(63) / 4).float()
        highpass = -taps
        highpass[31] += 1
        self.register_buffer("filters", torch.stack([taps, highpass]).unsqueeze(1))

    def forward(self, mixture: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.conv1d(mixture.unsqueeze(1), self.filters, padding=31)


def test_chunked_agrees_with_whole_on_a_short_file(snr_db):
    a = speech("en", ["agent-alreadyon", "agent-incorrect"])
    b = speech("fr_CA_f_June", ["agent-alreadyon", "agent-incorrect"])
    length = min(len(a), len(b))
    mixture = torch.from_numpy(a[:length] + b[:length])
    model = BandSplitModel()
    whole = separate_mixture(model, mixture, chunk_size=length)
    chunked = separate_mixture(model, mixture, chunk_size=length // 3, overlap=length // 12)
    assert whole.shape == chunked.shape == (2, length)
    with torch.inference_mode():
        plain = model(mixture.unsqueeze(0))[0]
    torch.testing.assert_close(whole, plain, atol=1e-4, rtol=1e-4)  # gains are 1 here
    for i in range(2):
        assert snr_db(whole[i], chunked[i]) > 40


def test_real_model_runs_chunked_with_the_right_shape_and_level(snr_db):
    torch.manual_seed(0)
    model = models.build("conv_tasnet", n_src=2, **TINY).eval()
    mixture = torch.from_numpy(speech("en", ["agent-alreadyon", "agent-incorrect"]))
    estimates = separate_mixture(model, mixture, chunk_size=4000, overlap=1000)
    assert estimates.shape == (2, mixture.shape[0]) and torch.isfinite(estimates).all()
    # Least-squares level: the estimates' sum is never farther from the mixture than silence.
    assert snr_db(mixture, estimates.sum(0)) > 0


def test_bad_mixtures_are_refused():
    model = models.build("conv_tasnet", n_src=2, **TINY).eval()
    with pytest.raises(ValueError, match="NaN"):
        separate_mixture(model, torch.tensor([0.1, float("nan"), 0.2] * 100))
    with pytest.raises(ValueError, match="empty"):
        separate_mixture(model, torch.zeros(0))
    with pytest.raises(ValueError, match=r"shape \(time,\)"):
        separate_mixture(model, torch.zeros(2, 100))


def _two_talkers() -> torch.Tensor:
    a = speech("en", ["agent-alreadyon"])
    b = speech("ru", ["agent-alreadyon"])
    n = min(len(a), len(b))
    return torch.from_numpy(np.stack([a[:n] + b[:n], 0.1 * a[:n] - b[:n]]))


def test_fast_conv_tasnet_kernels_match_the_model_and_leave_it_unchanged():
    from voxsep.inference.fast import output_snr_db
    from voxsep.inference.fast_conv_tasnet import FastTCNMasker, accelerate

    torch.manual_seed(0)
    # Dilations 1, 2, 4, 8 with kernel 3: the 20-sample input has fewer frames than the
    # largest dilation, so every edge case of the folded depthwise padding is exercised.
    model = models.build("conv_tasnet", n_src=2, **{**TINY, "n_blocks": 4}).eval()
    fast = accelerate(model, torch.float32)
    assert isinstance(fast.masker, FastTCNMasker) and not isinstance(model.masker, FastTCNMasker)
    mixture = _two_talkers()
    with torch.inference_mode():
        assert output_snr_db(model(mixture), fast(mixture)) > 80
        for length in (777, 20, 1):
            assert output_snr_db(model(mixture[0, :length]), fast(mixture[0, :length])) > 80
        low = accelerate(model, torch.bfloat16)
        assert output_snr_db(model(mixture), low(mixture)) > 25  # bf16 operands, fp32 accumulation


def test_optimize_keeps_bf16_only_when_it_holds_the_quality_bound(monkeypatch):
    from voxsep.inference import fast
    from voxsep.inference.fast_conv_tasnet import FastTCNMasker

    torch.manual_seed(0)
    model = models.build("conv_tasnet", n_src=2, **TINY).eval()
    monkeypatch.setattr(fast, "cpu_has_fast_bf16", lambda: True)
    monkeypatch.setattr(fast, "QUALITY_BOUND_DB", 500.0)  # nothing but fp32 can hold this
    strict = fast.optimize(model)
    assert strict.masker.matmul_dtype == torch.float32 and "only" in strict.fast_path
    monkeypatch.setattr(fast, "QUALITY_BOUND_DB", -500.0)
    lenient = fast.optimize(model)
    assert isinstance(lenient.masker, FastTCNMasker) and lenient.masker.matmul_dtype == torch.bfloat16
    assert "bf16" in lenient.fast_path
    monkeypatch.setattr(fast, "cpu_has_fast_bf16", lambda: False)
    assert fast.optimize(model).masker.matmul_dtype == torch.float32
    causal = models.build("conv_tasnet", n_src=2, causal=True, **TINY).eval()
    assert fast.optimize(causal) is causal
    assert fast.optimize(model, "meta") is model  # the kernels are for CPUs


# --------------------------------------------------------------------------- counting talkers


def _tone(freq: float, seconds: float, start: float = 0.0, rate: int = 8000) -> torch.Tensor:
    """A syllable-rate modulated tone that starts at ``start`` seconds (zeros before)."""
    t = torch.arange(int(seconds * rate), dtype=torch.float64) / rate
    wave = 0.3 * torch.sin(2 * np.pi * freq * t) * (0.6 + 0.4 * torch.sin(2 * np.pi * 3 * t))
    wave[t < start] = 0
    return wave.float()


def test_count_talkers_drops_silent_and_duplicate_outputs_and_orders_by_first_activity():
    early, late = _tone(300, 6.0), _tone(2500, 6.0, start=3.0)
    mixture = early + late
    noise = 1e-3 * torch.randn(mixture.shape[-1], generator=torch.Generator().manual_seed(0))
    decision = count_talkers(torch.stack([late, noise, early]), mixture, 8000)
    assert decision.kept == [2, 0] and decision.count == 2
    assert decision.first_active == [0.0, 3.0]
    assert list(decision.dropped) == [1] and "silent" in decision.dropped[1]
    twins = count_talkers(torch.stack([early, 0.7 * early + noise]), early, 8000)
    assert twins.kept == [0] and "near-duplicate of output 1" in twins.dropped[1]
    assert count_talkers(torch.stack([early, 0.7 * early]), early, 8000, duplicates=False).count == 2
    # a talker active for less than MIN_ACTIVE_SECONDS is not one; a silent file keeps one output
    blip = _tone(2500, 6.0, start=5.8)
    assert count_talkers(torch.stack([early, blip]), early + blip, 8000).kept == [0]
    assert count_talkers(torch.zeros(2, 8000), torch.zeros(8000), 8000).count == 0  # silence: no talker (issue 27)
    assert count_talkers(torch.stack([late, noise, early]), mixture, 8000, keep=1).kept == [2]
    with pytest.raises(ValueError, match="do not fit"):
        count_talkers(torch.zeros(2, 100), torch.zeros(99), 8000)


def test_a_talker_who_enters_late_keeps_its_output_across_chunks(snr_db):
    """Chunked counting on a long file: the high-band talker is silent in the first three
    10-s chunks and speaks only from 33 s; the decision is made over the whole file."""
    from voxsep.inference.api import Separator

    rate, seconds = 8000, 45.0
    first, late = _tone(300, seconds), _tone(2500, seconds, start=33.0)
    separator = Separator(BandSplitModel(), fast=False, n_src_range=(1, 2), chunk_seconds=10, overlap_seconds=2)
    estimates = separator.separate((first + late).numpy(), rate)
    assert estimates.shape == (2, int(seconds * rate))
    assert separator.last_count.kept == [0, 1] and separator.last_count.first_active[1] == pytest.approx(33.0, abs=0.3)
    assert snr_db(first, torch.from_numpy(estimates[0])) > 15
    assert snr_db(late[33 * rate:], torch.from_numpy(estimates[1, 33 * rate:])) > 15
    assert float(np.abs(estimates[1, : 30 * rate]).max()) < 0.02  # silent before it enters
    # the same voice alone: one output; asked for all: both
    alone = separator.separate(first.numpy(), rate)
    assert alone.shape == (1, int(seconds * rate)) and snr_db(first, torch.from_numpy(alone[0])) > 15
    assert separator.separate(first.numpy(), rate, n_src="all").shape[0] == 2


def test_one_chunking_rule_for_the_library_the_cli_and_evaluate(monkeypatch, tmp_path):
    from voxsep.inference import separate as separate_module
    from voxsep.inference.api import Separator
    from voxsep.inference.separate import (DEFAULT_CHUNK_SECONDS, DEFAULT_OVERLAP_SECONDS, chunk_samples,
                                           resolve_chunking)

    assert resolve_chunking() == (DEFAULT_CHUNK_SECONDS, DEFAULT_OVERLAP_SECONDS)
    assert resolve_chunking(3) == (3.0, 1.5)  # a default overlap is capped at half a chunk
    assert resolve_chunking(3, 1) == (3.0, 1.0)
    assert chunk_samples(8000, 3) == (24000, 12000)
    with pytest.raises(ValueError, match="--overlap-seconds must be between 0 and half"):
        resolve_chunking(3, 2, "--chunk-seconds", "--overlap-seconds")  # an explicit overlap must fit
    with pytest.raises(ValueError, match="chunk_seconds must be at least"):
        resolve_chunking(0.1)
    model = models.build("conv_tasnet", n_src=2, n_filters=16, kernel_size=16, bottleneck=16, hidden=16, skip=16,
                         n_blocks=2, n_repeats=1)
    # Separator(m, chunk_seconds=3) works as `voxsep separate --chunk-seconds 3` does
    separator = Separator(model, fast=False, chunk_seconds=3)
    assert (separator.chunk_seconds, separator.overlap_seconds) == (3.0, 1.5)
    seen = []
    real = separate_module.separate_mixture

    def spy(model, mixture, chunk_size=None, overlap=None, **kwargs):
        seen.append((chunk_size, overlap))
        return real(model, mixture, chunk_size, overlap, **kwargs)

    monkeypatch.setattr("voxsep.inference.api.separate_mixture", spy)
    separator.separate(np.random.default_rng(0).standard_normal(8000 * 4).astype(np.float32) * 0.1, 8000)
    assert seen == [(24000, 12000)]
    # the CLI resolves through the same function
    from voxsep.commands import separate as separate_command

    calls = []
    monkeypatch.setattr(separate_module, "resolve_chunking",
                        lambda *a, **k: calls.append(a) or (_ for _ in ()).throw(ValueError("resolved here")))
    with pytest.raises(ValueError, match="resolved here"):
        separate_command.run(type("Args", (), {"chunk_seconds": 3.0, "overlap_seconds": None})())
    assert calls == [(3.0, None, "--chunk-seconds", "--overlap-seconds")]


def test_a_batch_of_equal_length_recordings_gives_what_each_gives_alone():
    from voxsep.inference.separate import separate_batch

    torch.manual_seed(0)
    model = models.build("conv_tasnet", n_src=2, **TINY).eval()
    mixtures = torch.randn(3, 4000)
    batch = separate_batch(model, mixtures)
    assert batch.shape == (3, 2, 4000)
    for mixture, estimates in zip(mixtures, batch):
        alone = separate_mixture(model, mixture)
        assert torch.allclose(estimates, alone, atol=1e-5)
    with pytest.raises(ValueError, match="expects a mixture of shape"):
        separate_batch(model, torch.randn(2, 2, 4000))
