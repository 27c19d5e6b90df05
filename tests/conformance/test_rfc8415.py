"""RFC 8415, Dynamic Host Configuration Protocol for IPv6: the server's side.

Also RFC 8200 8.1 (UDP checksums over IPv6). The daemon never sends a Server Unicast
option, so every client message must come to All_DHCP_Relay_Agents_and_Servers.
"""

from __future__ import annotations

import json
from ipaddress import IPv6Network
from typing import Any

import pytest
from scapy.layers.dhcp6 import (
    DHCP6,
    DHCP6_Advertise,
    DHCP6_Confirm,
    DHCP6_Decline,
    DHCP6_InfoRequest,
    DHCP6_Rebind,
    DHCP6_RelayForward,
    DHCP6_Release,
    DHCP6_Renew,
    DHCP6_Reply,
    DHCP6_Request,
    DHCP6_Solicit,
    DHCP6OptClientId,
    DHCP6OptDNSDomains,
    DHCP6OptDNSServers,
    DHCP6OptIA_NA,
    DHCP6OptIA_PD,
    DHCP6OptIA_TA,
    DHCP6OptIAAddress,
    DHCP6OptPref,
    DHCP6OptRapidCommit,
    DHCP6OptRelayMsg,
    DHCP6OptServerId,
    DHCP6OptStatusCode,
)
from scapy.layers.inet import UDP
from scapy.layers.inet6 import IPv6

from ..e2e.site import Site
from ..helpers.dhcp6_scapy import (
    ia_addresses,
    ia_na,
    ia_status,
    ias,
    replies6,
    top,
    top_status,
)
from .guest import DNS6, DOMAINS6, Guest, corrupt_udp_checksum, guest

pytestmark = pytest.mark.e2e

SUCCESS, NO_ADDRS_AVAIL, NOT_ON_LINK, USE_MULTICAST, NO_PREFIX_AVAIL = 0, 2, 4, 5, 6
OFF_LINK = "2001:db8:ffff::5"


def client_id(g: Guest) -> Any:
    return DHCP6OptClientId(duid=g.client_duid())


def ask6(g: Guest, message: Any, *options: Any, dst: str = "ff02::1:2", wait: float = 1.0) -> Any:
    """Send one DHCPv6 message; its one reply (None if none came within `wait`)."""
    got = replies6(g.ask(g.dhcp6(message, *options, dst=dst), wait=wait, count=1))
    return got[0] if got else None


def server_id(g: Guest) -> Any:
    """The daemon's Server Identifier option, from an Advertise."""
    advertise = ask6(g, DHCP6_Solicit(trid=1), client_id(g), ia_na(iaid=1))
    assert advertise is not None
    return DHCP6OptServerId(duid=advertise[DHCP6OptServerId].duid)  # without what follows


def test_18_3_1_solicit_gets_an_advertise_with_the_binding_address(site: Site) -> None:
    """18.3.1 / 18.3.9: an Advertise echoing the transaction id and the client's DUID,
    with the server's DUID and the binding's address in the IA_NA."""
    g = guest(
        site,
        extra={"IP6": "2001:db8:aa::77", "SUBNET6": "2001:db8:aa::/64", "GATEWAY6": "fe80::1"},
    )
    reply = ask6(g, DHCP6_Solicit(trid=0x1234), client_id(g), ia_na(iaid=7))
    assert isinstance(reply[UDP].payload, DHCP6_Advertise) and reply.trid == 0x1234
    assert reply[DHCP6OptClientId].duid == g.client_duid()
    assert DHCP6OptServerId in reply
    (ia,) = ias(reply)
    assert ia.iaid == 7
    assert [a for a, _, _ in ia_addresses(ia)] == ["2001:db8:aa::77"]
    assert reply[IPv6].dst == str(g.link_local), "to the client's link-local (18.3.9)"


