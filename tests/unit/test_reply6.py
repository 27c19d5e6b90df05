"""responder.handle for the IPv6 queues (reply6.py): RS -> RA, NS -> proxy NA, DHCPv6.

Requests are built with scapy and every reply is decoded by scapy, its ICMPv6 or UDP
checksum recomputed by scapy. Layout: lookup rules, Router Advertisements (modes,
lifetimes, options), Neighbor Advertisements (routed, bridged, DAD), DHCPv6 by message
type, ORO, truncations and property tests.
"""

from __future__ import annotations

import dataclasses
from ipaddress import IPv6Address
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.dhcp6 import (
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
    DHCP6OptElapsedTime,
    DHCP6OptIA_NA,
    DHCP6OptIA_PD,
    DHCP6OptIA_TA,
    DHCP6OptIAAddress,
    DHCP6OptOptReq,
    DHCP6OptPref,
    DHCP6OptRapidCommit,
    DHCP6OptRelayMsg,
    DHCP6OptServerId,
    DHCP6OptStatusCode,
)
from scapy.layers.inet import UDP
from scapy.layers.inet6 import (
    ICMPv6ND_NA,
    ICMPv6ND_RA,
    ICMPv6NDOptDNSSL,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptMTU,
    ICMPv6NDOptPrefixInfo,
    ICMPv6NDOptRDNSS,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
)
from scapy.packet import Raw

from nfdhcpd.core import reply6
from nfdhcpd.core.binding import Binding
from nfdhcpd.core.config import Config
from nfdhcpd.core.responder import Decision, Verdict

from ..helpers.builders import (
    CLIENT_DUID,
    client_duid,
    dad_request,
    dhcp6_request,
    inbound,
    ns_request,
    rs_request,
    run,
)
from ..helpers.decode import decode_frame6, decode_reply6
from ..helpers.dhcp6_scapy import IAID, ia_addresses, ia_na
from ..helpers.readers import dhcp6_options
from ..helpers.samples import (
    ALL_NODES6,
    DHCP6_QUEUE,
    GATEWAY6,
    NAMESERVERS6,
    NS_QUEUE,
    OFF_LINK6,
    OTHER6,
    OTHER_MAC,
    RS_QUEUE,
    SERVER_DUID,
    TAP,
    TAP_LL,
    TAP_MAC,
    TAP_MAC_TEXT,
    UNSPEC6,
    V6_CONFIG,
    VM_EUI64,
    VM_LL,
    VM_MAC_TEXT,
    grnet_with,
    make_config,
    table_of,
)

IP6 = "2001:db8:aaaa:bbbb::100"  # a binding's IP6, not the EUI-64 of its MAC
RFC7217 = "2001:db8:aaaa:bbbb:1c2d:3e4f:5a6b:7c8d"  # a stable-privacy address of the VM
GRNET_EUI64_MAC = "aa:6b:39:22:33:44"
LEASE = V6_CONFIG.lease_lifetime
T1 = V6_CONFIG.lease_renewal
T2 = V6_CONFIG.rebinding_time


def ask(
    payload: bytes,
    queue: int,
    binding: Binding | None = None,
    config: Config = V6_CONFIG,
    **kw: Any,
) -> Decision:
    """One request through `handle`, with the GRNET sample binding by default."""
    table = table_of(binding if binding is not None else grnet_with(""))
    return run(inbound(payload, queue=queue, **kw), table, config)


def assert_silent(decision: Decision, verdict: Verdict, event: str) -> None:
    assert (decision.verdict, decision.event) == (verdict, event), decision
    assert decision.frames == ()


def assert_l2(pkt: Any, dst: str = VM_MAC_TEXT) -> None:
    assert (pkt.src, pkt.dst) == (TAP_MAC_TEXT, dst)


# --- lookup rules: the same as for IPv4 --------------------------------------------

REQUESTS = {
    "rs": (rs_request(), RS_QUEUE),
    "ns": (ns_request(GATEWAY6), NS_QUEUE),
    "dhcpv6": (
        dhcp6_request(DHCP6_Solicit(), DHCP6OptClientId(duid=client_duid()), DHCP6OptIA_NA()),
        DHCP6_QUEUE,
    ),
}
EACH = pytest.mark.parametrize(("payload", "queue"), REQUESTS.values(), ids=REQUESTS.keys())


@EACH
def test_answered(payload: bytes, queue: int) -> None:
    pkt = decode_reply6(ask(payload, queue))
    assert_l2(pkt)
    assert pkt[IPv6].src in (TAP_LL, GATEWAY6)


@EACH
def test_no_binding_accepts(payload: bytes, queue: int) -> None:
    assert_silent(run(inbound(payload, queue=queue), table_of()), Verdict.ACCEPT, "no-binding")


@EACH
def test_unknown_interface_accepts(payload: bytes, queue: int) -> None:
    decision = ask(payload, queue, indev="tap99")
    assert_silent(decision, Verdict.ACCEPT, "no-binding")


@EACH
def test_mac_mismatch_drops(payload: bytes, queue: int) -> None:
    assert_silent(ask(payload, queue, hwsrc=OTHER_MAC), Verdict.DROP, "mac-mismatch")
    assert_silent(ask(payload, queue, hwsrc=None), Verdict.DROP, "mac-mismatch")


@EACH
def test_indev_mismatch_drops(payload: bytes, queue: int) -> None:
    decision = ask(payload, queue, grnet_with("INDEV=br0\n"))
    assert_silent(decision, Verdict.DROP, "indev-mismatch")


@EACH
def test_macspoof_answers_the_source_mac(payload: bytes, queue: int) -> None:
    decision = ask(payload, queue, grnet_with("MACSPOOF=yes\n"), hwsrc=OTHER_MAC)
    assert_l2(decode_reply6(decision), "02:aa:bb:cc:dd:ee")


@EACH
def test_ipv6_disabled_accepts(payload: bytes, queue: int) -> None:
    config = make_config(enable_ipv6=False, server_duid=SERVER_DUID)
    assert_silent(ask(payload, queue, config=config), Verdict.ACCEPT, "unknown-queue")


@EACH
def test_unknown_interface_mac_is_no_ifmac_as_in_dhcpv4(payload: bytes, queue: int) -> None:
    """Not the VM's fault: the same refusal as reply4's (counted as no-ifmac, not malformed)."""
    assert_silent(ask(payload, queue, ifmac=None), Verdict.DROP, "no-ifmac")


