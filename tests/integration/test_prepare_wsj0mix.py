"""``voxsep prepare wsj0mix`` on a tiny WSJ0 tree + mixing lists made from the offline audio."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from voxsep.core.audio import read_audio
from voxsep.data.manifest import load_manifest
from voxsep_corpus.levels import active_level
from voxsep_corpus.wsj0mix import build_wsj0mix, matlab_num2str, parse_mixing_list, resolve_wsj_path

QUANTUM = 1.0 / 32768


@pytest.fixture(scope="module")
def wsj0_2mix(tiny_wsj0, tmp_path_factory):
    root, lists = tiny_wsj0
    out = tmp_path_factory.mktemp("wsj0mix") / "wsj0-2mix"
    counts = build_wsj0mix(root, lists, out, n_src=2, sample_rates=(8000,), modes=("min", "max"), jobs=1)
    return out, counts


def _digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*.wav"))}


def test_layout_names_and_mixing_rule(wsj0_2mix, tiny_wsj0):
    out, counts = wsj0_2mix
    root, lists = tiny_wsj0
    assert counts == {f"wav8k/{m}/{s}": n for m in ("min", "max") for s, n in (("tr", 3), ("cv", 3), ("tt", 3))}
    for split in ("tr", "cv", "tt"):
        entries = parse_mixing_list(lists / f"mix_2_spk_{split}.txt", 2)
        # The published layout loads as is (wsj0-mix folder), and so does our manifest.
        folder_records = {r.mixture_id: r for r in load_manifest(out / "wav8k" / "min" / split)}
        assert len(load_manifest(out / "wav8k" / "min" / f"{split}.csv")) == len(entries)
        for paths, snrs in entries:
            name = f"{Path(paths[0]).stem}_{matlab_num2str(snrs[0])}_{Path(paths[1]).stem}_{matlab_num2str(snrs[1])}"
            assert name in folder_records
            utterances = [read_audio(resolve_wsj_path(root, p), sample_rate=8000)[0][0] for p in paths]
            for mode in ("min", "max"):
                base = out / "wav8k" / mode / split
                mixture = read_audio(base / "mix" / f"{name}.wav")[0][0]
                s1, s2 = (read_audio(base / s / f"{name}.wav")[0][0] for s in ("s1", "s2"))
                lengths = [u.size for u in utterances]
                assert mixture.size == (min(lengths) if mode == "min" else max(lengths))
                assert np.abs(s1 + s2 - mixture).max() <= 3 * QUANTUM
                assert max(np.abs(mixture).max(), np.abs(s1).max(), np.abs(s2).max()) == pytest.approx(
                    0.9, abs=2 * QUANTUM)
                # The reference rule: s_i = k * 10 ** (snr_i / 20) * x_i / sqrt(level(x_i)) with one k.
                scales = []
                for written, x, snr in zip((s1, s2), utterances, snrs):
                    x = x.astype(np.float64)
                    reference = 10 ** (float(snr) / 20) * x / np.sqrt(active_level(x, 8000)[0])
                    n = min(written.size, reference.size)
                    scales.append(np.sum(written[:n] * reference[:n]) / np.sum(reference[:n] ** 2))
                    assert np.abs(written[:n] - scales[-1] * reference[:n]).max() <= 1.5 * QUANTUM
                assert scales[0] == pytest.approx(scales[1], rel=1e-3)


def test_three_speakers_and_16k(tiny_wsj0, tmp_path):
    root, lists = tiny_wsj0
    out = tmp_path / "wsj0-3mix"
    counts = build_wsj0mix(root, lists, out, n_src=3, sample_rates=(16000,), modes=("max",), splits=("tt",))
    assert counts == {"wav16k/max/tt": 2}
    records = load_manifest(out / "wav16k" / "max" / "tt")
    assert all(r.n_src == 3 for r in records)
    for record in records:
        mixture, rate = read_audio(record.mixture_path)
        assert rate == 16000
        sources = np.stack([read_audio(p)[0][0] for p in record.source_paths])
        assert np.abs(sources.sum(axis=0) - mixture[0]).max() <= 4 * QUANTUM


def test_resume_gives_identical_files(wsj0_2mix, tiny_wsj0, tmp_path):
    import shutil

    out, _ = wsj0_2mix
    root, lists = tiny_wsj0
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    before = _digest(copy)
    wavs = sorted(copy.rglob("*.wav"))
    for path in wavs[::5]:
        path.unlink()
    build_wsj0mix(root, lists, copy, n_src=2, sample_rates=(8000,), modes=("min", "max"))
    assert _digest(copy) == before
    with pytest.raises(FileExistsError, match="overwrite=True"):
        build_wsj0mix(root, lists, copy, n_src=2, sample_rates=(8000,), modes=("max",))
    # --overwrite replaces the previous build: the min-mode files of the old settings are gone.
    build_wsj0mix(root, lists, copy, n_src=2, sample_rates=(8000,), modes=("max",), splits=("tt",), overwrite=True)
    assert not (copy / "wav8k" / "min").exists()
    assert _digest(copy) == {k: v for k, v in before.items() if k.startswith("wav8k/max/tt/")}


def test_bad_inputs(tiny_wsj0, tmp_path):
    root, lists = tiny_wsj0
    bad = tmp_path / "lists"
    bad.mkdir()
    (bad / "mix_2_spk_tt.txt").write_text("wsj0/si_et_05/x00/missing.wv1 1.0 wsj0/si_et_05/x01/gone.wv1 -1.0\n")
    with pytest.raises(FileNotFoundError, match="missing.wv1"):
        build_wsj0mix(root, bad, tmp_path / "out", splits=("tt",))
    assert not (tmp_path / "out").exists()  # checked before writing anything
    (bad / "mix_2_spk_tt.txt").write_text("a.wv1 1.0 b.wv1\n")
    with pytest.raises(ValueError, match=r"mix_2_spk_tt.txt:1: expected 4 fields"):
        build_wsj0mix(root, bad, tmp_path / "out", splits=("tt",))
    with pytest.raises(FileNotFoundError, match="mix_2_spk_cv.txt"):
        build_wsj0mix(root, bad, tmp_path / "out", splits=("cv",))
    with pytest.raises(ValueError, match="inside the WSJ0 folder"):
        build_wsj0mix(root, lists, root / "wsj0-2mix", splits=("tt",))


def test_num2str():
    assert [matlab_num2str(x) for x in ("0.26058", "-1.9857", "2.0000", "-0.0", "1.234567")] == [
        "0.26058", "-1.9857", "2", "0", "1.2346"]