def test_18_3_1_rapid_commit_gets_a_reply(site: Site) -> None:
    """18.3.1: with Rapid Commit the server commits at once: a Reply with Rapid Commit."""
    g = guest(
        site,
        extra={"IP6": "2001:db8:ab::77", "SUBNET6": "2001:db8:ab::/64", "GATEWAY6": "fe80::1"},
    )
    reply = ask6(g, DHCP6_Solicit(trid=3), client_id(g), ia_na(iaid=1), DHCP6OptRapidCommit())
    assert isinstance(reply[UDP].payload, DHCP6_Reply)
    assert DHCP6OptRapidCommit in reply


def test_18_3_6_information_request_gets_dns_servers_and_search_list(site: Site) -> None:
    """18.3.6 with RFC 3646: a Reply carrying the DNS options, no addresses."""
    g = guest(site)
    reply = ask6(g, DHCP6_InfoRequest(trid=5), client_id(g))
    assert isinstance(reply[UDP].payload, DHCP6_Reply)
    assert list(reply[DHCP6OptDNSServers].dnsservers) == list(DNS6)
    assert [d.rstrip(".") for d in reply[DHCP6OptDNSDomains].dnsdomains] == list(DOMAINS6)
    assert not ias(reply)


def test_16_12_information_request_with_an_ia_option_is_discarded(site: Site) -> None:
    """16.12: 'Servers MUST discard any received Information-request message that ...
    includes an IA option.'"""
    g = guest(site)
    assert ask6(g, DHCP6_InfoRequest(trid=6), client_id(g), ia_na(iaid=1)) is None


@pytest.mark.parametrize(
    "message", [DHCP6_Solicit, DHCP6_Confirm, DHCP6_Rebind, DHCP6_InfoRequest], ids=str
)
def test_16_unicast_solicit_confirm_rebind_information_request_is_discarded(
    site: Site, message: type
) -> None:
    """16: 'A server MUST discard any Solicit, Confirm, Rebind, or Information-request
    messages it receives with a Layer 3 unicast destination address.'"""
    g = guest(site)
    subnet = IPv6Network(g.binding.extra["SUBNET6"])
    ia = ia_na(str(subnet[5]), iaid=1)
    options = [client_id(g)] if message is DHCP6_InfoRequest else [client_id(g), ia]
    control = ask6(g, message(trid=9), *options)
    assert control is not None, "control: answered when multicast"
    assert ask6(g, message(trid=9), *options, dst=str(g.router_link_local)) is None


@pytest.mark.parametrize(
    "message", [DHCP6_Request, DHCP6_Renew, DHCP6_Release, DHCP6_Decline], ids=str
)
def test_18_4_unicast_without_server_unicast_option_gets_use_multicast(
    site: Site, message: type
) -> None:
    """18.4: a server that did not send a Server Unicast option and receives a Request,
    Renew, Release or Decline by unicast 'MUST discard the message and respond with a
    Reply message containing a Status Code option with the value UseMulticast, a Server
    Identifier option containing the server's DUID, the Client Identifier option from
    the client message, and no other options' (dnsmasq does so)."""
    g = guest(site)
    sid = server_id(g)
    reply = ask6(
        g, message(trid=11), client_id(g), sid, ia_na(iaid=1), dst=str(g.router_link_local)
    )
    assert reply is not None and isinstance(reply[UDP].payload, DHCP6_Reply)
    assert top_status(reply) == USE_MULTICAST
    kinds = sorted(type(o).__name__ for o in top(reply))
    assert kinds == ["DHCP6OptClientId", "DHCP6OptServerId", "DHCP6OptStatusCode"]


def test_18_3_9_solicit_with_only_ia_pd_gets_no_prefix_avail(site: Site) -> None:
    """18.3.9: the server delegates no prefixes: an IA_PD asked for is returned with
    a Status Code of NoPrefixAvail (RFC 8415 21.22)."""
    g = guest(site)
    reply = ask6(g, DHCP6_Solicit(trid=12), client_id(g), DHCP6OptIA_PD(iaid=3))
    assert reply is not None and isinstance(reply[UDP].payload, DHCP6_Advertise)
    (pd,) = ias(reply, DHCP6OptIA_PD)
    codes = [o.statuscode for o in pd.iapdopt if isinstance(o, DHCP6OptStatusCode)]
    assert (pd.iaid, codes) == (3, [NO_PREFIX_AVAIL])


