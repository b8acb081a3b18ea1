"""Validating the values of an incident type's custom fields."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from tocsin import validation as v
from tocsin.catalog.models import User
from tocsin.definitions.models import CustomField, FieldKind
from tocsin.errors import ValidationFailed

TEXT_MAX = 5000


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def validate_one(session: Session, field: CustomField, value: Any) -> Any:
    """Return the stored form of one value, or raise with the field's label in the message."""
    name = f"custom field '{field.label}'"
    kind = FieldKind(field.kind)
    if _empty(value):
        if field.required:
            raise ValidationFailed(f"{name} is required", field=f"custom_fields.{field.key}")
        return None
    where = f"custom_fields.{field.key}"
    if kind == FieldKind.text:
        return v.text(value, name, max_len=TEXT_MAX)
    if kind == FieldKind.url:
        return v.url(value, name)
    if kind == FieldKind.number:
        if isinstance(value, bool):
            raise ValidationFailed(f"{name} must be a number", field=where)
        try:
            number = float(value)
        except (TypeError, ValueError) as exc:
            raise ValidationFailed(f"{name} must be a number (got {value!r})", field=where) from exc
        if number != number or number in (float("inf"), float("-inf")):
            raise ValidationFailed(f"{name} must be a finite number", field=where)
        return int(number) if number.is_integer() else number
    if kind == FieldKind.boolean:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "on", "yes", "1"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "off", "no", "0"):
            return False
        raise ValidationFailed(f"{name} must be true or false", field=where)
    if kind == FieldKind.single_select:
        if not isinstance(value, str) or value not in field.options:
            raise ValidationFailed(
                f"{name} must be one of {', '.join(field.options)} (got {value!r})", field=where
            )
        return value
    if kind == FieldKind.multi_select:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ValidationFailed(f"{name} must be a list of options", field=where)
        bad = [i for i in items if i not in field.options]
        if bad:
            raise ValidationFailed(
                f"{name}: {', '.join(map(repr, bad))} not among {', '.join(field.options)}",
                field=where,
            )
        return [o for o in field.options if o in items]
    if kind == FieldKind.user:
        try:
            user_id = int(value)
        except (TypeError, ValueError) as exc:
            raise ValidationFailed(f"{name} must be a user id", field=where) from exc
        if session.get(User, user_id) is None:
            raise ValidationFailed(f"{name}: no user with id {user_id}", field=where)
        return user_id
    raise ValidationFailed(f"{name} has an unknown kind {field.kind!r}", field=where)


def validate_all(
    session: Session, fields: Sequence[CustomField], values: dict[str, Any]
) -> dict[str, Any]:
    """Validate every value against the type's fields; unknown keys are refused."""
    if not isinstance(values, dict):
        raise ValidationFailed("custom_fields must be an object of key: value")
    known = {f.key: f for f in fields}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValidationFailed(
            f"unknown custom field(s) {', '.join(unknown)} for this incident type",
            field="custom_fields",
        )
    cleaned: dict[str, Any] = {}
    for field in fields:
        value = validate_one(session, field, values.get(field.key))
        if value is not None:
            cleaned[field.key] = value
    return cleaned


def display(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(i) for i in value)
    return str(value)
