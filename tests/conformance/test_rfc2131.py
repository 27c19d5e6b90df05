"""RFC 2131, Dynamic Host Configuration Protocol: the server's side of section 4.

Also RFC 1542 2.1 (the BOOTP minimum message size that section 1.5 keeps) and
RFC 768 / RFC 1122 4.1.3.4 (UDP checksums) for the DHCP server port.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

import pytest
from scapy.layers.dhcp import BOOTP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from ..e2e import netns
from ..e2e.site import Site, serve_test
from .guest import (
    BCAST,
    BCAST_MAC,
    SERVER_ID,
    Guest,
    corrupt_udp_checksum,
    guest,
    message_type,
    options4,
    start_site,
)

pytestmark = pytest.mark.e2e

ACK, NAK = 5, 6
OTHER_IP = "10.250.0.9"  # an address in no binding's subnet


def test_4_3_1_discover_gets_offer_of_the_binding_address(site: Site) -> None:
    """4.3.1: an OFFER with yiaddr, the server identifier and the lease time (table 3)."""
    g = guest(site, v6=False)
    (offer,) = g.ask4(g.dhcp4("discover"))
    assert message_type(offer) == 2
    assert offer[BOOTP].yiaddr == g.ip
    opts = options4(offer)
    assert opts["server_id"] == str(SERVER_ID)
    assert "lease_time" in opts


def test_4_3_2_renewing_request_with_server_id_and_no_requested_ip_is_acked(site: Site) -> None:
    """4.3.2 RENEWING: ciaddr holds the address. Some clients also name the server (as
    in SELECTING) but leave option 50 out; dnsmasq ACKs that as a renewal."""
    g = guest(site, v6=False)
    request = g.dhcp4(
        "request",
        options=[("server_id", str(SERVER_ID))],
        ciaddr=g.ip,
        src=g.ip,
        dst=str(SERVER_ID),
        dst_mac=g.router_mac,
    )
    (reply,) = g.ask4(request)
    assert message_type(reply) == ACK
    assert reply[BOOTP].yiaddr == g.ip
    assert reply[IP].dst == g.ip, "a renewal's ACK goes to ciaddr (4.1)"


def test_4_3_2_init_reboot_judges_requested_ip_even_with_ciaddr_set(site: Site) -> None:
    """4.3.2 INIT-REBOOT: option 50 is the client's notion of its address and no server
    identifier is sent. A client that also fills ciaddr (against 'MUST be zero') with a
    stale address must be judged by option 50: ACK when it is right..."""
    g = guest(site, v6=False)
    request = g.dhcp4("request", options=[("requested_addr", g.ip)], ciaddr=OTHER_IP)
    (reply,) = g.ask4(request)
    assert message_type(reply) == ACK
    assert reply[BOOTP].yiaddr == g.ip


def test_4_3_2_init_reboot_wrong_requested_ip_is_naked_even_with_ciaddr_right(site: Site) -> None:
    """4.3.2 INIT-REBOOT: '...the server SHOULD send a DHCPNAK message to the client if
    the requested IP address is incorrect'; ciaddr does not override option 50."""
    g = guest(site, v6=False)
    request = g.dhcp4("request", options=[("requested_addr", OTHER_IP)], ciaddr=g.ip)
    (reply,) = g.ask4(request)
    assert message_type(reply) == NAK


def test_4_3_2_selecting_request_for_the_offer_is_acked(site: Site) -> None:
    """4.3.2 SELECTING: server identifier and option 50 set, ciaddr zero."""
    g = guest(site, v6=False)
    request = g.dhcp4("request", options=[("server_id", str(SERVER_ID)), ("requested_addr", g.ip)])
    (reply,) = g.ask4(request)
    assert message_type(reply) == ACK
    assert reply[BOOTP].yiaddr == g.ip


def test_4_3_2_selecting_request_for_another_server_is_ignored(site: Site) -> None:
    """4.3.2: a REQUEST naming another server tells us the client declined our offer."""
    g = guest(site, v6=False)
    request = g.dhcp4("request", options=[("server_id", "192.0.2.99"), ("requested_addr", g.ip)])
    assert g.ask4(request) == []


