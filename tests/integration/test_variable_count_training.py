"""Variable talker counts end to end on real voices (issue 14): a tiny Conv-TasNet trained
briefly with ``data.n_src: [1, 2]`` and ``loss.kind: si_snr_var`` on the tiny offline
corpus (dynamic 1-2 talker mixtures of the training speakers), then scored on held-out
human voices (``1speaker/{valid,test}_real.csv``, ``2speakers/{valid,test}_real.csv``).

What is asserted is deliberately weaker than "counts better than chance": in the
~250 steps that fit a test (1 thread, well under 60 s) such a model learns to make
one output silent on held-out one-talker mixtures but does not yet separate two
talkers, so it counts every held-out mixture as one talker (50 % on the balanced set,
chance). The test checks the part that is learnable in that budget: the quietest raw
output on held-out one-talker mixtures falls far below the mixture level, where the
untrained model's does not; and the checkpoint records the range that switches
counting on. Counting better than chance is checked on the bundled model, which was
fine-tuned on one or two talkers for about an hour (second test)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import torch

from voxsep import checkpoint
from voxsep.cli import main
from voxsep.core.audio import read_audio
from voxsep.data.manifest import load_manifest

MODEL = "{n_filters: 64, kernel_size: 16, bottleneck: 32, hidden: 64, skip: 32, n_blocks: 5, n_repeats: 1}"
STEPS = 250


def _quietest_output_db(model: torch.nn.Module, manifests: list[Path]) -> list[float]:
    """Per mixture: energy of the model's quietest raw output relative to the mixture (dB)."""
    levels = []
    for manifest in manifests:
        for record in load_manifest(manifest):
            mixture = torch.from_numpy(read_audio(record.mixture_path)[0][0]).float()
            with torch.no_grad():
                estimates = model(mixture[None])[0]
            levels.append(float(10 * torch.log10(estimates.pow(2).sum(-1).min() / mixture.pow(2).sum())))
    return levels


def test_variable_count_training_silences_an_output_on_heldout_single_talkers(tmp_path, offline_corpus):
    wav = offline_corpus / "wav8k"
    recipe = Path(__file__).resolve().parents[2] / "recipes" / "offline" / "conv_tasnet_small.yaml"
    exp = tmp_path / "exp"
    torch.set_num_threads(1)
    assert main([
        "train", str(recipe), "data.kind=dynamic", f"data.pool={wav / 'utterances_train.csv'}",
        f"data.valid={wav / '2speakers' / 'valid_real.csv'}", "data.n_src=[1, 2]", "loss.kind=si_snr_var",
        "loss.snr_max=30", "data.examples_per_epoch=100000", "data.speed_perturb=null", "data.segment=1.0",
        "data.batch_size=4", "data.num_workers=0", f"model.args={MODEL}", "optim.lr=3e-3",
        f"train.max_steps={STEPS}", "train.epochs=1", "train.num_threads=1", "train.device=cpu",
        "train.compile=false", "schedule.early_stop_patience=0", "log.log_every=50", "log.tensorboard=false",
        "--exp-dir", str(exp)]) == 0
    trained, meta = checkpoint.load(exp / "last.pt")
    assert meta["n_src_range"] == [1, 2] and meta["step"] == STEPS
    torch.manual_seed(0)
    untrained = type(trained)(**trained.config)
    trained.eval()
    untrained.eval()

    one_talker = [wav / "1speaker" / "valid_real.csv", wav / "1speaker" / "test_real.csv"]
    before = _quietest_output_db(untrained, one_talker)
    after = _quietest_output_db(trained, one_talker)
    assert len(after) == 8
    # measured: untrained about -10 dB, trained about -53 dB; fixed-count si_snr training: -4 to -8 dB
    assert max(after) < -25.0, after
    assert max(after) < min(before) - 15.0, (before, after)


def test_the_bundled_model_counts_heldout_one_and_two_talker_mixtures_better_than_chance(tmp_path, offline_corpus):
    """The bundled model (fine-tuned on one or two talkers) counts the tiny corpus' held-out
    human mixtures -- voices it never heard -- far better than chance (the sets are
    balanced: always answering one count scores 50 %), and ``voxsep separate`` writes
    one file per talker found for the same recordings."""
    from voxsep.pretrained import pretrained_path

    wav = offline_corpus / "wav8k"
    sets = [wav / n / f"{split}_real.csv" for n in ("1speaker", "2speakers") for split in ("valid", "test")]
    out = tmp_path / "count.csv"
    torch.set_num_threads(1)
    assert main(["evaluate", "--model", str(pretrained_path()), *map(str, sets), "--out", str(out),
                 "--no-quality", "--no-sdr"]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    total = {true: sum(counts.values()) for true, counts in result["counts"].items()}
    right = {true: counts.get(true, 0) for true, counts in result["counts"].items()}
    assert total == {"1": 8, "2": 8}, total
    # measured (the bundled model of stage 4): 16/16 right; chance 8/16
    assert sum(right.values()) >= 13 and min(right.values()) >= 5, result["counts"]
    # the command line keeps the same outputs: one file for a lone talker, two for two talkers
    mixtures = {r.mixture_id: r.mixture_path for s in sets for r in load_manifest(s)}
    with out.open() as handle:
        rows = [row for row in csv.DictReader(handle) if row["n_true"] == row["n_est"]]
    for n_true in ("1", "2"):
        row = next(r for r in rows if r["n_true"] == n_true)
        folder = tmp_path / f"sep{n_true}"
        assert main(["separate", str(mixtures[row["mixture_id"]]), "--out", str(folder)]) == 0
        assert len(list(folder.glob("*.wav"))) == int(n_true), sorted(folder.iterdir())
