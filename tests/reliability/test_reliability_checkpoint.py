"""Checkpoint refusal wording (issue 16, item 15): a file whose pickle holds code is refused
by name, its code never runs, and the advice never says ``weights_only=False``."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import torch

from voxsep import checkpoint, cli


class _Marker:
    """Would create a file when unpickled (if voxsep ever ran a checkpoint's code)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


class Custom:
    """A class of some module: refused by weights_only loading too."""

    def __init__(self) -> None:
        self.value = 1


def _write(path: Path, payload) -> Path:
    buffer = io.BytesIO()
    torch.save({"format": checkpoint.FORMAT, "format_version": 1, "payload": payload}, buffer)
    path.write_bytes(buffer.getvalue())
    return path


@pytest.mark.parametrize("kind", ["function", "class"])
def test_a_checkpoint_that_holds_code_is_refused_by_name(tmp_path, kind, capsys):
    marker = tmp_path / "code_ran"
    payload = _Marker(str(marker)) if kind == "function" else Custom()
    path = _write(tmp_path / "stranger.pt", payload)
    with pytest.raises(checkpoint.CheckpointError) as caught:
        checkpoint.load(path)
    message = str(caught.value)
    blocked = "mkdir" if kind == "function" else "Custom"
    assert blocked in message and "will not load" in message
    assert "weights_only=False" not in message and "will likely succeed" not in message
    assert not marker.exists()
    # Through the command line too: one line, the same wording.
    import numpy as np
    import soundfile as sf

    sf.write(tmp_path / "x.wav", np.zeros(8000, dtype=np.float32), 8000)
    code = cli.main(["separate", str(tmp_path / "x.wav"), "--out", str(tmp_path / "out"), "--model", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and blocked in err and "weights_only=False" not in err and "will likely succeed" not in err
    assert not marker.exists()


def test_a_corrupt_checkpoint_still_says_corrupt(tmp_path):
    path = tmp_path / "cut.pt"
    path.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(checkpoint.CheckpointError, match="truncated, corrupt"):
        checkpoint.load(path)
