"""The outbound guard: only globally routable addresses, judged also through every IPv6 form
that carries an IPv4 address; table tests and properties over generated addresses."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tocsin.config import Settings
from tocsin.outbound import (
    IPV4_NOT_GLOBAL,
    OutboundGuard,
    OutboundRefused,
    embedded_ipv4,
    is_public,
)

STRICT = OutboundGuard()

REFUSED = [
    # IPv4 special-purpose blocks
    "0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.100.100.200",
    "100.127.255.254", "127.0.0.1", "127.1.2.3", "169.254.169.254", "172.16.0.1",
    "172.31.255.1", "192.0.0.1", "192.0.0.9", "192.0.0.170", "192.0.2.10", "192.88.99.1",
    "192.168.1.1", "198.18.0.1", "198.19.255.1", "198.51.100.7", "203.0.113.9", "224.0.0.1",
    "239.255.255.250", "240.0.0.1", "255.255.255.255",
    # IPv6 special-purpose blocks and everything outside global unicast 2000::/3
    "::", "::1", "fe80::1", "febf::1", "fec0::1", "fc00::1", "fd12:3456::1", "ff02::1",
    "ff0e::1", "100::1", "2001:db8::1", "3fff::1", "5f00::1", "2001:2::1", "2001:10::1",
    "64:ff9b:1::808:808", "4000::1", "e000::1",
    # IPv4-mapped and NAT64 forms of internal IPv4 addresses
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:100.100.100.200", "::ffff:169.254.169.254",
    "::ffff:0.0.0.0", "64:ff9b::127.0.0.1", "64:ff9b::100.100.100.200",
    "64:ff9b::169.254.169.254", "64:ff9b::10.1.2.3",
    # IPv4-compatible, 6to4 and Teredo: refused whatever they embed
    "::127.0.0.1", "::10.0.0.1", "::8.8.8.8", "2002:7f00::", "2002:7f00:1::1",
    "2002:a00:1::1", "2002:6464:64c8::1", "2002:a9fe:a9fe::1", "2002:808:808::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001::1",
]  # fmt: skip

ALLOWED = [
    "8.8.8.8", "1.1.1.1", "93.184.215.14", "100.63.255.255", "100.128.0.1", "172.32.0.1",
    "192.0.1.1", "192.169.0.1", "198.20.0.1", "223.255.255.254",
    "2606:4700:4700::1111", "2001:4860:4860::8888", "2a00:1450:4001::1", "3ffe::1",
    "::ffff:8.8.8.8", "64:ff9b::8.8.8.8", "64:ff9b::1.1.1.1",
]  # fmt: skip


@pytest.mark.parametrize("text", REFUSED)
def test_addresses_that_are_not_public_are_refused(text: str) -> None:
    address = ipaddress.ip_address(text)
    assert not is_public(address)
    with pytest.raises(OutboundRefused, match="not a public internet address"):
        STRICT.check_host(text)
    OutboundGuard(allow_private=True).check_host(text)  # the operator's switch allows it


@pytest.mark.parametrize("text", ALLOWED)
def test_public_addresses_are_allowed(text: str) -> None:
    assert is_public(ipaddress.ip_address(text))
    STRICT.check_host(text)


@pytest.mark.parametrize(
    "host",
    # Names and the numeric spellings the resolver turns into 127.0.0.1 or 10.0.0.1.
    ["localhost", "LOCALHOST", "localhost.", "127.1", "2130706433", "0x7f.0.0.1", "017700000001",
     "10.1", "[::1]", "[::ffff:7f00:1]", "0"],
)  # fmt: skip
def test_names_and_spellings_that_resolve_inside_are_refused(host: str) -> None:
    with pytest.raises(OutboundRefused):
        STRICT.check_host(host)


def test_the_refusal_names_the_embedded_address() -> None:
    with pytest.raises(OutboundRefused) as info:
        STRICT.check_host("[2002:7f00:1::1]")
    assert "6to4, embedding 127.0.0.1" in info.value.reason
    with pytest.raises(OutboundRefused) as info:
        STRICT.check_host("64:ff9b::a9fe:a9fe")
    assert "NAT64, embedding 169.254.169.254" in info.value.reason


def test_allowed_networks_cover_the_ipv4_mapped_form() -> None:
    guard = OutboundGuard.from_settings(Settings(outbound_allow_cidrs="10.1.0.0/16,fd00::/8"))
    for host in ("10.1.2.3", "::ffff:10.1.2.3", "fd00::5"):
        guard.check_host(host)
    for host in ("10.2.0.1", "::ffff:10.2.0.1", "2002:a01:203::1", "100.100.100.200"):
        with pytest.raises(OutboundRefused):
            guard.check_host(host)


# --- properties -------------------------------------------------------------------------------

ipv4 = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)
internal_ipv4 = st.sampled_from(IPV4_NOT_GLOBAL).flatmap(
    lambda network: st.integers(0, network.num_addresses - 1).map(
        lambda offset: network.network_address + offset
    )
)


def _forms(v4: ipaddress.IPv4Address) -> dict[str, ipaddress.IPv6Address]:
    """The IPv6 spellings that carry `v4`."""
    n = int(v4)
    return {
        "mapped": ipaddress.IPv6Address((0xFFFF << 32) | n),
        "compatible": ipaddress.IPv6Address(n),
        "nat64": ipaddress.IPv6Address((0x64FF9B << 96) | n),
        "6to4": ipaddress.IPv6Address((0x2002 << 112) | (n << 80) | 1),
        "teredo": ipaddress.IPv6Address((0x20010000 << 96) | (n ^ 0xFFFF_FFFF)),
    }


@given(internal_ipv4)
def test_no_ipv6_form_of_an_internal_ipv4_address_gets_through(v4: ipaddress.IPv4Address) -> None:
    assert not is_public(v4)
    for form, address in _forms(v4).items():
        assert not is_public(address), (form, address)
        if form != "compatible" or int(v4) > 1:
            assert embedded_ipv4(address) == v4, form


@given(ipv4)
def test_an_ipv6_form_is_public_only_where_it_reaches_a_public_ipv4_address(
    v4: ipaddress.IPv4Address,
) -> None:
    forms = _forms(v4)
    assert is_public(forms["mapped"]) == is_public(v4)
    assert is_public(forms["nat64"]) == is_public(v4)
    for refused in ("compatible", "6to4", "teredo"):
        assert not is_public(forms[refused])


@given(st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address))
def test_public_ipv6_is_global_unicast(address: ipaddress.IPv6Address) -> None:
    """Outside the mapped and NAT64 forms, only global unicast that Python calls global."""
    if is_public(address) and embedded_ipv4(address) is None:
        assert address in ipaddress.ip_network("2000::/3") and address.is_global


@given(ipv4)
def test_a_public_ipv4_address_is_global_for_python_too(v4: ipaddress.IPv4Address) -> None:
    if is_public(v4):
        assert v4.is_global and not v4.is_multicast and not v4.is_reserved
