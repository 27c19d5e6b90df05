"""RFC 4361 (Node-specific Client Identifiers for DHCPv4) and RFC 6842 (Client
Identifier Option in Server Replies)."""

from __future__ import annotations

import pytest

from ..e2e.site import Site
from .guest import guest, message_type, raw_options4

pytestmark = pytest.mark.e2e

#: RFC 4361 6.1: type 255, a 4-octet IAID, then a DUID (here DUID-LLT, RFC 8415 11.2).
CLIENT_ID = bytes.fromhex("ff00000001000100012c5f3a10525400aabbcc")


@pytest.mark.parametrize("kind", ["offer", "ack", "nak"])
def test_rfc6842_3_client_identifier_is_echoed(site: Site, kind: str) -> None:
    """6842 3: 'If the 'client identifier' option is present in a message received from
    a client, the server MUST return the 'client identifier' option, unaltered, in its
    response message' (OFFER, ACK and NAK alike)."""
    g = guest(site, v6=False)
    cid = ("client_id", CLIENT_ID)
    request = {
        "offer": g.dhcp4("discover", options=[cid]),
        "ack": g.dhcp4("request", options=[cid, ("requested_addr", g.ip)]),
        "nak": g.dhcp4("request", options=[cid, ("requested_addr", "10.250.0.9")]),
    }[kind]
    (reply,) = g.ask4(request)
    assert message_type(reply) == {"offer": 2, "ack": 5, "nak": 6}[kind]
    assert [v for c, v in raw_options4(reply) if c == 61] == [CLIENT_ID]


def test_rfc4361_6_3_iaid_duid_client_gets_the_binding_address(site: Site) -> None:
    """4361 6.3: the server treats the identifier as opaque; the binding is by the TAP
    and the MAC, so a DUID-based identifier gets the same lease."""
    g = guest(site, v6=False)
    (offer,) = g.ask4(g.dhcp4("discover", options=[("client_id", CLIENT_ID)]))
    assert offer.yiaddr == g.ip


def test_rfc6842_3_no_client_identifier_when_none_was_sent(site: Site) -> None:
    """6842 3: only an identifier that was received is returned."""
    g = guest(site, v6=False)
    (offer,) = g.ask4(g.dhcp4("discover"))
    assert 61 not in [c for c, _ in raw_options4(offer)]