def test_configured_queue_numbers() -> None:
    config = make_config(rs_queue=7, ns_queue=8, dhcpv6_queue=9, server_duid=SERVER_DUID)
    for (payload, _), queue in zip(REQUESTS.values(), (7, 8, 9), strict=True):
        assert ask(payload, queue, config=config).event in ("ra", "na", "advertise")
        assert_silent(ask(payload, queue + 40, config=config), Verdict.ACCEPT, "unknown-queue")


def test_queues_are_not_interchangeable() -> None:
    rs, ns, solicit = (payload for payload, _ in REQUESTS.values())
    assert_silent(ask(rs, NS_QUEUE), Verdict.DROP, "malformed")
    assert_silent(ask(ns, RS_QUEUE), Verdict.DROP, "malformed")
    assert_silent(ask(solicit, RS_QUEUE), Verdict.DROP, "malformed")
    assert_silent(ask(rs, DHCP6_QUEUE), Verdict.DROP, "malformed")


# --- Router Advertisements -----------------------------------------------------------


def ra_for(
    binding: Binding | None = None,
    config: Config = V6_CONFIG,
    request: bytes | None = None,
    **kw: Any,
) -> Any:
    decision = ask(request or rs_request(), RS_QUEUE, binding, config, **kw)
    assert decision.event == "ra"
    pkt = decode_reply6(decision, tap=kw.get("physindev") or TAP)
    assert pkt[IPv6].hlim == 255
    assert ICMPv6ND_RA in pkt
    return pkt


def test_ra_every_field() -> None:
    pkt = ra_for()
    assert_l2(pkt)
    ip = pkt[IPv6]
    assert (ip.src, ip.dst, ip.nh, ip.hlim) == (TAP_LL, VM_LL, 58, 255)
    adv = pkt[ICMPv6ND_RA]
    assert (adv.code, adv.chlim, adv.M, adv.O, adv.prf) == (0, 64, 0, 1, 0)
    # RFC 4861 6.2.1's maximum AdvDefaultLifetime: the route outlives hours without RAs.
    assert (adv.routerlifetime, adv.reachabletime, adv.retranstimer) == (9000, 0, 0)
    assert pkt[ICMPv6NDOptSrcLLAddr].lladdr == TAP_MAC_TEXT
    assert ICMPv6NDOptMTU not in pkt  # the GRNET sample has no MTU
    info = pkt[ICMPv6NDOptPrefixInfo]
    assert (info.prefixlen, info.L, info.A, info.R) == (64, 1, 1, 1)
    assert (info.validlifetime, info.preferredlifetime) == (2592000, 604800)
    assert info.prefix == GATEWAY6
    assert pkt[ICMPv6NDOptRDNSS].dns == list(NAMESERVERS6)
    assert pkt[ICMPv6NDOptRDNSS].lifetime == 900
    assert pkt[ICMPv6NDOptDNSSL].searchlist == ["example.com."]
    assert pkt[ICMPv6NDOptDNSSL].lifetime == 900
    assert ICMPv6NDOptPrefixInfo not in pkt[ICMPv6NDOptPrefixInfo].payload  # just one


def test_ra_source_is_eui64_link_local_of_the_interface_mac() -> None:
    mac = bytes.fromhex("5254001a2b3c")
    pkt = ra_for(ifmac=mac)
    assert pkt[IPv6].src == "fe80::5054:ff:fe1a:2b3c"
    assert pkt.src == "52:54:00:1a:2b:3c"
    assert pkt[ICMPv6NDOptSrcLLAddr].lladdr == "52:54:00:1a:2b:3c"


MODES = {
    # name: (mode, binding extra lines, M, O, A)
    "auto-eui64": ("auto", "", 0, 1, 1),
    "auto-no-address-key": ("auto", "EUI64=\n", 0, 1, 1),
    "auto-ip6": ("auto", f"IP6={IP6}\n", 1, 1, 0),
    "auto-ip6-equal-to-eui64": ("auto", f"IP6={VM_EUI64}\n", 0, 1, 1),
    "auto-foreign-eui64": ("auto", f"EUI64={IP6}\n", 1, 1, 0),
    "slaac": ("slaac", "", 0, 0, 1),
    "slaac+dhcpv6": ("slaac+dhcpv6", "", 0, 1, 1),
    "dhcpv6": ("dhcpv6", "", 1, 1, 0),
    "slaac-ip6": ("slaac", f"IP6={IP6}\n", 0, 0, 1),
    "slaac-56": ("slaac", "SUBNET6=2001:db8:aaaa:bb00::/56\n", 0, 0, 0),
    "auto-56-ip6": (
        "auto",
        "SUBNET6=2001:db8:aaaa:bb00::/56\nIP6=2001:db8:aaaa:bb00::9\n",
        1,
        1,
        0,
    ),
}


@pytest.mark.parametrize(("mode", "extra", "m", "o", "a"), MODES.values(), ids=MODES.keys())
def test_ra_flags_by_mode(mode: str, extra: str, m: int, o: int, a: int) -> None:
    pkt = ra_for(grnet_with(extra), make_config(mode=mode, server_duid=SERVER_DUID))
    flags = (pkt[ICMPv6ND_RA].M, pkt[ICMPv6ND_RA].O, pkt[ICMPv6NDOptPrefixInfo].A)
    assert flags == (m, o, a)
    assert pkt[ICMPv6NDOptPrefixInfo].L == 1


@pytest.mark.parametrize("period", [4, 5, 300, 600, 1800])
def test_router_lifetime_within_rfc_bounds(period: int) -> None:
    pkt = ra_for(
        config=make_config(
            ra_period=period, nameservers6=V6_CONFIG.nameservers6, domains6=("example.com",)
        )
    )
    lifetime = pkt[ICMPv6ND_RA].routerlifetime
    # RFC 4861 6.2.1: 0, or MaxRtrAdvInterval..9000; its maximum, whatever the period.
    assert lifetime == 9000
    assert period <= lifetime <= 9000
    # RFC 8106 5.1 and 5.2: at least 3 x MaxRtrAdvInterval.
    assert pkt[ICMPv6NDOptRDNSS].lifetime >= 3 * period
    assert pkt[ICMPv6NDOptDNSSL].lifetime >= 3 * period


def test_bridged_no_gateway6_no_default_route_no_r_flag() -> None:
    pkt = ra_for(grnet_with("GATEWAY6=\nINDEV=br0\n"), indev="br0", physindev=TAP)
    assert pkt[ICMPv6ND_RA].routerlifetime == 0
    info = pkt[ICMPv6NDOptPrefixInfo]
    assert (info.R, info.prefix) == (0, "2001:db8:aaaa:bbbb::")


