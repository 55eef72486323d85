"""``voxsep prepare ... --jobs N`` (issue 27, item 12): the pool's worker processes end
with their parent, even when it is killed with SIGKILL (they were left as orphans of
about 110 MB each)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "\nState:\tZ" not in state  # a zombie is dead, only not reaped yet


def test_pool_workers_die_with_a_killed_parent(tmp_path):
    pids_file = tmp_path / "pids"
    script = textwrap.dedent(f"""
        import os, time
        from voxsep_corpus.common import run_tasks

        def task(i):
            with open({str(pids_file)!r}, "a") as handle:
                handle.write(f"{{os.getpid()}}\\n")
            time.sleep(120)
            return i

        run_tasks(task, list(range(4)), jobs=2, desc="test")
    """)
    parent = subprocess.Popen([sys.executable, "-c", script])
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if pids_file.exists():
                workers = sorted({int(line) for line in pids_file.read_text().split()})
                if len(workers) == 2:
                    break
            time.sleep(0.1)
        assert len(workers) == 2, "the two workers did not start"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
            time.sleep(0.1)
        left = [pid for pid in workers if _alive(pid)]
        assert not left, f"workers {left} outlived their killed parent"
    finally:
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if parent.poll() is None:
            parent.kill()
