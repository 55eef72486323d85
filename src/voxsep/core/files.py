"""Atomic file writes: the one way voxsep puts a file in place.

Every file voxsep writes -- audio, checkpoints, configs, manifests, evaluation tables,
ONNX models -- goes through :func:`atomic_write`: the content is written to a temporary
file in the destination folder, which is renamed over the destination (``os.replace``,
atomic on POSIX) only once it is complete. A failed or interrupted write therefore
leaves any previous file untouched, and never leaves a half-written file under the
final name. The new file gets the mode an ordinary ``open()`` would give it (``0666``
minus the process umask), whatever the writer.

:func:`atomic_write_many` does the same for a group of files that belong together (the
outputs of one separated input): all are written to temporaries first and renamed only
when every one of them is complete, so they appear together or not at all.

:func:`check_distinct` refuses an output that names the same file as an input (under
another spelling, through a symbolic or hard link), so that no ``--force`` or
``--overwrite`` can replace a command's own input.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import Iterable, Iterator, Mapping

__all__ = [
    "atomic_write",
    "atomic_write_many",
    "write_text_atomic",
    "default_file_mode",
    "check_distinct",
    "check_outside",
    "check_writable_dir",
    "same_file",
    "file_identities",
    "SameFileError",
    "DiskFullError",
    "MAX_NAME_BYTES",
    "TEMP_SUFFIX",
]

TEMP_SUFFIX = ".tmp"
_MAX_NAME_IN_TEMP = 64  # keeps the temporary name under the 255-byte file-name limit
MAX_NAME_BYTES = 255  # the file-name limit of Linux, macOS and Windows file systems


class SameFileError(ValueError):
    """An output path names the same file as one of the inputs of the same command."""


class DiskFullError(OSError):
    """A write failed because the disk is full (``errno.ENOSPC``); nothing of it was kept."""


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
        OSError: a full disk is reported as ``errno.ENOSPC`` with "no space left on device"
            and the destination in the message.
        Whatever the writer raised; the temporary file is removed and ``path`` is unchanged.
    """
    with atomic_write_many([path], overwrite=overwrite, suffix=suffix) as temps:
        yield temps[0]


@contextlib.contextmanager
def atomic_write_many(
    paths: Iterable[str | os.PathLike], *, overwrite: bool = True, suffix: str = TEMP_SUFFIX
) -> Iterator[list[Path]]:
    """Yield one temporary path beside each of ``paths``; on a clean exit, rename them all.

    The files appear together or not at all: if the writer fails for any of them (a full
    disk, an error, Ctrl-C), every temporary is removed and no destination is touched.
    The renames happen only after all files are complete; in the unlikely case that one
    of them fails, the destinations already renamed in this call are removed again.

    Raises:
        FileExistsError: ``overwrite`` is false and a destination exists at the renames.
        OSError: see :func:`atomic_write`.
    """
    paths = [Path(p) for p in paths]
    temps: list[Path] = []
    renamed: list[Path] = []
    try:
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=temporary_prefix(path), suffix=suffix, dir=path.parent)
            os.close(fd)
            temps.append(Path(name))
        yield temps
        mode = default_file_mode()
        for tmp in temps:
            os.chmod(tmp, mode)
        if not overwrite:
            for path in paths:
                if path.exists():
                    raise FileExistsError(f"{path} appeared while it was being written; not replaced")
        for tmp, path in zip(temps, paths):
            os.replace(tmp, path)
            renamed.append(path)
    except BaseException as error:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        for path in renamed:
            path.unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno == errno.ENOSPC and not isinstance(error, DiskFullError):
            names = ", ".join(str(p) for p in paths)
            raise DiskFullError(
                errno.ENOSPC,
                f"no space left on device: could not write {names}; nothing of it was kept (free some "
                "space and run again)",
            ) from error
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` atomically."""
    with atomic_write(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            handle.write(text)
    return Path(path)


def file_identities(path: str | os.PathLike) -> set[tuple]:
    """What identifies ``path``'s file: its resolved path (other spellings, symbolic links)
    and, when it exists, its device and inode (hard links). Two paths name the same file
    when their identities intersect."""
    path = Path(path)
    identities: set[tuple] = {("path", str(path.resolve()))}
    try:
        stat = path.stat()
    except OSError:
        return identities
    identities.add(("inode", stat.st_dev, stat.st_ino))
    return identities


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether ``a`` and ``b`` name the same file (see :func:`file_identities`)."""
    return bool(file_identities(a) & file_identities(b))


def check_distinct(
    outputs: Iterable[str | os.PathLike],
    inputs: Mapping[str, str | os.PathLike] | Iterable[tuple[str, str | os.PathLike]],
    advice: str,
) -> None:
    """Refuse outputs that name the same file as an input.

    Args:
        outputs: the files a command is about to write.
        inputs: ``{what it is: path}`` or ``(what it is, path)`` pairs, e.g.
            ``{"the checkpoint being exported": "x.pt"}``.
        advice: what to do instead (ends the message).

    Raises:
        SameFileError: naming the output, what the input is and (if spelled otherwise) its path.
    """
    pairs = list(inputs.items()) if isinstance(inputs, Mapping) else list(inputs)
    index: dict[tuple, tuple[str, str | os.PathLike]] = {}
    for what, source in pairs:
        for identity in file_identities(source):
            index.setdefault(identity, (what, source))
    for output in outputs:
        for identity in file_identities(output):
            if identity in index:
                what, source = index[identity]
                spelled = "" if Path(output) == Path(source) else f" ({source})"
                raise SameFileError(f"{output} is {what}{spelled}; writing it would destroy it: {advice}")


def check_outside(output: str | os.PathLike, what: str, source: str | os.PathLike, advice: str) -> None:
    """Refuse an output that is ``source`` or lies inside it (when it is a folder).

    Paths are compared resolved (other spellings, symbolic links in the output or in its
    folders) and every file in ``source`` is compared with the output by
    :func:`file_identities` (a hard link or a symbolic link to one of them, e.g. the
    blobs a Hugging Face snapshot links to).

    Raises:
        SameFileError: naming the output, what the source is and ``advice``.
    """
    output, source = Path(output), Path(source)
    target = output.resolve()
    refuse = None
    if source.is_dir():
        root = source.resolve()
        if target == root or target.is_relative_to(root):
            refuse = f"{output} is inside {what} {source}"
        else:
            identities = file_identities(output)
            for path in source.rglob("*"):
                if path.is_file() and file_identities(path) & identities:
                    refuse = f"{output} is {path} of {what} {source} (a link to it)"
                    break
    elif file_identities(output) & file_identities(source):
        spelled = "" if output == source else f" {source}"
        refuse = f"{output} is {what}{spelled}"
    if refuse:
        raise SameFileError(f"{refuse}; writing it would replace the files it is made from: {advice}")


def check_writable_dir(folder: str | os.PathLike, option: str = "output folder") -> Path:
    """Create ``folder`` if needed and prove it is writable with a temporary file.

    Raises:
        OSError (``PermissionError``, ...): the message names the folder and ``option``
            (what to choose instead; a command line passes its flag).
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".voxsep-write-test.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise type(error)(
            error.errno, f"cannot write to the output folder {folder}: {error.strerror}; choose another {option}"
        ) from error
    return folder
