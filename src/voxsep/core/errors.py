"""Errors that say which argument would avoid them, in the caller's terms.

The library speaks Python: "pass ``overwrite=True`` to replace it". A command line has the
same argument as an option (``--overwrite``); :func:`advised` keeps the parts of such a
message apart (``reason``, ``keyword``, ``value``, ``purpose``) so that
``voxsep.commands.user_message`` can say it with the flag instead. Only ``commands/`` and
``cli.py`` name command-line flags (``tests/unit/test_architecture.py`` checks).
"""

from __future__ import annotations

from typing import Any, TypeVar

E = TypeVar("E", bound=BaseException)

#: ``value`` of an argument the caller must choose (rendered "the ``x`` argument" / "--x").
ANY_VALUE: Any = None


def python_advice(keyword: str, value: Any = True) -> str:
    """``overwrite=True``, ``device='cpu'``, or ``the sample_rate argument`` (``value=ANY_VALUE``)."""
    return f"the {keyword} argument" if value is ANY_VALUE else f"{keyword}={value!r}"


def advised(cls: type[E], reason: str, keyword: str, value: Any = True, purpose: str = "", *args: Any) -> E:
    """``cls(f"{reason}; pass {keyword}={value!r} {purpose}")`` with the parts kept as attributes.

    ``args`` come before the message for exception types that take more (``OSError``'s
    ``errno``). The returned error has ``reason``, ``keyword``, ``value``, ``purpose``.
    """
    tail = f" {purpose}" if purpose else ""
    error = cls(*args, f"{reason}; pass {python_advice(keyword, value)}{tail}")
    error.reason, error.keyword, error.value, error.purpose = reason, keyword, value, purpose  # type: ignore[attr-defined]
    return error
