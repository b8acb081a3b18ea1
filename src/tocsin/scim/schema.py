"""The SCIM schemas Tocsin serves (RFC 7643 §4, §8.7.1): the attributes a User or a Group
may carry, served at /Schemas and used to check every body. An attribute not declared here
is refused, naming it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tocsin.scim.errors import ScimError

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
EXTENSIONS = (ENTERPRISE_SCHEMA,)


@dataclass(frozen=True)
class Attr:
    name: str
    type: str = "string"  # string, boolean, complex, reference, dateTime, integer
    multi: bool = False
    sub: tuple[Attr, ...] = ()
    mutability: str = "readWrite"  # readOnly, readWrite, immutable, writeOnly
    returned: str = "default"  # always, never, default
    required: bool = False
    case_exact: bool = False
    uniqueness: str = "none"
    description: str = ""

    def child(self, name: str) -> Attr | None:
        return _named(self.sub, name)

    def as_scim(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "multiValued": self.multi,
            "description": self.description,
            "required": self.required,
            "caseExact": self.case_exact,
            "mutability": self.mutability,
            "returned": self.returned,
            "uniqueness": self.uniqueness,
        }
        if self.sub:
            out["subAttributes"] = [s.as_scim() for s in self.sub]
        if self.type == "reference":
            out["referenceTypes"] = ["User", "Group", "external"]
        return out


def _named(attrs: tuple[Attr, ...], name: str) -> Attr | None:
    lowered = name.lower()
    return next((a for a in attrs if a.name.lower() == lowered), None)


def _plural(*extra: Attr) -> tuple[Attr, ...]:
    return (
        Attr("value"),
        Attr("display"),
        Attr("type"),
        Attr("primary", "boolean"),
        *extra,
    )


ID = Attr("id", mutability="readOnly", returned="always", case_exact=True, uniqueness="server")
EXTERNAL_ID = Attr("externalId", case_exact=True, description="The identity provider's id")
META = Attr("meta", "complex", mutability="readOnly")

USER_ATTRS: tuple[Attr, ...] = (
    ID,
    EXTERNAL_ID,
    Attr("userName", required=True, uniqueness="server", description="The email address"),
    Attr(
        "name",
        "complex",
        sub=(
            Attr("formatted"),
            Attr("familyName"),
            Attr("givenName"),
            Attr("middleName"),
            Attr("honorificPrefix"),
            Attr("honorificSuffix"),
        ),
    ),
    Attr("displayName", description="The name Tocsin shows"),
    Attr("nickName"),
    Attr("profileUrl", "reference"),
    Attr("title"),
    Attr("userType"),
    Attr("preferredLanguage"),
    Attr("locale"),
    Attr("timezone", description="An IANA time zone; Tocsin shows times in it"),
    Attr("active", "boolean", description="false deprovisions: sessions and tokens end"),
    Attr("password", mutability="writeOnly", returned="never"),
    Attr("emails", "complex", multi=True, sub=_plural()),
    Attr("phoneNumbers", "complex", multi=True, sub=_plural()),
    Attr(
        "addresses",
        "complex",
        multi=True,
        sub=(
            Attr("formatted"),
            Attr("streetAddress"),
            Attr("locality"),
            Attr("region"),
            Attr("postalCode"),
            Attr("country"),
            Attr("type"),
            Attr("primary", "boolean"),
        ),
    ),
    Attr(
        "groups",
        "complex",
        multi=True,
        mutability="readOnly",
        sub=(Attr("value"), Attr("$ref", "reference"), Attr("display"), Attr("type")),
    ),
    META,
)

ENTERPRISE_ATTRS: tuple[Attr, ...] = (
    Attr("employeeNumber"),
    Attr("costCenter"),
    Attr("organization"),
    Attr("division"),
    Attr("department"),
    Attr(
        "manager",
        "complex",
        sub=(
            Attr("value"),
            Attr("$ref", "reference"),
            Attr("displayName", mutability="readOnly"),
        ),
    ),
)

GROUP_ATTRS: tuple[Attr, ...] = (
    ID,
    EXTERNAL_ID,
    Attr("displayName", required=True, uniqueness="server", description="The team's name"),
    Attr(
        "members",
        "complex",
        multi=True,
        sub=(
            Attr("value", mutability="immutable"),
            Attr("$ref", "reference", mutability="immutable"),
            Attr("display", mutability="readOnly"),
            Attr("type", mutability="immutable"),
        ),
    ),
    META,
)


@dataclass(frozen=True)
class ResourceSchema:
    urn: str
    name: str
    attrs: tuple[Attr, ...]
    extensions: Mapping[str, tuple[Attr, ...]]

    def attr(self, schema: str, name: str) -> Attr | None:
        """The attribute `name` of the core schema (schema "" or the core URN) or of an
        extension."""
        if not schema or schema.lower() == self.urn.lower():
            return _named(self.attrs, name)
        for urn, attrs in self.extensions.items():
            if urn.lower() == schema.lower():
                return _named(attrs, name)
        return None

    def as_scim(self, location: str) -> list[dict[str, Any]]:
        out = [_schema_doc(self.urn, self.name, self.attrs, location)]
        for urn, attrs in self.extensions.items():
            out.append(_schema_doc(urn, "EnterpriseUser", attrs, location))
        return out


def _schema_doc(urn: str, name: str, attrs: tuple[Attr, ...], base: str) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": urn,
        "name": name,
        "description": f"{name} as Tocsin keeps it",
        "attributes": [a.as_scim() for a in attrs if a.name not in ("id", "meta")],
        "meta": {"resourceType": "Schema", "location": f"{base}/Schemas/{urn}"},
    }


USER = ResourceSchema(USER_SCHEMA, "User", USER_ATTRS, {ENTERPRISE_SCHEMA: ENTERPRISE_ATTRS})
GROUP = ResourceSchema(GROUP_SCHEMA, "Group", GROUP_ATTRS, {})


def _boolean(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    # Entra ID sends "True"/"False" in PATCH values.
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ScimError(400, "invalidValue", f"{where} must be true or false")


def _value(attr: Attr, value: Any, where: str) -> Any:
    if value is None:
        return None
    if attr.type == "boolean":
        return _boolean(value, where)
    if attr.type == "complex":
        if not isinstance(value, Mapping):
            raise ScimError(400, "invalidValue", f"{where} must be an object")
        return _object(attr.sub, value, where)
    if attr.type == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScimError(400, "invalidValue", f"{where} must be a whole number")
        return value
    if not isinstance(value, str):
        raise ScimError(400, "invalidValue", f"{where} must be a string")
    if len(value) > 2048:
        raise ScimError(400, "invalidValue", f"{where} is too long")
    return value


def _object(attrs: tuple[Attr, ...], body: Mapping[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in body.items():
        attr = _named(attrs, key)
        name = f"{where}.{key}" if where else key
        if attr is None:
            raise ScimError(400, "invalidSyntax", f"unknown attribute {name!r}")
        if attr.mutability == "readOnly":
            continue  # RFC 7643 §2.2: read-only values sent by a client are ignored
        out[attr.name] = _attr_value(attr, value, name)
    return out


def _attr_value(attr: Attr, value: Any, where: str) -> Any:
    if attr.multi:
        if value is None:
            return []
        items = value if isinstance(value, list) else [value]
        return [_value(attr, item, where) for item in items if item is not None]
    return _value(attr, value, where)


def validate(schema: ResourceSchema, body: Any) -> dict[str, Any]:
    """A resource body checked against `schema`: canonical attribute names, values of the
    declared types, read-only ones dropped; ScimError 400 naming the first unknown attribute
    or wrong value. Extension attributes stay under their URN."""
    if not isinstance(body, Mapping):
        raise ScimError(400, "invalidSyntax", "the body must be a JSON object")
    declared = body.get("schemas")
    if declared is not None:
        if not isinstance(declared, list) or not all(isinstance(s, str) for s in declared):
            raise ScimError(400, "invalidSyntax", "schemas must be a list of URNs")
        known = {schema.urn.lower(), *(u.lower() for u in schema.extensions)}
        unknown = [s for s in declared if s.lower() not in known]
        if unknown:
            raise ScimError(400, "invalidSyntax", f"unknown schema {unknown[0]!r}")
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key == "schemas":
            continue
        extension = next((u for u in schema.extensions if u.lower() == key.lower()), None)
        if extension is not None:
            if value is None:
                continue
            if not isinstance(value, Mapping):
                raise ScimError(400, "invalidValue", f"{key} must be an object")
            out[extension] = _object(schema.extensions[extension], value, key)
            continue
        if key.lower() == schema.urn.lower() and isinstance(value, Mapping):
            out.update(_object(schema.attrs, value, ""))
            continue
        attr = _named(schema.attrs, key)
        if attr is None:
            raise ScimError(400, "invalidSyntax", f"unknown attribute {key!r}")
        if attr.mutability == "readOnly":
            continue
        out[attr.name] = _attr_value(attr, value, attr.name)
    for attr in schema.attrs:
        if attr.required and out.get(attr.name) in (None, ""):
            raise ScimError(400, "invalidValue", f"{attr.name} is required")
    return out
