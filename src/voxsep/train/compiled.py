"""The compiled training path: ``torch.compile`` (inductor) of the model, checked before use.

Training crops have one fixed shape (``data.segment`` seconds, ``data.batch_size``
examples), so the model is compiled once per run and every step reuses the generated
kernels. On the 2-core CPU this project is developed on, the 1.7 M-parameter
Conv-TasNet trains several times faster compiled than eager (BENCHMARKS.md, "Training
speed"): eager PyTorch spends most of a step in memory-bound operators (depthwise
convolution, norms, PReLU), which inductor fuses.

:func:`compile_for_training` compiles *and runs one forward + backward* on a zero batch
of the training shape before the loop starts, so that a compilation failure (no C++
compiler, an operator inductor cannot lower, ...) is found before any training state
has changed. On failure it logs one warning and returns the eager model: a run never
crashes because of the compiler. The probe's gradients are discarded and the RNG
states restored, so a compiled run consumes exactly the random numbers an eager one
does (exact resumption is unaffected).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import torch

from voxsep.train.rng import rng_state, set_rng_state


#: About what a cold first compile takes on a 2-core CPU (36-66 s for the Conv-TasNet of
#: BENCHMARKS.md "Training speed", ~100 s for a first `voxsep train`); said before the
#: compile starts, so that a silent minute is not taken for a hang.
FIRST_COMPILE_SECONDS = 100


def training_input_shape(batch_size: int, segment_samples: int, in_channels: int) -> tuple[int, ...]:
    """Shape of one training batch of mixtures: ``(batch, time)`` or ``(batch, channels, time)``."""
    if in_channels == 1:
        return (batch_size, segment_samples)
    return (batch_size, in_channels, segment_samples)


def compile_for_training(
    module: torch.nn.Module,
    example_shape: tuple[int, ...],
    device: torch.device,
    autocast_dtype: torch.dtype | None,
    log: logging.Logger,
) -> tuple[Any, float | None]:
    """``torch.compile(module)``, verified by one forward + backward of ``example_shape``.

    Args:
        module: the model as the loop calls it (the DDP wrapper under torchrun).
        example_shape: the fixed training batch shape (:func:`training_input_shape`).
        device: where the batch lives.
        autocast_dtype: the loop's autocast dtype (``None``: fp32); the probe runs under
            the same autocast so that the compiled graph is the one training uses.
        log: where the compile time or the fallback warning goes.

    Returns:
        ``(callable, seconds)``: the compiled module and its compile time, or ``(module,
        None)`` when compilation failed (one warning logged, eager training goes on).
    """
    saved_rng = rng_state()
    log.info(f"compiling the training step (first step takes ~{FIRST_COMPILE_SECONDS} s; train.compile=false skips it)")
    start = time.perf_counter()
    try:
        compiled = torch.compile(module, dynamic=False)
        example = torch.zeros(example_shape, device=device)
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            estimates = compiled(example)
        estimates.float().sum().backward()
    except Exception as error:  # noqa: BLE001 - any compiler failure must fall back, never end the run
        _discard_gradients(module)
        set_rng_state(saved_rng)
        torch._dynamo.reset()
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        log.warning(
            f"torch.compile failed ({type(error).__name__}: {first_line[:300]}); training continues eager "
            "(slower). Set train.compile=false to skip the attempt."
        )
        return module, None
    _discard_gradients(module)
    set_rng_state(saved_rng)
    seconds = time.perf_counter() - start
    log.info(f"compiled the model for training (torch.compile, inductor) in {seconds:.1f} s; "
             f"batch shape {tuple(example_shape)}")
    return compiled, seconds


def _discard_gradients(module: torch.nn.Module) -> None:
    for parameter in module.parameters():
        parameter.grad = None
