"""Tests for voxsep.losses: pairwise SI-SNR/SNR, soft cap, PIT, silence, autocast."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from voxsep.losses import (
    PITLoss,
    pairwise_neg_si_snr,
    pairwise_neg_snr,
    pit_from_pairwise,
    reorder,
)

SOUNDS = Path("/usr/share/asterisk/sounds")
# Five different professional voices (en and es are one speaker; "it" is Carlo, male).
VOICES = ["en", "fr_CA_f_June", "it", "ru", "it_IT_f_Menardi"]
PROMPTS = ["demo-congrats", "demo-echotest", "vm-options"]


def _speech(n_src: int, n_time: int, prompt: str = "demo-congrats", offset: int = 4000) -> torch.Tensor:
    """``(n_src, n_time)`` float32 real speech, one voice per source."""
    out = []
    for voice in VOICES[:n_src]:
        path = SOUNDS / voice / f"{prompt}.wav"
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing; install the asterisk sound packages (make test does)")
        audio, rate = sf.read(path, dtype="float32", frames=offset + n_time)
        assert rate == 8000
        out.append(audio[offset:offset + n_time])
    return torch.from_numpy(np.stack(out))


@pytest.fixture(scope="module")
def speech5() -> torch.Tensor:
    """``(3, 5, 8000)``: three examples (prompts) of five voices, 1 s each at 8 kHz."""
    return torch.stack([_speech(5, 8000, prompt) for prompt in PROMPTS])


@pytest.mark.parametrize("n_src", [2, 3, 5])
@pytest.mark.parametrize("kind", ["si_snr", "snr"])
def test_pit_recovers_planted_permutation(speech5, n_src, kind):
    sources = speech5[:, :n_src]
    generator = torch.Generator().manual_seed(n_src)
    planted = torch.stack([torch.randperm(n_src, generator=generator) for _ in range(sources.shape[0])])
    # estimates[b, i] = sources[b, planted[b, i]] + a bit of the other talkers and noise
    shuffled = reorder(sources, planted)
    leak = 0.15 * (shuffled.sum(1, keepdim=True) - shuffled)
    noise = 0.01 * torch.randn(sources.shape, generator=generator)
    estimates = 0.8 * shuffled + leak + noise
    loss, perm = PITLoss(kind)(estimates, sources)
    # perm[b, j] is the estimate holding source j: the inverse of the planted permutation
    expected = torch.argsort(planted, dim=1)
    assert torch.equal(perm, expected)
    assert torch.allclose(reorder(estimates, perm), 0.8 * sources + reorder(leak + noise, perm))
    assert loss.dim() == 0 and loss.item() < -5.0  # well separated: SI-SNR / SNR above 5 dB


def test_hungarian_matches_brute_force_for_5_sources():
    generator = torch.Generator().manual_seed(0)
    pairwise = torch.randn(20, 5, 5, generator=generator, dtype=torch.float64)
    loss, perm = pit_from_pairwise(pairwise)
    cols = torch.arange(5)
    for b in range(pairwise.shape[0]):
        best = min(pairwise[b, list(p), cols].mean().item() for p in itertools.permutations(range(5)))
        assert loss[b].item() == pytest.approx(best, abs=1e-12)
        assert pairwise[b, perm[b], cols].mean().item() == pytest.approx(best, abs=1e-12)
        assert sorted(perm[b].tolist()) == list(range(5))


def test_exhaustive_pit_is_optimal_and_differentiable():
    generator = torch.Generator().manual_seed(1)
    pairwise = torch.randn(8, 3, 3, generator=generator, requires_grad=True)
    loss, perm = pit_from_pairwise(pairwise)
    cols = torch.arange(3)
    for b in range(8):
        best = min(pairwise[b, list(p), cols].mean().item() for p in itertools.permutations(range(3)))
        assert loss[b].item() == pytest.approx(best, abs=1e-6)
    loss.sum().backward()
    # the gradient is 1/n_src exactly on the chosen (estimate, source) pairs
    expected = torch.zeros(8, 3, 3)
    expected[torch.arange(8)[:, None], perm, cols] = 1 / 3
    assert torch.allclose(pairwise.grad, expected)


def test_hungarian_pit_is_differentiable():
    pairwise = torch.randn(2, 4, 4, requires_grad=True)
    loss, _ = pit_from_pairwise(pairwise)
    loss.sum().backward()
    assert torch.allclose(pairwise.grad.sum((1, 2)), torch.ones(2))


def test_scaled_copy_has_very_high_si_snr():
    source = _speech(2, 8000)[None]
    for scale in (3.0, 0.1, -0.5):  # eps=1e-8 caps SI-SNR at 10 log10(|est|^2 / eps)
        m = pairwise_neg_si_snr(scale * source, source)
        assert m[0, 0, 0].item() < -60.0 and m[0, 1, 1].item() < -60.0
        assert m[0, 0, 1].item() > 10.0  # a different talker is far from it


def test_snr_of_known_noise_level_is_exact():
    source = _speech(2, 8000).double()[None]
    generator = torch.Generator().manual_seed(3)
    noise = torch.randn(source.shape, generator=generator, dtype=torch.float64)
    for target_db in (-5.0, 0.0, 12.5, 40.0):
        scale = torch.sqrt(source.pow(2).sum(-1, keepdim=True) / noise.pow(2).sum(-1, keepdim=True)
                           * 10 ** (-target_db / 10))
        m = pairwise_neg_snr(source + scale * noise, source)
        assert torch.allclose(-torch.diagonal(m, dim1=1, dim2=2), torch.full((1, 2), target_db, dtype=torch.float64),
                              atol=1e-7)


def test_si_snr_of_orthogonal_noise_is_exact():
    source = _speech(1, 8000).double()[None]
    source = source - source.mean(-1, keepdim=True)
    generator = torch.Generator().manual_seed(4)
    noise = torch.randn(source.shape, generator=generator, dtype=torch.float64)
    noise = noise - noise.mean(-1, keepdim=True)
    noise = noise - (noise * source).sum(-1, keepdim=True) / source.pow(2).sum(-1, keepdim=True) * source
    noise = noise * torch.sqrt(source.pow(2).sum() / noise.pow(2).sum() * 10 ** (-7.0 / 10))
    # Scale and offset do not matter to SI-SNR: mean removal and projection undo them.
    estimate = 2.5 * (source + noise) + 0.3
    assert pairwise_neg_si_snr(estimate, source).item() == pytest.approx(-7.0, abs=1e-7)


def test_soft_cap_formula_and_saturation():
    source = _speech(2, 4000).double()[None]
    noise = 0.05 * torch.randn(source.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    estimate = source + noise
    snr_max = 30.0
    tau = 10 ** (-snr_max / 10)
    s_energy = source.pow(2).sum(-1)
    n_energy = noise.pow(2).sum(-1)
    expected = -10 * torch.log10(s_energy / (n_energy + tau * s_energy))
    capped = torch.diagonal(pairwise_neg_snr(estimate, source, snr_max=snr_max), dim1=1, dim2=2)
    assert torch.allclose(capped, expected, atol=1e-9)
    # A perfect estimate saturates at -snr_max instead of running off to -inf.
    for fn in (pairwise_neg_snr, pairwise_neg_si_snr):
        perfect = torch.diagonal(fn(source, source, snr_max=snr_max), dim1=1, dim2=2)
        assert torch.allclose(perfect, torch.full_like(perfect, -snr_max), atol=1e-6)
        uncapped = torch.diagonal(fn(source, source), dim1=1, dim2=2)
        assert (uncapped < -80).all()  # only the eps guard bounds it


@pytest.mark.parametrize("kind", ["si_snr", "snr"])
@pytest.mark.parametrize("snr_max", [None, 30.0])
@pytest.mark.parametrize("case", ["both_silent", "silent_source", "silent_estimate"])
def test_silence_gives_finite_values_and_gradients(kind, snr_max, case):
    speech = _speech(2, 800)[None]
    estimates = torch.zeros(1, 2, 800) if case in ("both_silent", "silent_estimate") else speech.clone()
    sources = torch.zeros(1, 2, 800) if case in ("both_silent", "silent_source") else speech.clone()
    estimates.requires_grad_(True)
    loss, perm = PITLoss(kind, snr_max=snr_max)(estimates, sources)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(estimates.grad).all()
    assert sorted(perm[0].tolist()) == [0, 1]
    if case == "silent_source":
        # Any output energy against a silent source is heavily penalised.
        assert loss.item() > 50.0


def test_trailing_dims_are_scored_with_time():
    generator = torch.Generator().manual_seed(6)
    estimates = torch.randn(2, 3, 2, 500, generator=generator)  # (batch, n_src, ears, time)
    sources = torch.randn(2, 3, 2, 500, generator=generator)
    for fn in (pairwise_neg_si_snr, pairwise_neg_snr):
        binaural = fn(estimates, sources)
        flat = fn(estimates.reshape(2, 3, 1000), sources.reshape(2, 3, 1000))
        assert binaural.shape == (2, 3, 3)
        assert torch.allclose(binaural, flat)
    loss, perm = PITLoss()(estimates, sources)
    assert perm.shape == (2, 3) and reorder(estimates, perm).shape == estimates.shape


def test_pairwise_matrix_orientation():
    source = _speech(3, 4000)[None]
    estimates = torch.stack([source[0, 2], source[0, 0], 0.5 * source[0, 1]])[None]
    m = pairwise_neg_si_snr(estimates, source)
    # m[b, i, j] = loss(estimate i, source j): the small entries sit where estimate i is source j
    assert m.shape == (1, 3, 3)
    assert m[0].argmin(1).tolist() == [2, 0, 1]


def test_bf16_autocast_computes_in_float32():
    sources = _speech(2, 4000)[None].repeat(2, 1, 1)
    estimates = (0.9 * sources.flip(1) + 0.05 * sources).requires_grad_(True)
    reference_loss, reference_perm = PITLoss()(estimates.detach().bfloat16().float(), sources.bfloat16().float())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, perm = PITLoss()(estimates.bfloat16(), sources.bfloat16())
    assert loss.dtype == torch.float32
    assert torch.equal(perm, reference_perm)
    assert loss.item() == pytest.approx(reference_loss.item(), abs=1e-4)
    loss.backward()
    assert torch.isfinite(estimates.grad).all()


def test_loss_falls_under_gradient_descent():
    sources = _speech(2, 2000)[None]
    estimates = (0.5 * sources.sum(1, keepdim=True).repeat(1, 2, 1)
                 + 0.1 * torch.randn(1, 2, 2000, generator=torch.Generator().manual_seed(7)))
    estimates.requires_grad_(True)
    optimiser = torch.optim.Adam([estimates], lr=1e-2)
    loss_fn = PITLoss("si_snr", snr_max=40)
    first = None
    for _ in range(30):
        optimiser.zero_grad()
        loss, _ = loss_fn(estimates, sources)
        first = loss.item() if first is None else first
        loss.backward()
        optimiser.step()
    assert loss.item() < first - 3.0


def test_bad_inputs_raise_clear_errors():
    x = torch.zeros(2, 2, 100)
    with pytest.raises(ValueError, match="same shape"):
        pairwise_neg_si_snr(x, torch.zeros(2, 2, 99))
    with pytest.raises(ValueError, match=r"\(batch, n_src"):
        pairwise_neg_snr(torch.zeros(2, 100), torch.zeros(2, 100))
    with pytest.raises(ValueError, match="valid kinds"):
        PITLoss("sdr")
    with pytest.raises(ValueError, match="snr_max"):
        PITLoss("snr", snr_max=math.inf)
    with pytest.raises(ValueError, match="NaN"):
        pit_from_pairwise(torch.full((1, 2, 2), math.nan))
    with pytest.raises(ValueError, match="NaN"):
        pit_from_pairwise(torch.full((1, 4, 4), math.nan))
    with pytest.raises(ValueError, match="perm"):
        reorder(x, torch.zeros(2, 3, dtype=torch.long))


# --------------------------------------------------------------------------- variable talker counts


def test_silent_target_scores_the_output_energy_relative_to_the_mixture():
    from voxsep.losses import pairwise_neg_snr_var

    speech = _speech(2, 8000)
    sources = torch.stack([speech[0], torch.zeros(8000)])[None]  # one talker, one silent target
    mixture = sources.sum(1)
    for scale_invariant in (True, False):
        quiet = torch.stack([speech[0], torch.zeros(8000)])[None]
        loud = torch.stack([speech[0], speech[1]])[None]
        m_quiet = pairwise_neg_snr_var(quiet, sources, 30.0, scale_invariant=scale_invariant)
        m_loud = pairwise_neg_snr_var(loud, sources, 30.0, scale_invariant=scale_invariant)
        # silent output on the silent target: the floor, -snr_max
        assert float(m_quiet[0, 1, 1]) == pytest.approx(-30.0, abs=1e-3)
        # an output as loud as a talker on the silent target: about 10 log10(|s2|^2/|x|^2)
        expected = 10 * math.log10(float(speech[1].pow(2).sum() / mixture.pow(2).sum()) + 1e-3)
        assert float(m_loud[0, 1, 1]) == pytest.approx(expected, abs=1e-3)
        assert float(m_loud[0, 1, 1]) > -15
        # the active target is the capped (SI-)SNR
        reference = (pairwise_neg_si_snr if scale_invariant else pairwise_neg_snr)(loud, sources, snr_max=30.0)
        torch.testing.assert_close(m_loud[..., 0], reference[..., 0])
    # an explicit mixture (e.g. with noise) raises the reference energy
    noisy = mixture * 2
    m = pairwise_neg_snr_var(loud, sources, 30.0, mixture=noisy)
    assert float(m[0, 1, 1]) == pytest.approx(expected - 10 * math.log10(4), abs=0.05)


def test_variable_count_loss_pit_has_no_nan_and_prefers_the_silent_output():
    loss_fn = PITLoss("si_snr_var", snr_max=30.0)
    speech = _speech(2, 8000)
    sources = torch.stack([speech[0], torch.zeros(8000)])[None]
    right = torch.stack([torch.zeros(8000), speech[0]])[None]  # silent output first: PIT swaps
    loss, perm = loss_fn(right, sources)
    assert perm.tolist() == [[1, 0]]
    assert float(loss) == pytest.approx(-30.0, abs=1e-3)
    wrong = torch.stack([speech[1], speech[0]])[None].requires_grad_()
    bad, _ = loss_fn(wrong, sources)
    assert float(bad) > float(loss) + 10
    bad.backward()
    assert torch.isfinite(wrong.grad).all()
    # every target silent, every output silent: finite values and gradients
    zeros = torch.zeros(2, 3, 100, requires_grad=True)
    value, _ = PITLoss("snr_var", snr_max=30.0)(zeros, torch.zeros(2, 3, 100))
    value.backward()
    assert math.isfinite(float(value)) and torch.isfinite(zeros.grad).all()


def test_variable_count_loss_equals_the_capped_loss_without_silent_targets():
    torch.manual_seed(0)
    sources, estimates = torch.randn(3, 2, 400), torch.randn(3, 2, 400)
    for kind in ("si_snr", "snr"):
        plain, perm = PITLoss(kind, snr_max=25.0)(estimates, sources)
        variable, perm_var = PITLoss(f"{kind}_var", snr_max=25.0)(estimates, sources)
        assert float(plain) == float(variable) and torch.equal(perm, perm_var)
    with pytest.raises(ValueError, match="needs snr_max"):
        PITLoss("si_snr_var")


def test_batch_metrics_take_reference_estimate_mixture_like_voxsep_metrics():
    from voxsep.metrics import si_snr_improvement, snr_improvement
    from voxsep.metrics.batch import batch_si_snri, batch_snri

    speech = _speech(3, 8000)
    reference = torch.stack([speech[0], speech[1]])[None]
    mixture = reference.sum(1)
    estimate = torch.stack([0.7 * speech[1] + 0.2 * speech[0], speech[0] + 0.4 * speech[2]])[None]
    for batch, per_utterance in ((batch_si_snri, si_snr_improvement), (batch_snri, snr_improvement)):
        got = float(batch(reference, estimate, mixture)[0])
        expected = float(per_utterance(reference[0].double(), estimate[0].double(), mixture[0].double()).mean())
        assert got == pytest.approx(expected, abs=1e-2)
        # the order matters: the other order scores a different thing
        assert float(batch(estimate, reference, mixture)[0]) != pytest.approx(expected, abs=1e-2)


def test_batch_metrics_skip_silent_targets():
    from voxsep.metrics.batch import batch_si_snri

    def si_snr(ref, est, tau=1e-3):  # soft-capped at 30 dB in a batch with silent targets
        ref, est = ref - ref.mean(), est - est.mean()
        target = (est @ ref) / (ref @ ref) * ref
        return float(10 * torch.log10(target.pow(2).sum() / ((est - target).pow(2).sum() + tau * target.pow(2).sum())))

    speech = _speech(3, 8000)
    sources = torch.stack([torch.stack([speech[0], speech[1]]), torch.stack([speech[2], torch.zeros(8000)])])
    mixture = torch.stack([speech[0] + speech[1], speech[2] + 0.5 * speech[0]])  # example 2: talker + noise
    estimates = torch.stack([torch.stack([speech[1] + 0.1 * speech[0], speech[0] + 0.1 * speech[1]]),
                             torch.stack([0.3 * speech[0], speech[2] + 0.05 * speech[0]])])
    got = batch_si_snri(sources, estimates, mixture)
    assert torch.isfinite(got).all()
    # example 2: only the active talker counts, matched to output 2 although output 1 is louder
    expected = si_snr(speech[2], estimates[1, 1]) - si_snr(speech[2], mixture[1])
    assert float(got[1]) == pytest.approx(expected, abs=1e-3)
    # example 1 (no silent target): alone, the fixed-count path (uncapped); in the batch, capped
    alone = batch_si_snri(sources[:1], estimates[:1], mixture[:1])
    uncapped = ((si_snr(speech[0], estimates[0, 1], 0) + si_snr(speech[1], estimates[0, 0], 0)) / 2
                - (si_snr(speech[0], mixture[0], 0) + si_snr(speech[1], mixture[0], 0)) / 2)
    capped = ((si_snr(speech[0], estimates[0, 1]) + si_snr(speech[1], estimates[0, 0])) / 2
              - (si_snr(speech[0], mixture[0]) + si_snr(speech[1], mixture[0])) / 2)
    assert float(alone[0]) == pytest.approx(uncapped, abs=1e-3)
    assert float(got[0]) == pytest.approx(capped, abs=1e-3)
    # a clean one-talker example estimated perfectly: 0 dB, not the eps guard's -80
    solo = torch.stack([speech[2], torch.zeros(8000)])[None]
    assert float(batch_si_snri(solo, solo.flip(1), solo.sum(1))[0]) == pytest.approx(0.0, abs=1e-3)
