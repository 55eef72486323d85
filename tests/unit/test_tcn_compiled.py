"""The compiled TCN stream step (voxsep.nn.tcn_compiled): chosen at run time, equal to the PyTorch step."""

import numpy as np
import pytest
import torch

from voxsep import models
from voxsep.nn import tcn_compiled
from voxsep.nn.tcn_compiled import CompiledStream, compiled_stream_available
from voxsep.nn.tcn_kernel import TCNKernel

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(n_filters=16, kernel_size=8, bottleneck=8, hidden=16, skip=8, n_blocks=3, n_repeats=2)


def causal_masker(seed: int = 0, **overrides):
    torch.manual_seed(seed)
    model = models.build("conv_tasnet", n_src=2, causal=True, **{**TINY, **overrides}).eval()
    with torch.no_grad():
        for module in model.masker.modules():
            if isinstance(module, torch.nn.PReLU):
                module.weight.uniform_(0.05, 0.4)
            elif hasattr(module, "eps") and hasattr(module, "weight"):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.3)
    return model.masker


def snr(reference: np.ndarray, estimate: np.ndarray) -> float:
    reference, estimate = np.asarray(reference, np.float64), np.asarray(estimate, np.float64)
    return float(10 * np.log10((reference**2).sum() / ((reference - estimate) ** 2).sum()))


def test_available_here():
    # Numba is a dependency: on a machine where it cannot compile, streaming silently
    # falls back to the slower PyTorch step, which this test makes visible
    assert compiled_stream_available()


@pytest.mark.parametrize("overrides", [{}, {"skip": 0}, {"conv_kernel": 5}, {"n_blocks": 5, "hidden": 24}])
@pytest.mark.parametrize("sizes", [[1] * 25, [10] * 8, [3, 33, 1, 17, 2]])
def test_equals_the_pytorch_stream_in_any_split(overrides, sizes):
    kernel = causal_masker(**overrides).kernel()
    assert kernel.compiled is not None
    frames = torch.rand(sum(sizes), 16)
    reference = kernel.stream(frames, kernel.initial_state(compiled=False))
    state, pieces, start = kernel.initial_state(), [], 0
    for size in sizes:
        pieces.append(kernel.stream(frames[start : start + size], state))
        start += size
    assert state.frames == state.compiled.frames == sum(sizes)
    assert snr(reference, torch.cat(pieces)) >= 100


def test_per_channel_slopes_and_a_tcn_without_input_or_output():
    m = causal_masker()
    with torch.no_grad():
        m.tcn.blocks[1].dw_act = torch.nn.PReLU(16)
        m.tcn.blocks[1].dw_act.weight.uniform_(0.0, 0.5)
    kernel = TCNKernel(m.tcn)  # the TCN alone: skip sum out
    frames = torch.rand(30, 8)
    reference = kernel.stream(frames, kernel.initial_state(compiled=False))
    state = kernel.initial_state()
    assert state.compiled is not None
    out = torch.cat([kernel.stream(frames[:7], state), kernel.stream(frames[7:], state)])
    assert snr(reference, out) >= 100


def test_long_streams_keep_their_statistics():
    # 20 000 frames (20 s of 8 kHz audio) in 10-frame blocks: the running sums stay exact
    kernel = causal_masker().kernel()
    frames = torch.rand(20_000, 16)
    reference = kernel.stream(frames, kernel.initial_state(compiled=False))
    state = kernel.initial_state()
    out = torch.cat([kernel.stream(frames[i : i + 10], state) for i in range(0, 20_000, 10)])
    assert snr(reference[-1000:], out[-1000:]) >= 80


def test_switched_off_by_the_environment(monkeypatch):
    monkeypatch.setenv("VOXSEP_COMPILED_TCN", "0")
    kernel = causal_masker().kernel()
    assert kernel.compiled is None and kernel.initial_state().compiled is None


def test_not_for_whole_sequences_bf16_or_global_norms():
    kernel = causal_masker().kernel()
    frames = torch.rand(50, 16)
    assert kernel.sequence(frames).shape == (50, 32)  # runs the PyTorch form (library products)
    assert causal_masker().kernel(torch.bfloat16).compiled is None
    torch.manual_seed(0)
    offline = models.build("conv_tasnet", n_src=2, causal=False, **TINY).masker
    assert offline.kernel().compiled is None
    with pytest.raises(ValueError, match="causal kernels with fp32"):
        CompiledStream(offline.kernel())


def test_a_failing_check_falls_back_to_pytorch(monkeypatch, caplog):
    # inject a compiled step that disagrees with the PyTorch one: the check must refuse it
    compiled_stream_available.cache_clear()
    real_run = CompiledStream.run

    def wrong(self, x, state):
        return real_run(self, x, state) * 1.01

    monkeypatch.setattr(CompiledStream, "run", wrong)
    try:
        assert not compiled_stream_available()
        assert "disagrees" in caplog.text
        assert causal_masker().kernel().compiled is None
    finally:
        compiled_stream_available.cache_clear()


def test_a_missing_numba_falls_back_to_pytorch(monkeypatch, caplog):
    compiled_stream_available.cache_clear()
    tcn_compiled._compiled.cache_clear()

    def no_numba():
        raise ImportError("No module named 'numba'")

    monkeypatch.setattr(tcn_compiled, "_compiled", no_numba)
    try:
        assert not compiled_stream_available()
        assert "unavailable" in caplog.text and "numba" in caplog.text
        kernel = causal_masker().kernel()
        assert kernel.compiled is None
        assert kernel.stream(torch.rand(5, 16), kernel.initial_state()).shape == (5, 32)
    finally:
        compiled_stream_available.cache_clear()
