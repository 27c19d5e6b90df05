"""RFC 2132, DHCP Options and BOOTP Vendor Extensions."""

from __future__ import annotations

from ipaddress import IPv4Network

import pytest

from ..e2e.site import Site
from .guest import SERVER_ID, guest, message_type, options4, raw_options4

pytestmark = pytest.mark.e2e


def test_3_3_subnet_mask_and_3_5_router_match_the_binding(site: Site) -> None:
    """3.3 subnet mask, 3.5 router option: the binding's SUBNET and GATEWAY."""
    g = guest(site, v6=False)
    (offer,) = g.ask4(g.dhcp4("discover"))
    opts = options4(offer)
    assert opts["subnet_mask"] == str(IPv4Network(g.binding.subnet or "").netmask)
    assert opts["router"] == g.binding.gateway


def test_9_2_lease_time_and_9_11_renewal_9_12_rebinding_times_are_ordered(site: Site) -> None:
    """9.2, 9.11, 9.12: T1 < T2 < lease time (RFC 2131 4.4.5 defaults 0.5 and 0.875)."""
    g = guest(site, v6=False)
    (offer,) = g.ask4(g.dhcp4("discover"))
    opts = options4(offer)
    assert 0 < opts["renewal_time"] < opts["rebinding_time"] < opts["lease_time"]


def test_9_7_server_identifier_in_every_reply(site: Site) -> None:
    """9.7 and RFC 2131 table 3: option 54 MUST be in OFFER, ACK and NAK."""
    g = guest(site, v6=False)
    replies = [
        *g.ask4(g.dhcp4("discover")),
        *g.ask4(g.dhcp4("request", options=[("requested_addr", g.ip)])),
        *g.ask4(g.dhcp4("request", options=[("requested_addr", "10.250.0.9")])),
    ]
    assert [message_type(r) for r in replies] == [2, 5, 6]
    assert all(options4(r)["server_id"] == str(SERVER_ID) for r in replies)


def test_9_8_parameter_request_list_order_is_honoured(site: Site) -> None:
    """9.8: 'The client MAY list the options in order of preference.' After the
    mandatory options (53, 54 and the lease times), the listed ones come in that order."""
    g = guest(site, v6=False)
    wanted = [26, 15, 6, 3, 1]
    (offer,) = g.ask4(g.dhcp4("discover", options=[("param_req_list", wanted)]))
    codes = [code for code, _ in raw_options4(offer)]
    listed = [c for c in codes if c in wanted]
    assert listed == wanted, codes


def test_9_9_message_option_in_nak(site: Site) -> None:
    """9.9: 'a server uses this option to provide an error message to a DHCP client in
    a DHCPNAK message'; NVT ASCII, at least one octet."""
    g = guest(site, v6=False)
    (nak,) = g.ask4(g.dhcp4("request", options=[("requested_addr", "10.250.0.9")]))
    assert message_type(nak) == 6
    messages = [value for code, value in raw_options4(nak) if code == 56]
    assert messages and messages[0] and messages[0].isascii(), raw_options4(nak)


def test_9_10_maximum_message_size_is_respected(site: Site) -> None:
    """9.10: the reply's IP datagram fits the client's maximum DHCP message size."""
    # The longest search list a binding may hold (8 names, 512 characters): over 450
    # octets of option 119, so the full reply cannot fit 576.
    names = " ".join(f"zone{i:02d}-{'a' * 30}.tenant.example.org" for i in range(8))
    g = guest(site, v6=False, extra={"SEARCH": names})
    (big,) = g.ask4(g.dhcp4("discover", options=[("max_dhcp_size", 1400)]))
    (small,) = g.ask4(g.dhcp4("discover", options=[("max_dhcp_size", 576)]))
    assert len(bytes(small.payload)) <= 576 < len(bytes(big.payload))
