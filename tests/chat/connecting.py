"""What the configuration interfaces' tests connect: one valid connection of each vendor,
addressed to loopback (allowed by the tests' settings, as for every local receiver)."""

from __future__ import annotations

from typing import Any

from tocsin.config import Settings

BASE_URL = "http://tocsin.test"
SLACK_TOKEN = "xoxb-slack-bot-token-never-shown"
SLACK_SIGNING = "slack-signing-secret-never-shown"
MM_TOKEN = "mattermost-bot-token-never-shown"
MM_COMMAND = "mattermost-command-token-never-shown"

BODIES: dict[str, dict[str, Any]] = {
    "slack": {
        "name": "Acme Slack",
        "vendor": "slack",
        "base_url": "http://127.0.0.1:9/api/",
        "team": "T0123ABCD",
        "bot_user_id": "U0123ABCD",
        "secrets": {"bot_token": SLACK_TOKEN, "signing_secret": SLACK_SIGNING},
    },
    "mattermost": {
        "name": "Acme Mattermost",
        "vendor": "mattermost",
        "base_url": "http://127.0.0.1:9",
        "team": "a" * 26,
        "bot_user_id": "b" * 26,
        "secrets": {"bot_token": MM_TOKEN, "command_token": MM_COMMAND},
    },
    "matrix": {
        "name": "Acme Matrix",
        "vendor": "matrix",
        "base_url": "http://127.0.0.1:9",
        "team": "example.org",
        "bot_user_id": "@tocsin:example.org",
    },
}
SECRETS = (SLACK_TOKEN, SLACK_SIGNING, MM_TOKEN, MM_COMMAND)


def loopback_settings(settings: Settings) -> Settings:
    """The tests' settings, allowing loopback chat servers, with a public URL of their own."""
    return settings.model_copy(update={"outbound_allow_private": True, "base_url": BASE_URL})
