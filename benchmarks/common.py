"""What the benchmark scripts share: the machine's description, timing and markdown output.

The scripts run as ``.venv/bin/python benchmarks/<script>.py`` (so this folder is on
``sys.path``) and import from here; the library never imports ``benchmarks/``, and
neither do the tests (they run a script as a subprocess where they check one).
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence


def _cpuinfo_field(name: str) -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith(name):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_name() -> str:
    """The CPU's model name (``model name`` of /proc/cpuinfo, as ``lscpu`` shows it)."""
    return _cpuinfo_field("model name") or platform.processor() or platform.machine() or "unknown CPU"


def cpu_features() -> str:
    """The bf16 matrix units this CPU reports (as ``voxsep.inference.fast`` checks them at run time)."""
    flags = (_cpuinfo_field("flags") or "").split()
    found = [name for flag, name in (("avx512f", "AVX-512"), ("avx512_bf16", "AVX512-BF16"), ("amx_bf16", "AMX"))
             if flag in flags]
    return ", ".join(found + ([] if "amx_bf16" in flags else ["no AMX"])) or "no AVX-512"


def load_average() -> float:
    """The 1-minute load average (the machines these numbers come from are shared)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def median_seconds(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> tuple[float, Any]:
    """``(median wall seconds of fn() over repeats runs after warmup runs, the last result)``."""
    result = None
    for _ in range(warmup):
        result = fn()
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]], align: str | None = None) -> str:
    """A markdown table; ``align`` has one letter per column (``l`` or ``r``; default: all left)."""
    align = align or "l" * len(header)
    lines = ["| " + " | ".join(str(h) for h in header) + " |",
             "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_section(path: Path, title: str, section: str) -> None:
    """Replace (or append) the section headed ``title`` (``## ...``) in ``path``, keeping the
    others. ``section`` starts with its own ``title`` line; the file is replaced atomically."""
    path = Path(path)
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    section = section.rstrip("\n") + "\n"
    if title + "\n" in text:
        before, rest = text.split(title + "\n", 1)
        after = rest.split("\n## ", 1)
        text = before + section + ("\n## " + after[1] if len(after) > 1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
