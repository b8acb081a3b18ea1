"""Tocsin uses only the documented public API of its dependencies: an upgrade of a server or a
library must not break alert intake silently. These checks read the source, so that a
shortcut into a dependency's internals fails the suite the day it is written."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "tocsin"


def _sources() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text(), str(path))) for path in sorted(SRC.rglob("*.py"))]


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_underscore_attribute_of_another_object() -> None:
    """`thing._attr` is somebody's internal detail unless `thing` is our own self or class."""
    found = []
    for path, tree in _sources():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute) or not _is_private(node.attr):
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            found.append(f"{path.relative_to(SRC)}:{node.lineno}: {ast.unparse(node)}")
    assert found == []


def test_no_private_module_or_name_of_a_dependency_is_imported() -> None:
    found = []
    for path, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.split(".")[0] == "tocsin":
                    continue
                parts = node.module.split(".")
                names = [alias.name for alias in node.names]
                if any(_is_private(p) for p in parts) or any(_is_private(n) for n in names):
                    found.append(f"{path.relative_to(SRC)}:{node.lineno}: from {node.module}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if any(_is_private(p) for p in alias.name.split(".")):
                        found.append(f"{path.relative_to(SRC)}:{node.lineno}: import {alias.name}")
    assert found == []


def test_no_server_protocol_is_imported_or_subclassed() -> None:
    """Endpoints are routes of the application or plain ASGI apps mounted through the
    framework's public API; nothing reaches below ASGI into the server's protocol classes."""
    found = []
    for path, tree in _sources():
        for node in ast.walk(tree):
            module = ""
            if isinstance(node, ast.ImportFrom) and node.module:
                module = node.module
            elif isinstance(node, ast.Import):
                module = " ".join(alias.name for alias in node.names)
            if "uvicorn.protocols" in module or "httptools" in module or "h11" in module.split():
                found.append(f"{path.relative_to(SRC)}:{node.lineno}: {module}")
            if isinstance(node, ast.ClassDef):
                for base in map(ast.unparse, node.bases):
                    # typing.Protocol (a port of ours) is fine; a server's or asyncio's
                    # protocol class is not.
                    if base.split("[")[0].endswith("Protocol") and base.split("[")[0] != "Protocol":
                        found.append(f"{path.relative_to(SRC)}:{node.lineno}: {base}")
    assert found == []
