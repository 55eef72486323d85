"""Fault injection for ``voxsep evaluate`` (issue 27): saved estimates get safe names inside
the audio folder whatever the manifest's IDs say, and one-talker sets are scored."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from faults import PassThrough, speech
from voxsep.evaluate import evaluate

pytestmark = pytest.mark.usefixtures("one_thread")


def _digest(folder: Path, skip: Path | None = None) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and (skip is None or not p.is_relative_to(skip))}


def _hostile_set(root: Path) -> Path:
    """A set whose reference files are ``s1/clip_s1.wav`` / ``s1/clip_s2.wav``, with mixture IDs
    that name paths: the set's own files, parents of the audio folder, absolute paths, and
    IDs that become alike once made safe."""
    a, b = speech("en", "agent-alreadyon"), speech("fr_CA_f_June", "agent-alreadyon")
    n = min(len(a), len(b), 8000)
    (root / "s1").mkdir(parents=True)
    (root / "mix").mkdir()
    sf.write(root / "s1" / "clip_s1.wav", a[:n], 8000)
    sf.write(root / "s1" / "clip_s2.wav", b[:n], 8000)
    sf.write(root / "mix" / "clip.wav", (a[:n] + b[:n]) / 2, 8000)
    ids = [f"{root}/s1/clip", "../../../escaped", str(root.parent / "absolute"), "a/b", "a_b", "A_B", "..", ".hidden",
           "ok"]
    lines = ["mixture_ID,mixture_path,source_1_path,source_2_path"]
    lines += [f"{i},{root / 'mix' / 'clip.wav'},{root / 's1' / 'clip_s1.wav'},{root / 's1' / 'clip_s2.wav'}" for i in ids]
    manifest = root / "set.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


# ------------------------------------------------------------ item 2: --save-audio names
@pytest.mark.parametrize("overwrite", [False, True])
def test_saved_estimates_get_safe_unique_names_inside_the_audio_folder(tmp_path, overwrite):
    manifest = _hostile_set(tmp_path / "data" / "set")
    out = tmp_path / "data" / "set" / "results" / "r.csv"
    audio_dir = out.parent / "r_audio"
    before = _digest(tmp_path)
    result = evaluate(PassThrough(), manifest, out, save_audio=100, quality=False, sdr=False,
                      overwrite=overwrite, log=lambda m: None)
    assert result["count"] == 9
    after = _digest(tmp_path, skip=out.parent)
    assert after == before, "no file outside the results folder was written or changed"
    written = sorted(p for p in out.parent.rglob("*") if p.is_file() and p.suffix == ".wav")
    assert all(p.parent == audio_dir for p in written), written
    assert len(written) == 18, "every mixture keeps its own two files (alike names made unique)"
    assert all(not p.name.startswith(".") for p in written)
    names = result["audio_files"]
    assert len(set(names.values())) == 9 and names["ok"] == "r_audio/ok_s<k>.wav"
