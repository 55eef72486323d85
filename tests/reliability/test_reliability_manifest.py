"""Manifests (issue 16, items 11 and 12): a misnamed source column is an error naming it,
informational columns are listed as ignored, and ``prepare check`` lists every problem
of a wsj0-mix folder, not only the first."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voxsep.cli import main as cli_main
from voxsep.data.manifest import load_manifest


def make_folder(root: Path, names=("a", "b", "c")) -> Path:
    rng = np.random.default_rng(0)
    for name in names:
        sources = [rng.standard_normal(800).astype(np.float32) * 0.1 for _ in range(2)]
        for folder, audio in (("s1", sources[0]), ("s2", sources[1]), ("mix", sources[0] + sources[1])):
            (root / folder).mkdir(parents=True, exist_ok=True)
            sf.write(root / folder / f"{name}.wav", audio, 8000)
    return root


def write_csv(path: Path, header: str, row: str) -> Path:
    path.write_text(header + "\n" + row + "\n")
    return path


# ------------------------------------------------------------------ item 11: unknown columns
@pytest.mark.parametrize("column", ["src2", "source2", "s2", "source_2", "noise", "s2_path", "spk2_wav"])
def test_a_misnamed_source_or_noise_column_is_an_error_naming_it(tmp_path, column, capsys):
    make_folder(tmp_path / "tt")
    path = write_csv(tmp_path / "m.csv", f"mixture_ID,mixture_path,source_1_path,{column},length",
                     "a,tt/mix/a.wav,tt/s1/a.wav,tt/s2/a.wav,800")
    with pytest.raises(ValueError, match=column):
        load_manifest(path)
    assert cli_main(["prepare", "check", str(path)]) == 2
    out = capsys.readouterr().out
    assert column in out and "OK" not in out.split()


def test_a_column_of_audio_paths_under_any_name_is_an_error(tmp_path):
    make_folder(tmp_path / "tt")
    path = write_csv(tmp_path / "m.csv", "mixture_ID,mixture_path,source_1_path,second_talker,length",
                     "a,tt/mix/a.wav,tt/s1/a.wav,tt/s2/a.wav,800")
    with pytest.raises(ValueError, match="second_talker"):
        load_manifest(path)


def test_informational_columns_are_listed_as_ignored(tmp_path, capsys):
    make_folder(tmp_path / "tt")
    path = write_csv(tmp_path / "m.csv", "mixture_ID,mixture_path,source_1_path,source_2_path,length,snr,speaker_1",
                     "a,tt/mix/a.wav,tt/s1/a.wav,tt/s2/a.wav,800,2.5,1089")
    assert load_manifest(path)[0].n_src == 2
    assert cli_main(["prepare", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "ignored columns: snr, speaker_1" in out


# ------------------------------------------------------------------ item 12: every problem of a folder
def test_check_lists_every_problem_of_a_folder(tmp_path, capsys):
    root = make_folder(tmp_path / "tt", names=("a", "b", "c", "d"))
    (root / "s2" / "a.wav").unlink()                                   # missing
    (root / "mix" / "b.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")  # corrupt, next to it
    sf.write(root / "s1" / "c.wav", np.zeros(700, dtype=np.float32), 8000)  # length mismatch
    sf.write(root / "s2" / "d.wav", np.zeros(1600, dtype=np.float32), 16000)  # rate (and length) mismatch
    sf.write(root / "s1" / "e.wav", np.zeros(800, dtype=np.float32), 8000)  # no mixture
    assert cli_main(["prepare", "check", str(root)]) == 1
    out = capsys.readouterr().out
    for expected in ("s2/a.wav", "b.wav", "700 samples", "16000 Hz", "e.wav"):
        assert expected in out, expected
    assert "INVALID: 6 problem(s)" in out  # d.wav's rate and its length
    with pytest.raises(ValueError, match="a.wav"):
        load_manifest(root)  # loading for training still stops at the first problem
