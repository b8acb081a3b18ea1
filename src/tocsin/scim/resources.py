"""What every SCIM resource and list carries: `meta` with a weak ETag, and pages."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tocsin.scim.schema import LIST_SCHEMA

MAX_COUNT = 200


def meta(kind: str, created: datetime, modified: datetime, location: str) -> dict[str, Any]:
    return {
        "resourceType": kind,
        "created": created.isoformat().replace("+00:00", "Z"),
        "lastModified": max(created, modified).isoformat().replace("+00:00", "Z"),
        "location": location,
    }


def versioned(resource: dict[str, Any]) -> dict[str, Any]:
    """`resource` with meta.version: a weak ETag of everything it says, so any change to
    it (a member added, a team renamed) gives a new version."""
    digest = hashlib.sha256(json.dumps(resource, sort_keys=True, default=str).encode()).hexdigest()[
        :20
    ]
    resource["meta"]["version"] = f'W/"{digest}"'
    return resource


@dataclass
class Page:
    """Matching resources and the window asked for (startIndex is 1-based)."""

    found: list[dict[str, Any]]
    start: int
    count: int

    def body(self) -> dict[str, Any]:
        start = max(self.start, 1)
        count = min(max(self.count, 0), MAX_COUNT)
        window = self.found[start - 1 : start - 1 + count]
        return {
            "schemas": [LIST_SCHEMA],
            "totalResults": len(self.found),
            "startIndex": start,
            "itemsPerPage": len(window),
            "Resources": window,
        }
