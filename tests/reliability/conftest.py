"""Fixtures of the fault-injection suite: a tiny checkpoint, a speech mixture, a small disk."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from faults import TINY, speech, try_mount


@pytest.fixture(scope="session")
def mixture_audio() -> np.ndarray:
    """Two real talkers, 8 kHz, about 1.5 s."""
    a, b = speech("en", "agent-alreadyon"), speech("fr_CA_f_June", "agent-alreadyon")
    length = min(len(a), len(b))
    return ((a[:length] + b[:length]) * 0.5).astype(np.float32)


@pytest.fixture
def mixture_file(tmp_path: Path, mixture_audio: np.ndarray) -> Path:
    path = tmp_path / "in" / "talk.wav"
    path.parent.mkdir()
    sf.write(path, mixture_audio, 8000)
    return path


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from voxsep import checkpoint, models

    torch.manual_seed(0)
    model = models.build("conv_tasnet", n_src=2, **TINY)
    return checkpoint.save(tmp_path_factory.mktemp("ckpt") / "tiny.pt", model, sample_rate=8000)


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 200 kB tmpfs (needs root and mount); skipped where it cannot be mounted."""
    mount_point = tmp_path / "small_disk"
    mount_point.mkdir()
    problem = try_mount(mount_point, "size=200k")
    if problem:
        pytest.skip(f"cannot mount a small tmpfs here ({problem}); the injected-ENOSPC tests cover this case")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)
