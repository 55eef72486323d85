"""TCNKernel: the one TCN step of the inference paths equals the training modules."""

from pathlib import Path

import numpy as np
import pytest
import torch

from voxsep import models
from voxsep.nn.tcn_kernel import TCNKernel

pytestmark = pytest.mark.usefixtures("one_thread")

from tcn_maskers import TINY, masker  # noqa: E402  (tests/unit is on the test path)


def reference(m, representation: torch.Tensor) -> torch.Tensor:
    """The module's masks before the activation, frames-major ``(frames, n_src * N)``."""
    with torch.no_grad():
        features = m.tcn(m.bottleneck(m.input_norm(representation[None])))
        return m.output(features)[0].T


def snr(reference: torch.Tensor, estimate: torch.Tensor) -> float:
    return float(10 * torch.log10(reference.double().pow(2).sum() / (reference - estimate).double().pow(2).sum()))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("overrides", [{}, {"skip": 0}, {"conv_kernel": 5}])
def test_sequence_equals_the_modules(causal, overrides):
    m = masker(causal, **overrides)
    representation = torch.rand(16, 301)
    out = m.kernel().sequence(representation.T)
    assert out.shape == (301, 2 * 16)
    assert snr(reference(m, representation), out) >= 80


def test_per_channel_prelu_slopes():
    m = masker(False)
    with torch.no_grad():
        block = m.tcn.blocks[1]
        block.in_act = torch.nn.PReLU(16)
        block.in_act.weight.uniform_(0.0, 0.5)
    representation = torch.rand(16, 120)
    assert snr(reference(m, representation), m.kernel().sequence(representation.T)) >= 80


@pytest.mark.parametrize("compiled", [False, True], ids=["pytorch", "compiled"])
@pytest.mark.parametrize("sizes", [[1] * 40, [7] * 6, [3, 50, 1, 9, 17], [300]])
def test_stream_in_any_split_equals_the_whole_sequence(sizes, compiled):
    m = masker(True)
    representation = torch.rand(16, sum(sizes))
    kernel = m.kernel()
    state = kernel.initial_state(compiled=compiled)
    assert (state.compiled is not None) == compiled
    pieces, start = [], 0
    for size in sizes:
        pieces.append(kernel.stream(representation[:, start : start + size].T, state))
        start += size
    assert state.frames == sum(sizes)
    assert snr(reference(m, representation), torch.cat(pieces)) >= 60


def test_pure_step_equals_the_stream_and_writes_nothing_in_place():
    m = masker(True)
    kernel = m.kernel()
    representation = torch.rand(16, 60)
    state = kernel.step_state()
    before = [s.clone() for s in state]
    pieces = []
    for start in range(0, 60, 6):
        count = torch.arange(start + 1, start + 7, dtype=torch.float32)[:, None]
        out, *new_state = kernel.step(representation[:, start : start + 6].T, count, None, *state)
        if start == 0:
            assert all(torch.equal(a, b) for a, b in zip(state, before))  # the inputs are untouched
        pieces.append(out)
        state = new_state
    assert snr(reference(m, representation), torch.cat(pieces)) >= 60


@pytest.mark.parametrize("compiled", [False, True], ids=["pytorch", "compiled"])
def test_the_test_detects_a_wrong_history(compiled):
    m = masker(True)
    kernel = m.kernel()
    state = kernel.initial_state(compiled=compiled)
    representation = torch.rand(16, 40)
    first = kernel.stream(representation[:, :20].T, state)
    if compiled:  # a corrupted depthwise history
        state.compiled.ring[:] = np.random.default_rng(0).standard_normal(state.compiled.ring.shape)
    else:
        state.buffers[2].normal_()
    second = kernel.stream(representation[:, 20:].T, state)
    assert snr(reference(m, representation), torch.cat([first, second])) < 40


def test_bf16_products_stay_close():
    m = masker(False)
    representation = torch.rand(16, 200)
    assert snr(reference(m, representation), m.kernel(torch.bfloat16).sequence(representation.T)) >= 25


def test_refusals():
    with pytest.raises(ValueError, match="only a causal"):
        masker(False).kernel().initial_state()
    with pytest.raises(ValueError, match="matmul_dtype"):
        masker(False).kernel(torch.float16)
    mixed = masker(True)
    mixed.input_norm = models.build("conv_tasnet", n_src=2, **TINY).masker.input_norm  # a gLN before cLN blocks
    with pytest.raises(ValueError, match="all cLN"):
        TCNKernel(mixed.tcn, mixed.input_norm, mixed.bottleneck)


def test_the_inference_code_reads_no_tcn_internals():
    """The TCN's parameters are read in nn/ only (the kernel); inference code goes through it."""
    inference = Path(__file__).resolve().parents[2] / "src" / "voxsep" / "inference"
    internals = ("tcn.blocks", ".in_conv", ".in_norm", ".dw_norm", ".depthwise", "._normalise", "._masks",
                 ".residual.", "masker.output[")
    found = [
        f"{path.name}: {word}"
        for path in sorted(inference.glob("*.py"))
        for word in internals
        if word in path.read_text(encoding="utf-8")
    ]
    assert not found, found