def test_18_3_9_solicit_with_only_ia_ta_gets_no_addrs_avail(site: Site) -> None:
    """18.3.9: 'If the server will not assign any addresses to any IAs in a subsequent
    Request from the client, the server MUST send an Advertise message to the client
    that includes only a Status Code option with code NoAddrsAvail', the Server and
    the Client Identifier. Temporary addresses are not handed out here."""
    g = guest(site)
    reply = ask6(g, DHCP6_Solicit(trid=13), client_id(g), DHCP6OptIA_TA(iaid=4))
    assert reply is not None and isinstance(reply[UDP].payload, DHCP6_Advertise)
    assert top_status(reply) == NO_ADDRS_AVAIL
    assert not ias(reply, DHCP6OptIA_TA)


def test_18_3_9_binding_without_an_address_gets_top_level_no_addrs_avail(site: Site) -> None:
    """18.3.9, same clause: a binding whose SUBNET6 is no /64 and names no IP6 has no
    address to give; the status goes at the top level with no IA and no Preference
    (odhcp6c and others ignore an Advertise that has only an empty IA)."""
    g = guest(site, extra={"SUBNET6": "2001:db8:1200::/56", "GATEWAY6": "2001:db8:1200::1"})
    reply = ask6(g, DHCP6_Solicit(trid=14), client_id(g), ia_na(iaid=1))
    assert reply is not None and isinstance(reply[UDP].payload, DHCP6_Advertise)
    assert top_status(reply) == NO_ADDRS_AVAIL
    assert not ias(reply) and DHCP6OptPref not in reply


def test_18_3_2_request_with_an_off_link_address_gets_not_on_link(site: Site) -> None:
    """18.3.2: 'If the server finds that the prefix on one or more IP addresses in any
    IA in the message from the client is not appropriate for the link to which the
    client is connected, the server MUST return the IA to the client with a Status Code
    option with the value NotOnLink.'"""
    g = guest(site)
    sid = server_id(g)
    hint = ia_na(OFF_LINK, iaid=1)
    reply = ask6(g, DHCP6_Request(trid=15), client_id(g), sid, hint)
    (ia,) = ias(reply)
    assert ia_status(ia) == NOT_ON_LINK
    assert ia_addresses(ia) == []


def test_18_3_4_renew_with_an_off_link_address_gets_it_back_with_lifetime_0(
    site: Site,
) -> None:
    """18.3.4: 'If the server finds that any of the addresses in the IA are not
    appropriate for the link to which the client is attached, the server returns the
    address to the client with lifetimes of 0.'"""
    g = guest(site)
    sid = server_id(g)
    held = ia_na(OFF_LINK, iaid=1)
    reply = ask6(g, DHCP6_Renew(trid=16), client_id(g), sid, held)
    (ia,) = ias(reply)
    assert (OFF_LINK, 0, 0) in ia_addresses(ia)


def test_18_3_9_every_ia_na_gets_an_answer(site: Site) -> None:
    """18.3.9 / 18.3.2: the server answers each IA: the binding's one address goes in
    the first, the others get NoAddrsAvail (an address sits in one IA only, 6.2)."""
    g = guest(site)
    wanted = [ia_na(iaid=i) for i in range(1, 7)]
    reply = ask6(g, DHCP6_Solicit(trid=17), client_id(g), *wanted)
    got = ias(reply)
    assert [ia.iaid for ia in got] == list(range(1, 7))
    assert len(ia_addresses(got[0])) == 1
    assert all(ia_status(ia) == NO_ADDRS_AVAIL for ia in got[1:])


