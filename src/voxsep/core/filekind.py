"""What a file that ``torch.load(weights_only=True)`` refused actually is, told from its
first bytes without running or unpickling anything: a PyTorch file (zip or the legacy
format), a plain Python pickle (and which callables it would call), a safetensors file,
zeros (an empty or sparse file), text, or unknown bytes.

The messages built from it never pass on torch's advice to load again with
``weights_only=False`` (that would run code from the file).
"""

from __future__ import annotations

import io
import pickletools
from pathlib import Path

__all__ = ["describe_unloadable", "scrub_torch_advice", "sniff"]

_HEAD = 1 << 16
_PICKLE_SCAN = 1 << 20
# torch's legacy (non-zip) files start with a pickled magic number (torch.serialization.MAGIC_NUMBER)
_TORCH_LEGACY = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."


def _pickle_callables(data: bytes) -> tuple[bool, list[str]]:
    """Whether ``data`` parses as a pickle stream up to its STOP, and the names of the
    globals it would import (and call), read from its opcodes (``pickletools.genops``:
    nothing is executed)."""
    names: list[str] = []
    strings: list[str] = []
    complete = False
    try:
        for opcode, arg, _ in pickletools.genops(io.BytesIO(data)):
            if opcode.name in ("GLOBAL", "INST"):
                names.append(str(arg).replace(" ", "."))
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                names.append(f"{strings[-2]}.{strings[-1]}")
            elif isinstance(arg, str):
                strings.append(arg)
            complete = opcode.name == "STOP"
    except Exception:  # noqa: BLE001 - a truncated or odd stream: what was read so far
        pass
    return complete, list(dict.fromkeys(names))


def sniff(path: str | Path) -> tuple[str, str]:
    """``(kind, detail)`` of ``path`` from its first bytes; kinds: ``"pytorch"``,
    ``"pytorch-legacy"``, ``"pickle"``, ``"safetensors"``, ``"zeros"``, ``"empty"``,
    ``"text"``, ``"unknown"``."""
    with open(path, "rb") as handle:
        head = handle.read(_HEAD)
    if not head:
        return "empty", ""
    if head.startswith(b"PK\x03\x04"):
        return "pytorch", ""
    if head.startswith(_TORCH_LEGACY):
        return "pytorch-legacy", ""
    if len(head) > 8 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < (1 << 27):
        return "safetensors", ""
    if not head.strip(b"\0"):
        return "zeros", ""
    if head[:1] == b"\x80" and 2 <= head[1] <= 5 or head[:1] in (b"(", b"}", b"]", b"c"):
        with open(path, "rb") as handle:
            complete, names = _pickle_callables(handle.read(_PICKLE_SCAN))
        if head[:1] == b"\x80" or names or complete:
            return "pickle", ", ".join(names[:5])
    try:
        head.decode("utf-8")
        return "text", ""
    except UnicodeDecodeError:
        pass
    return "unknown", head[:8].hex(" ")


def describe_unloadable(path: str | Path) -> str | None:
    """Why ``path`` is not a PyTorch file voxsep can read, in words; ``None`` when it looks
    like one (then it is truncated or damaged, or holds objects that are refused)."""
    path = Path(path)
    try:
        kind, detail = sniff(path)
        size = path.stat().st_size
    except OSError as error:
        return f"{path} cannot be read: {error.strerror or error}"
    if kind == "pickle":
        calls = f" and would call {detail} when unpickled" if detail else ""
        return (f"{path} is a plain Python pickle, not a PyTorch weights file{calls}; voxsep never unpickles "
                "files (unpickling can run any code) and will not load it. Ask for the weights as a PyTorch "
                "state dict (torch.save of tensors) or safetensors")
    if kind == "zeros":
        return (f"{path} holds only zero bytes at its start ({size} bytes in all): an empty or sparse file, e.g. an "
                "interrupted download or copy, not model weights; it will not be loaded. Fetch or copy it again")
    if kind == "empty":
        return f"{path} is empty (0 bytes), not model weights; fetch or copy it again"
    if kind == "text":
        return (f"{path} is not a readable PyTorch file: it is a text file, not model weights (a Git LFS pointer or "
                "an HTML error page instead of the download?); it will not be loaded")
    if kind == "unknown":
        return (f"{path} is not a readable PyTorch file: neither PyTorch nor safetensors (it starts with the bytes "
                f"{detail}); it will not be loaded")
    return None


def scrub_torch_advice(message: str) -> str:
    """The first line of a ``torch.load`` error without its advice to retry with
    ``weights_only=False`` (voxsep never suggests that: it would run code from the file)."""
    line = message.strip().splitlines()[0] if message.strip() else ""
    sentences = [s for s in line.replace(". ", ".\n").splitlines()
                 if not any(w in s for w in ("weights_only", "In PyTorch 2.6", "trusted source"))]
    return " ".join(sentences).strip()