def test_private_no_default_route() -> None:
    pkt = ra_for(grnet_with("PRIVATE=yes\n"))
    assert pkt[ICMPv6ND_RA].routerlifetime == 0
    assert pkt[ICMPv6NDOptPrefixInfo].L == 1


def test_mtu_option() -> None:
    assert ra_for(grnet_with("MTU=1400\n"))[ICMPv6NDOptMTU].mtu == 1400


def test_binding_dns6_and_search_override_config() -> None:
    pkt = ra_for(grnet_with("DNS6='2001:db8::53 2001:db8::54'\nSEARCH='a.example b.example'\n"))
    assert pkt[ICMPv6NDOptRDNSS].dns == ["2001:db8::53", "2001:db8::54"]
    assert pkt[ICMPv6NDOptDNSSL].searchlist == ["a.example.", "b.example."]


def test_no_rdnss_dnssl_without_servers_or_domains() -> None:
    pkt = ra_for(config=make_config(server_duid=SERVER_DUID))
    assert ICMPv6NDOptRDNSS not in pkt
    assert ICMPv6NDOptDNSSL not in pkt
    assert pkt[ICMPv6NDOptSrcLLAddr].lladdr == TAP_MAC_TEXT


def test_rs_from_unspecified_gets_ra_to_all_nodes() -> None:
    pkt = ra_for(request=rs_request(src=UNSPEC6, slla=None))
    assert pkt[IPv6].dst == ALL_NODES6


def test_rs_from_a_global_address() -> None:
    assert ra_for(request=rs_request(src=VM_EUI64))[IPv6].dst == VM_EUI64


def test_bridged_ra_from_the_bridge_mac_on_the_tap() -> None:
    bridge_mac = bytes.fromhex("02000000b0b0")
    pkt = ra_for(grnet_with("INDEV=br0\n"), indev="br0", physindev=TAP, ifmac=bridge_mac)
    assert pkt.src == "02:00:00:00:b0:b0"
    assert pkt[IPv6].src == "fe80::ff:fe00:b0b0"


def test_rs_without_subnet6_is_passed_on() -> None:
    """No IPv6 service for this VM: another router on the link may answer it."""
    decision = ask(rs_request(), RS_QUEUE, grnet_with("SUBNET6=\nEUI64=\nGATEWAY6=\n"))
    assert_silent(decision, Verdict.ACCEPT, "no-subnet6")


BAD_RS = {
    "hop-limit-64": rs_request(hlim=64),
    "slla-from-unspecified": rs_request(src=UNSPEC6),
    "an-ipv4-packet": b"\x45" + bytes(40),
    "udp": dhcp6_request(DHCP6_Solicit()),
}


@pytest.mark.parametrize("payload", BAD_RS.values(), ids=BAD_RS.keys())
def test_bad_rs_is_malformed(payload: bytes) -> None:
    assert_silent(ask(payload, RS_QUEUE), Verdict.DROP, "malformed")


# --- Neighbor Advertisements -----------------------------------------------------------


def na_for(request: bytes, binding: Binding | None = None, **kw: Any) -> Any:
    decision = ask(request, NS_QUEUE, binding, **kw)
    assert decision.event == "na"
    pkt = decode_reply6(decision, tap=kw.get("physindev") or TAP)
    assert pkt[IPv6].hlim == 255
    return pkt


def assert_na(pkt: Any, target: str, dst: str, r: int, s: int, o: int) -> None:
    assert_l2(pkt)
    ip = pkt[IPv6]
    assert (ip.src, ip.dst, ip.nh) == (target, dst, 58)
    na = pkt[ICMPv6ND_NA]
    assert (na.tgt, na.code, na.R, na.S, na.O) == (target, 0, r, s, o)
    assert pkt[ICMPv6NDOptDstLLAddr].lladdr == TAP_MAC_TEXT


@pytest.mark.parametrize("target", [GATEWAY6, TAP_LL])
@pytest.mark.parametrize("src", [VM_LL, VM_EUI64])
def test_na_for_the_router_routed(target: str, src: str) -> None:
    pkt = na_for(ns_request(target, src=src))
    assert_na(pkt, target, src, 1, 1, 1)


@pytest.mark.parametrize("target", [GATEWAY6, TAP_LL])
def test_na_for_the_router_bridged(target: str) -> None:
    binding = grnet_with("INDEV=br0\n")
    pkt = na_for(ns_request(target), binding, indev="br0", physindev=TAP)
    assert_na(pkt, target, VM_LL, 1, 1, 1)


def test_na_unicast_ns_for_the_gateway() -> None:
    pkt = na_for(ns_request(GATEWAY6, src=VM_EUI64, dst=GATEWAY6))
    assert_na(pkt, GATEWAY6, VM_EUI64, 1, 1, 1)


@pytest.mark.parametrize("target", [OTHER6, "2001:db8:aaaa:bbbb::2", "2001:db8:aaaa:bbbb:ffff::1"])
def test_proxy_na_for_other_subnet_addresses_routed(target: str) -> None:
    pkt = na_for(ns_request(target))
    assert_na(pkt, target, VM_LL, 1, 1, 0)  # RFC 4861 7.2.8: a proxy sets no O flag


@pytest.mark.parametrize("target", [OTHER6, OFF_LINK6, "fe80::1"])
def test_bridged_other_addresses_are_not_ours(target: str) -> None:
    binding = grnet_with("INDEV=br0\n")
    decision = ask(ns_request(target), NS_QUEUE, binding, indev="br0", physindev=TAP)
    assert_silent(decision, Verdict.ACCEPT, "ns-other")


@pytest.mark.parametrize("target", [OFF_LINK6, "fe80::1", "fe80::a86b:39ff:fe22:3345"])
def test_routed_off_subnet_and_link_local_are_not_ours(target: str) -> None:
    assert_silent(ask(ns_request(target), NS_QUEUE), Verdict.ACCEPT, "ns-other")


def test_no_proxy_without_subnet6() -> None:
    binding = grnet_with("SUBNET6=\nEUI64=\n")
    assert_silent(ask(ns_request(OTHER6), NS_QUEUE, binding), Verdict.ACCEPT, "no-subnet6")


OWN = {
    # name: (binding extra lines, the VM's own address)
    "eui64-key": ("", VM_EUI64),
    "ip6-key": (f"IP6={IP6}\n", IP6),
    "computed-eui64": ("EUI64=\n", VM_EUI64),
}


