"""The one registry of background job kinds. Kinds are registered explicitly in bootstrap."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

Handler = Callable[[Session, dict[str, Any]], None]


@dataclass(frozen=True)
class JobKind:
    name: str
    handler: Handler
    max_attempts: int = 5
    # Seconds to wait before attempt n+1 is base * 2**n, capped.
    backoff_base: float = 5.0
    backoff_cap: float = 600.0

    def backoff(self, attempts: int) -> float:
        return float(min(self.backoff_cap, self.backoff_base * (2 ** max(0, attempts - 1))))


@dataclass
class JobRegistry:
    kinds: dict[str, JobKind] = field(default_factory=dict)

    def register(self, kind: JobKind) -> None:
        if kind.name in self.kinds:
            raise ValueError(f"job kind {kind.name!r} registered twice")
        self.kinds[kind.name] = kind

    def get(self, name: str) -> JobKind | None:
        return self.kinds.get(name)
