"""benchmarks/ stays apart: tests never import it (they run a script as a subprocess where
they check one), and every script is cited by BENCHMARKS.md (which says where its numbers are)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(p for p in (ROOT / "benchmarks").glob("*.py"))


def test_tests_never_import_benchmarks():
    names = {p.stem for p in SCRIPTS} | {"benchmarks"}
    offenders = []
    for test in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(test.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported = [node.module.split(".")[0]]
            else:
                continue
            offenders += [f"{test.relative_to(ROOT)}:{node.lineno} imports {name}" for name in imported if name in names]
    assert not offenders, offenders


def test_every_benchmark_script_is_cited_by_benchmarks_md():
    cited = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")
    assert [p.name for p in SCRIPTS if f"`{p.name}`" not in cited and f"benchmarks/{p.name}" not in cited] == []
