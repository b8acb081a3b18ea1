"""The outbound guard: user-given URLs may reach only globally routable internet addresses.

Every address a host resolves to must be public: not private, loopback, link-local, shared
(carrier-grade NAT, 100.64.0.0/10, where cloud metadata services also live), documentation,
benchmarking, multicast, reserved or otherwise special-purpose (the IANA special-purpose
registries). IPv6 forms that carry an IPv4 address are judged by that address: IPv4-mapped
(`::ffff:0:0/96`) and NAT64 (`64:ff9b::/96`) reach it, so they pass only when it is public;
IPv4-compatible (`::/96`), 6to4 (`2002::/16`), Teredo (`2001::/32`) and local-use NAT64
(`64:ff9b:1::/48`) are deprecated or local transition forms and are refused whatever they
embed. The tables below decide on their own, whatever Python version runs; Python's
`is_global` must agree as well (a newer Python may know of more special-purpose blocks).

Callers check when a URL is saved and again right before each send (a name can resolve
somewhere else by then). Allowed by TOCSIN_OUTBOUND_ALLOW_PRIVATE or TOCSIN_OUTBOUND_ALLOW_CIDRS.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from tocsin.config import Settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# IPv4 blocks that are not globally reachable (RFC 6890 and the IANA IPv4 special-purpose
# registry), plus the whole of 192.0.0.0/24 and the deprecated 6to4 relay anycast.
IPV4_NOT_GLOBAL: tuple[ipaddress.IPv4Network, ...] = (
    _V4("0.0.0.0/8"),  # "this network"; 0.0.0.0 reaches the local host on Linux
    _V4("10.0.0.0/8"),
    _V4("100.64.0.0/10"),  # shared address space (carrier-grade NAT; cloud metadata)
    _V4("127.0.0.0/8"),
    _V4("169.254.0.0/16"),  # link-local (cloud metadata at 169.254.169.254)
    _V4("172.16.0.0/12"),
    _V4("192.0.0.0/24"),  # IETF protocol assignments
    _V4("192.0.2.0/24"),  # documentation
    _V4("192.88.99.0/24"),  # 6to4 relay anycast (deprecated)
    _V4("192.168.0.0/16"),
    _V4("198.18.0.0/15"),  # benchmarking
    _V4("198.51.100.0/24"),  # documentation
    _V4("203.0.113.0/24"),  # documentation
    _V4("224.0.0.0/4"),  # multicast
    _V4("240.0.0.0/4"),  # reserved, and the limited broadcast 255.255.255.255
)

IPV4_MAPPED = _V6("::ffff:0:0/96")
NAT64 = _V6("64:ff9b::/96")  # the well-known NAT64 prefix: the last 32 bits are the target
IPV4_COMPATIBLE = _V6("::/96")  # deprecated (RFC 4291); :: and ::1 lie inside but are not
SIXTOFOUR = _V6("2002::/16")
TEREDO = _V6("2001::/32")
# All globally routable IPv6 unicast is allocated from 2000::/3; everything outside it
# (unique local, link-local, multicast, local-use NAT64 64:ff9b:1::/48, ...) is refused.
IPV6_GLOBAL_UNICAST = _V6("2000::/3")
# Blocks inside 2000::/3 that are not globally reachable, or are transition forms refused
# whatever IPv4 address they embed (IANA IPv6 special-purpose registry).
IPV6_NOT_GLOBAL: tuple[ipaddress.IPv6Network, ...] = (
    _V6("2001::/23"),  # IETF protocol assignments: Teredo, benchmarking, ORCHID, ...
    _V6("2001:db8::/32"),  # documentation
    SIXTOFOUR,  # deprecated (RFC 7526)
    _V6("3fff::/20"),  # documentation
)

_FORMS = (
    (IPV4_MAPPED, "IPv4-mapped"),
    (NAT64, "NAT64"),
    (IPV4_COMPATIBLE, "IPv4-compatible"),
    (SIXTOFOUR, "6to4"),
    (TEREDO, "Teredo"),
)


class OutboundRefused(Exception):
    """The host resolves to an address Tocsin may not send to, or does not resolve."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 transition form carries (for Teredo, the client's), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in NAT64 or (address in IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return None


def _public_ipv4(address: ipaddress.IPv4Address) -> bool:
    return address.is_global and not any(address in network for network in IPV4_NOT_GLOBAL)


def is_public(address: Address) -> bool:
    """True if `address` is a globally routable internet address Tocsin may send to."""
    if isinstance(address, ipaddress.IPv4Address):
        return _public_ipv4(address)
    if address in IPV4_MAPPED or address in NAT64:
        return _public_ipv4(ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF))
    return (
        address in IPV6_GLOBAL_UNICAST
        and not any(address in network for network in IPV6_NOT_GLOBAL)
        and address.is_global
    )


def describe(address: Address) -> str:
    """`address`, naming the IPv4 address it embeds if it is one of the transition forms."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = embedded_ipv4(address)
        for network, form in _FORMS:
            if embedded is not None and address in network:
                return f"{address} ({form}, embedding {embedded})"
    return str(address)


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
        """A public address, or one the settings allow (an IPv4-mapped address counts as the
        IPv4 address it maps, so `10.1.0.0/16` also allows `::ffff:10.1.2.3`)."""
        if self.allow_private or is_public(address):
            return True
        forms: list[Address] = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            forms.append(address.ipv4_mapped)
        return any(form in network for form in forms for network in self.allowed)

    def check_host(self, host: str, port: int | None = None) -> None:
        """Resolve `host` and refuse it if any address it resolves to is not permitted."""
        host = host.strip("[]")
        if not host:
            raise OutboundRefused("the URL has no host")
        try:
            infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError, ValueError) as exc:
            raise OutboundRefused(f"host {host!r} does not resolve") from exc
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if not self.permits(address):
                raise OutboundRefused(
                    f"host {host!r} resolves to {describe(address)}, which is not a public "
                    "internet address (private, loopback, link-local, shared, reserved or "
                    "special-purpose); Tocsin does not send there unless "
                    "TOCSIN_OUTBOUND_ALLOW_PRIVATE or TOCSIN_OUTBOUND_ALLOW_CIDRS allows it"
                )


def validate_cidrs(value: str) -> None:
    """Raise ValueError for a malformed TOCSIN_OUTBOUND_ALLOW_CIDRS."""
    for part in value.split(","):
        if part.strip():
            ipaddress.ip_network(part.strip(), strict=False)