@pytest.mark.parametrize(("extra", "own"), OWN.values(), ids=OWN.keys())
@pytest.mark.parametrize("dad", [True, False], ids=["dad", "ns"])
@pytest.mark.parametrize("bridged", [False, True], ids=["routed", "bridged"])
def test_never_answers_for_the_vms_own_address(
    extra: str, own: str, dad: bool, bridged: bool
) -> None:
    request = dad_request(own) if dad else ns_request(own, src=VM_LL)
    where: dict[str, Any] = {"indev": "br0", "physindev": TAP} if bridged else {}
    binding = grnet_with(extra + ("INDEV=br0\n" if bridged else ""))
    assert_silent(ask(request, NS_QUEUE, binding, **where), Verdict.ACCEPT, "ns-own")


def test_dad_for_the_gateway_is_defended_to_all_nodes() -> None:
    pkt = na_for(dad_request(GATEWAY6))
    assert_na(pkt, GATEWAY6, ALL_NODES6, 1, 0, 1)  # RFC 4861 7.2.4: S=0, to all nodes


def test_dad_for_the_vms_link_local_is_not_answered() -> None:
    assert_silent(ask(dad_request(VM_LL), NS_QUEUE), Verdict.ACCEPT, "ns-other")


BAD_NS = {
    "hop-limit-64": ns_request(GATEWAY6, hlim=64),
    "multicast-target": ns_request("ff02::1", dst="ff02::1"),
    "dad-not-to-solicited-node": ns_request(GATEWAY6, src=UNSPEC6, dst=ALL_NODES6, slla=None),
    "an-rs": rs_request(),
}


@pytest.mark.parametrize("payload", BAD_NS.values(), ids=BAD_NS.keys())
def test_bad_ns_is_malformed(payload: bytes) -> None:
    assert_silent(ask(payload, NS_QUEUE), Verdict.DROP, "malformed")


@pytest.mark.parametrize(
    ("mode", "extra", "tentative"),
    [
        ("auto", "", RFC7217),  # RFC 7217 stable-privacy SLAAC address
        ("slaac", "", "2001:db8:aaaa:bbbb:5a1:22ff:9e3:1a7b"),  # RFC 8981 temporary address
        ("slaac", f"IP6={IP6}\n", VM_EUI64),  # SLAAC forms the EUI-64 though IP6 is set
        ("slaac+dhcpv6", f"IP6={IP6}\n", VM_EUI64),
    ],
)
def test_dad_for_a_slaac_address_of_the_vm_is_not_answered(
    mode: str, extra: str, tentative: str
) -> None:
    """On a routed TAP only the VM itself does DAD: its tentative address must succeed.

    A proxy NA to a DAD probe makes the VM's kernel mark its SLAAC address duplicate
    (RFC 4862 5.4.5): the VM loses IPv6 whenever its address is not the one we predict.
    """
    config = make_config(mode=mode, server_duid=SERVER_DUID)
    decision = ask(dad_request(tentative), NS_QUEUE, grnet_with(extra), config)
    assert decision.verdict is Verdict.ACCEPT, decision
    assert decision.frames == ()


# --- DHCPv6 ------------------------------------------------------------------------

CLIENT_ID = DHCP6OptClientId(duid=client_duid())
SERVER_ID = DHCP6OptServerId(duid=Raw(SERVER_DUID))


def dhcp6_ask(
    message: Any,
    *options: Any,
    binding: Binding | None = None,
    config: Config = V6_CONFIG,
    src: str = VM_LL,
    **kw: Any,
) -> Decision:
    payload = dhcp6_request(message, *options, src=src)
    return ask(payload, DHCP6_QUEUE, binding, config, **kw)


def dhcp6_answer(message: Any, *options: Any, src: str = VM_LL, **kw: Any) -> Any:
    """The reply decoded by scapy, after the checks every DHCPv6 reply must pass."""
    pkt = decode_reply6(dhcp6_ask(message, *options, src=src, **kw))
    assert_l2(pkt)
    ip = pkt[IPv6]
    assert (ip.src, ip.dst, ip.nh) == (TAP_LL, src, 17)  # RFC 8415 18.3: to the source
    assert (pkt[UDP].sport, pkt[UDP].dport) == (547, 546)
    reply = pkt[UDP].payload
    assert reply.trid == message.trid
    got = dhcp6_options(bytes(reply)[4:])
    codes = [code for code, _ in got]
    assert codes[0] == 2 and got[0][1] == SERVER_DUID
    assert all(codes.count(c) == 1 for c in codes if c != 3), "an option repeated"
    return pkt


def dns_codes(pkt: Any) -> tuple[bool, bool]:
    return DHCP6OptDNSServers in pkt, DHCP6OptDNSDomains in pkt


def assert_lease(pkt: Any, address: str, iaid: int = IAID) -> None:
    ia = pkt[DHCP6OptIA_NA]
    assert ia.iaid == iaid
    assert (ia.T1, ia.T2) == (T1, T2)
    assert 0 < ia.T1 < ia.T2 < LEASE
    (iaaddr,) = ia.ianaopts
    assert isinstance(iaaddr, DHCP6OptIAAddress)
    assert (iaaddr.addr, iaaddr.preflft, iaaddr.validlft) == (address, LEASE, LEASE)
    assert iaaddr.preflft <= iaaddr.validlft


def test_solicit_gets_advertise_every_field() -> None:
    pkt = dhcp6_answer(DHCP6_Solicit(trid=0x123456), CLIENT_ID, DHCP6OptElapsedTime(), ia_na())
    adv = pkt[DHCP6_Advertise]
    assert adv.msgtype == 2
    assert bytes(adv[DHCP6OptServerId].duid) == SERVER_DUID
    assert bytes(adv[DHCP6OptClientId].duid) == CLIENT_DUID
    assert_lease(pkt, VM_EUI64)
    assert adv[DHCP6OptPref].prefval == 255
    assert DHCP6OptRapidCommit not in adv
    assert adv[DHCP6OptDNSServers].dnsservers == list(NAMESERVERS6)
    assert adv[DHCP6OptDNSDomains].dnsdomains == ["example.com."]
    codes = [code for code, _ in dhcp6_options(bytes(adv)[4:])]
    assert sorted(codes) == [1, 2, 3, 7, 23, 24]
    assert len(codes) == len(set(codes))


def test_solicit_with_rapid_commit_gets_reply() -> None:
    pkt = dhcp6_answer(DHCP6_Solicit(), CLIENT_ID, ia_na(), DHCP6OptRapidCommit())
    reply = pkt[DHCP6_Reply]
    assert reply.msgtype == 7
    assert DHCP6OptRapidCommit in reply
    assert DHCP6OptPref not in reply
    assert_lease(pkt, VM_EUI64)
    assert bytes(reply[DHCP6OptClientId].duid) == CLIENT_DUID


