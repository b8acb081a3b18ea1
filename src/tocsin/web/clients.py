"""Who is asking: the client's network, as the rate limits count it."""

from __future__ import annotations

import ipaddress

from fastapi import Request


def client_network(host: str | None) -> str:
    """One bucket per IPv4 address and per IPv6 /64 (one machine usually holds a whole /64);
    an IPv4-mapped IPv6 address counts as its IPv4 address."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:60]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def request_network(request: Request) -> str:
    """The network of the peer that sent `request` (behind a reverse proxy, the visitor's
    only if uvicorn is told to trust the proxy: FORWARDED_ALLOW_IPS)."""
    return client_network(request.client.host if request.client else None)
