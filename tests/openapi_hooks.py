"""Schemathesis hooks for tests/test_openapi_conformance.py, loaded by `st run` (its `hooks`
setting): how to make a value of the formats that Tocsin's OpenAPI document names itself."""

from __future__ import annotations

from zoneinfo import available_timezones

import schemathesis
from hypothesis import strategies as st

# `format: time-zone`: an IANA time zone name the server knows (catalog.schemas.TimeZoneName).
schemathesis.openapi.format("time-zone", st.sampled_from(sorted(available_timezones())))