def test_4_1_nak_to_a_renewing_client_reaches_its_ciaddr(site: Site) -> None:
    """4.1 broadcasts NAKs when giaddr is zero, but a RENEWING client (4.4.5) talks
    unicast from ciaddr and may listen there only (systemd-networkd binds its renewal
    socket to the address): the NAK must also go to ciaddr, as Kea sends it."""
    g = guest(site, v6=False)
    request = g.dhcp4(
        "request", ciaddr=OTHER_IP, src=OTHER_IP, dst=str(SERVER_ID), dst_mac=g.router_mac
    )
    replies = g.ask4(request, count=None)
    naks = [r for r in replies if message_type(r) == NAK]
    assert naks, replies
    unicast = [r for r in naks if r[IP].dst == OTHER_IP and r[Ether].dst == g.mac]
    assert unicast, [(r[IP].dst, r[Ether].dst) for r in naks]
    assert unicast[0][UDP].dport == 68


def test_4_1_nak_is_broadcast_when_giaddr_is_zero(site: Site) -> None:
    """4.1: 'In all cases, when giaddr is zero, the server broadcasts any DHCPNAK
    messages to 0xffffffff' (an INIT-REBOOT client has no address yet)."""
    g = guest(site, v6=False)
    (reply,) = g.ask4(g.dhcp4("request", options=[("requested_addr", OTHER_IP)]))
    assert message_type(reply) == NAK
    assert (reply[IP].dst, reply[Ether].dst) == (BCAST, BCAST_MAC)


def test_table_3_nak_carries_a_message(site: Site) -> None:
    """Table 3: a DHCPNAK SHOULD carry option 56 (RFC 2132 9.9) saying why."""
    g = guest(site, v6=False)
    (reply,) = g.ask4(g.dhcp4("request", options=[("requested_addr", OTHER_IP)]))
    assert message_type(reply) == NAK
    message = options4(reply).get("error_message")
    assert message, options4(reply)


@pytest.mark.parametrize("kind", ["nak", "inform"])
def test_rfc1542_2_1_replies_are_at_least_300_bytes_of_bootp(site: Site, kind: str) -> None:
    """RFC 1542 2.1 (kept by RFC 2131 1.5 for BOOTP relays): a BOOTP message is at least
    300 octets; relays and PXE ROMs drop shorter ones. dnsmasq and Kea pad."""
    g = guest(site, v6=False, dns=(), domain="a.b", hostname="h")
    if kind == "nak":
        request = g.dhcp4("request", options=[("requested_addr", OTHER_IP)])
    else:
        request = g.dhcp4("inform", ciaddr=g.ip, src=g.ip, options=[("param_req_list", [1])])
    (reply,) = g.ask4(request)
    assert len(bytes(reply[BOOTP])) >= 300


def test_4_3_3_decline_is_logged_with_the_declined_address(site: Site) -> None:
    """4.3.3: the client puts the address it found in use in option 50; the log must
    name that address so the admin can find the conflict."""
    g = guest(site, v6=False)
    declined = str(IPv4Address(g.ip) + 1)
    decline = g.dhcp4(
        "decline", options=[("server_id", str(SERVER_ID)), ("requested_addr", declined)]
    )
    assert g.ask4(decline, wait=0.5) == []
    g.wait_log("DECLINE.*" + re.escape(declined))


def test_rfc1122_4_1_3_4_bad_udp_checksum_is_discarded_and_counted(site: Site) -> None:
    """RFC 1122 4.1.3.4: 'If a UDP datagram is received with a checksum that is non-zero
    and invalid, UDP MUST silently discard the datagram.' NFQUEUE hands us the packet
    before the kernel's UDP layer checks it, so the daemon must."""
    g = guest(site, v6=False)
    before = site.daemon.counters().get("bad-checksum", 0)
    assert g.ask4(corrupt_udp_checksum(g.dhcp4("discover"))) == []
    assert site.daemon.counters().get("bad-checksum", 0) == before + 1


