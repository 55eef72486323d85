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


# ------------------------------------------------------ item 4: YAML alias bombs, depth
def _alias_bomb(levels: int, fan: int = 10) -> str:
    lines = [f"l0: &l0 [{', '.join(['lol'] * fan)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * fan)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("hostile", ["bomb", "deep", "recursive", "huge"])
def test_hostile_hyperparams_yaml_is_refused_in_well_under_a_second(tmp_path, capsys, hostile):
    import time

    folder = tmp_path / "sb"
    write_speechbrain_folder(folder)
    text = (folder / "hyperparams.yaml").read_text()
    if hostile == "bomb":  # 2 kB, a million values once expanded (round 2 found 10**7 in 42 s, 2.3 GB)
        text = text.replace("masknet: ", "lols: *l5\nmasknet: ", 1) if "masknet: " in text else text
        text = _alias_bomb(6) + text + "extra: *l5\n"
    elif hostile == "deep":
        text += "deep: " + "[" * 5000 + "]" * 5000 + "\n"
    elif hostile == "recursive":
        text += "loop: &loop [1, *loop]\n"
    else:
        text += "padding: '" + "x" * (2 << 20) + "'\n"
    (folder / "hyperparams.yaml").write_text(text)
    start = time.perf_counter()
    code = main(["import-model", str(folder), str(tmp_path / "out.pt")])
    elapsed = time.perf_counter() - start
    err = capsys.readouterr().err
    assert code == 2 and "refused" in err and "hyperparams.yaml" in err and "Traceback" not in err, err
    assert elapsed < 1.0, f"{elapsed:.2f} s"
    assert not (tmp_path / "out.pt").exists()


# ------------------------------------------------- item 5: refs/main leading outside
@pytest.mark.parametrize("ref", ["relative", "absolute", "symlinked snapshot", "only snapshot symlinked"])
def test_a_hub_ref_naming_a_folder_outside_the_cache_entry_is_not_followed(tmp_path, monkeypatch, capsys, ref):
    import numpy as np
    import soundfile as sf

    hub = tmp_path / "hub"
    repo = hub / "models--org--name"
    elsewhere = tmp_path / "elsewhere"  # a model the cache entry must not lead to
    _asteroid_file(elsewhere / "pytorch_model.bin")
    (repo / "snapshots").mkdir(parents=True)
    (repo / "refs").mkdir()
    if ref == "relative":
        (repo / "refs" / "main").write_text("../../../elsewhere")
    elif ref == "absolute":
        (repo / "refs" / "main").write_text(str(elsewhere))
    else:
        (repo / "snapshots" / "abc").symlink_to(elsewhere, target_is_directory=True)
        if ref == "symlinked snapshot":
            (repo / "refs" / "main").write_text("abc")
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    code = main(["import-model", "org/name", str(tmp_path / "out.pt")])
    err = capsys.readouterr().err
    assert code == 2 and "refusing to follow" in err and ("refs/main" in err or ref == "only snapshot symlinked"), err
    assert not (tmp_path / "out.pt").exists()
    wav = tmp_path / "x.wav"
    sf.write(wav, np.zeros(8000, dtype=np.float32), 8000)
    code = main(["separate", str(wav), "--out", str(tmp_path / "sep"), "--model", "org/name"])
    err = capsys.readouterr().err
    assert code == 2 and "refusing to follow" in err, err
    assert not (tmp_path / "sep").exists()


def test_a_plain_hub_ref_still_works(tmp_path, monkeypatch):
    repo = tmp_path / "hub" / "models--org--name"
    _asteroid_file(repo / "snapshots" / "0123abc" / "pytorch_model.bin")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abc\n")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert main(["import-model", "org/name", str(tmp_path / "out.pt")]) == 0


# ---------------------------------------- item 7: rates and weights written at import
@pytest.mark.parametrize("rate", ["-1", "0", "1", "999", "384001"])
def test_import_model_refuses_implausible_sample_rates(tmp_path, capsys, rate):
    src = _asteroid_file(tmp_path / "pub" / "best_model.pth")
    code = main(["import-model", str(src), str(tmp_path / "out.pt"), "--sample-rate", rate])
    err = capsys.readouterr().err
    assert code == 2 and "--sample-rate" in err and "Hz" in err, err
    assert not (tmp_path / "out.pt").exists()


@pytest.mark.parametrize("rate", [-1, 0, 1, 999, 384001, 8000.5])
def test_importers_refuse_implausible_sample_rates_given_or_stated(tmp_path, rate):
    from voxsep.interop import ModelImportError, import_model

    src = _asteroid_file(tmp_path / "pub" / "best_model.pth")
    with pytest.raises(ValueError, match="Hz"):
        import_model(src, sample_rate=rate)
    data = asteroid_conv_tasnet(N=8, L=4, B=4, H=8, S=4, X=1, R=1)
    data["model_args"]["sample_rate"] = rate if rate != 0 else -8000
    if rate == 8000.5:
        return  # Asteroid stores floats; a half Hz there rounds like Asteroid itself reads it
    torch.save(data, tmp_path / "stated.pth")
    with pytest.raises(ModelImportError, match="Hz"):
        import_model(tmp_path / "stated.pth")


@pytest.mark.parametrize("damage", ["nan", "inf", "complex"])
def test_import_model_refuses_non_finite_or_complex_weights(tmp_path, capsys, damage):
    data = asteroid_conv_tasnet(N=8, L=4, B=4, H=8, S=4, X=1, R=1)
    key = "masker.bottleneck.1.weight"
    weight = data["state_dict"][key]
    if damage == "complex":
        data["state_dict"][key] = torch.complex(weight, torch.ones_like(weight))
    else:
        weight.view(-1)[3] = float(damage)
    torch.save(data, tmp_path / "bad.pth")
    code = main(["import-model", str(tmp_path / "bad.pth"), str(tmp_path / "out.pt")])
    err = capsys.readouterr().err
    assert code == 2 and "bottleneck" in err and ("complex" in err if damage == "complex" else "NaN or infinite" in err), err
    assert not (tmp_path / "out.pt").exists()
