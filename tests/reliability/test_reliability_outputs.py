"""Fault injection for the commands' outputs (issue 16, items 4, 13, 16): an output never
replaces an input, an unwritable output is found before the work, modes follow the umask."""

from __future__ import annotations

import os
import subprocess
import stat
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voxsep import cli

from faults import PassThrough, try_mount


@pytest.fixture
def wsj_folder(tmp_path: Path, mixture_audio: np.ndarray) -> Path:
    """A two-mixture wsj0-mix folder (mix/ s1/ s2/) of real speech."""
    root = tmp_path / "tt"
    half = len(mixture_audio) // 2
    for name, (a, b) in {"m1.wav": (mixture_audio[:half], mixture_audio[half:2 * half]),
                         "m2.wav": (mixture_audio[half:2 * half], mixture_audio[:half][::-1])}.items():
        for folder, audio in (("s1", a), ("s2", 0.5 * b), ("mix", a + 0.5 * b)):
            (root / folder).mkdir(parents=True, exist_ok=True)
            sf.write(root / folder / name, audio, 8000)
    return root


@pytest.fixture
def manifest(tmp_path: Path, wsj_folder: Path) -> Path:
    from voxsep.data.manifest import load_manifest, write_manifest

    return write_manifest(tmp_path / "t.csv", load_manifest(wsj_folder))


def digest(path: Path) -> bytes:
    return path.read_bytes()


# ------------------------------------------------------------------ item 4: same file under --overwrite
@pytest.mark.parametrize("spelling", ["same", "other"])
def test_export_never_replaces_its_own_checkpoint(tmp_path, tiny_checkpoint, spelling, capsys, monkeypatch):
    checkpoint = tmp_path / "ck" / "x.pt"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(tiny_checkpoint.read_bytes())
    before = digest(checkpoint)
    monkeypatch.chdir(tmp_path)
    output = "ck/x.pt" if spelling == "same" else "./ck/../ck/x.pt"
    assert cli.main(["export", "ck/x.pt", output, "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "checkpoint" in err and "x.pt" in err
    assert digest(checkpoint) == before


def test_evaluate_never_replaces_its_manifest_or_model(tmp_path, manifest, tiny_checkpoint, capsys):
    before = digest(manifest)
    common = ["--no-quality", "--no-sdr", "--overwrite"]
    assert cli.main(["evaluate", "--model", str(tiny_checkpoint), str(manifest), "--out", str(manifest), *common]) == 2
    assert "test data" in capsys.readouterr().err
    assert digest(manifest) == before
    model_copy = tmp_path / "m.pt"
    model_copy.write_bytes(tiny_checkpoint.read_bytes())
    model_before = digest(model_copy)
    assert cli.main(["evaluate", "--model", str(model_copy), str(manifest), "--out", str(model_copy), *common]) == 2
    assert "checkpoint" in capsys.readouterr().err
    assert digest(model_copy) == model_before


def test_evaluate_never_replaces_an_audio_file_of_the_set(tmp_path, wsj_folder, tiny_checkpoint, capsys):
    target = wsj_folder / "s1" / "m1.wav"
    before = digest(target)
    code = cli.main(["evaluate", "--model", str(tiny_checkpoint), str(wsj_folder), "--out", str(target),
                     "--no-quality", "--no-sdr", "--overwrite"])
    assert code == 2 and "m1.wav" in capsys.readouterr().err
    assert digest(target) == before


# ------------------------------------------------------------------ item 13: unwritable --out, found first
def _count_scoring(monkeypatch) -> list[int]:
    import voxsep.evaluate as evaluate_module

    calls = []
    real = evaluate_module.score_utterance

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluate_module, "score_utterance", counted)
    return calls


def test_evaluate_checks_out_before_scoring(tmp_path, manifest, tiny_checkpoint, monkeypatch, capsys):
    calls = _count_scoring(monkeypatch)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    code = cli.main(["evaluate", "--model", str(tiny_checkpoint), str(manifest), "--out", str(blocker / "r.csv"),
                     "--no-quality", "--no-sdr"])
    err = capsys.readouterr().err
    assert code == 2 and calls == [], "the output must be checked before any mixture is scored"
    assert "--out" in err and ".tmp" not in err
    assert blocker.read_text() == "a file where a folder should be"


@pytest.fixture
def read_only_folder(tmp_path: Path):
    """A read-only file system (a tmpfs mounted ro; needs mount), skipped where it cannot be made."""
    folder = tmp_path / "ro"
    folder.mkdir()
    problem = try_mount(folder, "size=100k,ro")
    if problem:
        if os.geteuid() != 0:
            folder.chmod(0o555)  # unprivileged: permissions are enough
            yield folder
            folder.chmod(0o755)
            return
        pytest.skip(f"cannot mount a read-only tmpfs ({problem}); test_evaluate_checks_out_before_scoring covers it")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_evaluate_read_only_out(read_only_folder, manifest, tiny_checkpoint, monkeypatch, capsys):
    calls = _count_scoring(monkeypatch)
    code = cli.main(["evaluate", "--model", str(tiny_checkpoint), str(manifest),
                     "--out", str(read_only_folder / "r.csv"), "--no-quality", "--no-sdr"])
    err = capsys.readouterr().err
    assert code == 2 and calls == []
    assert "ro" in err and "--out" in err and ".tmp" not in err


def test_separate_read_only_out_writes_nothing(read_only_folder, mixture_file, tiny_checkpoint, capsys):
    code = cli.main(["separate", str(mixture_file), "--out", str(read_only_folder), "--model", str(tiny_checkpoint)])
    assert code == 2 and "--out" in capsys.readouterr().err
    assert list(read_only_folder.iterdir()) == []


# ------------------------------------------------------------------ item 16: file modes follow the umask
@pytest.fixture(params=[0o027, 0o002])
def umask(request):
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_written_file_gets_0666_minus_the_umask(tmp_path, umask, tiny_checkpoint, wsj_folder, mixture_file):
    from voxsep import checkpoint
    from voxsep.config import Config, save_config
    from voxsep.core.audio import write_audio
    from voxsep.data.manifest import load_manifest, write_manifest
    from voxsep.evaluate import evaluate
    from voxsep.inference.api import Separator

    expected = 0o666 & ~umask
    model, _ = checkpoint.load(tiny_checkpoint)
    written = {
        "checkpoint": checkpoint.save(tmp_path / "c.pt", model, sample_rate=8000),
        "config.yaml": save_config(Config(), tmp_path / "config.yaml"),
        "audio": write_audio(tmp_path / "a.wav", np.zeros(100), 8000),
        "manifest": write_manifest(tmp_path / "m.csv", load_manifest(wsj_folder)),
    }
    written.update(zip(("separated 1", "separated 2"),
                       Separator(PassThrough(), fast=False).separate_file(mixture_file, tmp_path / "sep")))
    evaluate(PassThrough(), wsj_folder, tmp_path / "scores.csv", quality=False, sdr=False, log=lambda m: None)
    written["evaluation csv"] = tmp_path / "scores.csv"
    written["evaluation json"] = tmp_path / "scores.json"
    pytest.importorskip("onnxscript")
    from voxsep.inference.export import export_onnx

    written["onnx"] = export_onnx(model, tmp_path / "model.onnx")
    modes = {name: oct(mode(Path(path))) for name, path in written.items()}
    assert modes == {name: oct(expected) for name in written}
