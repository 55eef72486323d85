"""DDP: two gloo processes on CPU with per-process batch 2 end with the same weights as
one process with batch 4 (same global batch, same data), launched through torchrun."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from voxsep import checkpoint

SOUNDS = Path("/usr/share/asterisk/sounds")
OVERRIDES = [
    "model.name=conv_tasnet",
    "model.args={n_filters: 16, kernel_size: 16, bottleneck: 8, hidden: 16, skip: 8, n_blocks: 2, n_repeats: 1}",
    "data.kind=folder", "data.segment=0.5", "data.valid_segment=0.5", "data.valid_batch_size=2",
    "data.num_workers=0", "train.epochs=1", "train.max_steps=3", "train.device=cpu",
    "train.num_threads=1", "train.seed=7", "log.tensorboard=false", "optim.lr=0.01",
]


def _make_folder(root: Path, offset: int, count: int) -> Path:
    """wsj0-mix style folder of 1-s real-speech mixtures (English vs French speaker)."""
    def prompts(lang: str) -> list[np.ndarray]:
        out = []
        for path in sorted((SOUNDS / lang).glob("*.wav")):
            audio, _ = sf.read(path, dtype="float32")
            if audio.size >= 8000:
                out.append(audio[:8000])
        return out[offset:offset + count]

    for sub in ("mix", "s1", "s2"):
        (root / sub).mkdir(parents=True)
    for i, (a, b) in enumerate(zip(prompts("en"), prompts("fr_CA_f_June"))):
        sf.write(root / "s1" / f"{i}.wav", 0.5 * a, 8000, subtype="FLOAT")
        sf.write(root / "s2" / f"{i}.wav", 0.3 * b, 8000, subtype="FLOAT")
        sf.write(root / "mix" / f"{i}.wav", 0.5 * a + 0.3 * b, 8000, subtype="FLOAT")
    return root


def _run(command: list[str], tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo", "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(tmp_path):
    train_dir = _make_folder(tmp_path / "tr", 0, 12)
    valid_dir = _make_folder(tmp_path / "cv", 12, 4)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("data: {kind: folder, n_src: 2}\n")
    common = [f"data.train={train_dir}", f"data.valid={valid_dir}", *OVERRIDES]
    _run([sys.executable, "-m", "voxsep.train", str(recipe), *common, "data.batch_size=4", "--exp-dir", str(tmp_path / "single")], tmp_path)
    _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "voxsep.train",
          str(recipe), *common, "data.batch_size=2", "--exp-dir", str(tmp_path / "ddp")], tmp_path)

    single = checkpoint.read(tmp_path / "single" / "last.pt")
    ddp = checkpoint.read(tmp_path / "ddp" / "last.pt")
    assert single["meta"]["step"] == ddp["meta"]["step"] == 3
    for key, value in single["state_dict"].items():
        torch.testing.assert_close(ddp["state_dict"][key], value, rtol=1e-4, atol=1e-5, msg=key)
    # only rank 0 wrote: one train.log, no stray temporary files
    assert (tmp_path / "ddp" / "train.log").is_file()
    assert not list((tmp_path / "ddp").glob(".*tmp"))
    history_single = single["meta"]["training"]["history"]
    history_ddp = ddp["meta"]["training"]["history"]
    assert len(history_single) == len(history_ddp) == 1
    assert history_ddp[0]["si_snri"] == pytest.approx(history_single[0]["si_snri"], abs=1e-3)
