"""Binaural models: registry, default sizes, shape contract, causality, ear alignment."""

import itertools
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from voxsep import models
from voxsep.models.binaural import align_ears, causal_ear_similarity, ear_similarity

NAMES = ("binaural_independent", "binaural_cross", "binaural_parallel")
TCN_TINY = dict(n_filters=16, kernel_size=8, bottleneck=8, hidden=16, n_blocks=3, n_repeats=1)
TINY = {
    "binaural_independent": TCN_TINY,
    "binaural_cross": dict(TCN_TINY, feature_window=32, feature_channels=8),
    "binaural_parallel": dict(TCN_TINY, feature_window=32, feature_channels=8),
}
SPEECH = [Path("/usr/share/asterisk/sounds/en/agent-alreadyon.wav"), Path("/usr/share/asterisk/sounds/fr_CA_f_June/agent-alreadyon.wav")]


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "name, expected", [("binaural_independent", 577_921), ("binaural_cross", 606_977), ("binaural_parallel", 638_209)]
)
def test_default_configuration_and_parameter_count(name, expected):
    model = models.build(name, n_src=2)
    assert n_params(model) == expected
    assert model.in_channels == 2 and model.sample_rate == 8000
    assert model.config["n_filters"] == 64 and model.config["kernel_size"] == 16
    rebuilt = models.build(name, **model.config)
    assert n_params(rebuilt) == expected


@pytest.mark.parametrize("name", NAMES)
def test_wrong_shapes_raise_clear_errors(name):
    model = models.build(name, **TINY[name])
    with pytest.raises(ValueError, match=r"\(batch, 2, time\)"):
        model(torch.randn(3, 100))
    with pytest.raises(ValueError, match=r"\(batch, 2, time\)"):
        model(torch.randn(1, 1, 100))


def _first_changed_sample(model, length, t, right_ear_any_order=False):
    """First output sample that changes when the input changes from sample ``t`` on.

    The per-ear models choose one right-ear talker order for the whole input, so for
    them every right-ear order is tried and the latest first change is kept.
    """
    torch.manual_seed(0)
    x = torch.randn(1, 2, length)
    y = x.clone()
    y[..., t:] = torch.randn(1, 2, length - t)
    with torch.no_grad():
        a, b = model(x), model(y)
    n_src = a.shape[1]
    perms = list(itertools.permutations(range(n_src))) if right_ear_any_order else [tuple(range(n_src))]
    firsts = []
    for perm in perms:
        b_perm = torch.stack([b[:, :, 0], b[:, list(perm), 1]], dim=2)
        changed = torch.nonzero((a - b_perm).abs().amax(dim=(0, 1, 2)) > 1e-5)
        firsts.append(int(changed[0]) if len(changed) else length)
    return max(firsts)


@pytest.mark.parametrize("name", NAMES)
def test_causal_models_never_look_ahead_more_than_one_window(name):
    config = TINY[name]
    model = models.build(name, causal=True, **config).eval()
    # every norm of a causal model is cumulative (cLN), none global
    norms = {type(m).__name__ for m in model.modules() if "LayerNorm" in type(m).__name__}
    assert norms == {"CumulativeLayerNorm"}, norms
    # end to end, the per-ear variants' ear alignment included: exact talker order, no
    # relaxation (the causal alignment decides per sample from the past only)
    for t in (300, 1500, 2900):
        assert _first_changed_sample(model, 3000, t) >= t - config["kernel_size"], t
    non_causal = models.build(name, causal=False, **config).eval()
    per_ear = name != "binaural_parallel"
    assert _first_changed_sample(non_causal, 3000, 1500, right_ear_any_order=per_ear) < 1500 - 200


@pytest.fixture(scope="module")
def two_talkers():
    signals = []
    for path in SPEECH:
        if not path.exists():
            pytest.skip(f"{path} missing: install asterisk-core-sounds-en-wav / -fr-wav")
        audio, _ = sf.read(path, dtype="float32")
        signals.append(audio[:12000])
    return signals


def ear_images(two_talkers):
    """Talker a on the left (right ear 5 samples later, quieter), b on the right: the two
    images, both as estimates ``(1, 2, 2, T)`` in talker order, and with the right ears swapped."""
    a, b = (torch.from_numpy(s) for s in two_talkers)
    image_a = torch.stack([a, 0.5 * torch.roll(a, 5)])
    image_b = torch.stack([0.6 * torch.roll(b, 4), b])
    aligned = torch.stack([image_a, image_b])[None]
    swapped = aligned.clone()
    swapped[:, :, 1] = aligned[:, [1, 0], 1]
    return image_a, image_b, aligned, swapped


def test_align_ears_restores_talker_order(two_talkers):
    a = torch.from_numpy(two_talkers[0])
    image_a, image_b, aligned, swapped = ear_images(two_talkers)
    for estimates in (aligned, swapped):
        torch.testing.assert_close(align_ears(estimates, max_lag=8), aligned)
    three = torch.stack([image_a, image_b, torch.stack([a.flip(0), a.flip(0)])])[None]
    shuffled = three.clone()
    shuffled[:, :, 1] = three[:, [2, 0, 1], 1]
    torch.testing.assert_close(align_ears(shuffled, max_lag=8), three)


def test_causal_ear_alignment_reads_only_the_past_and_settles_on_the_whole_input_order(two_talkers):
    _, _, aligned, swapped = ear_images(two_talkers)
    # the running similarity at the last sample is the whole-input one, up to the
    # max_lag delay (a few samples of a 12000-sample input)
    running = causal_ear_similarity(swapped[:, :, 0], swapped[:, :, 1], max_lag=8)
    assert running.shape == (1, 12000, 2, 2)
    torch.testing.assert_close(running[:, -1], ear_similarity(swapped[:, :, 0], swapped[:, :, 1], 8), atol=2e-3, rtol=0)
    out = align_ears(swapped, max_lag=8, causal=True)
    # after the first 50 ms (400 samples) the order is the right one at every sample
    torch.testing.assert_close(out[..., 400:], aligned[..., 400:])
    # changing the input after t changes no output before t, even when the future is
    # strong enough to flip the whole-input choice (right-ear talkers swapped, louder)
    t = 3000
    changed = swapped.clone()
    changed[:, :, 1, t:] = 3 * swapped[:, [1, 0], 1, t:]
    changed[:, :, 0, t:] *= 3
    flipped = align_ears(changed, max_lag=8)  # non-causal: one order for the whole input
    assert not torch.allclose(flipped[..., :t], align_ears(swapped, max_lag=8)[..., :t])
    torch.testing.assert_close(align_ears(changed, max_lag=8, causal=True)[..., :t], out[..., :t])
