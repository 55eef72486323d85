"""Whole-model parity of imported models with the reference implementations themselves.

Runs benchmarks/check_interop_parity.py: each reference package (Asteroid 0.7,
SpeechBrain 1.x, ClearerVoice-Studio) builds its model with random weights, writes it
in the published layout and separates real speech; voxsep imports the files and must
give the same output within 60 dB SNR. The references are not voxsep dependencies: set
VOXSEP_ASTEROID_PYTHON (a Python with asteroid importable) and VOXSEP_REFERENCE_PATH (a
folder from `pip install --no-deps --target DIR speechbrain hyperpyyaml ruamel.yaml
einops rotary-embedding-torch clearvoice torchinfo`); without them these tests skip and
say why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "check_interop_parity.py"
ASTEROID_PYTHON = os.environ.get("VOXSEP_ASTEROID_PYTHON", "/tmp/astenv/bin/python")
REFERENCE_PATH = os.environ.get("VOXSEP_REFERENCE_PATH", "/tmp/sbenv")


def _asteroid_available() -> bool:
    if not Path(ASTEROID_PYTHON).exists():
        return False
    return subprocess.run([ASTEROID_PYTHON, "-c", "import asteroid"], capture_output=True).returncode == 0


def _package_available(name: str) -> bool:
    return (Path(REFERENCE_PATH) / name).is_dir()


# Cases run at the published models' sizes (the others at small sizes, for speed).
PUBLISHED_SIZE_CASES = ("asteroid:ConvTasNet-causal", "speechbrain:SepFormer-libri3mix",
                        "speechbrain:SepFormer-whamr16k", "asteroid:SuDORMRFNet", "asteroid:SuDORMRFImprovedNet",
                        "asteroid:DPTNet")


@pytest.mark.parametrize("case", ["asteroid:ConvTasNet", "asteroid:DPRNNTasNet", "speechbrain:SepFormer",
                                  "clearervoice:MossFormer2", *PUBLISHED_SIZE_CASES])
def test_imported_model_matches_the_reference_implementation(case):
    toolkit = case.split(":")[0]
    if toolkit == "asteroid" and not _asteroid_available():
        pytest.skip(f"asteroid is not importable by {ASTEROID_PYTHON} (set VOXSEP_ASTEROID_PYTHON)")
    package = {"speechbrain": "speechbrain", "clearervoice": "clearvoice"}.get(toolkit)
    if package and not _package_available(package):
        pytest.skip(f"{package} is not installed in {REFERENCE_PATH} (set VOXSEP_REFERENCE_PATH)")
    done = subprocess.run([sys.executable, str(SCRIPT), "--cases", case, "--asteroid-python", ASTEROID_PYTHON,
                           "--reference-path", REFERENCE_PATH, "--seconds", "2"]
                          + (["--published-sizes"] if case in PUBLISHED_SIZE_CASES else []),
                          capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=600)
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert rows, done.stderr[-2000:]
    row = rows[0]
    assert "error" not in row, row
    assert row["snr_db"] >= 60, row
