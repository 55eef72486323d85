"""Manifests (LibriMix CSV, wsj0-mix / WHAM! folders, .scp lists) and ``voxsep prepare check``,
on tiny sets built here from real speech (asterisk prompts, 8 kHz)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from voxsep.cli import main as cli_main
from voxsep.core.audio import read_audio, resample, write_audio
from voxsep.data.manifest import MixtureRecord, load_manifest, write_manifest

SOUNDS = Path("/usr/share/asterisk/sounds")
SPEAKER_DIRS = ["en", "fr_CA_f_June", "it", "ru"]

pytestmark = pytest.mark.skipif(not (SOUNDS / "en").is_dir(), reason="asterisk sound packages are not installed")

WSJ0_IDS = ["011a0101_1.2_401c020r_-1.2", "012b0102_0.5_402d030s_-0.5", "013c0103_2.1_403e040t_-2.1"]


def speech(speaker: int, k: int) -> np.ndarray:
    files = sorted((SOUNDS / SPEAKER_DIRS[speaker]).glob("*.wav"))
    return read_audio(files[10 + 7 * k])[0][0]


def make_wsj0mix(root: Path, n_src: int = 2, names: list[str] = WSJ0_IDS, wham: bool = False) -> Path:
    """A wsj0-mix style folder: mix/ s1/ s2/ [s3/] (or WHAM!'s mix_clean/ mix_both/ noise/)."""
    for k, name in enumerate(names):
        sources = [0.5 * speech(i, k) for i in range(n_src)]
        length = min(len(s) for s in sources)  # "min" mode
        sources = [s[:length] for s in sources]
        for i, source in enumerate(sources):
            write_audio(root / f"s{i + 1}" / f"{name}.wav", source, 8000, subtype="FLOAT")
        mixture = np.sum(sources, axis=0)
        if wham:
            noise = 0.1 * speech(3, k + 5)[:length]
            noise = np.pad(noise, (0, length - len(noise)))
            write_audio(root / "noise" / f"{name}.wav", noise, 8000, subtype="FLOAT")
            write_audio(root / "mix_clean" / f"{name}.wav", mixture, 8000, subtype="FLOAT")
            write_audio(root / "mix_both" / f"{name}.wav", mixture + noise, 8000, subtype="FLOAT")
        else:
            write_audio(root / "mix" / f"{name}.wav", mixture, 8000, subtype="FLOAT")
    return root


def test_wsj0mix_folder(tmp_path: Path) -> None:
    root = make_wsj0mix(tmp_path / "tt")
    records = load_manifest(root)
    assert [r.mixture_id for r in records] == sorted(WSJ0_IDS)
    for record in records:
        assert record.n_src == 2 and record.noise_path is None and record.length is None
        assert record.mixture_path == root / "mix" / f"{record.mixture_id}.wav"
        assert record.source_paths == (root / "s1" / record.mixture_path.name, root / "s2" / record.mixture_path.name)
    three = load_manifest(make_wsj0mix(tmp_path / "3spk", n_src=3))
    assert {r.n_src for r in three} == {3}


def test_wham_folder_picks_mixture_and_noise(tmp_path: Path) -> None:
    root = make_wsj0mix(tmp_path / "wham", wham=True)
    records = load_manifest(root)
    assert records[0].mixture_path.parent.name == "mix_both"
    assert records[0].noise_path == root / "noise" / records[0].mixture_path.name
    clean = load_manifest(root, mix_folder="mix_clean")
    assert clean[0].mixture_path.parent.name == "mix_clean"


def test_folder_errors(tmp_path: Path) -> None:
    root = make_wsj0mix(tmp_path / "wsj0-mix" / "tt")
    with pytest.raises(ValueError, match=r"not a wsj0-mix folder.*holds the sets \['tt'\]"):
        load_manifest(tmp_path / "wsj0-mix")
    (root / "s2" / f"{WSJ0_IDS[1]}.wav").unlink()
    with pytest.raises(ValueError, match=f"mix/{WSJ0_IDS[1]}.wav has no matching .*s2/{WSJ0_IDS[1]}.wav"):
        load_manifest(root)
    shutil.copy(root / "s1" / f"{WSJ0_IDS[0]}.wav", root / "s2" / f"{WSJ0_IDS[1]}.wav")
    shutil.copy(root / "s1" / f"{WSJ0_IDS[0]}.wav", root / "s1" / "orphan.wav")
    with pytest.raises(ValueError, match="1 source file.* without a mixture.*orphan.wav"):
        load_manifest(root)
    with pytest.raises(FileNotFoundError, match="manifest not found"):
        load_manifest(tmp_path / "missing.csv")


def test_csv_round_trip_relative_and_movable(tmp_path: Path) -> None:
    root = make_wsj0mix(tmp_path / "set" / "tt")
    records = load_manifest(root)
    csv_path = write_manifest(tmp_path / "set" / "tt.csv", records)
    text = csv_path.read_text()
    assert text.splitlines()[0] == "mixture_ID,mixture_path,source_1_path,source_2_path,length"
    assert str(tmp_path) not in text and "tt/mix/" in text  # relative to the CSV
    loaded = load_manifest(csv_path)
    assert [(r.mixture_id, r.mixture_path.resolve(), tuple(p.resolve() for p in r.source_paths)) for r in loaded] \
        == [(r.mixture_id, r.mixture_path.resolve(), tuple(p.resolve() for p in r.source_paths)) for r in records]
    moved = shutil.copytree(tmp_path / "set", tmp_path / "moved")
    for record in load_manifest(moved / "tt.csv"):
        assert all(p.is_file() and str(moved) in str(p) for p in record.paths)
    with pytest.raises(FileExistsError, match="tt.csv already exists"):
        write_manifest(csv_path, records)
    write_manifest(csv_path, records[:1], overwrite=True)
    assert len(load_manifest(csv_path)) == 1


def test_librimix_csv_absolute_paths_noise_and_length(tmp_path: Path) -> None:
    root = make_wsj0mix(tmp_path / "wham", wham=True)
    lines = ["mixture_ID,mixture_path,source_1_path,source_2_path,noise_path,length"]
    for record in load_manifest(root):
        n = len(read_audio(record.mixture_path)[0][0])
        lines.append(",".join([record.mixture_id, str(record.mixture_path), *map(str, record.source_paths),
                               str(record.noise_path), str(n)]))
    csv_path = tmp_path / "metadata" / "mixture_test_mix_both.csv"
    csv_path.parent.mkdir()
    csv_path.write_text("\n".join(lines) + "\n")
    records = load_manifest(csv_path)
    assert len(records) == 3 and all(r.noise_path and r.noise_path.is_file() for r in records)
    assert records[0].length == len(read_audio(records[0].mixture_path)[0][0])
    out = write_manifest(tmp_path / "again.csv", records)
    assert out.read_text().splitlines()[0].endswith("source_2_path,noise_path,length")
    assert load_manifest(out) == [MixtureRecord(r.mixture_id, r.mixture_path.resolve(),
                                                tuple(p.resolve() for p in r.source_paths),
                                                r.noise_path.resolve(), r.length) for r in records]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("id,mix,s1\n", "line 1: header .* is not LibriMix metadata"),
        ("mixture_ID,mixture_path,source_1_path,source_3_path,length\n", "source_1_path..source_N_path"),
        ("mixture_ID,mixture_path,source_1_path,source_2_path,length\n", "header but no mixtures"),
        ("mixture_ID,mixture_path,source_1_path,source_2_path,length\na,m.wav,1.wav,2.wav,12x\n",
         "line 2: length '12x' is not a number"),
        ("mixture_ID,mixture_path,source_1_path,source_2_path,length\na,m.wav,1.wav,2.wav,5\na,m.wav,1.wav,2.wav,5\n",
         "line 3: duplicate mixture_ID 'a'"),
        ("mixture_ID,mixture_path,source_1_path,source_2_path,length\na,m.wav,,2.wav,5\n", "line 2: empty source"),
        ("mixture_ID,mixture_path,source_1_path,source_2_path,length\na,m.wav,1.wav\n", "line 2: expected 5"),
        ("mixture_ID,mixture_path,source_1_path,source_2_path,length\na,m.wav,1.wav,2.wav,-3\n",
         "line 2: length must be positive"),
    ],
)
def test_csv_errors_name_the_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as info:
        load_manifest(path)
    assert "bad.csv" in str(info.value)


