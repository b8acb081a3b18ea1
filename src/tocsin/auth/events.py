"""What happens to an account that another domain acts on, as domain events (`tocsin.bus`).

`PasswordResetRequested` is answered in `tocsin.wiring.build_bus`, which has notify mail the
link (auth sits below notify and may not import it).
"""

from __future__ import annotations

from dataclasses import dataclass

from tocsin.bus import Event


@dataclass(frozen=True)
class PasswordResetRequested(Event):
    """A password reset link was made for `user_id`: asked for by the person, or sent by an
    admin (`by_id`). `path` is the link's path, holding its one-time token; `minutes`, how
    long it works."""

    reset_id: int
    user_id: int
    path: str
    minutes: int
    by_id: int | None
