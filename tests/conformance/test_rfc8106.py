"""RFC 8106, IPv6 Router Advertisement Options for DNS Configuration."""

from __future__ import annotations

from typing import Any

import pytest
from scapy.layers.inet6 import ICMPv6ND_RA, ICMPv6NDOptDNSSL, ICMPv6NDOptRDNSS

from ..e2e.site import Site
from .guest import DNS6, DOMAINS6, RA_PERIOD, guest

pytestmark = pytest.mark.e2e


def solicited_ra(site: Site, **fields: Any) -> Any:
    g = guest(site, **fields)
    (ra,) = [p for p in g.ask(g.rs(), count=1) if ICMPv6ND_RA in p]
    return ra


def options(ra: Any, kind: type) -> list[Any]:
    out, layer = [], ra[ICMPv6ND_RA].payload
    while layer:
        if isinstance(layer, kind):
            out.append(layer)
        layer = layer.payload
    return out


def test_5_1_rdnss_lists_the_servers_with_a_lifetime_of_3_max_rtr_adv_interval(
    site: Site,
) -> None:
    """5.1: 'The value of Lifetime SHOULD by default be at least 3 * MaxRtrAdvInterval';
    the length is 1 + 2 x the number of addresses (in units of 8 octets)."""
    (rdnss,) = options(solicited_ra(site), ICMPv6NDOptRDNSS)
    assert list(rdnss.dns) == list(DNS6)
    assert rdnss.lifetime >= 3 * RA_PERIOD
    assert rdnss.len == 1 + 2 * len(DNS6)


def test_5_1_per_binding_dns6_overrides_the_configured_servers(site: Site) -> None:
    """5.1 again, with the binding's own DNS6 list."""
    (rdnss,) = options(solicited_ra(site, extra={"DNS6": "2001:db8:99::53"}), ICMPv6NDOptRDNSS)
    assert list(rdnss.dns) == ["2001:db8:99::53"]


def test_5_2_dnssl_carries_the_search_domains_padded_to_8_octets(site: Site) -> None:
    """5.2: domain names in the uncompressed RFC 1035 3.1 form, the option padded with
    zero octets to a multiple of 8; the same lifetime rule as RDNSS."""
    ra = solicited_ra(site)
    (dnssl,) = options(ra, ICMPv6NDOptDNSSL)
    assert [d.rstrip(".") for d in dnssl.searchlist] == list(DOMAINS6)
    assert dnssl.lifetime >= 3 * RA_PERIOD
    raw = bytes(dnssl)
    assert len(raw) % 8 == 0 and len(raw) == dnssl.len * 8
    encoded = b"".join(
        b"".join(bytes((len(label),)) + label.encode() for label in name.split(".")) + b"\0"
        for name in DOMAINS6
    )
    assert raw[8:] == encoded + bytes(len(raw) - 8 - len(encoded))
