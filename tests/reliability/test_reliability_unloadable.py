"""Files that are not PyTorch weights (issue 27, item 10): a plain pickle, a sparse file of
zeros, text -- each is called what it is and refused, the pickle's code never runs, and no
message passes on torch's advice to load with ``weights_only=False``."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voxsep.cli import main


class _Payload:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def _files(folder: Path) -> dict[str, tuple[Path, str]]:
    marker = folder / "code_ran"
    evil = folder / "evil.pt"
    evil.write_bytes(pickle.dumps({"state_dict": _Payload(str(marker))}))
    plain = folder / "plain.pth"
    plain.write_bytes(pickle.dumps({"weights": [0.1, 0.2]}, protocol=2))
    sparse = folder / "model.pt"
    with open(sparse, "wb") as handle:
        handle.truncate(50 * 2**30)  # 50 GB of holes: no disk used
    text = folder / "pytorch_model.bin"
    text.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n")
    return {"evil": (evil, "pickle"), "plain": (plain, "pickle"), "sparse": (sparse, "zero bytes"),
            "text": (text, "text file")}


@pytest.mark.parametrize("kind", ["evil", "plain", "sparse", "text"])
def test_a_file_that_is_not_pytorch_weights_is_named_for_what_it_is(tmp_path, capsys, kind):
    path, said = _files(tmp_path)[kind]
    wav = tmp_path / "x.wav"
    sf.write(wav, np.zeros(8000, dtype=np.float32), 8000)
    for argv in (["separate", str(wav), "--out", str(tmp_path / "out"), "--model", str(path)],
                 ["import-model", str(path), str(tmp_path / "out.pt")],
                 ["export", str(path), str(tmp_path / "out.onnx")]):
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 2, (argv, err)
        assert said in err and ("will not be loaded" in err or "will not load" in err), err
        assert "weights_only=False" not in err and "will likely succeed" not in err and "weights_only" not in err, err
        if kind in ("evil", "plain", "sparse"):
            assert "truncated or corrupt" not in err and "corrupt?" not in err, err
        if kind == "evil":
            assert "mkdir" in err, "the callable the pickle would run is named"
    assert not (tmp_path / "code_ran").exists()
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.pt").exists()
