"""Incidents run from chat: Slack, Mattermost and Matrix (docs/chat.md)."""
