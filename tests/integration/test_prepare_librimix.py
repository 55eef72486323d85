"""``voxsep prepare librimix`` on a tiny LibriSpeech tree and WHAM!-noise folder (offline audio)."""

from __future__ import annotations

import csv
import hashlib
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from voxsep.core.audio import audio_info, read_audio, resample
from voxsep.data.manifest import load_manifest
from voxsep_corpus import librimix
from voxsep_corpus.librimix import build_librimix, extend_noise, integrated_loudness

QUANTUM = 1.0 / 32768


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def libri2mix(tiny_librispeech, tiny_wham_noise, tmp_path_factory):
    out = tmp_path_factory.mktemp("librimix") / "Libri2Mix"
    counts = build_librimix(tiny_librispeech, out, n_src=2, wham_noise=tiny_wham_noise, sample_rates=(8000,),
                            modes=("min",), seed=0, jobs=1)
    return out, counts


def test_pairs_speakers_and_metadata(libri2mix, tiny_librispeech):
    out, counts = libri2mix
    assert counts == {"train-100": 3, "dev": 3, "test": 3}  # 6 utterances of 3 speakers per subset
    for subset in ("train-100", "dev", "test"):
        meta = _rows(out / "metadata" / f"libri2mix_{subset}.csv")
        assert list(meta[0]) == ["mixture_ID", "source_1_path", "source_1_gain", "source_2_path", "source_2_gain",
                                 "noise_path", "noise_gain"]
        used = [m[f"source_{i}_path"] for m in meta for i in (1, 2)]
        assert len(used) == len(set(used))  # each utterance at most once
        for m in meta:
            speakers = {Path(m[f"source_{i}_path"]).parts[1] for i in (1, 2)}
            assert len(speakers) == 2
            assert m["mixture_ID"] == "_".join(Path(m[f"source_{i}_path"]).stem for i in (1, 2))
        for kind, n_src in (("mix_clean", 2), ("mix_both", 2), ("mix_single", 1)):
            records = load_manifest(out / "wav8k" / "min" / "metadata" / f"mixture_{subset}_{kind}.csv")
            assert len(records) == 3 and all(r.n_src == n_src for r in records)
    pool = _rows(out / "metadata" / "utterances_dev.csv")
    assert len(pool) == 6 and (out / "metadata" / pool[0]["path"]).resolve().is_file()
    sexes = {r["speaker"]: r["sex"] for r in _rows(out / "metadata" / "speakers.csv")}
    assert set(sexes.values()) == {"F", "M"}


def test_loudness_targets_gains_and_sums(libri2mix, tiny_librispeech, tiny_wham_noise):
    out, _ = libri2mix
    for subset in ("dev", "test"):
        for m in _rows(out / "metadata" / f"libri2mix_{subset}.csv"):
            gains = [float(m["source_1_gain"]), float(m["source_2_gain"]), float(m["noise_gain"])]
            sources = [read_audio(tiny_librispeech / m[f"source_{i}_path"])[0][0].astype(np.float64) for i in (1, 2)]
            noise = read_audio(tiny_wham_noise / m["noise_path"])[0][0].astype(np.float64)
            noise = extend_noise(noise, max(s.size for s in sources), 16000)
            loudness = [integrated_loudness(g * x, 16000) for g, x in zip(gains, [*sources, noise])]
            # Targets in LibriMix's ranges, unless the clipping guard lowered everything together.
            length = max(s.size for s in sources)
            peak = np.abs(sum(np.pad(g * x, (0, length - x.size)) for g, x in zip(gains, [*sources, noise]))).max()
            if peak < 0.9 - 1e-6:
                assert all(-33 - 1e-6 <= x <= -25 + 1e-6 for x in loudness[:2]), loudness
                assert -38 - 1e-6 <= loudness[2] <= -30 + 1e-6
            else:
                assert peak == pytest.approx(0.9)
            # Written files: gained, resampled, cut to the shortest; mixtures are sums.
            base = out / "wav8k" / "min" / subset
            name = f"{m['mixture_ID']}.wav"
            s1, s2, written_noise = (read_audio(base / d / name)[0][0] for d in ("s1", "s2", "noise"))
            expected = resample(gains[0] * sources[0], 16000, 8000)[: s1.size]
            assert s1.size == min(resample(s, 16000, 8000).size for s in sources)
            assert np.abs(expected - s1).max() <= 2 * QUANTUM  # PCM rounding; gains stored to 8 digits
            clean, both, single = (read_audio(base / d / name)[0][0] for d in ("mix_clean", "mix_both", "mix_single"))
            assert np.abs(s1 + s2 - clean).max() <= 3 * QUANTUM
            assert np.abs(s1 + s2 + written_noise - both).max() <= 4 * QUANTUM
            assert np.abs(s1 + written_noise - single).max() <= 3 * QUANTUM


