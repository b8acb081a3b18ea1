"""Rules of the code's shape that a linter does not check (the import contract itself is
`lint-imports`, configured in pyproject.toml)."""

from __future__ import annotations

import ast
from pathlib import Path

import tocsin

SRC = Path(tocsin.__file__).resolve().parent


def _modules() -> list[tuple[str, ast.Module]]:
    return [
        (str(path.relative_to(SRC.parent)), ast.parse(path.read_text(), filename=str(path)))
        for path in sorted(SRC.rglob("*.py"))
    ]


def _imported(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.ImportFrom):
        return ["." * node.level + (node.module or "")]
    return [alias.name for alias in node.names]


def test_no_tocsin_module_is_imported_inside_a_function() -> None:
    """Importing inside a function hides a dependency (often a cycle) from readers and from
    the import contract; every import of a tocsin module sits at the top of its module."""
    found = []
    for name, tree in _modules():
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    for module in _imported(node):
                        if module == "tocsin" or module.startswith(("tocsin.", ".")):
                            found.append(f"{name}:{node.lineno} ({function.name}): {module}")
    assert found == []


def test_every_session_comes_from_the_one_factory() -> None:
    """Sessions carry the event bus only when made by the composition root's factory
    (`tocsin.wiring.session_factory`, through `db.make_sessionmaker`): nothing else may build a
    sessionmaker or a bare Session, or its reactions would fail."""
    found = []
    for name, tree in _modules():
        if name == "tocsin/db.py":
            continue
        for node in ast.walk(tree):
            called = node.func if isinstance(node, ast.Call) else None
            # SQLAlchemy's classes, as imported by name.
            if isinstance(called, ast.Name) and called.id in ("sessionmaker", "Session"):
                found.append(f"{name}:{node.lineno}: {called.id}(...)")
    assert found == []
