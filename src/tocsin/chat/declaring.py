"""Declaring an incident from chat: a form where the chat has them (a Slack modal, a
Mattermost dialog), else questions asked in turn (Matrix), each answered with
`!tocsin <answer>`. Either way: title, type, severity, services, then the type's required
custom fields, and the incident is declared through `incidents.service.declare` as the
linked person.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import Service, User
from tocsin.chat.models import ChatConnection, ChatConversation
from tocsin.chat.ports import Choice, Form, FormField
from tocsin.db import utcnow
from tocsin.definitions.models import CustomField, IncidentType, Severity
from tocsin.errors import DomainError, ValidationFailed
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident

CALLBACK = "declare"
CONVERSATION_MINUTES = 15
NONE = "-"


def _types(session: Session) -> list[IncidentType]:
    return list(session.scalars(select(IncidentType).order_by(IncidentType.name)))


def _severities(session: Session) -> list[Severity]:
    return list(session.scalars(select(Severity).order_by(Severity.rank)))


def _services(session: Session) -> list[Service]:
    return list(session.scalars(select(Service).order_by(Service.name)))


def _type_named(session: Session, word: str) -> IncidentType | None:
    word = word.strip().lower()
    for kind in _types(session):
        if kind.name.lower() == word or str(kind.id) == word:
            return kind
    return None


def _required(kind: IncidentType | None) -> list[CustomField]:
    return [f for f in (kind.fields if kind else []) if f.required]


def form(session: Session, type_word: str = "") -> Form:
    """The declaration form; naming a type (`declare security`) adds its required fields."""
    kind = _type_named(session, type_word) if type_word else None
    fields: list[FormField] = [FormField("title", "Title", hint="What is broken, in a line")]
    if kind is None:
        fields.append(
            FormField(
                "type", "Type", "select", tuple(Choice(str(t.id), t.name) for t in _types(session)),
                required=False,
            )
        )  # fmt: skip
    fields.append(
        FormField(
            "severity", "Severity", "select",
            tuple(Choice(str(s.id), f"{s.name} ({s.label})") for s in _severities(session)),
            required=False,
            initial=str(kind.default_severity_id) if kind and kind.default_severity_id else None,
        )
    )  # fmt: skip
    fields.append(
        FormField(
            "services", "Services", "multiselect",
            tuple(Choice(str(s.id), s.name) for s in _services(session)), required=False,
        )
    )  # fmt: skip
    for custom in _required(kind):
        choices = tuple(Choice(o, o) for o in custom.options)
        fields.append(
            FormField(
                f"field:{custom.key}", custom.label, "select" if choices else "text", choices,
                hint=custom.help_text or None,
            )
        )  # fmt: skip
    title = f"Declare a {kind.name} incident" if kind else "Declare an incident"
    return Form(CALLBACK, title[:24], "Declare", tuple(fields), state=str(kind.id) if kind else "")


def _ids(value: str | list[str] | None) -> list[int]:
    items = value if isinstance(value, list) else [value] if value else []
    return [int(i) for i in items if str(i).isdigit()]


def declare(session: Session, values: dict[str, Any], state: str, *, by: User) -> Incident:
    """Declare from a submitted form (or a finished conversation): ValidationFailed with
    the field for anything missing or wrong."""
    kind_id = _ids(state) or _ids(values.get("type"))
    kind = session.get(IncidentType, kind_id[0]) if kind_id else None
    custom = {
        key.removeprefix("field:"): value
        for key, value in values.items()
        if key.startswith("field:") and value not in (None, "")
    }
    missing = [f for f in _required(kind) if f.key not in custom]
    if missing:
        assert kind is not None
        if _ids(state):
            # The form was made for this type and shows its fields: the error goes on the
            # first one left empty (a form shows errors only beside its own fields).
            names = ", ".join(f.label for f in missing)
            raise ValidationFailed(
                f"a {kind.name} incident needs {names}", field=f"field:{missing[0].key}"
            )
        raise ValidationFailed(
            f"a {kind.name} incident needs {', '.join(f.label for f in missing)}: declare it "
            f"with `declare {kind.name}` to be asked for them",
            field="type",
        )
    severity = _ids(values.get("severity"))
    return incidents.declare(
        session,
        by=by,
        title=str(values.get("title") or ""),
        type_id=kind.id if kind else None,
        severity_id=severity[0] if severity else None,
        service_ids=_ids(values.get("services")),
        custom_fields=custom,
    )


# --- questions in turn (Matrix) -----------------------------------------------------------


def _questions(session: Session, answers: dict[str, Any]) -> list[tuple[str, str]]:
    """What is still to ask: (field, question) in order."""
    asked: list[tuple[str, str]] = []
    if not answers.get("title"):
        asked.append(("title", "What is the incident's title?"))
    if "type" not in answers:
        names = ", ".join(t.name for t in _types(session)) or "none defined"
        asked.append(("type", f"Which type? One of: {names} (or `{NONE}` for none)."))
    if "severity" not in answers:
        names = ", ".join(s.name for s in _severities(session))
        asked.append(("severity", f"Which severity? One of: {names} (or `{NONE}`)."))
    if "services" not in answers:
        names = ", ".join(s.name for s in _services(session)) or "none defined"
        asked.append(
            ("services", f"Which services, comma-separated? Known: {names} (or `{NONE}`).")
        )
    kind = session.get(IncidentType, answers["type"]) if answers.get("type") else None
    for custom in _required(kind):
        key = f"field:{custom.key}"
        if key not in answers:
            options = f" One of: {', '.join(custom.options)}." if custom.options else ""
            asked.append((key, f"{custom.label}?{options}"))
    return asked


def _answer(session: Session, field: str, text: str) -> Any:
    """An answer read for its field; ValidationFailed to ask again."""
    text = text.strip()
    if field == "title":
        if not text:
            raise ValidationFailed("the title cannot be empty")
        return text
    if text == NONE:
        return None if field in ("type", "severity") else []
    if field == "type":
        kind = _type_named(session, text)
        if kind is None:
            raise ValidationFailed(f"no type {text!r}")
        return kind.id
    if field == "severity":
        for severity in _severities(session):
            if severity.name.lower() == text.lower():
                return severity.id
        raise ValidationFailed(f"no severity {text!r}")
    if field == "services":
        known = {s.name.lower(): s.id for s in _services(session)}
        names = [n.strip() for n in text.split(",") if n.strip()]
        unknown = [n for n in names if n.lower() not in known]
        if unknown:
            raise ValidationFailed(f"no service {', '.join(unknown)}")
        return [known[n.lower()] for n in names]
    return text


def conversation(
    session: Session, connection: ChatConnection, channel_id: str, chat_user_id: str
) -> ChatConversation | None:
    found = session.scalar(
        select(ChatConversation).where(
            ChatConversation.connection_id == connection.id,
            ChatConversation.channel_id == channel_id,
            ChatConversation.chat_user_id == chat_user_id,
        )
    )
    if found is not None and found.expires_at <= utcnow():
        session.delete(found)
        session.flush()
        return None
    return found


def start(
    session: Session, connection: ChatConnection, channel_id: str, chat_user_id: str, title: str
) -> str:
    """Start asking (again, if a declaration was under way); the first question."""
    old = conversation(session, connection, channel_id, chat_user_id)
    if old is not None:
        session.delete(old)
        session.flush()
    answers: dict[str, Any] = {"title": title.strip()} if title.strip() else {}
    field, question = _questions(session, answers)[0]
    session.add(
        ChatConversation(
            connection_id=connection.id,
            channel_id=channel_id,
            chat_user_id=chat_user_id,
            purpose=CALLBACK,
            answers=answers,
            asking=field,
            expires_at=utcnow() + timedelta(minutes=CONVERSATION_MINUTES),
        )
    )
    session.flush()
    return f"Declaring an incident. {question} Answer with `!tocsin <answer>`, or `!tocsin cancel`."


def answer(session: Session, talk: ChatConversation, text: str, *, by: User) -> str:
    """Take one answer; what to say next: the next question, or what was declared."""
    if text.strip().lower() == "cancel":
        session.delete(talk)
        session.flush()
        return "Declaring cancelled: nothing was declared."
    try:
        value = _answer(session, talk.asking, text)
    except ValidationFailed as exc:
        again = dict(_questions(session, talk.answers)).get(talk.asking, "")
        return f"{exc.message}. {again}"
    answers = {**talk.answers, talk.asking: value}
    left = _questions(session, answers)
    if left:
        talk.answers, talk.asking = answers, left[0][0]
        talk.expires_at = utcnow() + timedelta(minutes=CONVERSATION_MINUTES)
        session.flush()
        return left[0][1]
    values = {
        "title": answers["title"],
        "severity": str(answers["severity"]) if answers.get("severity") else None,
        "services": [str(i) for i in answers.get("services") or []],
        **{k: v for k, v in answers.items() if k.startswith("field:")},
    }
    state = str(answers["type"]) if answers.get("type") else ""
    session.delete(talk)
    try:
        with session.begin_nested():
            incident = declare(session, values, state, by=by)
    except DomainError as exc:
        return f"Nothing was declared: {exc.message}"
    return f"Declared {incident.reference}: {incident.title}."