def test_three_speakers_max_16k_without_noise(tiny_librispeech, tmp_path):
    out = tmp_path / "Libri3Mix"
    counts = build_librimix(tiny_librispeech, out, n_src=3, subsets=("test-clean",), sample_rates=(16000,),
                            modes=("max",))
    assert counts == {"test": 2}
    originals = {m["mixture_ID"]: [tiny_librispeech / m[f"source_{i}_path"] for i in (1, 2, 3)]
                 for m in _rows(out / "metadata" / "libri3mix_test.csv")}
    for record in load_manifest(out / "wav16k" / "max" / "metadata" / "mixture_test_mix_clean.csv"):
        sources = np.stack([read_audio(p)[0][0] for p in record.source_paths])
        assert record.n_src == 3 and record.noise_path is None
        assert np.abs(sources.sum(axis=0) - read_audio(record.mixture_path)[0][0]).max() <= 4 * QUANTUM
        # max mode: as long as the longest utterance, nothing cut.
        assert record.length == max(audio_info(p).frames for p in originals[record.mixture_id])
    assert not (out / "wav16k" / "max" / "test" / "noise").exists()


def test_resume_and_refusals(libri2mix, tiny_librispeech, tiny_wham_noise, tmp_path):
    out, _ = libri2mix
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    digest = {p.relative_to(copy).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest() for p in copy.rglob("*.wav")}
    for path in sorted(copy.rglob("*.wav"))[::4]:
        path.unlink()
    build_librimix(tiny_librispeech, copy, n_src=2, wham_noise=tiny_wham_noise, sample_rates=(8000,),
                   modes=("min",), seed=0)
    assert digest == {p.relative_to(copy).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
                      for p in copy.rglob("*.wav")}
    with pytest.raises(FileExistsError, match="seed"):
        build_librimix(tiny_librispeech, copy, n_src=2, wham_noise=tiny_wham_noise, seed=1)
    with pytest.raises(ValueError, match="inside the LibriSpeech folder"):
        build_librimix(tiny_librispeech, tiny_librispeech / "out")
    with pytest.raises(FileNotFoundError, match="train-clean-360"):
        build_librimix(tiny_librispeech, tmp_path / "x", subsets=("train-clean-360",))


def test_missing_pyloudnorm_names_the_install(monkeypatch, tiny_librispeech, tmp_path):
    monkeypatch.setitem(sys.modules, "pyloudnorm", None)
    with pytest.raises(ImportError, match="pip install pyloudnorm"):
        librimix.build_librimix(tiny_librispeech, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_extend_noise_crossfades():
    noise = np.sin(np.linspace(0, 300, 24000))
    longer = extend_noise(noise, 40000, 16000)
    assert longer.size == 40000
    np.testing.assert_array_equal(longer[:8000], noise[:8000])
    with pytest.raises(ValueError, match="too short"):
        extend_noise(noise[:1000], 5000, 16000)
