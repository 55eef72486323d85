"""YAML read with bounds: the size of the file, the number of values once aliases are
expanded, and the nesting depth are checked on the parsed node graph *before* any Python
object is built, so a small file with nested aliases ("billion laughs") or a very deep
nesting is refused in milliseconds instead of filling the memory.

A published ``hyperparams.yaml`` or ``config.yaml`` is a few kilobytes with a few hundred
values; the bounds are far above that.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

#: Largest YAML file read (bytes).
MAX_YAML_BYTES = 1 << 20
#: Most values (scalars, lists, mappings, keys) after expanding aliases.
MAX_YAML_NODES = 200_000
#: Deepest nesting of lists/mappings.
MAX_YAML_DEPTH = 100


class YAMLLimitError(ValueError):
    """A YAML file beyond the bounds of this module (the message says which)."""


def _check_graph(root: yaml.Node) -> None:
    """Count the values ``root`` expands to (aliases counted each time they are used) and
    its depth, without expanding anything: each distinct node is visited once."""
    sizes: dict[int, int] = {}
    heights: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    open_nodes: set[int] = set()
    while stack:
        node, done = stack.pop()
        key = id(node)
        if isinstance(node, yaml.ScalarNode):
            sizes[key], heights[key] = 1, 0
            continue
        children = [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else list(node.value)
        if not done:
            if key in sizes:
                continue
            if key in open_nodes:
                raise YAMLLimitError("it refers to itself (a recursive alias); nothing was built from it")
            open_nodes.add(key)
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
            continue
        open_nodes.discard(key)
        sizes[key] = 1 + sum(sizes[id(c)] for c in children)
        heights[key] = 1 + max((heights[id(c)] for c in children), default=0)
        if sizes[key] > MAX_YAML_NODES:
            raise YAMLLimitError(
                f"it expands to more than {MAX_YAML_NODES} values (aliases nested inside aliases, a 'billion laughs' "
                "file?); a model's settings are a few hundred values, so nothing was built from it"
            )
        if heights[key] > MAX_YAML_DEPTH:
            raise YAMLLimitError(f"it nests more than {MAX_YAML_DEPTH} levels deep; nothing was built from it")


_QUOTED = re.compile(r"'[^']*'|\"(?:[^\"\\]|\\.)*\"")
_BRACKETS = re.compile(r"[\[\]{}]")


def _flow_depth(text: str) -> int:
    """The deepest nesting of ``[``/``{`` outside quoted strings (an upper bound of the
    flow-collection depth)."""
    depth = deepest = 0
    for match in _BRACKETS.finditer(_QUOTED.sub("", text)):
        depth = depth + 1 if match.group() in "[{" else max(depth - 1, 0)
        deepest = max(deepest, depth)
    return deepest


def _bounded(loader: type[yaml.SafeLoader]) -> type[yaml.SafeLoader]:
    """``loader`` whose composer refuses nesting deeper than ``MAX_YAML_DEPTH`` as it goes."""

    class Bounded(loader):  # type: ignore[valid-type, misc]
        _depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            self._depth += 1
            try:
                if self._depth > MAX_YAML_DEPTH:
                    raise YAMLLimitError(f"it nests more than {MAX_YAML_DEPTH} levels deep; nothing was built from it")
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

    return Bounded


def load_bounded(path: Path, loader: type[yaml.SafeLoader]) -> Any:
    """Parse ``path`` with ``loader`` (a ``SafeLoader`` subclass) within the bounds.

    Raises:
        YAMLLimitError: the file is too large, expands to too many values, nests too
            deeply or refers to itself.
        yaml.YAMLError, UnicodeDecodeError: not YAML text.
    """
    size = Path(path).stat().st_size
    if size > MAX_YAML_BYTES:
        raise YAMLLimitError(f"it is {size} bytes, more than the {MAX_YAML_BYTES} a settings file may have; not read")
    with open(path, "rb") as handle:
        text = handle.read(MAX_YAML_BYTES + 1).decode("utf-8")
    if _flow_depth(text) > MAX_YAML_DEPTH:  # before PyYAML's scanner, which slows down with each open bracket
        raise YAMLLimitError(f"it nests more than {MAX_YAML_DEPTH} levels deep; nothing was built from it")
    parser = _bounded(loader)(text)
    try:
        node = parser.get_single_node()
        if node is None:
            return None
        _check_graph(node)
        return parser.construct_document(node)
    finally:
        parser.dispose()
