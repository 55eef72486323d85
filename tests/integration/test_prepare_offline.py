"""``voxsep prepare offline`` on the tiny session corpus (tests/conftest.py): layout, splits,
mixing rule, resume after interruption, refusal to overwrite, missing Debian packages."""

from __future__ import annotations

import csv
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from voxsep.data.audio import read_audio
from voxsep.data.manifest import load_manifest
from voxsep.data.prepare import offline
from voxsep.data.prepare.common import MissingPackageError
from voxsep.data.prepare.levels import mix_at_levels

QUANTUM = 1.0 / 32768  # PCM_16 step


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "README.md"}


def test_layout_and_speaker_disjoint_splits(offline_corpus, speech_pool, mix2_manifests):
    speakers = {r["speaker"]: r for r in _rows(offline_corpus / "speakers.csv")}
    assert set(_rows(offline_corpus / "speakers.csv")[0]) == {"speaker", "sex", "kind", "split", "description"}
    split_of = {}
    for split in ("train", "valid", "test"):
        rows = _rows(offline_corpus / "wav8k" / f"utterances_{split}.csv")
        assert list(rows[0]) == ["utterance_id", "speaker", "path", "length", "sample_rate"]
        for row in rows:
            assert speakers[row["speaker"]]["split"] == split
            assert (offline_corpus / "wav8k" / row["path"]).is_file()
            assert int(row["sample_rate"]) == 8000
            split_of[row["utterance_id"]] = split
    # Every speaker group (a person and the voices derived from it) sits in one split.
    groups: dict[str, set[str]] = {}
    for s in offline.SPEAKERS:
        groups.setdefault(s.group, set()).add(speakers[s.name]["split"])
    assert all(len(splits) == 1 for splits in groups.values()), groups
    # The test split holds a real female voice and synthetic male voices.
    test = [r for r in speakers.values() if r["split"] == "test"]
    assert any(r["kind"] == "real" and r["sex"] == "F" for r in test)
    assert any(r["kind"] == "synthetic" and r["sex"] == "M" for r in test)
    assert set(speech_pool) == {s for s, r in speakers.items() if r["split"] == "train"}
    # Mixtures only use utterances of their split, from different speaker groups.
    group_of = {s.name: s.group for s in offline.SPEAKERS}
    for n_src in (2, 3):
        for split in ("train", "valid", "test"):
            records = load_manifest(offline_corpus / "wav8k" / f"{n_src}speakers" / f"{split}.csv")
            assert len(records) == offline.TINY[f"n_{split}_mixtures"]
            lines = (offline_corpus / "wav8k" / f"{n_src}speakers" / f"mix_{n_src}_spk_{split}.txt").read_text()
            for line in lines.splitlines():
                utterances = [Path(p).stem for p in line.split()[0::2]]
                assert len(utterances) == n_src
                assert {split_of[u] for u in utterances} == {split}
                assert len({group_of[u.rsplit("-", 1)[0]] for u in utterances}) == n_src
    assert mix2_manifests["test"].is_file() and len(load_manifest(mix2_manifests["test"])) == 4
    readme = (offline_corpus / "README.md").read_text()
    for phrase in ("real", "synthetic", "No noise", "CC BY-SA", "GPL", "demos"):
        assert phrase in readme


@pytest.mark.parametrize("n_src", [2, 3])
def test_mixtures_follow_the_mixing_list(offline_corpus, n_src):
    set_dir = offline_corpus / "wav8k" / f"{n_src}speakers"
    lines = (set_dir / f"mix_{n_src}_spk_test.txt").read_text().splitlines()
    records = {r.mixture_id: r for r in load_manifest(set_dir / "test.csv")}
    for line in lines:
        fields = line.split()
        paths, gains = fields[0::2], [float(g) for g in fields[1::2]]
        name = "_".join(f"{Path(p).stem}_{g}" for p, g in zip(paths, fields[1::2]))
        record = records[name]
        mixture = read_audio(record.mixture_path)[0][0]
        sources = np.stack([read_audio(p)[0][0] for p in record.source_paths])
        assert sources.shape == (n_src, mixture.size) == (n_src, record.length)
        # The sources sum to the mixture (up to PCM_16 rounding of each file).
        assert np.abs(sources.sum(axis=0) - mixture).max() <= (n_src + 1) * QUANTUM
        assert max(np.abs(mixture).max(), np.abs(sources).max()) == pytest.approx(0.9, abs=2 * QUANTUM)
        # Remixing the utterances with the list's gains reproduces the files.
        utterances = [read_audio(set_dir.parent / p)[0][0] for p in paths]
        expected_mix, expected_sources = mix_at_levels(utterances, gains, 8000, mode="min")
        assert np.abs(expected_sources - sources).max() <= QUANTUM
        assert np.abs(expected_mix - mixture).max() <= QUANTUM
        if n_src == 2:
            assert gains[0] == -gains[1] and abs(gains[0]) <= offline.GAIN_DB