@pytest.mark.parametrize(
    ("message", "options"),
    [
        (DHCP6_Request, [SERVER_ID]),
        (DHCP6_Renew, [SERVER_ID]),
        (DHCP6_Rebind, []),
    ],
    ids=["request", "renew", "rebind"],
)
def test_lease_messages_get_reply(message: Any, options: list[Any]) -> None:
    pkt = dhcp6_answer(message(trid=77), CLIENT_ID, *options, ia_na(VM_EUI64))
    reply = pkt[DHCP6_Reply]
    assert DHCP6OptRapidCommit not in reply and DHCP6OptPref not in reply
    assert_lease(pkt, VM_EUI64)
    assert DHCP6OptStatusCode not in reply


ADDRESSES = {
    # name: (binding extra lines, the address handed out)
    "ip6-first": (f"IP6={IP6}\n", IP6),
    "eui64": ("", VM_EUI64),
    "computed-eui64": ("EUI64=\n", VM_EUI64),
    "eui64-key-not-the-macs": ("EUI64=2001:db8:aaaa:bbbb::abc\n", "2001:db8:aaaa:bbbb::abc"),
}


@pytest.mark.parametrize(("extra", "address"), ADDRESSES.values(), ids=ADDRESSES.keys())
def test_address_choice(extra: str, address: str) -> None:
    pkt = dhcp6_answer(DHCP6_Solicit(), CLIENT_ID, ia_na(), binding=grnet_with(extra))
    assert_lease(pkt, address)


@pytest.mark.parametrize("extra", ["SUBNET6=2001:db8:aaaa:bb00::/56\nEUI64=\n"])
def test_no_address_is_no_addrs_avail(extra: str) -> None:
    """RFC 8415 18.3.9: no address for any IA: 'only a Status Code option with code
    NoAddrsAvail', the Server and the Client Identifier; no IA, no Preference."""
    pkt = dhcp6_answer(DHCP6_Solicit(), CLIENT_ID, ia_na(), binding=grnet_with(extra))
    assert DHCP6OptIA_NA not in pkt and DHCP6OptPref not in pkt
    assert pkt[DHCP6OptStatusCode].statuscode == 2  # NoAddrsAvail, top level
    assert pkt[DHCP6OptClientId].duid == client_duid()


def test_addresses_held_that_are_not_ours_get_lifetime_zero() -> None:
    pkt = dhcp6_answer(DHCP6_Renew(), CLIENT_ID, SERVER_ID, ia_na(OTHER6, VM_EUI64))
    ia = pkt[DHCP6OptIA_NA]
    assert ia_addresses(ia) == [(VM_EUI64, LEASE, LEASE), (OTHER6, 0, 0)]


def test_each_ia_na_is_answered() -> None:
    pkt = dhcp6_answer(DHCP6_Solicit(), CLIENT_ID, ia_na(iaid=1), ia_na(iaid=2))
    options = dhcp6_options(bytes(pkt[UDP].payload)[4:])
    ias = [DHCP6OptIA_NA(b"\0\3" + len(v).to_bytes(2, "big") + v) for c, v in options if c == 3]
    assert [ia.iaid for ia in ias] == [1, 2]
    assert ias[0].ianaopts[0].addr == VM_EUI64
    assert ias[1].ianaopts[0].statuscode == 2  # NoAddrsAvail: one address, one IA


def test_solicit_without_ia_na_gets_no_ia() -> None:
    pkt = dhcp6_answer(DHCP6_Solicit(), CLIENT_ID, DHCP6OptIA_PD())
    assert DHCP6OptIA_NA not in pkt
    assert bytes(pkt[DHCP6OptClientId].duid) == CLIENT_DUID


def test_reply_goes_to_the_packet_source() -> None:
    pkt = dhcp6_answer(DHCP6_Renew(), CLIENT_ID, SERVER_ID, ia_na(VM_EUI64), src=VM_EUI64)
    assert pkt[IPv6].dst == VM_EUI64


@pytest.mark.parametrize(
    ("held", "status"),
    [([VM_EUI64], 0), ([OTHER6, VM_EUI64], 0), ([OFF_LINK6], 4), ([VM_EUI64, OFF_LINK6], 4)],
    ids=["own", "on-link", "off-link", "mixed"],
)
def test_confirm(held: list[str], status: int) -> None:
    pkt = dhcp6_answer(DHCP6_Confirm(), CLIENT_ID, ia_na(*held))
    reply = pkt[DHCP6_Reply]
    assert reply[DHCP6OptStatusCode].statuscode == status
    assert DHCP6OptIA_NA not in reply


def test_confirm_without_addresses_is_not_answered() -> None:
    assert_silent(dhcp6_ask(DHCP6_Confirm(), CLIENT_ID, ia_na()), Verdict.DROP, "confirm")


@pytest.mark.parametrize("message", [DHCP6_Confirm, DHCP6_Solicit])
def test_dhcpv6_without_subnet6_is_passed_on(message: Any) -> None:
    """Another DHCPv6 server on the link may serve this VM (its binding has no SUBNET6)."""
    binding = grnet_with("SUBNET6=\nEUI64=\n")
    decision = dhcp6_ask(message(), CLIENT_ID, ia_na(VM_EUI64), binding=binding)
    assert_silent(decision, Verdict.ACCEPT, "no-subnet6")


def test_release() -> None:
    decision = dhcp6_ask(DHCP6_Release(), CLIENT_ID, SERVER_ID, ia_na(VM_EUI64))
    assert decision.event == "reply"
    pkt = decode_reply6(decision)
    assert pkt[DHCP6_Reply][DHCP6OptStatusCode].statuscode == 0


def test_decline() -> None:
    decision = dhcp6_ask(DHCP6_Decline(), CLIENT_ID, SERVER_ID, ia_na(VM_EUI64))
    assert decision.event == "decline"
    assert "conflict" in decision.reason
    pkt = decode_reply6(decision)
    assert pkt[DHCP6_Reply][DHCP6OptStatusCode].statuscode == 0


def test_information_request_without_client_id() -> None:
    pkt = dhcp6_answer(DHCP6_InfoRequest(trid=5))
    reply = pkt[DHCP6_Reply]
    assert DHCP6OptClientId not in reply
    assert DHCP6OptIA_NA not in reply
    assert reply[DHCP6OptDNSServers].dnsservers == list(NAMESERVERS6)
    assert reply[DHCP6OptDNSDomains].dnsdomains == ["example.com."]


