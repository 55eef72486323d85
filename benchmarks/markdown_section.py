"""Shared helper of the benchmark scripts: replace one ``## Title`` section of BENCHMARKS.md."""

from __future__ import annotations

import os
from pathlib import Path


def write_section(path: Path, title: str, section: str) -> None:
    """Replace (or append) the section headed ``title`` in ``path``, keeping the others.

    ``section`` starts with its own ``title`` line; the file is replaced atomically.
    """
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if title in text:
        before, rest = text.split(title, 1)
        after = rest.split("\n## ", 1)
        text = before + section + ("\n## " + after[1] if len(after) > 1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