def test_scp_list(tmp_path: Path) -> None:
    root = make_wsj0mix(tmp_path / "data" / "tt", n_src=3)
    records = load_manifest(root)
    lines = ["# ClearerVoice-style list: mix s1 s2 s3", ""]
    for i, r in enumerate(records):  # first line relative to the list, others absolute
        paths = [r.mixture_path, *r.source_paths]
        lines.append(" ".join(str(p.relative_to(tmp_path / "data")) if i == 0 else str(p) for p in paths))
    scp = tmp_path / "data" / "tt_wsj0_3mix_8k.scp"
    scp.write_text("\n".join(lines) + "\n")
    loaded = load_manifest(scp)
    assert [r.mixture_id for r in loaded] == [r.mixture_id for r in records]
    assert all(p.is_file() for r in loaded for p in r.paths) and loaded[0].n_src == 3
    scp.write_text(lines[2] + "\n" + " ".join(lines[3].split()[:3]) + "\n")
    with pytest.raises(ValueError, match=r"tt_wsj0_3mix_8k.scp line 2: 3 fields but earlier lines have 4"):
        load_manifest(scp)
    scp.write_text("only_one.wav two.wav\n")
    with pytest.raises(ValueError, match="line 1: expected 'mix_path s1_path s2_path"):
        load_manifest(scp)


