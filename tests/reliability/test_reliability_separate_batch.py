"""``voxsep separate`` over many files (issue 27, items 11 and 14): an interrupted batch is
continued with --skip-existing (complete outputs checked, anything else left alone), the
last line counts separated / skipped / failed inputs, a lost race says --force, a tiny
file is called too short; and a manifest with a UTF-8 byte-order mark is read."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voxsep.cli import main
from voxsep.inference.api import Separator

pytestmark = pytest.mark.usefixtures("one_thread")


def _inputs(folder: Path, mixture_audio: np.ndarray, count: int = 3) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"talk{i}.wav"
        sf.write(path, np.roll(mixture_audio, 800 * i), 8000)
        paths.append(path)
    return paths


# ------------------------------------------------------ item 14: continue a batch
def test_an_interrupted_batch_is_continued_with_skip_existing(tmp_path, mixture_audio, tiny_checkpoint, capsys,
                                                              monkeypatch):
    inputs = _inputs(tmp_path / "in", mixture_audio)
    out = tmp_path / "out"
    real = Separator.separate_file
    calls = []

    def interrupted(self, path, *args, **kwargs):  # Ctrl-C while the second file is separated
        calls.append(Path(path).name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(Separator, "separate_file", interrupted)
    assert main(["separate", str(tmp_path / "in"), "--out", str(out), "--model", str(tiny_checkpoint)]) == 130
    monkeypatch.setattr(Separator, "separate_file", real)
    done = sorted(p.name for p in out.glob("*.wav"))
    assert done == ["talk0_spk1.wav", "talk0_spk2.wav"]
    before = {p.name: p.read_bytes() for p in out.glob("*.wav")}
    capsys.readouterr()
    # a plain rerun is refused for the file already done (nothing overwritten without --force) ...
    assert main(["separate", str(tmp_path / "in"), "--out", str(out), "--model", str(tiny_checkpoint)]) == 1
    err = capsys.readouterr().err
    assert "2 of 3 input(s) separated, 0 skipped (outputs already there), 1 failed" in err, err
    for p in out.glob("talk[12]_*.wav"):
        p.unlink()
    # ... and --skip-existing continues: the finished input is skipped, its files untouched
    code = main(["separate", str(tmp_path / "in"), "--out", str(out), "--model", str(tiny_checkpoint),
                 "--skip-existing"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "2 of 3 input(s) separated, 1 skipped (outputs already there), 0 failed" in captured.err
    assert "talk0.wav: skipped" in captured.out
    assert len(list(out.glob("*.wav"))) == 6
    assert all((out / name).read_bytes() == data for name, data in before.items())


@pytest.mark.parametrize("damage", ["truncated", "missing one", "not audio"])
def test_skip_existing_never_takes_a_damaged_output_for_a_finished_one(tmp_path, mixture_audio, tiny_checkpoint,
                                                                      capsys, damage):
    inputs = _inputs(tmp_path / "in", mixture_audio, count=2)
    out = tmp_path / "out"
    assert main(["separate", *map(str, inputs), "--out", str(out), "--model", str(tiny_checkpoint)]) == 0
    victim = out / "talk0_spk2.wav"
    if damage == "truncated":
        audio, rate = sf.read(victim)
        sf.write(victim, audio[: len(audio) // 2], rate)
    elif damage == "missing one":
        victim.unlink()
    else:
        victim.write_bytes(b"RIFF")
    before = {p.name: p.read_bytes() for p in out.glob("*.wav")}
    capsys.readouterr()
    code = main(["separate", *map(str, inputs), "--out", str(out), "--model", str(tiny_checkpoint), "--skip-existing"])
    err = capsys.readouterr().err
    assert code == 1 and "talk0.wav" in err and "left alone" in err, err
    assert "0 of 2 input(s) separated, 1 skipped (outputs already there), 1 failed" in err
    assert {p.name: p.read_bytes() for p in out.glob("*.wav")} == before


def test_the_summary_counts_every_input(tmp_path, mixture_audio, tiny_checkpoint, capsys):
    good = _inputs(tmp_path / "in", mixture_audio, count=1)[0]
    bad = tmp_path / "in" / "broken.wav"
    bad.write_bytes(b"not audio at all")
    code = main(["separate", str(good), str(bad), "--out", str(tmp_path / "out"), "--model", str(tiny_checkpoint)])
    err = capsys.readouterr().err
    assert code == 1 and "1 of 2 input(s) separated, 0 skipped (outputs already there), 1 failed" in err, err


# ------------------------------------------------------------ item 11: messages, BOM
def test_the_loser_of_a_race_is_told_force(tmp_path, mixture_audio, tiny_checkpoint, capsys, monkeypatch):
    path = _inputs(tmp_path / "in", mixture_audio, count=1)[0]
    out = tmp_path / "out"
    real = Separator.separate

    def slow_separate(self, *args, **kwargs):  # another run writes the outputs meanwhile
        result = real(self, *args, **kwargs)
        out.mkdir(exist_ok=True)
        for k in (1, 2):
            sf.write(out / f"talk0_spk{k}.wav", np.zeros(100), 8000)
        return result

    monkeypatch.setattr(Separator, "separate", slow_separate)
    code = main(["separate", str(path), "--out", str(out), "--model", str(tiny_checkpoint)])
    err = capsys.readouterr().err
    assert code == 1 and "--force" in err and "--overwrite" not in err, err


@pytest.mark.parametrize("samples", [1, 3, 8])
def test_a_file_of_a_few_samples_is_called_too_short(tmp_path, tiny_checkpoint, capsys, samples):
    path = tmp_path / "tiny.wav"
    sf.write(path, np.full(samples, 0.1, dtype=np.float32), 8000)
    code = main(["separate", str(path), "--out", str(tmp_path / "out"), "--model", str(tiny_checkpoint)])
    err = capsys.readouterr().err
    assert code == 1 and "too short" in err and "channels from time" not in err, err
    with pytest.raises(ValueError, match="too short"):
        Separator.from_checkpoint(tiny_checkpoint).separate(np.full(samples, 0.1, dtype=np.float32), 8000)


def test_a_manifest_with_a_utf8_byte_order_mark_is_read(tmp_path, mixture_audio):
    from voxsep.data.manifest import load_manifest

    sf.write(tmp_path / "m.wav", mixture_audio, 8000)
    sf.write(tmp_path / "a.wav", mixture_audio, 8000)
    sf.write(tmp_path / "b.wav", mixture_audio, 8000)
    text = "mixture_ID,mixture_path,source_1_path,source_2_path,length\nm,m.wav,a.wav,b.wav,100\n"
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    records = load_manifest(tmp_path / "bom.csv")
    assert [r.mixture_id for r in records] == ["m"] and records[0].source_paths[1] == tmp_path / "b.wav"
