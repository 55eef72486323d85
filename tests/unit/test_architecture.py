"""The package's layers (docs/architecture.md): every import points downwards.

Walks every module of ``src/voxsep`` with ``ast`` (imports inside functions included)
and checks that no module imports from a layer above its own. A new module must be
given a layer here and in docs/architecture.md.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "voxsep"

# (module prefix, layer); the longest matching prefix wins. Lower layers never import higher ones.
LAYERS = [
    ("voxsep.core", 0),
    ("voxsep.pretrained", 0),  # the bundled files and their names (no code that imports voxsep)
    ("voxsep.nn", 1),
    ("voxsep.models", 2),
    ("voxsep.losses", 3),
    ("voxsep.metrics", 3),
    ("voxsep.config", 3),
    ("voxsep.checkpoint", 3),
    ("voxsep.interop", 3),  # published weights of other toolkits -> voxsep models (beside checkpoint)
    ("voxsep.data", 4),
    ("voxsep.train", 5),
    ("voxsep.inference", 5),
    ("voxsep.evaluate", 5),
    ("voxsep.commands", 6),
    ("voxsep.cli", 6),
    ("voxsep.pretrained.demo", 6),
    ("voxsep.train.__main__", 6),
    ("voxsep", 7),  # the public API facade (lazy re-exports)
]
ROOT_CONSTANTS = {"__version__"}  # `from voxsep import __version__` is package metadata, layer 0


def layer_of(module: str) -> int:
    matches = [(prefix, rank) for prefix, rank in LAYERS if module == prefix or module.startswith(prefix + ".")]
    if not matches:
        raise AssertionError(f"module {module} has no layer; add it to LAYERS and docs/architecture.md")
    return max(matches, key=lambda m: len(m[0]))[1]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, name: str) -> list[str]:
    """Every voxsep module ``path`` imports (``from voxsep import x`` counts as voxsep.x)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                is_module = (PACKAGE.parent / Path(*candidate.split("."))).with_suffix(".py").exists() or (
                    PACKAGE.parent / Path(*candidate.split("."))).is_dir()
                if base == "voxsep" and alias.name in ROOT_CONSTANTS:
                    found.append("voxsep.core")  # metadata, treated as the lowest layer
                else:
                    found.append(candidate if is_module else base)
    return [m for m in found if m == "voxsep" or m.startswith("voxsep.")]


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_imports_point_downwards(path):
    name = module_name(path)
    own = layer_of(name)
    upward = [(m, layer_of(m)) for m in imported_modules(path, name) if layer_of(m) > own]
    assert not upward, f"{name} (layer {own}) imports from higher layers: {upward}"


def test_the_check_catches_an_upward_import(tmp_path):
    module = PACKAGE / "models" / "base.py"
    fake = tmp_path / "fake.py"
    fake.write_text(module.read_text() + "\nfrom voxsep.train import trainer\n")
    imports = imported_modules(fake, "voxsep.models.base")
    assert "voxsep.train.trainer" in imports and layer_of("voxsep.train.trainer") > layer_of("voxsep.models.base")
