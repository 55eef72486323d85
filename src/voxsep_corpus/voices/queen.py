"""The data file of Flight of the Amazon Queen (``queen.1c``): its resource table, a resource's
bytes and a speech resource decoded. Which resources are whose voice: :mod:`.fotaq`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

import numpy as np

FOTAQ_DATA = Path("/usr/share/scummvm/flight-of-the-amazon-queen/queen.1c")


def queen_table(handle: BinaryIO) -> dict[str, tuple[int, int]]:
    """``name -> (offset, size)`` of the resources of a rebuilt FOTAQ data file (``queen.1c``).

    Layout (ScummVM engines/queen/resource.cpp, detectVersion and readTableEntries): ``QTBL``,
    a 6-byte version (``CEM10`` and a NUL: CD, English), 2 unused bytes, 1 byte of sound compression
    (1: MP3), then a big-endian uint16 entry count and per entry a 12-byte NUL-padded name, a
    1-byte bundle number (always 1: one file), big-endian uint32 offset (from the start of
    the file) and uint32 size.
    """
    import struct

    head = handle.read(15)
    if head[:4] != b"QTBL":
        raise ValueError("not a rebuilt Flight of the Amazon Queen data file (no QTBL table)")
    (count,) = struct.unpack(">H", head[13:15])
    table = {}
    for _ in range(count):
        name, _bundle, offset, size = struct.unpack(">12sBII", handle.read(21))
        table[name.split(b"\0")[0].decode("ascii")] = (offset, size)
    return table


@lru_cache(maxsize=2)
def _queen_offsets(path: Path) -> dict[str, tuple[int, int]]:
    """The resource table of a ``queen.1c`` file (:func:`queen_table`), read once per process."""
    with open(path, "rb") as handle:
        return queen_table(handle)


def queen_payload(path: Path, name: str) -> bytes:
    """The bytes of resource ``name`` of a ``queen.1c`` file (only that resource is read)."""
    offset, size = _queen_offsets(path)[name]
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.read(size)


def _read_fotaq(clip: Path, sample_rate: int) -> np.ndarray:
    """Decode one speech resource ``<queen.1c>/<name>.SB`` (MP3) to mono float32 at ``sample_rate``."""
    import io

    import soundfile as sf

    from voxsep.core.audio import resample

    audio, rate = sf.read(io.BytesIO(queen_payload(clip.parent, clip.name)), dtype="float32", always_2d=True)
    return resample(np.ascontiguousarray(audio.mean(axis=1)), rate, sample_rate)