def test_18_3_3_confirm_says_whether_the_addresses_are_on_link(site: Site) -> None:
    """18.3.3: Success when every address is on the link, NotOnLink otherwise."""
    g = guest(site)
    subnet = IPv6Network(g.binding.extra["SUBNET6"])
    on_link = DHCP6OptIA_NA(iaid=1, ianaopts=[DHCP6OptIAAddress(addr=str(subnet[9]))])
    off_link = ia_na(OFF_LINK, iaid=1)
    assert top_status(ask6(g, DHCP6_Confirm(trid=18), client_id(g), on_link)) == SUCCESS
    assert top_status(ask6(g, DHCP6_Confirm(trid=19), client_id(g), off_link)) == NOT_ON_LINK


def test_19_relay_forward_from_a_vm_is_not_answered_but_counted(site: Site) -> None:
    """19 / 20: a VM has no business relaying (the TAP's only client is the VM): a
    Relay-forward is not answered, and counted as what it is, not as malformed."""
    g = guest(site)
    inner = DHCP6_Solicit(trid=20) / client_id(g) / ia_na(iaid=1)
    relay = DHCP6_RelayForward(hopcount=0, linkaddr="::", peeraddr=str(g.link_local))
    before = site.daemon.counters()
    assert ask6(g, relay, DHCP6OptRelayMsg(message=inner)) is None
    after = site.daemon.counters()
    assert after.get("relay-forw", 0) == before.get("relay-forw", 0) + 1
    assert after.get("malformed", 0) == before.get("malformed", 0)


def test_rfc8200_8_1_bad_udp_checksum_is_discarded_and_counted(site: Site) -> None:
    """RFC 8200 8.1: the UDP checksum is mandatory over IPv6; a datagram whose checksum
    is wrong is discarded (RFC 1122 4.1.3.4), here with a `bad-checksum` count."""
    g = guest(site)
    before = site.daemon.counters().get("bad-checksum", 0)
    frame = g.dhcp6(DHCP6_InfoRequest(trid=21), client_id(g))
    assert replies6(g.ask(corrupt_udp_checksum(frame))) == []
    assert site.daemon.counters().get("bad-checksum", 0) == before + 1


def test_rfc8200_8_1_zero_udp_checksum_is_discarded(site: Site) -> None:
    """RFC 8200 8.1: 'IPv6 receivers MUST discard UDP packets containing a zero
    checksum.'"""
    g = guest(site)
    frame = bytearray(g.dhcp6(DHCP6_InfoRequest(trid=22), client_id(g)))
    frame[14 + 40 + 6 : 14 + 40 + 8] = b"\0\0"
    assert replies6(g.ask(bytes(frame))) == []


def test_dhcp6_layer_is_a_server_reply(site: Site) -> None:
    """21: replies come from port 547 to the client's port 546 (7.2)."""
    g = guest(site)
    reply = ask6(g, DHCP6_InfoRequest(trid=23), client_id(g))
    assert (reply[UDP].sport, reply[UDP].dport) == (547, 546)
    assert isinstance(reply[UDP].payload, DHCP6)


def test_18_2_real_dhcp6c_takes_the_address_and_dns_options(site: Site) -> None:
    """WIDE-DHCPv6's dhcp6c (Debian wide-dhcpv6-client), a client not written against
    this daemon: Solicit, Request (18.2.1, 18.2.2), then the IA_NA address on eth0 and
    the DNS options (RFC 3646) handed to its script."""
    subnet = IPv6Network(f"2001:db8:{site.serial + 1:x}::/64")
    address = subnet[0x77]
    g = guest(site, extra={"SUBNET6": str(subnet), "GATEWAY6": str(subnet[1]), "IP6": str(address)})
    run = g.vm.dhcp6c()
    assert run.returncode == 0, run.describe()
    assert run.rundir is not None
    links = json.loads((run.rundir / "addr.json").read_text())
    got = [(i["local"], i["scope"]) for link in links for i in link["addr_info"]]
    assert (str(address), "global") in got, got
    assert run.env.get("new_domain_name_servers", "").split() == list(DNS6), run.env
    assert run.env.get("new_domain_name", "").split() == [f"{d}." for d in DOMAINS6], run.env