def test_write_manifest_rejects_mixed_source_counts(tmp_path: Path) -> None:
    records = [MixtureRecord("a", "m.wav", ["1.wav", "2.wav"]), MixtureRecord("b", "m.wav", ["1.wav", "2.wav", "3.wav"])]
    with pytest.raises(ValueError, match="'b' has 3 sources"):
        write_manifest(tmp_path / "x.csv", records)
    with pytest.raises(ValueError, match="no records"):
        write_manifest(tmp_path / "x.csv", [])
    assert not (tmp_path / "x.csv").exists()


# --- voxsep prepare check ---------------------------------------------------------------


def test_check_valid_folder_and_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_wsj0mix(tmp_path / "tt")
    assert cli_main(["prepare", "check", str(root), "--n-src", "2", "--sample-rate", "8000", "--decode"]) == 0
    out = capsys.readouterr().out
    assert "3 mixtures of 2 sources" in out and "speakers: 6" in out and "8000 Hz" in out and out.endswith("OK\n")
    csv_path = write_manifest(tmp_path / "tt.csv", load_manifest(root))
    assert cli_main(["prepare", "check", str(csv_path)]) == 0


def test_check_reports_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_wsj0mix(tmp_path / "tt")
    records = load_manifest(root)
    # Wrong length column on line 2, a missing source on line 3, a source at 16 kHz on line 4.
    records[0] = MixtureRecord(records[0].mixture_id, records[0].mixture_path, records[0].source_paths, length=7)
    records[1].source_paths[1].unlink()
    s2 = records[2].source_paths[1]
    write_audio(s2, resample(read_audio(s2)[0], 8000, 16000), 16000, overwrite=True)
    csv_path = write_manifest(tmp_path / "bad.csv", records)
    assert cli_main(["prepare", "check", str(csv_path), "--n-src", "3"]) == 1
    out = capsys.readouterr().out
    assert "INVALID" in out
    assert "line 2 (" in out and "length column says 7 samples" in out
    assert "line 3 (" in out and "audio file not found" in out
    assert "line 4 (" in out and "is at 16000 Hz, the mixture at 8000 Hz" in out
    assert "3 sources, expected 3" not in out and "2 sources, expected 3" in out


def test_check_sum_of_sources(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_wsj0mix(tmp_path / "tt")
    wham = make_wsj0mix(tmp_path / "wham", wham=True)
    assert cli_main(["prepare", "check", str(root), "--check-sum"]) == 0
    assert cli_main(["prepare", "check", str(wham), "--check-sum"]) == 0  # mix_both = s1 + s2 + noise
    assert cli_main(["prepare", "check", str(wham), "--check-sum", "--mix-folder", "mix_clean"]) == 0
    capsys.readouterr()
    s2 = root / "s2" / f"{WSJ0_IDS[0]}.wav"
    write_audio(s2, 0.5 * read_audio(s2)[0], 8000, overwrite=True, subtype="FLOAT")  # a wrong level
    assert cli_main(["prepare", "check", str(root), "--check-sum"]) == 1
    out = capsys.readouterr().out
    assert f"{WSJ0_IDS[0]}: the sources do not add up to the mixture" in out and out.count("do not add up") == 1


def test_check_counts_speakers_through_utterance_lists(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Offline-corpus layout: wav8k/utterances_train.csv above wav8k/2speakers/train/.
    names = ["ast_en-0001_1.5_espeak_m3-0002_-1.5", "ast_en-0003_0_ast_fr-0001_0"]
    root = make_wsj0mix(tmp_path / "wav8k" / "2speakers" / "train", names=names)
    (tmp_path / "wav8k" / "utterances_train.csv").write_text(
        "utterance_id,speaker,path,length,sample_rate\n"
        + "".join(f"{u},{u.rsplit('-', 1)[0]},speech/{u}.wav,100,8000\n"
                  for u in ("ast_en-0001", "ast_en-0003", "espeak_m3-0002", "ast_fr-0001")))
    assert cli_main(["prepare", "check", str(root)]) == 0
    assert "speakers: 3" in capsys.readouterr().out
    (tmp_path / "wav8k" / "utterances_train.csv").unlink()
    assert cli_main(["prepare", "check", str(root)]) == 0
    assert "speakers: unknown" in capsys.readouterr().out


def test_check_utterance_list_and_unreadable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = ["utterance_id,speaker,path,length,sample_rate"]
    for speaker in SPEAKER_DIRS[:3]:
        for file in sorted((SOUNDS / speaker).glob("*.wav"))[:2]:
            rows.append(f"{speaker}_{file.stem},{speaker},{file},0,8000")
    listing = tmp_path / "utterances_train.csv"
    listing.write_text("\n".join(rows) + "\n")
    assert cli_main(["prepare", "check", str(listing)]) == 0
    assert "6 utterances, 3 speakers" in capsys.readouterr().out
    (tmp_path / "broken.csv").write_text("nonsense\n")
    assert cli_main(["prepare", "check", str(tmp_path / "broken.csv")]) == 2
    assert "not a valid dataset" in capsys.readouterr().out
