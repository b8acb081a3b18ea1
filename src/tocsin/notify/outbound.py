"""The outbound guard: user-given URLs may not reach private, loopback or link-local addresses.

Checked when a contact method is saved and again right before each send (a name can resolve
somewhere else by then). Allowed by TOCSIN_OUTBOUND_ALLOW_PRIVATE or TOCSIN_OUTBOUND_ALLOW_CIDRS.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from tocsin.config import Settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class OutboundRefused(Exception):
    """The host resolves to an address Tocsin may not send to, or does not resolve."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _forbidden(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


@dataclass(frozen=True)
class OutboundGuard:
    allow_private: bool = False
    allowed: tuple[Network, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboundGuard:
        networks = tuple(
            ipaddress.ip_network(part.strip(), strict=False)
            for part in settings.outbound_allow_cidrs.split(",")
            if part.strip()
        )
        return cls(allow_private=settings.outbound_allow_private, allowed=networks)

    def permits(self, address: Address) -> bool:
        if self.allow_private or not _forbidden(address):
            return True
        return any(address in network for network in self.allowed)

    def check_host(self, host: str, port: int | None = None) -> None:
        """Resolve `host` and refuse it if any address it resolves to is forbidden."""
        host = host.strip("[]")
        if not host:
            raise OutboundRefused("the URL has no host")
        try:
            infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError) as exc:
            raise OutboundRefused(f"host {host!r} does not resolve") from exc
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if not self.permits(address):
                raise OutboundRefused(
                    f"host {host!r} resolves to {address}, a private, loopback or link-local "
                    "address; Tocsin does not send there unless TOCSIN_OUTBOUND_ALLOW_PRIVATE "
                    "or TOCSIN_OUTBOUND_ALLOW_CIDRS allows it"
                )


def validate_cidrs(value: str) -> None:
    """Raise ValueError for a malformed TOCSIN_OUTBOUND_ALLOW_CIDRS."""
    for part in value.split(","):
        if part.strip():
            ipaddress.ip_network(part.strip(), strict=False)
