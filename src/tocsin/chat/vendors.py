"""The three chat services side by side: each one's client and receiver, by vendor name."""

from __future__ import annotations

from tocsin.chat import matrix, mattermost, slack
from tocsin.chat.ports import ChatClient, Connection, Receiver
from tocsin.outbound import OutboundGuard


def client_for(
    vendor: str, connection: Connection, *, guard: OutboundGuard, timeout: float,
    callback_base: str,
) -> ChatClient:  # fmt: skip
    """The client of `vendor` as the connection's bot. `callback_base` is where the chat
    service calls Tocsin back for this connection (Mattermost's buttons and dialogs)."""
    if vendor == "slack":
        return slack.SlackClient(connection, guard=guard, timeout=timeout)
    if vendor == "mattermost":
        return mattermost.MattermostClient(
            connection, guard=guard, timeout=timeout, callback_base=callback_base
        )
    if vendor == "matrix":
        return matrix.MatrixClient(connection, guard=guard, timeout=timeout)
    raise ValueError(f"unknown chat vendor {vendor!r}")


def receiver_for(vendor: str, connection: Connection, *, callback_base: str) -> Receiver:
    """The inbound side of `vendor` for this connection."""
    if vendor == "slack":
        return slack.SlackReceiver(connection)
    if vendor == "mattermost":
        return mattermost.MattermostReceiver(connection, callback_base=callback_base)
    if vendor == "matrix":
        return matrix.MatrixReceiver(connection)
    raise ValueError(f"unknown chat vendor {vendor!r}")
