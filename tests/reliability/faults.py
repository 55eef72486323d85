"""Helpers of the fault-injection suite: a test model and a disk that fills up."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest
import torch

SOUNDS = "/usr/share/asterisk/sounds"
TINY = dict(n_filters=16, kernel_size=8, bottleneck=8, hidden=16, skip=8, n_blocks=2, n_repeats=1)


class PassThrough(torch.nn.Module):
    """Test-only 8 kHz model: source 1 is the input, source 2 a quarter of it."""

    n_src, sample_rate, in_channels = 2, 8000, 1

    def forward(self, mixture: torch.Tensor) -> torch.Tensor:
        return torch.stack([mixture, 0.25 * mixture], dim=1)


def try_mount(folder: Path, options: str) -> str:
    """Mount a tmpfs with ``options`` on ``folder``; ``""`` on success, else why not."""
    import subprocess

    try:
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                                capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as error:
        return str(error)
    return "" if result.returncode == 0 else (result.stderr.strip() or f"mount exited with {result.returncode}")


def speech(language: str, name: str) -> np.ndarray:
    from voxsep.core.audio import read_audio

    return read_audio(f"{SOUNDS}/{language}/{name}.wav", channels=1)[0][0]


def fill_disk(monkeypatch: pytest.MonkeyPatch, folder: Path, allowed_bytes: int) -> None:
    """Make ``folder`` behave like a disk with ``allowed_bytes`` free: writes beyond fail with ENOSPC.

    Python file writes (``open``) to files under ``folder`` raise ``OSError(ENOSPC)`` as the
    kernel would; ``soundfile.write`` to a path there fails as libsndfile does on a full
    disk, with an unspecific "System error.".
    """
    import builtins
    import io
    import os

    import soundfile

    folder = Path(folder).resolve()
    state = {"left": allowed_bytes}

    def inside(file) -> bool:
        return isinstance(file, (str, os.PathLike)) and Path(os.path.abspath(file)).is_relative_to(folder)

    def spend(size: int) -> None:
        if size > state["left"]:
            state["left"] = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        state["left"] -= size

    class LimitedFile:
        def __init__(self, handle) -> None:
            self._handle = handle

        def write(self, data) -> int:
            spend(len(memoryview(data).cast("B")) if not isinstance(data, str) else len(data.encode()))
            return self._handle.write(data)

        def __getattr__(self, name):
            return getattr(self._handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            self._handle.close()

    real_open = builtins.open

    def limited_open(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        if inside(file) and any(flag in mode for flag in "wax+"):
            return LimitedFile(handle)
        return handle

    monkeypatch.setattr(builtins, "open", limited_open)
    monkeypatch.setattr(io, "open", limited_open)  # pathlib opens through io.open
    real_sf_write = soundfile.write

    def sf_write(file, data, *args, **kwargs):
        if inside(file):
            try:
                spend(np.asarray(data).size * 2 + 44)
            except OSError:
                Path(file).write_bytes(b"RIFF")  # libsndfile leaves a partial file behind
                raise soundfile.LibsndfileError(2) from None
        return real_sf_write(file, data, *args, **kwargs)

    monkeypatch.setattr(soundfile, "write", sf_write)
