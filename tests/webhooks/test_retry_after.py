"""Reading a receiver's Retry-After: seconds or an HTTP date; anything else is ignored."""

from __future__ import annotations

import time
from email.utils import formatdate

from tocsin.notify.channels import retry_after


def test_seconds_and_http_dates() -> None:
    assert retry_after("120") == 120.0
    assert retry_after(None) is None
    assert retry_after("") is None
    assert retry_after("soon") is None
    assert retry_after("-5") is None
    later = retry_after(formatdate(time.time() + 300, usegmt=True))
    assert later is not None and 295 <= later <= 301
    assert retry_after(formatdate(time.time() - 300, usegmt=True)) == 0.0