def test_information_request_with_client_id_and_binding_overrides() -> None:
    binding = grnet_with("DNS6=2001:db8::53\nSEARCH=a.example\n")
    pkt = dhcp6_answer(DHCP6_InfoRequest(), CLIENT_ID, binding=binding)
    assert bytes(pkt[DHCP6OptClientId].duid) == CLIENT_DUID
    assert pkt[DHCP6OptDNSServers].dnsservers == ["2001:db8::53"]
    assert pkt[DHCP6OptDNSDomains].dnsdomains == ["a.example."]


ORO_CASES = {
    # name: (ORO codes or None for no ORO, config, expected (DNS 23 sent, list 24 sent))
    "no-oro": (None, V6_CONFIG, (True, True)),
    "both": ([23, 24], V6_CONFIG, (True, True)),
    "dns-only": ([23], V6_CONFIG, (True, False)),
    "domains-only": ([24], V6_CONFIG, (False, True)),
    "neither": ([], V6_CONFIG, (False, False)),
    "other-codes": ([31, 56, 82], V6_CONFIG, (False, False)),
    "asked-not-configured": ([23, 24], make_config(server_duid=SERVER_DUID), (False, False)),
    "dns-configured-only": (
        [23, 24],
        make_config(server_duid=SERVER_DUID, nameservers6=V6_CONFIG.nameservers6),
        (True, False),
    ),
}


@pytest.mark.parametrize(("oro", "config", "expected"), ORO_CASES.values(), ids=ORO_CASES.keys())
@pytest.mark.parametrize("message", [DHCP6_InfoRequest, DHCP6_Solicit], ids=["info", "solicit"])
def test_oro_honoured(
    oro: list[int] | None, config: Config, expected: tuple[bool, bool], message: Any
) -> None:
    options: list[Any] = [CLIENT_ID, ia_na()] if message is DHCP6_Solicit else []
    if oro is not None:
        options.append(DHCP6OptOptReq(reqopts=oro))
    pkt = dhcp6_answer(message(), *options, config=config)
    assert dns_codes(pkt) == expected


def test_odd_oro_is_malformed() -> None:
    decision = dhcp6_ask(DHCP6_InfoRequest(), Raw(b"\0\6\0\3\0\x17\0"))
    assert_silent(decision, Verdict.DROP, "malformed")


@pytest.mark.parametrize("message", [DHCP6_Request, DHCP6_Renew, DHCP6_Release, DHCP6_Decline])
def test_messages_that_need_a_server_id(message: Any) -> None:
    assert_silent(dhcp6_ask(message(), CLIENT_ID, ia_na(VM_EUI64)), Verdict.DROP, "malformed")


@pytest.mark.parametrize(
    "message",
    [DHCP6_Request, DHCP6_Renew, DHCP6_Release, DHCP6_Decline, DHCP6_InfoRequest],
)
def test_another_servers_id_is_not_for_us(message: Any) -> None:
    other = DHCP6OptServerId(duid=Raw(b"\0\4" + bytes(16)))
    decision = dhcp6_ask(message(), CLIENT_ID, other, ia_na(VM_EUI64))
    assert_silent(decision, Verdict.DROP, "other-server")


@pytest.mark.parametrize(
    "message",
    [DHCP6_Solicit, DHCP6_Request, DHCP6_Renew, DHCP6_Rebind, DHCP6_Confirm, DHCP6_Release],
)
def test_missing_client_id_is_malformed(message: Any) -> None:
    decision = dhcp6_ask(message(), SERVER_ID, ia_na(VM_EUI64))
    assert_silent(decision, Verdict.DROP, "malformed")


@pytest.mark.parametrize("message", [DHCP6_Advertise, DHCP6_Reply])
def test_server_messages_from_a_vm_are_unexpected(message: Any) -> None:
    decision = dhcp6_ask(message(), CLIENT_ID, SERVER_ID)
    assert_silent(decision, Verdict.DROP, "unexpected")


def test_relay_forward_without_a_message_is_relay_forw_too() -> None:
    """A VM relays nothing (RFC 8415 19): counted as relay-forw, not as malformed."""
    decision = dhcp6_ask(DHCP6_RelayForward(linkaddr=GATEWAY6, peeraddr=VM_LL))
    assert_silent(decision, Verdict.DROP, "relay-forw")


def test_wrong_destination_port_is_malformed() -> None:
    payload = dhcp6_request(DHCP6_Solicit(), CLIENT_ID, ia_na(), dport=548)
    assert_silent(ask(payload, DHCP6_QUEUE), Verdict.DROP, "malformed")


def test_dhcpv6_on_a_bridge() -> None:
    binding = grnet_with("INDEV=br0\n")
    decision = dhcp6_ask(
        DHCP6_Solicit(), CLIENT_ID, ia_na(), binding=binding, indev="br0", physindev=TAP
    )
    assert decision.frames[0].ifname == TAP
    assert_lease(decode_reply6(decision), VM_EUI64)


# --- truncations ---------------------------------------------------------------------

SEEDS: dict[str, tuple[bytes, int]] = {
    "rs": (rs_request(), RS_QUEUE),
    "rs-unspecified": (rs_request(src=UNSPEC6, slla=None), RS_QUEUE),
    "ns-gateway": (ns_request(GATEWAY6), NS_QUEUE),
    "ns-other": (ns_request(OTHER6), NS_QUEUE),
    "ns-dad": (dad_request(VM_EUI64), NS_QUEUE),
    "solicit": (
        dhcp6_request(DHCP6_Solicit(), CLIENT_ID, DHCP6OptElapsedTime(), ia_na(), DHCP6OptOptReq()),
        DHCP6_QUEUE,
    ),
    "solicit-rapid": (
        dhcp6_request(DHCP6_Solicit(), CLIENT_ID, ia_na(), DHCP6OptRapidCommit()),
        DHCP6_QUEUE,
    ),
    "request": (dhcp6_request(DHCP6_Request(), CLIENT_ID, SERVER_ID, ia_na(VM_EUI64)), DHCP6_QUEUE),
    "confirm": (dhcp6_request(DHCP6_Confirm(), CLIENT_ID, ia_na(OFF_LINK6)), DHCP6_QUEUE),
    "decline": (dhcp6_request(DHCP6_Decline(), CLIENT_ID, SERVER_ID, ia_na(VM_EUI64)), DHCP6_QUEUE),
    "info": (dhcp6_request(DHCP6_InfoRequest(), DHCP6OptOptReq(reqopts=[23])), DHCP6_QUEUE),
}
TRUNCATION_SEEDS = pytest.mark.parametrize(("payload", "queue"), SEEDS.values(), ids=SEEDS.keys())


