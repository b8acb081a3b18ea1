"""Domain errors. Services raise these; one handler per interface maps them to responses."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a user can cause; carries a message meant for that user."""

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ValidationFailed(DomainError):
    status_code = 422


class NotFound(DomainError):
    status_code = 404


class UnknownReference(ValidationFailed):
    """A field names something that does not exist (an id, a name): a 404 naming the field,
    as for an unknown id in a path, and still a field's validation failure to a form."""

    status_code = 404


class Conflict(DomainError):
    status_code = 409


class InvalidTransition(Conflict):
    """An incident, alert or item cannot move from its state to the one asked for."""


class Unauthenticated(DomainError):
    status_code = 401


class Forbidden(DomainError):
    status_code = 403
