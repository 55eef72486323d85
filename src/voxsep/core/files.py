"""Atomic file writes: the one way voxsep puts a file in place.

Every file voxsep writes -- audio, checkpoints, configs, manifests, evaluation tables,
ONNX models -- goes through :func:`atomic_write`: the content is written to a temporary
file in the destination folder, which is renamed over the destination (``os.replace``,
atomic on POSIX) only once it is complete. A failed or interrupted write therefore
leaves any previous file untouched, and never leaves a half-written file under the
final name. The new file gets the mode an ordinary ``open()`` would give it (``0666``
minus the process umask), whatever the writer.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

__all__ = ["atomic_write", "write_text_atomic", "default_file_mode", "TEMP_SUFFIX"]

TEMP_SUFFIX = ".tmp"
_MAX_NAME_IN_TEMP = 64  # keeps the temporary name under the 255-byte file-name limit


def default_file_mode() -> int:
    """``0o666`` minus the current umask: the mode ``open(path, "w")`` would create."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def temporary_prefix(path: Path) -> str:
    """The prefix of ``path``'s temporary files (hidden, in the same folder)."""
    return f".{path.name[:_MAX_NAME_IN_TEMP]}."


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, *, overwrite: bool = True, suffix: str = TEMP_SUFFIX) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on a clean exit, rename it over ``path``.

    Example::

        with atomic_write("scores.csv") as tmp:
            tmp.write_text(table)

    Args:
        path: the destination; its folder is created.
        overwrite: if false, a ``path`` that appeared meanwhile is not replaced.
        suffix: suffix of the temporary name (some writers choose the format by it).

    Raises:
        FileExistsError: ``overwrite`` is false and ``path`` exists at the rename.
        Whatever the writer raised; the temporary file is removed and ``path`` is unchanged.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=temporary_prefix(path), suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, default_file_mode())
        if not overwrite and path.exists():
            raise FileExistsError(f"{path} appeared while it was being written; not replaced")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` atomically."""
    with atomic_write(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            handle.write(text)
    return Path(path)
