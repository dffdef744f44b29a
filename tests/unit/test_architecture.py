"""Facts about the package's shape that anyone can check: short modules, no private names used
across modules, and a README layout table that lists exactly the files that exist.

The downward-only imports and the absence of import cycles are checked by import-linter
(``lint-imports``, contracts in pyproject.toml), which ``make test`` runs next to pytest.
"""
from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "plugins" / "perf_profiler"
MAX_MODULE_LINES = 350


def package_modules() -> list[Path]:
    """Every Python file of the package (the symlinked folders sql/ and dag_files/ hold none of ours)."""
    return sorted(p for p in PACKAGE.rglob("*.py") if "dag_files" not in p.parts and "__pycache__" not in p.parts)


def python_files() -> Iterator[Path]:
    """The package, the DAG files, the tests and the bench: everything that may import the package."""
    yield from package_modules()
    for folder in ("dags", "tests", "bench"):
        yield from sorted((REPO / folder).rglob("*.py"))


def test_no_module_of_the_package_is_over_the_line_limit() -> None:
    lines = {str(p.relative_to(REPO)): len(p.read_text().splitlines()) for p in package_modules()}
    long = {path: n for path, n in lines.items() if n > MAX_MODULE_LINES}
    assert long == {}, f"modules over {MAX_MODULE_LINES} lines (split them by concern)"


def _private_uses(tree: ast.AST) -> Iterator[str]:
    """``from perf_profiler.x import _name`` and ``module._name`` on a module imported from the package."""
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("perf_profiler"):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    yield f"from {node.module} import {alias.name}"
                modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            modules.update(a.asname or a.name for a in node.names if a.name.startswith("perf_profiler"))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            yield f"{node.value.id}.{node.attr} (line {node.lineno})"


def test_nothing_outside_a_module_uses_its_private_names() -> None:
    found = {str(p.relative_to(REPO)): uses for p in python_files()
             if (uses := sorted(set(_private_uses(ast.parse(p.read_text(), str(p))))))}
    assert found == {}, "private names used across modules: make them public or move the caller"


def test_the_checker_sees_a_private_import() -> None:
    tree = ast.parse("from perf_profiler.storage import metrics_repo\nmetrics_repo._secret()\n"
                     "from perf_profiler.engine.plan import _Share\n")
    assert sorted(_private_uses(tree)) == ["from perf_profiler.engine.plan import _Share",
                                           "metrics_repo._secret (line 2)"]


def _readme_layout_paths() -> set[str]:
    """Package paths named in the README's layout table (``perf_profiler/engine/plan.py`` style)."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Layout", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"`(perf_profiler/[\w/]+\.py)`", section))


def test_the_readme_layout_table_matches_the_package_tree() -> None:
    on_disk = {str(p.relative_to(PACKAGE.parent)) for p in package_modules() if p.name != "__init__.py"}
    assert _readme_layout_paths() == on_disk
