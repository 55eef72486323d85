"""The compiled training path (``voxsep.train.compiled``): same numbers as eager, no RNG
consumed, a compiler failure falls back to eager with one warning, and the shifted
depthwise convolution used while compiling equals the grouped convolution."""

from __future__ import annotations

import logging
import os

import pytest
import torch
import torch.nn.functional as F

from voxsep import models
from voxsep.nn.tcn import shifted_depthwise_conv1d
from voxsep.train import train
from voxsep.train.compiled import compile_for_training, training_input_shape

from test_trainer import TINY, make_config, sets  # noqa: F401 - the fixture is reused


@pytest.mark.parametrize("dilation", [1, 4, 32])
@pytest.mark.parametrize("taps", [2, 3, 5])
def test_shifted_depthwise_equals_grouped_convolution(dilation, taps):
    generator = torch.Generator().manual_seed(dilation * 10 + taps)
    x = torch.randn(2, 6, 200, generator=generator)
    weight = torch.randn(6, 1, taps, generator=generator)
    bias = torch.randn(6, generator=generator)
    expected = F.conv1d(x, weight, bias, dilation=dilation, groups=6)
    assert torch.allclose(shifted_depthwise_conv1d(x, weight, bias, dilation), expected, atol=1e-5)
    assert torch.allclose(shifted_depthwise_conv1d(x, weight, None, dilation), expected - bias[:, None], atol=1e-5)


def test_training_input_shape():
    assert training_input_shape(4, 16000, 1) == (4, 16000)
    assert training_input_shape(4, 16000, 2) == (4, 2, 16000)


def _model_and_batch():
    torch.manual_seed(0)
    model = models.build("conv_tasnet", n_src=2, **TINY)
    mixture = torch.randn(2, 4000)
    return model, mixture


def test_compiled_model_matches_eager_forward_and_gradients():
    model, mixture = _model_and_batch()
    before = torch.get_rng_state()
    compiled, seconds = compile_for_training(model, tuple(mixture.shape), torch.device("cpu"), None,
                                             logging.getLogger("test"))
    assert seconds is not None and compiled is not model
    assert torch.equal(torch.get_rng_state(), before), "the compile probe must not consume random numbers"
    assert all(p.grad is None for p in model.parameters()), "the probe's gradients must be discarded"

    eager_out = model(mixture)
    eager_out.pow(2).mean().backward()
    # (the last block's residual conv feeds nothing: its gradient stays None in both)
    eager_grads = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    compiled_out = compiled(mixture)
    compiled_out.pow(2).mean().backward()
    assert torch.allclose(compiled_out, eager_out, rtol=1e-4, atol=1e-5)
    assert sum(g is not None for g in eager_grads) > len(eager_grads) // 2
    for eager_grad, parameter in zip(eager_grads, model.parameters()):
        if eager_grad is None:
            assert parameter.grad is None or not parameter.grad.any()
        else:
            assert torch.allclose(parameter.grad, eager_grad, rtol=1e-3, atol=1e-6)


def test_the_compile_is_announced_before_it_starts(monkeypatch, caplog):
    """The first compile takes a minute or two on a CPU: one line says so, and how to skip it,
    before torch.compile is called (not only after it)."""
    model, mixture = _model_and_batch()
    said_before = []

    def watched_compile(module, **kwargs):
        said_before.extend(r.getMessage() for r in caplog.records)
        raise RuntimeError("stop here")

    monkeypatch.setattr(torch, "compile", watched_compile)
    with caplog.at_level(logging.INFO):
        compile_for_training(model, tuple(mixture.shape), torch.device("cpu"), None, logging.getLogger("test"))
    assert len(said_before) == 1
    assert said_before[0].startswith("compiling the training step (first step takes ~")
    assert "train.compile=false skips it" in said_before[0]


@pytest.mark.parametrize("env, configured, expected", [
    ("1", 0, 1),        # OMP_NUM_THREADS honoured when train.num_threads is not set
    ("1", 2, 2),        # train.num_threads wins
    (None, 0, None),    # neither: the CPUs available
    ("auto", 0, None),  # not a number: ignored
])
def test_training_threads_honour_omp_num_threads(monkeypatch, env, configured, expected):
    from voxsep.train.trainer import configure_threads

    if env is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", env)
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    previous = torch.get_num_threads()
    try:
        threads = configure_threads(configured, 1)
        assert threads == (available if expected is None else expected) == torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)


def test_compile_failure_falls_back_to_eager_with_one_warning(monkeypatch, caplog):
    model, mixture = _model_and_batch()

    def broken_compile(module, **kwargs):
        def run(*args):
            raise RuntimeError("inductor: no C++ compiler found\nsecond line")
        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    with caplog.at_level(logging.WARNING):
        result, seconds = compile_for_training(model, tuple(mixture.shape), torch.device("cpu"), None,
                                               logging.getLogger("test"))
    assert result is model and seconds is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "no C++ compiler found" in warnings[0] and "train.compile=false" in warnings[0]


def test_training_run_survives_a_broken_compiler(tmp_path, sets, monkeypatch):  # noqa: F811
    def broken_compile(module, **kwargs):
        raise RuntimeError("simulated compiler crash")

    monkeypatch.setattr(torch, "compile", broken_compile)
    result = train(make_config(epochs=1), tmp_path, train_set=sets[0], valid_set=sets[1])
    assert result.status == "finished" and result.step == 8
    log = (tmp_path / "train.log").read_text()
    assert log.count("torch.compile failed") == 1 and "simulated compiler crash" in log


def test_compiled_and_eager_runs_train_to_the_same_weights(tmp_path, sets):  # noqa: F811
    compiled = train(make_config(epochs=1), tmp_path / "compiled", train_set=sets[0], valid_set=sets[1])
    eager = train(make_config(epochs=1, compile=False), tmp_path / "eager", train_set=sets[0], valid_set=sets[1])
    assert "compiled the model for training" in (tmp_path / "compiled" / "train.log").read_text()
    assert "compiled the model" not in (tmp_path / "eager" / "train.log").read_text()
    assert compiled.history[0]["si_snri"] == pytest.approx(eager.history[0]["si_snri"], abs=0.05)


def test_log_reports_data_loader_wait(tmp_path, sets):  # noqa: F811
    config = make_config(epochs=1, compile=False)
    config.log.log_every = 4
    train(config, tmp_path, train_set=sets[0], valid_set=sets[1])
    assert "data_wait_s" in (tmp_path / "train.log").read_text()
