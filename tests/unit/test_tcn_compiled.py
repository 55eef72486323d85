"""The compiled TCN stream step (voxsep.nn.tcn_compiled): chosen at run time, equal to the PyTorch step."""

import numpy as np
import pytest
import torch

from voxsep import models
from voxsep.nn import tcn_compiled
from voxsep.nn.tcn_compiled import CompiledStream
from voxsep.nn.tcn_kernel import TCNKernel, compiled_stream_available, packed_bf16_linear_available

pytestmark = pytest.mark.usefixtures("one_thread")

from tcn_maskers import TINY, masker  # noqa: E402  (tests/unit is on the test path)


def causal_masker(**overrides):
    return masker(True, **overrides)


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
    assert kernel.compiled_stream is not None
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
    assert kernel.compiled_stream is None and kernel.initial_state().compiled is None


def test_not_for_whole_sequences_bf16_or_global_norms():
    kernel = causal_masker().kernel()
    frames = torch.rand(50, 16)
    assert kernel.sequence(frames).shape == (50, 32)  # runs the PyTorch form (library products)
    assert causal_masker().kernel(torch.bfloat16).compiled_stream is None
    torch.manual_seed(0)
    offline = models.build("conv_tasnet", n_src=2, causal=False, **TINY).masker
    assert offline.kernel().compiled_stream is None
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
        assert causal_masker().kernel().compiled_stream is None
    finally:
        compiled_stream_available.cache_clear()


def test_a_missing_numba_falls_back_to_pytorch(monkeypatch, caplog):
    compiled_stream_available.cache_clear()

    def no_numba():
        raise ImportError("No module named 'numba'")

    monkeypatch.setattr(tcn_compiled, "_loops", no_numba)
    try:
        assert not compiled_stream_available()
        assert "unavailable" in caplog.text and "numba" in caplog.text
        kernel = causal_masker().kernel()
        assert kernel.compiled_stream is None
        assert kernel.stream(torch.rand(5, 16), kernel.initial_state()).shape == (5, 32)
    finally:
        compiled_stream_available.cache_clear()


# ---- whole sequences with global norms and bf16 products (CompiledSequence) -------------

needs_packed_bf16 = pytest.mark.skipif(
    not packed_bf16_linear_available(),
    reason="this PyTorch build has no oneDNN packed bf16 linear (the compiled sequence needs it)",
)


def offline_masker(**overrides):
    return masker(False, **{"bottleneck": 32, "hidden": 64, "skip": 32, **overrides})


@needs_packed_bf16
@pytest.mark.parametrize("overrides", [{}, {"skip": 0}, {"conv_kernel": 5}])
def test_sequence_is_as_close_to_fp32_as_the_pytorch_bf16_path(overrides):
    m = offline_masker(**overrides)
    frames = torch.rand(700, 16)
    fp32 = m.kernel().sequence(frames)
    compiled_kernel = m.kernel(torch.bfloat16)
    assert compiled_kernel.compiled_sequence is not None
    pytorch_bf16 = TCNKernel(m.tcn, m.input_norm, m.bottleneck, m.output[0], m.output[1], torch.bfloat16,
                             compiled=False).sequence(frames)
    compiled = compiled_kernel.sequence(frames)
    assert compiled.shape == fp32.shape
    assert snr(fp32, compiled) >= 40
    assert snr(fp32, compiled) >= snr(fp32, pytorch_bf16) - 3  # the same precision as the PyTorch bf16 path


@needs_packed_bf16
def test_sequence_detects_a_wrong_depthwise_convolution():
    # the bound above can fail: a kernel with one tap of one block changed is far off
    m = offline_masker()
    fp32 = m.kernel().sequence(frames := torch.rand(300, 16))
    kernel = m.kernel(torch.bfloat16)
    kernel.compiled_sequence.blocks[2][3][0] *= 1.5
    assert snr(fp32, kernel.sequence(frames)) < 30


@needs_packed_bf16
def test_the_fast_path_uses_the_compiled_sequence_and_the_switch_turns_it_off(monkeypatch):
    from voxsep.inference.fast_conv_tasnet import accelerate

    torch.manual_seed(0)
    model = models.build("conv_tasnet", n_src=2, **TINY).eval()
    assert accelerate(model, torch.bfloat16).masker.kernel.compiled_sequence is not None
    assert accelerate(model, torch.float32).masker.kernel.compiled_sequence is None  # fp32 products: PyTorch form
    monkeypatch.setenv("VOXSEP_COMPILED_TCN", "0")
    assert accelerate(model, torch.bfloat16).masker.kernel.compiled_sequence is None


@needs_packed_bf16
def test_sequence_check_failure_falls_back(monkeypatch, caplog):
    from voxsep.nn.tcn_compiled import CompiledSequence
    from voxsep.nn.tcn_kernel import compiled_sequence_available

    compiled_sequence_available.cache_clear()
    real_run = CompiledSequence.run
    monkeypatch.setattr(CompiledSequence, "run", lambda self, kernel, x: real_run(self, kernel, x) * 1.1)
    try:
        assert not compiled_sequence_available()
        assert offline_masker().kernel(torch.bfloat16).compiled_sequence is None
    finally:
        compiled_sequence_available.cache_clear()


def test_the_compiled_forms_are_built_only_when_used():
    # a kernel built for the ONNX step or to read .causal must not compile or copy weights
    kernel = causal_masker().kernel()
    kernel.step_state()
    assert "compiled_stream" not in vars(kernel) and "compiled_sequence" not in vars(kernel)
    kernel.initial_state()
    assert vars(kernel)["compiled_stream"] is not None