def test_resume_after_interruption_gives_identical_files(offline_corpus, tmp_path, monkeypatch):
    copy = tmp_path / "corpus"
    shutil.copytree(offline_corpus, copy)
    before = _digest(copy)
    # Simulate a run killed midway: files of the last steps missing, a stale temp file left.
    speech = sorted((copy / "wav8k" / "speech").rglob("*.wav"))
    for path in speech[::7]:
        path.unlink()
    mixes = sorted((copy / "wav8k" / "2speakers" / "train" / "mix").glob("*.wav"))
    for path in mixes[:3]:
        path.unlink()
    (copy / "wav8k" / "2speakers" / "train" / "s1" / mixes[4].name).unlink()
    (copy / "wav8k" / "2speakers" / "train.csv").unlink()
    (copy / "wav8k" / "2speakers" / "train" / "mix" / ".stale.wav.tmp").write_bytes(b"partial")
    # First resume is interrupted again, inside the mixing step.
    real_mix = offline._make_mixtures

    def interrupted(task):
        raise KeyboardInterrupt

    monkeypatch.setattr(offline, "_make_mixtures", interrupted)
    with pytest.raises(KeyboardInterrupt):
        offline.build_offline(copy, tiny=True, jobs=1)
    monkeypatch.setattr(offline, "_make_mixtures", real_mix)
    offline.build_offline(copy, tiny=True, jobs=1)
    (copy / "wav8k" / "2speakers" / "train" / "mix" / ".stale.wav.tmp").unlink()
    assert _digest(copy) == before


def test_refuses_other_settings_and_foreign_folders(offline_corpus, tmp_path, capsys):
    copy = tmp_path / "corpus"
    shutil.copytree(offline_corpus, copy)
    with pytest.raises(FileExistsError, match="seed.*--overwrite"):
        offline.build_offline(copy, tiny=True, seed=1)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not written by voxsep"):
        offline.build_offline(foreign, tiny=True, overwrite=True)
    assert (foreign / "notes.txt").read_text() == "mine"
    from voxsep.cli import main

    assert main(["prepare", "offline", str(copy), "--tiny", "--seed", "3"]) == 2
    assert "--overwrite" in capsys.readouterr().out


def test_missing_debian_package_prints_apt_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(offline, "ASTERISK_ROOT", tmp_path / "no-asterisk")
    with pytest.raises(MissingPackageError) as info:
        offline.check_packages(8000)
    message = str(info.value)
    assert "apt-get install -y asterisk-core-sounds-en-wav asterisk-core-sounds-es-wav asterisk-core-sounds-fr-wav " \
           "asterisk-core-sounds-it-wav asterisk-core-sounds-ru-wav asterisk-prompt-it-menardi-wav" in message
    assert "espeak-ng" not in message.split("Install")[0]  # only the missing ones are named
    from voxsep.cli import main

    assert main(["prepare", "offline", str(tmp_path / "out"), "--tiny"]) == 2
    assert "apt-get install -y asterisk-core-sounds-en-wav" in capsys.readouterr().out
    assert not (tmp_path / "out").exists()  # nothing written


def test_help_has_examples(capsys):
    from voxsep.cli import main

    with pytest.raises(SystemExit):
        main(["prepare", "offline", "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "--tiny" in out and "--jobs" in out


def test_16k_uses_wideband_g722_prompts():
    def high_band_share(signal: np.ndarray) -> float:
        spectrum = np.abs(np.fft.rfft(signal)) ** 2
        frequencies = np.fft.rfftfreq(signal.size, 1 / 16000)
        return spectrum[frequencies > 4500].sum() / spectrum.sum()

    english = offline._load_prompt(offline.ASTERISK_ROOT / "en_US_f_Allison" / "privacy-prompt.wav", 16000)
    french = offline._load_prompt(offline.ASTERISK_ROOT / "fr_CA_f_June" / "privacy-prompt.wav", 16000)
    assert english.size == pytest.approx(2 * read_audio(offline.ASTERISK_ROOT / "en_US_f_Allison"
                                                        / "privacy-prompt.wav")[0].shape[-1], abs=2)
    assert high_band_share(english) > 1e-4 > high_band_share(french) * 10  # G.722 is wideband, the 8 kHz wav not