@TRUNCATION_SEEDS
def test_seeds_are_answered(payload: bytes, queue: int) -> None:
    decision = ask(payload, queue)
    if payload is SEEDS["ns-dad"][0]:
        assert_silent(decision, Verdict.ACCEPT, "ns-own")
    else:
        decode_reply6(decision)


@TRUNCATION_SEEDS
def test_every_prefix_is_a_decision(payload: bytes, queue: int) -> None:
    """A cut packet: the IPv6 payload length runs past the end, so all are malformed."""
    for cut in range(len(payload)):
        assert_silent(ask(payload[:cut], queue), Verdict.DROP, "malformed")


@TRUNCATION_SEEDS
def test_every_cut_inside_a_valid_ipv6_header(payload: bytes, queue: int) -> None:
    """The upper layer cut, the IPv6 payload length fixed to match: a Decision each time."""
    answered = 0
    for cut in range(40, len(payload)):
        packet = bytearray(payload[:cut])
        packet[4:6] = (cut - 40).to_bytes(2, "big")
        decision = ask(bytes(packet), queue)
        if decision.frames:
            decode_reply6(decision)
            answered += 1
        else:
            assert decision.verdict in (Verdict.DROP, Verdict.ACCEPT)
    if queue != DHCP6_QUEUE:
        # ND options are in 8-byte units: only the cut before the first option survives.
        assert answered <= 1


# --- properties ------------------------------------------------------------------------

QUEUES = st.sampled_from([RS_QUEUE, NS_QUEUE, DHCP6_QUEUE])


@settings(max_examples=300, deadline=None)
@given(QUEUES, st.binary(max_size=200))
def test_arbitrary_payload(queue: int, payload: bytes) -> None:
    decision = ask(payload, queue)
    assert decision.verdict is Verdict.DROP
    assert decision.frames == ()


@settings(max_examples=300, deadline=None)
@given(QUEUES, st.binary(min_size=40, max_size=200))
def test_arbitrary_ipv6_packet(queue: int, data: bytes) -> None:
    """Arbitrary bytes behind a plausible IPv6 header (version 6, right length, hop 255)."""
    nh = {RS_QUEUE: 58, NS_QUEUE: 58, DHCP6_QUEUE: 17}[queue]
    packet = bytearray(b"\x60" + data[1:])
    packet[4:6] = (len(packet) - 40).to_bytes(2, "big")
    packet[6:8] = bytes((nh, 255))
    decision = ask(bytes(packet), queue)
    if decision.frames:
        decode_reply6(decision)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[bytes, int]:
    payload, queue = draw(st.sampled_from(list(SEEDS.values())))
    data = bytearray(payload)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["set", "set", "insert", "delete"]))
        pos = draw(st.integers(40, len(data) - 1)) if len(data) > 40 else 0
        if kind == "set" and data:
            data[pos] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[pos : pos + draw(st.integers(1, 8))]
    if draw(st.booleans()) and len(data) >= 40:
        data[4:6] = (len(data) - 40).to_bytes(2, "big")  # keep the IPv6 layer consistent
    return bytes(data), draw(st.sampled_from([queue, queue, queue, RS_QUEUE, DHCP6_QUEUE]))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_requests(case: tuple[bytes, int]) -> None:
    payload, queue = case
    decision = ask(payload, queue)
    if decision.frames:
        pkt = decode_reply6(decision)
        if queue == NS_QUEUE:
            assert pkt[IPv6].src == pkt[ICMPv6ND_NA].tgt
        else:
            assert pkt[IPv6].src == TAP_LL


def test_ra_with_very_long_dns_lists_is_still_a_decision() -> None:
    """Lists longer than a binding may hold (the parser refuses them, see
    test_hostile.py), built directly: the RA is still a decision, not an exception."""
    servers = tuple(IPv6Address(f"2001:db8::{i:x}") for i in range(1, 200))
    names = tuple(f"{'n' * 60}{i}.example" for i in range(60))
    binding = dataclasses.replace(grnet_with(""), dns6=servers, search=names)
    pkt = ra_for(binding)
    assert pkt[ICMPv6NDOptRDNSS].dns[0] == "2001:db8::1"


def test_many_ia_nas_are_still_a_decision() -> None:
    """A reassembled 48 KB Solicit of 3000 empty IA_NAs: answering them all would pass
    65535 bytes; those that fit the IPv6 minimum MTU are answered, in one frame."""
    ias = b"".join(bytes(DHCP6OptIA_NA(iaid=i)) for i in range(3000))
    decision = dhcp6_ask(DHCP6_Solicit(), CLIENT_ID, Raw(ias))
    assert decision.verdict is Verdict.DROP
    (frame,) = decision.frames
    assert len(frame.data) - 14 <= 1280
    answered = [code for code, _ in dhcp6_options(frame.data[14 + 40 + 8 + 4 :]) if code == 3]
    assert 20 <= len(answered) < 3000


def test_the_address_goes_in_one_ia_only() -> None:
    """RFC 8415 6.2: an address belongs to one IA; a second IA_NA gets NoAddrsAvail."""
    pkt = dhcp6_answer(DHCP6_Solicit(), CLIENT_ID, ia_na(), DHCP6OptIA_NA(iaid=7))
    first, second = pkt[DHCP6OptIA_NA], pkt[DHCP6OptIA_NA:2]
    assert first.iaid == IAID and isinstance(first.ianaopts[0], DHCP6OptIAAddress)
    assert second.iaid == 7
    assert [o.statuscode for o in second.ianaopts] == [2]  # NoAddrsAvail


def test_solicit_naming_a_server_is_discarded() -> None:
    """RFC 8415 16.2: a Solicit carrying a Server Identifier is discarded."""
    decision = dhcp6_ask(DHCP6_Solicit(), CLIENT_ID, DHCP6OptServerId(duid=SERVER_DUID), ia_na())
    assert decision.verdict is Verdict.DROP
    assert decision.frames == ()


def test_request_from_the_unspecified_address_is_refused() -> None:
    decision = dhcp6_ask(DHCP6_Solicit(), CLIENT_ID, ia_na(), src="::")
    assert (decision.verdict, decision.event, decision.frames) == (Verdict.DROP, "malformed", ())


# --- RFC conformance (issue 11) -------------------------------------------------------


