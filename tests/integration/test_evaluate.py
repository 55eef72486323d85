"""The evaluator on real-speech mixtures: numbers equal voxsep.metrics on the same
estimates, known values for a pass-through model, batching/chunking give the same
scores, files and refusals of the CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from voxsep import checkpoint, metrics, models
from voxsep.cli import main
from voxsep.evaluate import evaluate, score_utterance, summarize
from voxsep.inference.separate import least_squares_gains, separate_mixture

SOUNDS = Path("/usr/share/asterisk/sounds")
TINY = dict(n_filters=16, kernel_size=16, bottleneck=8, hidden=16, skip=8, n_blocks=2, n_repeats=1)


def _prompts(folder: str, count: int) -> list[np.ndarray]:
    out = []
    for path in sorted((SOUNDS / folder).glob("*.wav")):
        audio, rate = sf.read(path, dtype="float32")
        if audio.size >= 12000:
            out.append(audio[:12000])
        if len(out) == count:
            return out
    raise AssertionError("not enough prompts")


@pytest.fixture(scope="module")
def wsj_folder(tmp_path_factory) -> Path:
    """wsj0-mix layout (mix/ s1/ s2/), 8 kHz: 3 mixtures of 1 s and one of 0.75 s."""
    root = tmp_path_factory.mktemp("wsj") / "tt"
    first, second = _prompts("en", 4), _prompts("fr_CA_f_June", 4)
    for sub in ("mix", "s1", "s2"):
        (root / sub).mkdir(parents=True)
    for i, (a, b) in enumerate(zip(first, second)):
        length = 6000 if i == 3 else 8000
        a, b = 0.4 * a[:length], 0.25 * b[:length]
        name = f"utt{i}.wav"
        sf.write(root / "s1" / name, a, 8000, subtype="FLOAT")
        sf.write(root / "s2" / name, b, 8000, subtype="FLOAT")
        sf.write(root / "mix" / name, a + b, 8000, subtype="FLOAT")
    return root


class PassThrough(torch.nn.Module):
    """Returns the mixture as every estimate: SI-SNRi and SDRi are exactly 0."""

    n_src, sample_rate, in_channels, model_name = 2, 8000, 1, "pass_through"

    def forward(self, mixture: torch.Tensor) -> torch.Tensor:
        return mixture.unsqueeze(1).repeat(1, 2, 1)


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return models.build("conv_tasnet", n_src=2, **TINY).eval()


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path) as handle:
        return list(csv.DictReader(handle))


def test_pass_through_scores_zero_improvement(tmp_path, wsj_folder):
    result = evaluate(PassThrough(), wsj_folder, tmp_path / "r.csv", quality=False, limit=2, log=lambda m: None)
    assert result["count"] == 2
    for row in _rows(tmp_path / "r.csv"):
        assert float(row["si_snri"]) == pytest.approx(0.0, abs=1e-3)
        assert float(row["sdri"]) == pytest.approx(0.0, abs=1e-3)


def test_scores_equal_voxsep_metrics_and_batching_changes_nothing(tmp_path, wsj_folder, tiny_model):
    result = evaluate(tiny_model, wsj_folder, tmp_path / "b4.csv", batch_size=4, log=lambda m: None)
    evaluate(tiny_model, wsj_folder, tmp_path / "b1.csv", batch_size=1, sdr=False, quality=False, log=lambda m: None)
    batched, single = _rows(tmp_path / "b4.csv"), _rows(tmp_path / "b1.csv")
    assert [r["mixture_id"] for r in batched] == [f"utt{i}" for i in range(4)]
    assert "sdr" not in single[0]
    for a, b in zip(batched, single):
        for key in ("si_snr", "si_snri", "snri"):
            assert float(a[key]) == pytest.approx(float(b[key]), abs=2e-3), key
    # independent recomputation for the first mixture
    mixture, _ = sf.read(wsj_folder / "mix" / "utt0.wav", dtype="float32")
    refs = np.stack([sf.read(wsj_folder / s / "utt0.wav", dtype="float32")[0] for s in ("s1", "s2")])
    with torch.no_grad():
        est = tiny_model(torch.from_numpy(mixture)[None])[0]
    est = (est * least_squares_gains(torch.from_numpy(mixture), est).float()[:, None]).numpy().astype(np.float64)
    row = batched[0]
    assert float(row["si_snr"]) == pytest.approx(float(np.mean(metrics.si_snr(refs, est))), abs=1e-3)
    assert float(row["si_snri"]) == pytest.approx(float(np.mean(metrics.si_snr_improvement(refs, est, mixture))), abs=1e-3)
    assert float(row["sdri"]) == pytest.approx(float(np.mean(metrics.sdr_improvement(refs, est, mixture))), abs=1e-3)
    assert float(row["snri"]) == pytest.approx(float(np.mean(metrics.snr_improvement(refs, est, mixture))), abs=1e-3)
    # summary = statistics of the CSV column
    column = np.array([float(r["si_snri"]) for r in batched])
    stats = json.loads((tmp_path / "b4.json").read_text())["summary"]["si_snri"]
    assert stats["count"] == 4 and stats["mean"] == pytest.approx(column.mean(), abs=1e-3)
    assert stats["median"] == pytest.approx(np.median(column), abs=1e-3)
    assert stats["std"] == pytest.approx(column.std(), abs=1e-3)
    assert result["summary"]["si_snri"]["mean"] == pytest.approx(column.mean(), abs=1e-3)
    if "pesq" in row:  # eval extra installed
        assert 0.5 < float(row["pesq"]) < 4.6 and 0.0 <= float(row["stoi"]) <= 1.0


def test_long_mixtures_go_through_chunked_inference(tmp_path, wsj_folder, tiny_model):
    evaluate(tiny_model, wsj_folder, tmp_path / "c.csv", chunk_seconds=0.5, quality=False, sdr=False, limit=2, log=lambda m: None)
    mixture, _ = sf.read(wsj_folder / "mix" / "utt1.wav", dtype="float32")
    refs = np.stack([sf.read(wsj_folder / s / "utt1.wav", dtype="float32")[0] for s in ("s1", "s2")])
    assert mixture.size > 4000  # several chunks
    # the chunking of Separator(chunk_seconds=0.5) / voxsep separate --chunk-seconds 0.5 (resolve_chunking)
    est = separate_mixture(tiny_model, torch.from_numpy(mixture), chunk_size=4000, overlap=2000).numpy()
    expected = score_utterance(refs, est, mixture, 8000, quality=False, sdr=False)
    row = _rows(tmp_path / "c.csv")[1]
    assert float(row["si_snri"]) == pytest.approx(expected["si_snri"], abs=1e-3)
    with pytest.raises(ValueError, match="chunk_seconds must be at least"):  # the same checks as Separator
        evaluate(tiny_model, wsj_folder, tmp_path / "d.csv", chunk_seconds=0.1, quality=False, sdr=False, limit=1,
                 log=lambda m: None)


def test_summary_skips_nan():
    summary = summarize([{"sdr": 1.0}, {"sdr": float("nan")}, {"sdr": 3.0}], ["sdr", "pesq"])
    assert summary == {"sdr": {"mean": 2.0, "median": 2.0, "std": 1.0, "count": 2}}


def test_cli_writes_results_audio_and_refuses_to_overwrite(tmp_path, wsj_folder, tiny_model, capsys):
    ckpt = checkpoint.save(tmp_path / "model.pt", tiny_model, sample_rate=8000)
    out = tmp_path / "res" / "results.csv"
    args = ["evaluate", "--model", str(ckpt), str(wsj_folder), "--out", str(out), "--save-audio", "2", "--no-quality", "--no-sdr", "--limit", "2"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "si_snri" in printed and "median" in printed
    assert out.is_file() and out.with_suffix(".json").is_file()
    assert sorted(p.name for p in (tmp_path / "res" / "results_audio").iterdir()) == [
        "utt0_s1.wav", "utt0_s2.wav", "utt1_s1.wav", "utt1_s2.wav"]
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 0
    assert main(["evaluate", "--model", str(ckpt), str(tmp_path / "nope"), "--out", str(tmp_path / "x.csv")]) == 2
    assert "test data not found" in capsys.readouterr().err


def test_cli_takes_a_published_model_folder_as_voxsep_separate_does(tmp_path, wsj_folder, tiny_model, capsys):
    """``--model`` also takes a published model's folder (``config.json`` +
    ``model.safetensors``, the hub layout): the same scores as its voxsep checkpoint. Without
    test data, a folder (which records no recipe) is refused with what to give instead."""
    ckpt = checkpoint.save(tmp_path / "model.pt", tiny_model, sample_rate=8000)
    folder = tmp_path / "published"
    folder.mkdir()
    checkpoint.save(folder / "model.safetensors", tiny_model, sample_rate=8000)
    (folder / "config.json").write_text("{}")
    scores = {}
    for name, model in (("checkpoint", ckpt), ("folder", folder)):
        out = tmp_path / f"{name}.csv"
        assert main(["evaluate", "--model", str(model), str(wsj_folder), "--out", str(out), "--no-quality",
                     "--no-sdr"]) == 0
        scores[name] = [float(row["si_snri"]) for row in _rows(out)]
    assert len(scores["folder"]) == 4 and scores["folder"] == pytest.approx(scores["checkpoint"], abs=1e-4)
    capsys.readouterr()
    assert main(["evaluate", "--model", str(folder), "--out", str(tmp_path / "x.csv")]) == 2
    assert "not a voxsep checkpoint" in capsys.readouterr().err and not (tmp_path / "x.csv").exists()


# --------------------------------------------------------------------------- binaural
@pytest.fixture(scope="module")
def binaural_folder(tmp_path_factory) -> Path:
    """Binaural-WSJ0Mix layout (mix/ s1/ s2/ stereo), 8 kHz: two talkers rendered with the
    KEMAR HRIRs at +60 and -45 degrees azimuth, 3 mixtures of 1 s."""
    from voxsep.data.spatial import KEMAR_SOFA, load_hrirs, render_at

    hrirs = load_hrirs(KEMAR_SOFA, sample_rate=8000)
    root = tmp_path_factory.mktemp("binaural") / "tt"
    for sub in ("mix", "s1", "s2"):
        (root / sub).mkdir(parents=True)
    for i, (a, b) in enumerate(zip(_prompts("en", 3), _prompts("ru", 3))):
        left = render_at(0.4 * a[:8000], hrirs, 60.0).T
        right = render_at(0.3 * b[:8000], hrirs, -45.0).T
        name = f"b{i}.wav"
        sf.write(root / "s1" / name, left, 8000, subtype="FLOAT")
        sf.write(root / "s2" / name, right, 8000, subtype="FLOAT")
        sf.write(root / "mix" / name, left + right, 8000, subtype="FLOAT")
    return root


def test_binaural_estimates_get_interaural_cue_columns(tmp_path, binaural_folder, wsj_folder, tiny_model):
    from voxsep.metrics.spatial import binaural_scores

    torch.manual_seed(0)
    model = models.build("binaural_parallel", n_src=2, n_filters=16, bottleneck=8, hidden=16, n_blocks=2,
                         n_repeats=1, feature_window=64, feature_channels=8).eval()
    result = evaluate(model, binaural_folder, tmp_path / "bin.csv", batch_size=1, quality=False, sdr=False,
                      save_audio=1, log=lambda m: None)
    assert sf.info(tmp_path / "bin_audio" / "b0_s1.wav").channels == 2  # two-ear estimates
    rows = _rows(tmp_path / "bin.csv")
    columns = ("delta_itd_us", "delta_itd_int_us", "delta_ild_db")
    assert len(rows) == 3 and all(c in rows[0] for c in columns)
    for row in rows:
        mixture = sf.read(binaural_folder / "mix" / f"{row['mixture_id']}.wav", dtype="float32")[0].T
        refs = np.stack([sf.read(binaural_folder / s / f"{row['mixture_id']}.wav", dtype="float32")[0].T
                         for s in ("s1", "s2")])
        est = separate_mixture(model, torch.from_numpy(np.ascontiguousarray(mixture))).numpy()
        expected = binaural_scores(refs, est, mixture, 8000)
        for column in columns:
            value = float(row[column])
            assert np.isfinite(value) and value >= 0
            assert value == pytest.approx(float(np.mean(expected[column])), abs=1e-3), column
        assert float(row["snri"]) == pytest.approx(float(np.mean(expected["snri"])), abs=1e-3)
    summary = json.loads((tmp_path / "bin.json").read_text())["summary"]
    for column in columns:
        values = np.array([float(r[column]) for r in rows])
        assert summary[column]["mean"] == pytest.approx(values.mean(), abs=1e-3)
        assert summary[column]["median"] == pytest.approx(np.median(values), abs=1e-3)
    assert result["summary"]["delta_ild_db"]["count"] == 3
    # single-channel evaluation has no interaural columns
    evaluate(tiny_model, wsj_folder, tmp_path / "mono.csv", quality=False, sdr=False, limit=1, log=lambda m: None)
    assert not any(c in _rows(tmp_path / "mono.csv")[0] for c in columns)


class FirstOnly(torch.nn.Module):
    """Returns the mixture and a silent output: always counted as one talker."""

    n_src, sample_rate, in_channels, model_name = 2, 8000, 1, "first_only"

    def forward(self, mixture: torch.Tensor) -> torch.Tensor:
        return torch.stack([mixture, torch.zeros_like(mixture)], dim=1)


@pytest.fixture(scope="module")
def one_talker_csv(wsj_folder, tmp_path_factory) -> Path:
    """A LibriMix-style CSV of single-talker 'mixtures' (the mixture is the source)."""
    path = tmp_path_factory.mktemp("one") / "one.csv"
    lines = ["mixture_ID,mixture_path,source_1_path,length"]
    for wav in sorted((wsj_folder / "s1").glob("*.wav")):
        lines.append(f"solo_{wav.stem},{wav},{wav},{sf.info(wav).frames}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_counting_reports_accuracy_and_scores_only_correctly_counted_mixtures(tmp_path, wsj_folder, one_talker_csv):
    result = evaluate(FirstOnly(), [one_talker_csv, wsj_folder], tmp_path / "r.csv", quality=False, sdr=False,
                      n_src="auto", log=lambda m: None)
    assert result["count"] == 8 and result["count_accuracy"] == pytest.approx(0.5)
    assert result["counts"] == {"1": {"1": 4}, "2": {"1": 4}}
    assert result["miscounted"] == [f"utt{i}" for i in range(4)] and result["scored"] == 4
    assert result["summary"]["si_snr"]["count"] == 4
    assert "si_snri" not in result["summary"], "a one-talker mixture is its talker: no improvement over it"
    assert result["summary_by_count"]["1"]["si_snr"]["count"] == 4 and result["summary_by_count"]["2"] == {}
    rows = _rows(tmp_path / "r.csv")
    assert [(r["n_true"], r["n_est"]) for r in rows] == [("1", "1")] * 4 + [("2", "1")] * 4
    assert all(r["si_snr"] == "" for r in rows[4:]), "miscounted mixtures are not scored"
    assert "si_snri" not in rows[0], "one-talker mixtures get no SI-SNRi column"
    assert all(float(r["si_snr"]) > 60 for r in rows[:4]), "the kept output is the talker itself"
    with pytest.raises(ValueError, match="1 sources but n_src=2"):  # without counting: the model's count only
        evaluate(FirstOnly(), one_talker_csv, tmp_path / "x.csv", quality=False, log=lambda m: None)


def test_cli_counts_by_default_for_variable_count_checkpoints(tmp_path, wsj_folder, one_talker_csv, tiny_model, capsys):
    model_path = checkpoint.save(tmp_path / "var.pt", tiny_model, sample_rate=8000, n_src_range=[1, 2])
    out = tmp_path / "count.csv"
    assert main(["evaluate", "--model", str(model_path), str(one_talker_csv), str(wsj_folder), "--out", str(out),
                 "--no-quality", "--no-sdr"]) == 0
    printed = capsys.readouterr().out
    assert "count accuracy" in printed and "1 talker(s): estimated" in printed
    assert "1-talker mixtures counted right:" in printed
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["count"] == 8 and 0 <= summary["count_accuracy"] <= 1
    assert len(summary["miscounted"]) == 8 - summary["scored"]
    fixed_path = checkpoint.save(tmp_path / "fixed.pt", tiny_model, sample_rate=8000)
    assert main(["evaluate", "--model", str(fixed_path), str(wsj_folder), "--out", str(tmp_path / "f.csv"),
                 "--no-quality", "--no-sdr"]) == 0
    assert "count accuracy" not in capsys.readouterr().out
