"""Validate a configuration file, diff it against the database, apply it, export it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy.orm import Session

from tocsin.configfile import plan
from tocsin.configfile.alerting import NewKey
from tocsin.configfile.schema import Document
from tocsin.configfile.sections import SECTIONS, Section
from tocsin.errors import DomainError


class ConfigError(Exception):
    """A problem in a configuration file: names the file, the path inside it, and what."""


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load(path: Path) -> Document:
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(
            f"{path}:{where}: not valid YAML: {getattr(exc, 'problem', exc)}"
        ) from exc
    except RecursionError as exc:  # PyYAML follows nesting down to the interpreter's limit
        raise ConfigError(f"{path}: nested too deeply to be a configuration file") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    try:
        doc = Document.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"{path}: {_path(first['loc'])}: {first['msg']}") from exc
    _check_duplicates(path, doc)
    return doc


def _items(section: Section, doc: Document) -> list[tuple[str, dict[str, Any]]]:
    value = getattr(doc, section.name)
    if section.name == "plan":  # one object
        return plan.items(doc.plan)
    if isinstance(value, dict):  # templates: phase -> body
        return [(phase, {"phase": phase, "body": body}) for phase, body in value.items()]
    items = []
    for item in value:
        data = item.model_dump()
        key = str(data[section.key])
        if section.key == "email":
            key = key.strip().lower()
            data["email"] = key
        if "members" in data:
            data["members"] = sorted({m.strip().lower() for m in data["members"]})
        items.append((key, data))
    return items


def _check_duplicates(path: Path, doc: Document) -> None:
    for section in SECTIONS:
        seen: dict[str, int] = {}
        for index, (key, _) in enumerate(_items(section, doc)):
            folded = key.lower()
            if folded in seen:
                raise ConfigError(
                    f"{path}: {section.name}[{index}].{section.key}: {key!r} is already "
                    f"defined at {section.name}[{seen[folded]}]"
                )
            seen[folded] = index


def _normal(value: Any) -> Any:
    if isinstance(value, list):
        return [_normal(v) for v in value]
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    return value


def plan_document(
    session: Session, doc: Document, path: Path, new_keys: list[NewKey] | None = None
) -> list[str]:
    """Apply the document section by section; return a line per change (empty: no changes).

    The keys of integrations it creates are appended to `new_keys`, to be shown once."""
    changes: list[str] = []
    keys: list[NewKey] = [] if new_keys is None else new_keys
    for section in SECTIONS:
        items = _items(section, doc)
        if not items:
            continue
        current = {k.lower(): v for k, v in section.current(session).items()}
        for index, (key, desired) in enumerate(items):
            where = (
                f"{section.name}.{key}"
                if section.name == "templates"
                else section.name
                if section.name == "plan"
                else f"{section.name}[{index}]"
            )
            existing = current.get(key.lower())
            try:
                if section.reconcile is not None:
                    changes += section.reconcile(session, key, desired, keys)
                    continue
                assert section.update is not None
                if existing is None:
                    assert section.create is not None
                    section.create(session, desired)
                    changes.append(f"create {section.noun} {key!r}")
                    continue
                changed = {
                    f: v for f, v in desired.items() if _normal(v) != _normal(existing.get(f))
                }
                if changed:
                    section.update(session, key, changed)
                    detail = ", ".join(
                        f"{f}: {existing.get(f)!r} → {v!r}" for f, v in changed.items()
                    )
                    changes.append(f"update {section.noun} {key!r}: {detail}")
            except DomainError as exc:
                field = f".{exc.field}" if exc.field else ""
                raise ConfigError(f"{path}: {where}{field}: {exc.message}") from exc
    return changes


def apply_file(session: Session, path: Path, new_keys: list[NewKey] | None = None) -> list[str]:
    """Validate the whole file, then apply it in the caller's transaction."""
    return plan_document(session, load(path), path, new_keys)


def export_document(session: Session) -> dict[str, Any]:
    out: dict[str, Any] = {"version": 1}
    for section in SECTIONS:
        current = section.current(session)
        if section.name == "templates":
            out["templates"] = {k: v["body"] for k, v in current.items()}
        elif section.name == "plan":
            out["plan"] = plan.exported(current)
        else:
            out[section.name] = list(current.values())
    return out


def export_yaml(session: Session) -> str:
    header = "# Tocsin configuration. Apply with: tocsin apply -f FILE\n"
    return header + yaml.safe_dump(
        export_document(session), sort_keys=False, allow_unicode=True, width=100
    )
