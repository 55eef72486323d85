"""ONNX export of every binaural variant (per-ear, cross-channel features, MIMO; causal
and not): dynamic time axis, parity with PyTorch at lengths other than the export length.

Covers what used to break: the interaural features' and cLN's epsilons (the exporter's
optimiser deleted ``x + 1e-8``, giving inf/NaN on silent frames), the FFT and the
data-dependent permutation search of the per-ear ear alignment."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from voxsep import models
from voxsep.core.audio import read_audio

pytest.importorskip("onnxruntime", reason="pip install 'voxsep[export]'")

from voxsep.inference.export import OnnxModel, export_onnx  # noqa: E402

SMALL = dict(n_filters=16, kernel_size=8, bottleneck=8, hidden=16, n_blocks=1, n_repeats=1)
FEATURES = dict(feature_window=32, feature_channels=8)
VARIANTS = [(name, causal) for name in ("binaural_independent", "binaural_cross", "binaural_parallel")
            for causal in (False, True)]
EXPORT_SECONDS = 0.1  # traced on 800 samples; checked on other lengths
LENGTHS = (4813, 29, 5)


@pytest.fixture(scope="module")
def two_ear_speech() -> np.ndarray:
    """Two real talkers, one on each side (interaural delay and level), ``(2, 2, time)``:
    a batch of the mixture and a quieter copy with the right ear silent at the start."""
    a = read_audio("/usr/share/asterisk/sounds/en/agent-incorrect.wav", channels=1)[0][0]
    b = read_audio("/usr/share/asterisk/sounds/fr_CA_f_June/agent-incorrect.wav", channels=1)[0][0]
    n = min(len(a), len(b), 6000)
    a, b = a[:n], b[:n]
    left = a + 0.5 * np.roll(b, 4)
    right = 0.5 * np.roll(a, 5) + b
    mixture = np.stack([np.stack([left, right]), 0.3 * np.stack([left, right])]).astype(np.float32)
    mixture[1, 1, :300] = 0.0  # a silent stretch: the epsilons must survive export
    return mixture


@pytest.mark.parametrize("name, causal", VARIANTS, ids=[f"{n}-{'causal' if c else 'noncausal'}" for n, c in VARIANTS])
def test_binaural_variant_exports_with_dynamic_time_and_matches_pytorch(tmp_path, two_ear_speech, name, causal):
    torch.manual_seed(0)
    config = dict(SMALL, **({} if name == "binaural_independent" else FEATURES))
    model = models.build(name, n_src=2, causal=causal, **config).eval()
    path = export_onnx(model, tmp_path / f"{name}.onnx", example_seconds=EXPORT_SECONDS)
    onnx_model = OnnxModel(path)
    assert onnx_model.in_channels == 2 and onnx_model.model_name == name
    for length in LENGTHS:
        mixture = np.ascontiguousarray(two_ear_speech[..., :length])
        with torch.inference_mode():
            reference = model(torch.from_numpy(mixture)).numpy()
        estimate = onnx_model(mixture)
        assert estimate.shape == reference.shape == (2, 2, 2, length)
        assert np.isfinite(estimate).all()
        error = np.abs(estimate - reference).max()
        parity = 10 * np.log10(np.sum(reference.astype(np.float64) ** 2) / max(np.sum((reference - estimate) ** 2.0), 1e-30))
        assert error <= 1e-4 or parity >= 60, (length, error, parity)
