"""Fault injection for ``voxsep import-model`` and the importers (issue 27): the output
never replaces a source file, hostile YAML and cache refs are refused, and what is
written into a checkpoint is checked (rates, finite real weights)."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pytest
import torch

from voxsep.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_interop import asteroid_conv_tasnet, write_speechbrain_folder  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _asteroid_file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(asteroid_conv_tasnet(N=8, L=4, B=4, H=8, S=4, X=1, R=1), path)
    return path


# ------------------------------------------------------------------ item 1: OUT is a source
def test_import_model_never_writes_over_its_source_file(tmp_path, capsys):
    src = _asteroid_file(tmp_path / "pub" / "best_model.pth")
    before = _digest(tmp_path / "pub")
    (tmp_path / "soft.pth").symlink_to(src)
    os.link(src, tmp_path / "hard.pth")
    for out in (src, tmp_path / "pub" / ".." / "pub" / "best_model.pth", tmp_path / "soft.pth", tmp_path / "hard.pth"):
        code = main(["import-model", str(src), str(out), "--overwrite"])
        err = capsys.readouterr().err
        assert code == 2 and "source" in err and "choose an OUTPUT" in err, (out, err)
    assert _digest(tmp_path / "pub") == before
    # an output elsewhere is fine
    assert main(["import-model", str(src), str(tmp_path / "ok.pt")]) == 0


def test_import_model_never_writes_inside_a_speechbrain_folder_or_hub_cache(tmp_path, capsys, monkeypatch):
    repo = tmp_path / "hub" / "models--speechbrain--sepformer-tiny"
    snapshot = repo / "snapshots" / "abc123"
    blobs = repo / "blobs"
    write_speechbrain_folder(snapshot)
    blobs.mkdir()
    for file in list(snapshot.iterdir()):  # the hub's layout: snapshot files link to blobs
        blob = blobs / hashlib.sha256(file.name.encode()).hexdigest()
        file.rename(blob)
        file.symlink_to(os.path.relpath(blob, snapshot))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    before = _digest(repo)
    masknet_blob = (snapshot / "masknet.ckpt").resolve()
    os.link(masknet_blob, tmp_path / "hard.ckpt")
    cases = [(snapshot, snapshot / "masknet.ckpt"), (snapshot, snapshot / "new.pt"), (snapshot, masknet_blob),
             (snapshot, tmp_path / "hard.ckpt"), (repo, repo / "x.pt"), ("speechbrain/sepformer-tiny", masknet_blob),
             ("speechbrain/sepformer-tiny", snapshot / "encoder.ckpt")]
    for source, out in cases:
        code = main(["import-model", str(source), str(out), "--overwrite"])
        err = capsys.readouterr().err
        assert code == 2 and "source" in err, (source, out, err)
    assert _digest(repo) == before and (snapshot / "masknet.ckpt").is_symlink()
    assert not (snapshot / "new.pt").exists() and not (repo / "x.pt").exists()
    assert main(["import-model", "speechbrain/sepformer-tiny", str(tmp_path / "sep.pt")]) == 0