def test_link_local_gateway6_prefix_is_the_subnet_and_the_ra_comes_from_it() -> None:
    """RFC 4861 4.6.2 / 6.1.2: with GATEWAY6=fe80::1 the Prefix Information option
    carries SUBNET6 (no R flag) and the RA comes from fe80::1, the VM's default router."""
    pkt = ra_for(grnet_with("GATEWAY6=fe80::1\n"))
    assert pkt[IPv6].src == "fe80::1"
    info = pkt[ICMPv6NDOptPrefixInfo]
    assert (info.prefix, info.prefixlen, info.R, info.A) == ("2001:db8:aaaa:bbbb::", 64, 0, 1)


def test_unsolicited_ra_comes_from_a_link_local_gateway6() -> None:
    frame = reply6.unsolicited_ra(grnet_with("GATEWAY6=fe80::1\n"), V6_CONFIG, TAP_MAC)
    assert frame is not None
    assert decode_frame6(frame.data)[IPv6].src == "fe80::1"


@pytest.mark.parametrize(("mtu", "sent"), [(1279, False), (1280, True), (1000, False)])
def test_no_mtu_option_below_the_ipv6_minimum(mtu: int, sent: bool) -> None:
    """RFC 8200 5: IPv6 links have an MTU of at least 1280 (hosts ignore less)."""
    pkt = ra_for(grnet_with(f"MTU={mtu}\n"))
    assert (ICMPv6NDOptMTU in pkt) == sent


@pytest.mark.parametrize("queue", [RS_QUEUE, NS_QUEUE])
def test_bad_icmpv6_checksum_is_its_own_event(queue: int) -> None:
    """RFC 4861 6.1.1 / 7.1.1: 'ICMP Checksum is valid', else silently discarded."""
    data = bytearray(rs_request() if queue == RS_QUEUE else ns_request(GATEWAY6))
    data[42] ^= 0xFF
    assert_silent(ask(bytes(data), queue), Verdict.DROP, "bad-checksum")


@pytest.mark.parametrize("value", [b"\0\0", b"\x12\x34"])
def test_bad_or_zero_udp6_checksum_is_its_own_event(value: bytes) -> None:
    """RFC 8200 8.1: the UDP checksum is mandatory over IPv6; zero is discarded too."""
    data = bytearray(dhcp6_request(DHCP6_InfoRequest(), CLIENT_ID))
    data[46:48] = value
    assert_silent(ask(bytes(data), DHCP6_QUEUE), Verdict.DROP, "bad-checksum")


def test_relay_forward_has_its_own_event() -> None:
    relay = DHCP6_RelayForward(peeraddr=VM_LL) / DHCP6OptRelayMsg(message=DHCP6_Solicit())
    assert_silent(dhcp6_ask(relay), Verdict.DROP, "relay-forw")


@pytest.mark.parametrize(
    "message", [DHCP6_Solicit(), DHCP6_Confirm(), DHCP6_Rebind(), DHCP6_InfoRequest()], ids=str
)
def test_unicast_solicit_confirm_rebind_inforeq_discarded(message: Any) -> None:
    """RFC 8415 16: discarded when sent to a unicast address."""
    payload = dhcp6_request(message, CLIENT_ID, ia_na(VM_EUI64), dst=TAP_LL)
    if isinstance(message, DHCP6_InfoRequest):
        payload = dhcp6_request(message, CLIENT_ID, dst=TAP_LL)
    assert_silent(ask(payload, DHCP6_QUEUE), Verdict.DROP, "discarded")


@pytest.mark.parametrize(
    "message", [DHCP6_Request(), DHCP6_Renew(), DHCP6_Release(), DHCP6_Decline()], ids=str
)
def test_unicast_request_renew_release_decline_get_use_multicast(message: Any) -> None:
    """RFC 8415 18.4: a Reply with UseMulticast, the two identifiers, nothing else."""
    payload = dhcp6_request(message, CLIENT_ID, SERVER_ID, ia_na(), dst=TAP_LL)
    pkt = decode_reply6(ask(payload, DHCP6_QUEUE))
    codes = [c for c, _ in dhcp6_options(bytes(pkt[UDP].payload)[4:])]
    assert codes == [2, 1, 13]
    assert pkt[DHCP6OptStatusCode].statuscode == 5  # UseMulticast


def test_information_request_with_an_ia_is_discarded() -> None:
    """RFC 8415 16.12."""
    decision = dhcp6_ask(DHCP6_InfoRequest(), CLIENT_ID, ia_na())
    assert_silent(decision, Verdict.DROP, "discarded")


def test_ia_pd_gets_no_prefix_avail() -> None:
    """RFC 8415 18.3.9: no prefix is delegated: the IA_PD comes back with NoPrefixAvail."""
    pkt = dhcp6_answer(DHCP6_Solicit(), CLIENT_ID, ia_na(), DHCP6OptIA_PD(iaid=9))
    assert_lease(pkt, VM_EUI64)
    pd = pkt[DHCP6OptIA_PD]
    assert pd.iaid == 9
    assert [o.statuscode for o in pd.iapdopt] == [6]


def test_ia_ta_only_gets_top_level_no_addrs_avail() -> None:
    """RFC 8415 18.3.9: no address for any IA: only NoAddrsAvail and the identifiers."""
    pkt = dhcp6_answer(DHCP6_Solicit(), CLIENT_ID, DHCP6OptIA_TA(iaid=4))
    codes = [c for c, _ in dhcp6_options(bytes(pkt[UDP].payload)[4:])]
    assert codes == [2, 1, 13]
    assert pkt[DHCP6OptStatusCode].statuscode == 2


def test_request_with_an_off_link_address_gets_not_on_link() -> None:
    """RFC 8415 18.3.2: the IA comes back with NotOnLink; the next IA gets the address."""
    pkt = dhcp6_answer(DHCP6_Request(), CLIENT_ID, SERVER_ID, ia_na(OFF_LINK6), ia_na(iaid=2))
    first, second = [o for o in pkt[UDP].payload.iterpayloads() if isinstance(o, DHCP6OptIA_NA)]
    assert [o.statuscode for o in first.ianaopts] == [4]  # NotOnLink
    assert [o.addr for o in second.ianaopts] == [VM_EUI64]


def test_every_ia_na_is_answered() -> None:
    """RFC 8415 18.3.9: each IA gets an answer, the address in the first only."""
    ias = [ia_na(iaid=i) for i in range(1, 7)]
    pkt = dhcp6_answer(DHCP6_Solicit(), CLIENT_ID, *ias)
    got = [o for o in pkt[UDP].payload.iterpayloads() if isinstance(o, DHCP6OptIA_NA)]
    assert [ia.iaid for ia in got] == list(range(1, 7))
    assert [o.addr for o in got[0].ianaopts] == [VM_EUI64]
    assert all([o.statuscode for o in ia.ianaopts] == [2] for ia in got[1:])
