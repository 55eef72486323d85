"""A real ``voxsep serve`` (subprocess on 127.0.0.1 at a free port) and bad upload files."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_MIX = ROOT / "src" / "voxsep" / "pretrained" / "example_mix.wav"
MAX_UPLOAD_MB = 1.0
MAX_JOBS = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, url: str, process: subprocess.Popen, tmp_root: Path, log: Path) -> None:
        self.url, self.process, self.tmp_root, self.log = url, process, tmp_root, log

    def workdirs(self) -> list[Path]:
        return sorted(self.tmp_root.glob("voxsep-serve-*"))

    def leftovers(self) -> list[Path]:
        return [p for d in self.workdirs() for p in d.iterdir()]

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")


def start_server(base: Path, *options: str) -> Server:
    """``voxsep serve OPTIONS`` on 127.0.0.1 at a free port with TMPDIR under ``base``; waits until it answers."""
    import httpx

    tmp_root = base / "tmp"
    tmp_root.mkdir(parents=True)
    log = base / "server.log"
    port = free_port()
    env = dict(os.environ, TMPDIR=str(tmp_root), OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-c", "import sys; from voxsep.cli import main; sys.exit(main())", "serve",
           "--port", str(port), "--threads", "1", *options]
    with open(log, "wb") as log_file:
        process = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        if process.poll() is not None:
            pytest.fail(f"voxsep serve exited with {process.returncode}: {log.read_text()}")
        try:
            if httpx.get(f"{url}/api/models", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"voxsep serve did not answer in 90 s: {log.read_text()}")
        time.sleep(0.3)
    return Server(url, process, tmp_root, log)


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """``voxsep serve`` with the bundled model, 1 MB uploads, 2 jobs at once, its own TMPDIR."""
    running = start_server(tmp_path_factory.mktemp("serve"), "--host", "127.0.0.1", "--max-upload-mb",
                           str(MAX_UPLOAD_MB), "--max-jobs", str(MAX_JOBS), "--job-timeout", "120")
    yield running
    stop_server(running)


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """name -> (file, a phrase the server's message must contain)."""
    d = tmp_path_factory.mktemp("bad")
    files = {}
    (d / "empty.wav").write_bytes(b"")
    files["empty"] = (d / "empty.wav", "is empty")
    (d / "notes.wav").write_text("these are my meeting notes, not audio\n" * 20)
    files["text"] = (d / "notes.wav", "not an audio file voxsep can read")
    sf.write(d / "one.wav", np.array([0.1], np.float32), 8000)
    files["one_sample"] = (d / "one.wav", "too short: 1 sample")
    nan = np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.1
    nan[100] = np.nan
    sf.write(d / "nan.wav", nan, 8000, subtype="FLOAT")
    files["nan"] = (d / "nan.wav", "NaN or infinite")
    big = np.random.default_rng(1).standard_normal(int(MAX_UPLOAD_MB * 1024 * 1024) // 2 + 8000).astype(np.float32)
    sf.write(d / "big.wav", big * 0.1, 16000, subtype="PCM_16")
    files["oversize"] = (d / "big.wav", f"up to {MAX_UPLOAD_MB:g} MB")
    return files


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    reference = np.asarray(reference, np.float64)
    error = reference - np.asarray(estimate, np.float64)
    return float(10 * np.log10(np.sum(reference ** 2) / max(np.sum(error ** 2), 1e-30)))
