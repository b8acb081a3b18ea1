"""SCIM's own error responses (RFC 7644 §3.12): a status, a `scimType` and a detail."""

from __future__ import annotations

from tocsin.errors import DomainError

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


class ScimError(DomainError):
    """A refused SCIM request; the request's transaction rolls back, so nothing changes."""

    def __init__(self, status: int, scim_type: str | None, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status
        self.scim_type = scim_type
        self.detail = detail

    def body(self) -> dict[str, object]:
        out: dict[str, object] = {
            "schemas": [ERROR_SCHEMA],
            "status": str(self.status_code),
            "detail": self.detail,
        }
        if self.scim_type:
            out["scimType"] = self.scim_type
        return out
