"""Fast inference paths: ``optimize(model, device)`` returns the fastest module that keeps
the model's output within ``QUALITY_BOUND_DB`` of its plain fp32 forward pass.

**Conv-TasNet (non-causal, gLN)** gets ``voxsep.inference.fast_conv_tasnet``'s kernels
(folded norms, shifted-row depthwise convolutions, the encoder as one product). On CPUs
with fast bf16 matrix units (AMX or AVX512-BF16) their 1×1 convolutions run with bf16
operands and fp32 accumulation, ~45 dB from fp32 on real speech; that choice is *verified*
for each model: both paths separate a probe (2 s of the bundled example mixture) and bf16
is kept only if its output is within ``QUALITY_BOUND_DB`` of the plain fp32 model's, else
the fp32 kernels (~100 dB) are used. ``torch.compile`` and bf16 autocast were measured and
are not faster here — see BENCHMARKS.md "Inference".
"""

from __future__ import annotations

import functools

import torch
from torch import nn

QUALITY_BOUND_DB = 40.0
PROBE_SECONDS = 2.0


def output_snr_db(reference: torch.Tensor, estimate: torch.Tensor) -> float:
    """SNR (dB) of ``estimate`` against ``reference`` (the quality bound of fast paths)."""
    reference = reference.double()
    error = (estimate.double() - reference).pow(2).sum()
    return float(10 * torch.log10(reference.pow(2).sum() / error.clamp_min(1e-30)))


@functools.lru_cache(maxsize=1)
def cpu_has_fast_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices natively (AMX-BF16 or AVX512-BF16 flags)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            flags = next((line.split(":", 1)[1].split() for line in cpuinfo if line.startswith("flags")), [])
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def probe_signal(sample_rate: int) -> torch.Tensor:
    """``PROBE_SECONDS`` of the bundled example mixture (real speech) at ``sample_rate``, ``(1, time)``."""
    from voxsep.data.audio import read_audio, resample
    from voxsep.pretrained import EXAMPLE_MIXTURE

    audio, rate = read_audio(EXAMPLE_MIXTURE, channels=1)
    audio = resample(audio, rate, sample_rate)[0]
    length = int(PROBE_SECONDS * sample_rate)
    start = max(0, (audio.shape[-1] - length) // 2)
    return torch.from_numpy(audio[start : start + length].copy()).float().unsqueeze(0)


def _verified_conv_tasnet(model: nn.Module) -> nn.Module:
    """Conv-TasNet's fast kernels, with bf16 products only where they hold the quality bound."""
    from voxsep.inference.fast_conv_tasnet import accelerate

    fp32 = accelerate(model, torch.float32)
    fp32.fast_path = "conv_tasnet kernels, fp32"
    if not cpu_has_fast_bf16():
        return fp32
    bf16 = accelerate(model, torch.bfloat16)
    probe = probe_signal(int(model.sample_rate))
    with torch.inference_mode():
        snr = output_snr_db(model(probe), bf16(probe))
    if snr < QUALITY_BOUND_DB:
        fp32.fast_path += f" (bf16 products only {snr:.1f} dB from fp32 on the probe)"
        return fp32
    bf16.fast_path = f"conv_tasnet kernels, bf16 products ({snr:.1f} dB from fp32 on the probe)"
    return bf16


def optimize(model: nn.Module, device: torch.device | str = "cpu") -> nn.Module:
    """The fastest verified inference module for ``model`` on ``device`` (eval mode).

    A non-causal gLN Conv-TasNet on CPU gets the fast kernels in a copy of the model (its
    ``fast_path`` attribute says which); every other model is returned as it is. The
    original model is never modified.
    """
    from voxsep.inference.fast_conv_tasnet import can_accelerate

    model = model.eval()
    if torch.device(device).type == "cpu" and can_accelerate(model):
        return _verified_conv_tasnet(model)
    return model
