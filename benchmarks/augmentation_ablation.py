"""Augmentation ablation for the bundled model: which training augmentations help on
held-out *real* voices.

Every arm fine-tunes the same starting checkpoint with the same recipe, seed and number
of steps, changing one augmentation (``voxsep train ... --init-from START`` plus
overrides), then scores its last checkpoint with ``voxsep evaluate --no-quality --no-sdr``
on mixtures of two held-out real voices (validation voices, and the test voices of the
model card). A repeat of the baseline with another seed shows how much two runs differ
with nothing changed: a difference smaller than that is noise. Each arm (``ARMS``) names
its pool (``POOLS``: the training pool as it was when the arm first ran -- before the Tux
Paint voices, before the game voices of stage 6, before the Kajongg voices added after stage
6 -- so that a rerun repeats it), its recipe overrides, the arm it is compared with, and its
recipe: the arms run alongside stages 5 and 6 fine-tune stage 4 b's two-talker model with
``RECIPE``; the ``s7_`` arms fine-tune the stage-6 file (one or two talkers) with
``RECIPE_1TO2`` and are scored with ``--n-src all``. One arm trains in fp32 instead of
the recipe's bf16 autocast (does bf16 train as well?).

This is a fine-tuning ablation (from a model trained *with* the recipe's augmentations),
the affordable kind on 2 CPU cores: it asks whether training goes better or worse for
``--steps`` steps with an augmentation added or taken away, not what a model trained
from scratch without it would score.

Usage::

    .venv/bin/python benchmarks/augmentation_ablation.py --start exp/b5_two/best.pt \\
        --out exp/ablation --steps 1500 --write src/voxsep/pretrained/convtasnet_offline8k.md
    git show 0622352:src/voxsep/pretrained/convtasnet_offline8k.pt > exp/stage6_shipped.pt
    .venv/bin/python benchmarks/augmentation_ablation.py --start exp/stage6_shipped.pt \\
        --out exp/ablation7 --steps 2000 --arms s7_base s7_real_only s7_same_sex

Arms run one after the other (1 thread each, so a training can share the machine);
an arm whose ``last.pt`` and results exist is not run again.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from common import write_section

RECIPE = "recipes/offline/conv_tasnet_bundled.yaml"  # arms alongside stages 5-6: two talkers, from stage 4 b
RECIPE_1TO2 = "recipes/offline/conv_tasnet_bundled_games.yaml"  # arms after stage 6: one or two talkers, from stage 6
DATA = Path("data/offline/wav8k/2speakers")
SETS = {"valid_real": DATA / "valid_real.csv", "test_real": DATA / "test_real.csv"}

#: Pools: "full" is the recipe's utterances_train.csv; the others leave out the voices
#: whose speaker names start with these prefixes (written next to the arms): "no_games" is
#: the pool of the later arms alongside stage 5 (before the Drascula and FOTAQ voices), "no_tuxpaint"
#: the pool before the Tux Paint voices (the first arms alongside stage 5), "no_kajongg" the pool of
#: the arms alongside and after stage 6 (before the 3 Kajongg voices), "real_only" that pool without its
#: synthetic voices (espeak-ng, flite, festival).
POOL_FILE = Path("data/offline/wav8k/utterances_train.csv")
POOLS: dict[str, tuple[str, ...]] = {"full": (), "no_kajongg": ("kajongg_",),
                                     "no_games": ("drascula_", "fotaq_", "kajongg_"),
                                     "no_tuxpaint": ("tuxpaint_", "drascula_", "fotaq_", "kajongg_"),
                                     "real_only": ("espeak_", "flite_", "festival_", "kajongg_")}


@dataclass(frozen=True)
class Arm:
    """One fine-tune: what it changes, its pool, its recipe overrides, the arm it is compared
    with (the same recipe without the change, same seed; empty: none) and its recipe."""

    change: str
    pool: str
    overrides: tuple[str, ...] = ()
    against: str = ""
    recipe: str = RECIPE


SEED1 = ("train.seed=1",)
ARMS: dict[str, Arm] = {
    "baseline": Arm("the recipe: gains +-5 dB, speed 0.85-1.15, channel on 30%", "no_tuxpaint"),
    "baseline_seed1": Arm("the recipe, another seed (run-to-run noise)", "no_tuxpaint", SEED1, "baseline"),
    "voice": Arm("+ new voices for 50% of the sources (Praat Change gender: pitch, formants)", "no_tuxpaint",
                 ("data.voice_augment=0.5",), "baseline"),
    "voice_seed1": Arm("+ new voices (as 'voice'), seed 1: against baseline_seed1", "no_tuxpaint",
                       ("data.voice_augment=0.5", *SEED1), "baseline_seed1"),
    "tuxpaint": Arm("+ the 8 Tux Paint voices in the pool (34 real training voices instead of 26)", "no_games",
                    (), "baseline"),
    "tuxpaint_seed1": Arm("+ the Tux Paint voices (as 'tuxpaint'), seed 1: against baseline_seed1", "no_games",
                          SEED1, "baseline_seed1"),
    "codec": Arm("+ Tux Paint voices, + lossy codecs on 30% (GSM, G.711, ADPCM, Vorbis, MP3, Opus)", "no_games",
                 ("data.codec_augment=0.3",), "tuxpaint"),
    "no_channel": Arm("+ Tux Paint voices, no recording channel (telephone band / low-pass / EQ)", "no_games",
                      ("data.channel_augment=0",), "tuxpaint"),
    "no_speed": Arm("+ Tux Paint voices, no speed perturbation (pitch, formants, rate)", "no_games",
                    ("data.speed_perturb=null",), "tuxpaint"),
    "no_gain": Arm("+ Tux Paint voices, equal levels (no +-5 dB level differences)", "no_games",
                   ("data.gain_db=[0,0]",), "tuxpaint"),
    # Not an augmentation: whether bf16 autocast (the recipe's) trains as well as fp32.
    "fp32": Arm("+ Tux Paint voices, fp32 instead of bf16 autocast", "no_games", ("train.precision=fp32",), "tuxpaint"),
    "games": Arm("+ the 25 game voices (14 Drascula, 11 FOTAQ actors: 59 real training voices instead of 34)",
                 "no_kajongg", (), "tuxpaint"),
    "games_seed1": Arm("+ the game voices (as 'games'), seed 1: against tuxpaint_seed1", "no_kajongg", SEED1,
                       "tuxpaint_seed1"),
    # After stage 6: fine-tunes of the stage-6 file (one or two talkers) with its own recipe.
    "s7_base": Arm("stage-6 recipe unchanged (1-2 talkers, voice conversion 50%, 84-voice pool)", "no_kajongg",
                   recipe=RECIPE_1TO2),
    "s7_real_only": Arm("- the 13 synthetic voices (every mixture of real, resampled or converted voices)",
                        "real_only", (), "s7_base", RECIPE_1TO2),
    "s7_same_sex": Arm("80% of the two-talker mixtures of one sex (uniform draws give 50%)", "no_kajongg",
                       ("data.same_sex=0.8", "data.speaker_table=data/offline/speakers.csv"), "s7_base", RECIPE_1TO2),
}


def pool_override(pool: str, out: Path) -> list[str]:
    """The recipe override that selects ``pool`` (writing its utterance list next to the arms)."""
    left_out = POOLS[pool]
    if not left_out:
        return []
    with open(POOL_FILE, newline="") as handle:
        rows = list(csv.DictReader(handle))
    kept = [{**row, "path": str((POOL_FILE.parent / row["path"]).resolve())}  # paths were relative to POOL_FILE
            for row in rows if not row["speaker"].startswith(left_out)]
    path = out / f"utterances_train_{pool}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(kept)
    return [f"data.pool={path}"]


VOXSEP = [sys.executable, "-m", "voxsep.cli"]
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}  # evaluation too: a training may share the machine


def run_arm(name: str, args: argparse.Namespace) -> dict[str, float]:
    arm = ARMS[name]
    overrides = pool_override(arm.pool, args.out) + list(arm.overrides)
    exp = args.out / name
    if not (exp / "last.pt").is_file():
        command = [*VOXSEP, "train", arm.recipe, "--exp-dir", str(exp), "--init-from", str(args.start),
                   f"train.max_steps={args.steps}", f"train.valid_every_steps={args.steps}", "train.num_threads=1",
                   "train.max_valid_batches=1", *overrides]
        if (exp / "train.log").exists():
            command = [*VOXSEP, "train", str(exp / "config.yaml"), "--exp-dir", str(exp), "--resume"]
        subprocess.run(command, check=True, env=ONE_THREAD)
    scores = {}
    for label, manifest in SETS.items():
        out = exp / f"{label}.csv"
        if not out.with_suffix(".json").is_file():
            subprocess.run([*VOXSEP, "evaluate", "--model", str(exp / "last.pt"), str(manifest),
                            "--out", str(out), "--no-quality", "--no-sdr", "--overwrite",
                            "--n-src", "all"], check=True, env=ONE_THREAD)
        summary = json.loads(out.with_suffix(".json").read_text())
        scores[label] = float(summary["summary"]["si_snri"]["mean"])
    return scores


def markdown(results: dict[str, dict[str, float]], args: argparse.Namespace) -> str:
    lines = [
        "## Augmentation ablation",
        "",
        f"Each arm fine-tunes `{args.start}` for {args.steps} steps (batch 4 x 2 s, 1 thread, bf16, compiled, its "
        "recipe's seed unless said) with its recipe and one change, then its last checkpoint is scored on all 500 mixtures of two "
        "held-out real voices of `valid_real.csv` (4 validation voices) and `test_real.csv` (the 8 test voices). "
        f"Reproduce: `.venv/bin/python benchmarks/augmentation_ablation.py --start {args.start} --out {args.out} "
        f"--steps {args.steps}`. A fine-tuning ablation: it measures whether {args.steps} more steps go better or "
        "worse with an augmentation added or removed, not what training from scratch without it would give.",
        "",
        "| arm | change | valid_real SI-SNRi (dB) | test_real SI-SNRi (dB) | test vs its baseline |",
        "|---|---|---:|---:|---:|",
    ]
    for name, scores in results.items():
        arm = ARMS[name]
        base = results.get(arm.against, {}).get("test_real")
        delta = f"{scores['test_real'] - base:+.2f} (vs {arm.against})" if base is not None else ""
        lines.append(f"| {name} | {arm.change} | {scores['valid_real']:.2f} | {scores['test_real']:.2f} | {delta} |")
    if args.note:
        lines += ["", args.note]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", type=Path, required=True, help="checkpoint every arm starts from")
    parser.add_argument("--out", type=Path, required=True, help="folder of the arms' experiments")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--write", type=Path, help="update this markdown file's 'Augmentation ablation' section")
    parser.add_argument("--note", default="", help="a line added under the table")
    args = parser.parse_args()
    results = {}
    for name in args.arms:
        results[name] = run_arm(name, args)
        print(name, results[name], flush=True)
    table = markdown(results, args)
    print(table)
    if args.write:
        write_section(args.write, "## Augmentation ablation", table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
