"""``voxsep prepare wham`` on a tiny wsj0-2mix build and a WHAM!-layout noise folder (offline audio:
babble of held-out talkers plus pink noise; no real noise recordings ship offline)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from voxsep.core.audio import audio_info, read_audio, write_audio
from voxsep.data.manifest import load_manifest
from voxsep_corpus.librimix import integrated_loudness
from voxsep_corpus.wham import build_wham, read_mix_params
from voxsep_corpus.wsj0mix import build_wsj0mix

QUANTUM = 1.0 / 32768


@pytest.fixture(scope="module")
def wham_inputs(tiny_wsj0, tiny_wham_noise, tmp_path_factory):
    """(wsj0-2mix build at 8 kHz min+max, WHAM! noise folder with per-utterance noise + metadata)."""
    root, lists = tiny_wsj0
    base = tmp_path_factory.mktemp("wham_inputs")
    wsjmix = base / "wsj0-2mix"
    build_wsj0mix(root, lists, wsjmix, n_src=2, sample_rates=(8000,), modes=("min", "max"), splits=("cv", "tt"))
    noise_root = base / "wham_noise"
    rng = np.random.default_rng(3)
    for split in ("cv", "tt"):
        long_noise = read_audio(tiny_wham_noise / split / "noise0.wav")[0]  # (2, 12 s) at 16 kHz
        rows = []
        for path in sorted((wsjmix / "wav8k" / "max" / split / "mix").glob("*.wav")):
            speech_16k = 2 * audio_info(path).frames
            start = 2 * int(rng.integers(0, 4000))
            total = start + speech_16k + int(rng.integers(0, 8000))
            offset = int(rng.integers(0, long_noise.shape[1] - total))
            write_audio(noise_root / split / path.name, long_noise[:, offset:offset + total], 16000)
            rows.append([path.name, start, start + speech_16k, round(float(rng.uniform(-6, 3)), 4)])
        meta = noise_root / "metadata" / f"mix_param_meta_{split}.csv"
        meta.parent.mkdir(parents=True, exist_ok=True)
        with open(meta, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["utterance_id", "noise_samples_beginning_16k", "noise_samples_end_16k",
                             "target_speaker1_snr_db"])
            writer.writerows(rows)
    return wsjmix, noise_root


@pytest.mark.parametrize("mode", ["min", "max"])
def test_wham_mixing_rule(wham_inputs, tmp_path, mode):
    wsjmix, noise_root = wham_inputs
    out = tmp_path / "wham"
    counts = build_wham(wsjmix, noise_root, out, sample_rates=(8000,), modes=(mode,), splits=("cv", "tt"))
    assert counts == {f"wav8k/{mode}/cv": 3, f"wav8k/{mode}/tt": 3}
    for split in ("cv", "tt"):
        records = {r.mixture_id: r for r in load_manifest(out / "wav8k" / mode / f"{split}_mix_both.csv")}
        assert len(load_manifest(out / "wav8k" / mode / f"{split}_mix_single.csv")) == 3
        for param in read_mix_params(noise_root / "metadata" / f"mix_param_meta_{split}.csv"):
            name = param["utterance_id"]
            record = records[Path(name).stem]
            assert record.noise_path is not None and record.n_src == 2
            base = out / "wav8k" / mode / split
            s1, s2, noise, clean, single, both = (read_audio(base / d / name)[0][0].astype(np.float64)
                                                  for d in ("s1", "s2", "noise", "mix_clean", "mix_single", "mix_both"))
            assert np.abs(s1 + s2 - clean).max() <= 3 * QUANTUM
            assert np.abs(s1 + noise - single).max() <= 3 * QUANTUM
            assert np.abs(s1 + s2 + noise - both).max() <= 4 * QUANTUM
            assert max(np.abs(x).max() for x in (s1, s2, noise, clean, single, both)) <= 0.9 + QUANTUM
            # Speaker 1 sits target_speaker1_snr_db above the noise (BS.1770 loudness).
            snr = integrated_loudness(s1, 8000) - integrated_loudness(noise, 8000)
            assert snr == pytest.approx(param["snr_db"], abs=0.05)
            # Both talkers get one gain: their ratio is wsj0-2mix's.
            w1, w2 = (read_audio(wsjmix / "wav8k" / mode / split / d / name)[0][0].astype(np.float64)
                      for d in ("s1", "s2"))
            start = param["start_16k"] // 2 if mode == "max" else 0
            g1 = np.dot(s1[start:start + w1.size], w1) / np.dot(w1, w1)
            g2 = np.dot(s2[start:start + w2.size], w2) / np.dot(w2, w2)
            assert g1 == pytest.approx(g2, rel=1e-3)
            if mode == "max":  # the noise's length; silence before the speech starts
                assert abs(s1.size - audio_info(noise_root / split / name).frames / 2) <= 1  # resampled to 8 kHz
                assert np.abs(s1[:start]).max(initial=0.0) == 0.0
            else:
                assert s1.size == w1.size


def test_bad_metadata_and_missing_build(wham_inputs, tmp_path):
    wsjmix, noise_root = wham_inputs
    bad = tmp_path / "wham_noise"
    (bad / "metadata").mkdir(parents=True)
    (bad / "metadata" / "mix_param_meta_tt.csv").write_text("utterance_id,noise_snr\nx.wav,3\n")
    with pytest.raises(ValueError, match="noise_samples_beginning_16k"):
        build_wham(wsjmix, bad, tmp_path / "out", splits=("tt",))
    with pytest.raises(FileNotFoundError, match="mix_param_meta_cv.csv"):
        build_wham(wsjmix, bad, tmp_path / "out", splits=("cv",))
    with pytest.raises(FileNotFoundError, match="16000 Hz, min mode"):
        build_wham(wsjmix, noise_root, tmp_path / "out", sample_rates=(16000,), splits=("tt",))
    assert not (tmp_path / "out").exists()
