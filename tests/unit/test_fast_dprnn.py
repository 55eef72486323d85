"""DPRNN's fast inference path: bf16 autocast on AMX CPUs, verified against the fp32 output."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from voxsep import models
from voxsep.core.audio import read_audio
from voxsep.inference import fast
from voxsep.inference.api import Separator

TINY = dict(n_filters=16, kernel_size=4, bottleneck=16, hidden=16, chunk_size=50, n_blocks=2)


@pytest.fixture(scope="module")
def tiny_dprnn():
    torch.manual_seed(0)
    return models.build("dprnn", **TINY).eval()


@pytest.fixture(scope="module")
def two_talkers() -> torch.Tensor:
    a = read_audio("/usr/share/asterisk/sounds/en/agent-loginok.wav", channels=1)[0][0]
    b = read_audio("/usr/share/asterisk/sounds/ru/agent-loginok.wav", channels=1)[0][0]
    n = min(len(a), len(b))
    return torch.from_numpy(0.5 * (a[:n] + b[:n])).float().unsqueeze(0)


def test_bf16_autocast_stays_within_the_quality_bound_on_speech(tiny_dprnn, two_talkers):
    wrapper = fast.Bf16Autocast(tiny_dprnn)
    assert (wrapper.model_name, wrapper.n_src, wrapper.sample_rate) == ("dprnn", 2, 8000)
    with torch.inference_mode():
        reference = tiny_dprnn(two_talkers)
        estimate = wrapper(two_talkers)
    assert estimate.shape == reference.shape and estimate.dtype == torch.float32
    snr = fast.output_snr_db(reference, estimate)
    assert fast.QUALITY_BOUND_DB <= snr < 150  # within the bound, and really computed in bf16


def test_optimize_uses_bf16_for_dprnn_only_with_amx_and_within_the_bound(tiny_dprnn, monkeypatch):
    monkeypatch.setattr(fast, "cpu_has_amx_bf16", lambda: False)
    assert fast.optimize(tiny_dprnn, "cpu") is tiny_dprnn
    monkeypatch.setattr(fast, "cpu_has_amx_bf16", lambda: True)
    chosen = fast.optimize(tiny_dprnn, "cpu")
    assert isinstance(chosen, fast.Bf16Autocast) and chosen.model is tiny_dprnn
    assert "bf16 autocast" in chosen.fast_path and "dB from fp32" in chosen.fast_path
    monkeypatch.setattr(fast, "QUALITY_BOUND_DB", 200.0)  # a bound bf16 cannot hold: fp32 stays
    assert fast.optimize(tiny_dprnn, "cpu") is tiny_dprnn
    assert not hasattr(tiny_dprnn, "fast_path")  # the model itself is never modified


def test_separator_runs_the_wrapper_chunked(tiny_dprnn, two_talkers, monkeypatch):
    monkeypatch.setattr(fast, "cpu_has_amx_bf16", lambda: True)
    audio = two_talkers[0].numpy()
    plain = Separator(tiny_dprnn, fast=False, chunk_seconds=1.0, overlap_seconds=0.25).separate(audio, 8000)
    separator = Separator(tiny_dprnn, chunk_seconds=1.0, overlap_seconds=0.25)
    assert isinstance(separator.model, fast.Bf16Autocast)
    estimates = separator.separate(audio, 8000)
    assert estimates.shape == plain.shape == (2, audio.shape[0])
    snr = 10 * np.log10(np.sum(plain.astype(np.float64) ** 2) / np.sum((estimates - plain).astype(np.float64) ** 2))
    assert snr >= fast.QUALITY_BOUND_DB - 5  # chunk alignment may differ at a boundary; not by much