def test_rfc768_zero_udp_checksum_means_none_and_is_answered(site: Site) -> None:
    """RFC 768: an all-zero checksum over IPv4 means the sender computed none."""
    g = guest(site, v6=False)
    frame = bytearray(g.dhcp4("discover"))
    frame[14 + 20 + 6 : 14 + 20 + 8] = b"\0\0"
    (offer,) = g.ask4(bytes(frame))
    assert message_type(offer) == 2


NETWORKD_DHCP4 = """\
[Match]
Name=eth0
[Network]
DHCP=ipv4
IPv6AcceptRA=no
LinkLocalAddressing=no
[DHCPv4]
UseDNS=no
UseHostname=no
"""
#: Short leases: T1 = 4 s, T2 = 7/8 of 120 s = 105 s.
LEASE, RENEWAL = 120, 4


@pytest.fixture(scope="module")
def renewing_module(e2e_ready: None) -> Iterator[Site]:
    with netns.hypervisor("routed", label="hv-cr") as hv:
        site = start_site(hv, lease_lifetime=LEASE, lease_renewal=RENEWAL)
        yield site
        assert site.daemon.stop() == 0


@pytest.fixture
def renewing(renewing_module: Site) -> Iterator[Site]:
    yield from serve_test(renewing_module)


def networkd_address(g: Guest, networkd: netns.Process, timeout: float) -> IPv4Interface:
    """The DHCPv4 address systemd-networkd put on eth0, once there is one."""

    def address() -> IPv4Interface | None:
        if not networkd.alive():
            raise AssertionError(f"systemd-networkd exited:\n{networkd.log()[-3000:]}")
        found = g.vm.addresses4()
        return found[0] if found else None

    got = netns.wait_for(address, timeout=timeout, what="a DHCPv4 address from networkd")
    assert got is not None
    return got


def test_4_3_1_real_systemd_networkd_takes_the_lease(renewing: Site) -> None:
    """systemd-networkd 252's DHCPv4 client (sd-dhcp-client, not written against this
    daemon): the binding's address and mask, and the default route via GATEWAY."""
    g = guest(renewing, v6=False)
    networkd = g.vm.start_networkd(NETWORKD_DHCP4)
    got = networkd_address(g, networkd, timeout=15)
    assert got == IPv4Interface(f"{g.ip}/{IPv4Network(g.binding.subnet or '').prefixlen}")
    routes = netns.wait_for(
        lambda: [r for r in json.loads(g.vm.ip("-j", "route").stdout) if r["dst"] == "default"],
        timeout=5,
        what="a default route",
    )
    assert routes[0]["gateway"] == g.binding.gateway


def test_4_4_5_real_systemd_networkd_learns_a_changed_address_at_renewal(
    renewing: Site,
) -> None:
    """4.4.5 / 4.3.2: when the binding's IP changes, the client's renewal at T1 (4 s)
    gets a NAK and it starts over (4.4.5: 'If the client receives a DHCPNAK message,
    the client ... restarts the configuration process'). systemd-networkd renews from
    a socket bound to its address: a NAK only broadcast never reaches it, and the VM
    keeps the old address until T2 (105 s here, 6 days with the default lease)."""
    g = guest(renewing, v6=False)
    # The renewal is unicast via the gateway: the host answers ARP for it, as a routed
    # hypervisor does (the gateway's address on the TAP).
    renewing.hv.add_address(g.vm.tap, IPv4Interface(f"{g.binding.gateway}/32"))
    networkd = g.vm.start_networkd(NETWORKD_DHCP4)
    old = networkd_address(g, networkd, timeout=15)
    new_ip = str(IPv4Address(g.ip) + 1)
    g.rebind(ip=new_ip)

    def moved() -> bool:
        if not networkd.alive():
            raise AssertionError(f"systemd-networkd exited:\n{networkd.log()[-3000:]}")
        return any(str(a.ip) == new_ip for a in g.vm.addresses4())

    netns.wait_for(moved, timeout=RENEWAL + 12, what=f"{new_ip} to replace {old}")
