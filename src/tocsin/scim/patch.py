"""SCIM PATCH (RFC 7644 §3.5.2) applied to a resource's JSON: add, replace and remove, with a
path (`active`, `name.givenName`, `emails[type eq "work"].value`, `members[value eq "7"]`)
or without one (a value object whose keys are paths, as Okta and Entra ID send). The result
is checked and written like a PUT, so a PATCH and a PUT change people the same way."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from tocsin.scim.errors import ScimError
from tocsin.scim.filters import (
    And,
    Compare,
    Filter,
    FilterError,
    PatchPath,
    Path,
    lookup,
    matches,
    parse_patch_path,
    paths,
)
from tocsin.scim.schema import EXTENSIONS, PATCH_SCHEMA, Attr, ResourceSchema

OPS = ("add", "replace", "remove")


def apply_patch(schema: ResourceSchema, resource: Mapping[str, Any], body: Any) -> dict[str, Any]:
    """`resource` with the PatchOp `body` applied; ScimError 400 for a bad operation, path or
    value (invalidSyntax, invalidPath, noTarget, invalidFilter)."""
    if not isinstance(body, Mapping):
        raise ScimError(400, "invalidSyntax", "the body must be a JSON object")
    declared = body.get("schemas")
    if declared is not None and PATCH_SCHEMA not in (
        declared if isinstance(declared, list) else []
    ):
        raise ScimError(400, "invalidSyntax", f"a PATCH body's schemas must be [{PATCH_SCHEMA!r}]")
    unknown = [k for k in body if k.lower() not in ("schemas", "operations")]
    if unknown:
        raise ScimError(400, "invalidSyntax", f"unknown attribute {unknown[0]!r}")
    ops = lookup(body, "Operations")
    if not isinstance(ops, list) or not ops:
        raise ScimError(400, "invalidSyntax", "Operations must be a non-empty list")
    doc = copy.deepcopy(dict(resource))
    for number, op in enumerate(ops, 1):
        if not isinstance(op, Mapping):
            raise ScimError(400, "invalidSyntax", f"operation {number} must be an object")
        extra = [k for k in op if k.lower() not in ("op", "path", "value")]
        if extra:
            raise ScimError(400, "invalidSyntax", f"unknown attribute {extra[0]!r} in operation")
        kind = str(lookup(op, "op") or "").lower()
        if kind not in OPS:
            raise ScimError(
                400, "invalidSyntax", f"op must be add, replace or remove, not {kind!r}"
            )
        path = lookup(op, "path")
        value = lookup(op, "value")
        if path in (None, ""):
            _without_path(schema, doc, kind, value)
        elif not isinstance(path, str):
            raise ScimError(400, "invalidPath", "path must be a string")
        else:
            try:
                target = parse_patch_path(path, EXTENSIONS)
            except FilterError as exc:
                raise ScimError(400, "invalidPath", f"bad path {path!r}: {exc}") from exc
            _apply(schema, doc, kind, target, value, path)
    return doc


def _without_path(schema: ResourceSchema, doc: dict[str, Any], kind: str, value: Any) -> None:
    if kind == "remove":
        raise ScimError(400, "noTarget", "remove needs a path")
    if not isinstance(value, Mapping):
        raise ScimError(400, "invalidSyntax", "without a path, value must be an object")
    for key, item in value.items():
        if key == "schemas":
            continue
        extension = next((u for u in EXTENSIONS if u.lower() == key.lower()), None)
        if extension is not None and isinstance(item, Mapping):
            for name, sub_value in item.items():
                target = PatchPath(Path(extension, name))
                _apply(schema, doc, kind, target, sub_value, f"{key}:{name}")
            continue
        try:
            target = parse_patch_path(key, EXTENSIONS)
        except FilterError as exc:
            raise ScimError(400, "invalidSyntax", f"unknown attribute {key!r}") from exc
        _apply(schema, doc, kind, target, item, key)


def _attribute(schema: ResourceSchema, path: Path, text: str) -> Attr:
    attr = schema.attr(path.schema, path.attr)
    if attr is None:
        raise ScimError(400, "invalidPath", f"unknown attribute in path {text!r}")
    return attr


def _child(attr: Attr, name: str, text: str) -> Attr:
    sub = attr.child(name)
    if sub is None:
        raise ScimError(400, "invalidPath", f"unknown attribute in path {text!r}")
    return sub


def _holder(schema: ResourceSchema, doc: dict[str, Any], path: Path) -> dict[str, Any]:
    if not path.schema or path.schema.lower() == schema.urn.lower():
        return doc
    urn = next(u for u in schema.extensions if u.lower() == path.schema.lower())
    holder = doc.get(urn)
    if not isinstance(holder, dict):
        holder = doc[urn] = {}
    return holder


def _apply(
    schema: ResourceSchema,
    doc: dict[str, Any],
    kind: str,
    target: PatchPath,
    value: Any,
    text: str,
) -> None:
    attr = _attribute(schema, target.path, text)
    if attr.mutability == "readOnly":
        return  # Okta sends the id back in a replace; read-only values are ignored
    holder = _holder(schema, doc, target.path)
    key = attr.name
    if kind != "remove" and value is None:
        raise ScimError(400, "invalidValue", f"{text}: {kind} needs a value")
    if target.where is not None:
        _filtered(attr, holder, kind, target, value, text)
    elif target.path.sub is not None:
        sub = _child(attr, target.path.sub, text).name
        elements = holder.get(key)
        if attr.multi:
            for element in elements if isinstance(elements, list) else []:
                if isinstance(element, dict):
                    _set(element, sub, kind, value)
        else:
            if not isinstance(elements, dict):
                elements = holder[key] = {}
            _set(elements, sub, kind, value)
    elif kind == "remove":
        if attr.multi and isinstance(value, list) and isinstance(holder.get(key), list):
            # Entra ID removes members by listing them: {"path": "members", "value": [...]}.
            gone = {str(lookup(v, "value")) for v in value if isinstance(v, Mapping)}
            holder[key] = [e for e in holder[key] if str(lookup(e, "value")) not in gone]
        else:
            holder.pop(key, None)
    elif attr.multi:
        items = value if isinstance(value, list) else [value]
        current = holder.get(key) if kind == "add" else []
        merged = list(current) if isinstance(current, list) else []
        for item in items:
            if item not in merged:
                merged.append(item)
        holder[key] = merged
    elif (
        attr.type == "complex" and isinstance(value, Mapping) and isinstance(holder.get(key), dict)
    ):
        holder[key].update(value)
    else:
        holder[key] = value


def _set(element: dict[str, Any], name: str, kind: str, value: Any) -> None:
    if kind == "remove":
        element.pop(name, None)
    else:
        element[name] = value


def _filtered(
    attr: Attr, holder: dict[str, Any], kind: str, target: PatchPath, value: Any, text: str
) -> None:
    assert target.where is not None
    if not attr.multi or attr.type != "complex":
        raise ScimError(400, "invalidPath", f"{text}: only a multi-valued attribute has a filter")
    for inner, _ in paths(target.where):
        _child(attr, inner.attr, text)
    sub = _child(attr, target.sub, text).name if target.sub else None
    items = holder.get(attr.name)
    items = items if isinstance(items, list) else []
    chosen = [i for i in items if isinstance(i, dict) and matches(target.where, i)]
    if kind == "remove":
        if sub is not None:
            for item in chosen:
                item.pop(sub, None)
        else:
            holder[attr.name] = [i for i in items if i not in chosen]
        return
    if chosen:
        for item in chosen:
            if sub is not None:
                item[sub] = value
            elif isinstance(value, Mapping):
                item.update(value)
            else:
                raise ScimError(400, "invalidValue", f"{text}: value must be an object")
        return
    # Nothing matched: Entra ID adds `emails[type eq "work"].value` this way; the new
    # element takes the filter's equalities.
    element = _equalities(target.where, text)
    if sub is not None:
        element[sub] = value
    elif isinstance(value, Mapping):
        element.update(value)
    else:
        raise ScimError(400, "invalidValue", f"{text}: value must be an object")
    holder[attr.name] = [*items, element]


def _equalities(node: Filter, text: str) -> dict[str, Any]:
    if isinstance(node, Compare) and node.op == "eq" and node.path.sub is None:
        return {node.path.attr: node.value}
    if isinstance(node, And):
        return {**_equalities(node.left, text), **_equalities(node.right, text)}
    raise ScimError(400, "noTarget", f"{text} matches nothing")
