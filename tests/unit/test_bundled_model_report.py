"""benchmarks/bundled_model_report.py, run as a subprocess (tests never import benchmarks/):
talkers read from offline-corpus mixture ids, pair types by sex, and --human-only (no
synthetic voice, no resampled copy)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SPEAKERS = """speaker,sex,kind,split,group,engine,description
allison,F,real,train,allison,asterisk,x
allison_x0p8,F,real,train,allison,derived,x
carlo,M,real,train,carlo,asterisk,x
flite_kal16,M,synthetic,train,kal,flite,x
"""
SCORES = """mixture_id,si_snr,si_snri,snri
allison-0001_1.2_carlo-0003_-1.2,9.0,8.0,8.5
allison_x0p8-0002_0.5_allison-0004_-0.5,5.0,4.0,4.5
flite_kal16-0013_1.6_allison-0039_-1.6,11.0,12.0,12.5
"""


def test_human_only_keeps_mixtures_of_recorded_people(tmp_path: Path):
    (tmp_path / "speakers.csv").write_text(SPEAKERS)
    (tmp_path / "scores.csv").write_text(SCORES)
    command = [sys.executable, str(ROOT / "benchmarks" / "bundled_model_report.py"), str(tmp_path / "scores.csv"),
               "--speakers", str(tmp_path / "speakers.csv")]
    everything = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert "| all | si_snri | 3 | 8.00 |" in everything
    # the longest speaker name wins: allison_x0p8 + allison is F+F (not allison twice), and
    # allison + carlo is F+M
    assert "| F+F | si_snri | 1 | 4.00 |" in everything and "| F+M | si_snri | 2 | 10.00 |" in everything
    humans = subprocess.run([*command, "--human-only"], capture_output=True, text=True, check=True).stdout
    assert "| all | si_snri | 1 | 8.00 |" in humans and "| F+M | si_snri | 1 | 8.00 |" in humans
    assert "F+F" not in humans  # the resampled copy's mixture is gone
    refused = subprocess.run(command[:3] + ["--human-only"], capture_output=True, text=True)
    assert refused.returncode != 0 and "--human-only needs --speakers" in refused.stderr
