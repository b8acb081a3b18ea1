"""Follow-up mail tests use the real SMTP server of tests/notify."""

from tests.notify.conftest import smtp  # noqa: F401
