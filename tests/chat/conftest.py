"""The Matrix tests' homeserver fixtures (tests/chat/synapse.py)."""

from tests.chat.synapse import inbox, synapse

__all__ = ["inbox", "synapse"]
