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
    from voxsep.core.audio import read_audio, resample
    from voxsep.pretrained import EXAMPLE_MIXTURE

    audio, rate = read_audio(EXAMPLE_MIXTURE, channels=1)
    audio = resample(audio, rate, sample_rate)[0]
    length = int(PROBE_SECONDS * sample_rate)
    start = max(0, (audio.shape[-1] - length) // 2)
    return torch.from_numpy(audio[start : start + length].copy()).float().unsqueeze(0)


def probe_snr_db(model: nn.Module, candidate: nn.Module) -> float:
    """SNR (dB) of ``candidate``'s output against ``model``'s fp32 output on the probe."""
    probe = probe_signal(int(model.sample_rate))
    with torch.inference_mode():
        return output_snr_db(model(probe), candidate(probe))


def _verified_conv_tasnet(model: nn.Module) -> nn.Module:
    """Conv-TasNet's fast kernels, with bf16 products only where they hold the quality bound."""
    from voxsep.inference.fast_conv_tasnet import accelerate

    missed = ""
    if cpu_has_fast_bf16():
        bf16 = accelerate(model, torch.bfloat16)
        snr = probe_snr_db(model, bf16)
        if snr >= QUALITY_BOUND_DB:
            bf16.fast_path = f"conv_tasnet kernels, bf16 products ({snr:.1f} dB from fp32 on the probe)"
            return bf16
        missed = f" (bf16 products only {snr:.1f} dB from fp32 on the probe)"
    fp32 = accelerate(model, torch.float32)
    fp32.fast_path = "conv_tasnet kernels, fp32" + missed
    return fp32


def optimize(model: nn.Module, device: torch.device | str = "cpu") -> nn.Module:
    """The fastest verified inference module for ``model`` on ``device`` (eval mode).

    A non-causal gLN Conv-TasNet on CPU gets the fast kernels in a copy of the model (its
    ``fast_path`` attribute says which); a DPRNN on an AMX CPU gets a ``Bf16Autocast``
    wrapper when the probe holds the bound; every other model is returned as it is. The
    original model is never modified.
    """
    from voxsep.inference.fast_conv_tasnet import can_accelerate

    model = model.eval()
    if torch.device(device).type == "cpu" and can_accelerate(model):
        return _verified_conv_tasnet(model)
    # DPRNN: bf16 autocast on AMX CPUs (see the DPRNN section below).
    if torch.device(device).type == "cpu" and getattr(model, "model_name", "") == "dprnn":
        return _verified_dprnn(model)
    return model


# --------------------------------------------------------------------------------- DPRNN
# DPRNN's time goes to its LSTMs (MKL-DNN RNN kernels) and the 1x1 products around them.
# Under CPU bf16 autocast these run on AMX: RTF 0.655 vs 0.902 fp32 for the paper
# configuration on the reference machine (quiet, 2 threads), 47-50 dB from fp32 on real
# speech. Without AMX, bf16 was not measured to be faster, so fp32 stays. As for
# Conv-TasNet, bf16 is *verified* per model on the probe and kept only within
# QUALITY_BOUND_DB of the fp32 output (the probe costs one extra 2 s forward at load).


def cpu_has_amx_bf16() -> bool:
    """Whether this CPU has AMX tiles with bf16 support (Sapphire Rapids and later)."""
    amx_tile = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    try:
        return bool(amx_tile()) and cpu_has_fast_bf16()
    except RuntimeError:
        return False


class Bf16Autocast(nn.Module):
    """Runs ``model`` under CPU bf16 autocast and returns float32 estimates.

    The wrapped model is shared, not copied; the wrapper carries its metadata
    (``model_name``, ``n_src``, ``sample_rate``, ``in_channels``, ``config``, ...) so that
    inference code can use it in the model's place. Shapes are the model's.
    """

    _METADATA = ("model_name", "n_src", "sample_rate", "in_channels", "kernel_size", "stride", "config")

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        for name in self._METADATA:
            if hasattr(model, name):
                setattr(self, name, getattr(model, name))

    def forward(self, mixture: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            estimates = self.model(mixture)
        return estimates.float()


def _verified_dprnn(model: nn.Module) -> nn.Module:
    """DPRNN under bf16 autocast on AMX CPUs when the probe holds the quality bound, else ``model``."""
    if not cpu_has_amx_bf16():
        return model
    fast = Bf16Autocast(model).eval()
    snr = probe_snr_db(model, fast)
    if snr < QUALITY_BOUND_DB:
        return model
    fast.fast_path = f"dprnn bf16 autocast ({snr:.1f} dB from fp32 on the probe)"
    return fast
