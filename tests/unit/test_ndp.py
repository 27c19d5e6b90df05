"""ndp.py: Router and Neighbor Solicitations parsed, RAs and NAs built, scapy as oracle."""

from __future__ import annotations

import contextlib
import socket
import struct
from ipaddress import IPv6Address, IPv6Network
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet6 import (
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6ND_RA,
    ICMPv6ND_RS,
    ICMPv6NDOptDNSSL,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptMTU,
    ICMPv6NDOptPrefixInfo,
    ICMPv6NDOptRDNSS,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
)
from scapy.packet import Raw
from scapy.utils6 import in6_getnsma, in6_getnsmac, in6_mactoifaceid

from nfdhcpd.core import ndp
from nfdhcpd.core.cursor import Cursor
from nfdhcpd.core.errors import MalformedPacket
from nfdhcpd.core.frames import Ip6, IPProto, build_icmp6, parse_ipv6, upper_checksum6
from nfdhcpd.core.ndp import NdOption, Prefix

from ..helpers.builders import dad_request, ns_request, rs_request, solicited_node6
from ..helpers.decode import assert_checksum6
from ..helpers.samples import (
    GATEWAY6,
    SUBNET6,
    TAP_LL,
    TAP_MAC,
    TAP_MAC_TEXT,
    UNSPEC6,
    VM_EUI64,
    VM_LL,
    VM_MAC,
    VM_MAC_TEXT,
)

# --- address helpers ---------------------------------------------------------------


@pytest.mark.parametrize(
    "mac", [VM_MAC_TEXT, TAP_MAC_TEXT, "00:00:00:00:00:00", "fe:ff:ff:12:34:56"]
)
def test_interface_id_and_link_local_match_scapy(mac: str) -> None:
    raw = bytes.fromhex(mac.replace(":", ""))
    iid = IPv6Address("::" + in6_mactoifaceid(mac)).packed[8:]
    assert ndp.interface_id(raw) == iid
    assert ndp.link_local(raw) == IPv6Address("fe80::").packed[:8] + iid


def test_link_local_by_hand() -> None:
    assert IPv6Address(ndp.link_local(TAP_MAC)) == IPv6Address(TAP_LL)
    assert IPv6Address(ndp.link_local(VM_MAC)) == IPv6Address(VM_LL)


def test_eui64_address_is_grnet_sample() -> None:
    assert ndp.eui64_address(IPv6Network(SUBNET6), VM_MAC) == IPv6Address(VM_EUI64)


@pytest.mark.parametrize("address", [GATEWAY6, VM_EUI64, "fe80::1", "::", "2001:db8::ab:cdef"])
def test_solicited_node_and_multicast_mac_match_scapy(address: str) -> None:
    packed = socket.inet_pton(socket.AF_INET6, address)
    group = ndp.solicited_node(IPv6Address(address))
    assert group == in6_getnsma(packed)
    assert IPv6Address(group) == IPv6Address(solicited_node6(address))
    assert ndp.multicast_mac(group).hex(":") == in6_getnsmac(group)


def test_all_nodes_mac() -> None:
    assert ndp.multicast_mac(ndp.ALL_NODES) == bytes.fromhex("333300000001")


# --- parse_rs ----------------------------------------------------------------------


def test_parse_rs_fields() -> None:
    rs = ndp.parse_rs(parse_ipv6(rs_request()))
    assert IPv6Address(rs.src) == IPv6Address(VM_LL)
    assert IPv6Address(rs.dst) == IPv6Address("ff02::2")
    assert rs.target == b""
    assert rs.options == {NdOption.SOURCE_LLADDR: VM_MAC}


def test_parse_rs_without_options() -> None:
    rs = ndp.parse_rs(parse_ipv6(rs_request(src=UNSPEC6, slla=None)))
    assert (rs.src, rs.options) == (bytes(16), {})


def test_parse_rs_first_option_of_a_kind_wins_and_unknown_kept() -> None:
    packet = bytes(
        IPv6(src=VM_LL, dst="ff02::2", hlim=255)
        / ICMPv6ND_RS()
        / ICMPv6NDOptSrcLLAddr(lladdr=VM_MAC_TEXT)
        / ICMPv6NDOptSrcLLAddr(lladdr=TAP_MAC_TEXT)
        / Raw(bytes((200, 2)) + bytes(14))  # an unknown 16-byte option: skipped over
    )
    rs = ndp.parse_rs(parse_ipv6(packet))
    assert rs.options == {1: VM_MAC, 200: bytes(14)}


BAD_RS = {
    "hop-limit-64": (rs_request(hlim=64), "ipv6.hop_limit"),
    "hop-limit-254": (rs_request(hlim=254), "ipv6.hop_limit"),
    "slla-from-unspecified": (rs_request(src=UNSPEC6), "nd.option1"),
    "code-1": (bytes(IPv6(hlim=255) / ICMPv6ND_RS(code=1)), "icmpv6.type"),
    "an-ns": (ns_request(GATEWAY6), "icmpv6.type"),
    "udp": (bytes(IPv6(nh=17, hlim=255) / Raw(bytes(8))), "ipv6.next_header"),
    "short": (bytes(IPv6(nh=58, hlim=255) / Raw(b"\x85\x00\x00\x00\x00\x00\x00")), "icmpv6"),
    "option-length-0": (rs_request(slla=None) + b"\x01\x00" + bytes(6), "nd.option1.length"),
    "option-past-end": (rs_request(slla=None) + b"\x01\x02" + bytes(6), "nd.option1.length"),
    "option-header-cut": (rs_request(slla=None) + b"\x01", "nd.option"),
}


@pytest.mark.parametrize(("packet", "field"), BAD_RS.values(), ids=BAD_RS.keys())
def test_parse_rs_rejects(packet: bytes, field: str) -> None:
    data = bytearray(packet)
    struct.pack_into("!H", data, 4, len(data) - 40)  # payload length covers what we appended
    with pytest.raises(MalformedPacket) as err:
        ndp.parse_rs(parse_ipv6(bytes(data)))
    assert err.value.field == field


# --- parse_ns ----------------------------------------------------------------------


def test_parse_ns_fields() -> None:
    ns = ndp.parse_ns(parse_ipv6(ns_request(GATEWAY6)))
    assert IPv6Address(ns.src) == IPv6Address(VM_LL)
    assert IPv6Address(ns.dst) == IPv6Address("ff02::1:ff00:1")
    assert IPv6Address(ns.target) == IPv6Address(GATEWAY6)
    assert ns.options == {NdOption.SOURCE_LLADDR: VM_MAC}


def test_parse_ns_unicast() -> None:
    ns = ndp.parse_ns(parse_ipv6(ns_request(GATEWAY6, src=VM_EUI64, dst=GATEWAY6)))
    assert IPv6Address(ns.dst) == IPv6Address(GATEWAY6)


def test_parse_ns_dad() -> None:
    ns = ndp.parse_ns(parse_ipv6(dad_request(VM_EUI64)))
    assert ns.src == bytes(16)
    assert IPv6Address(ns.dst) == IPv6Address("ff02::1:ff22:3344")
    assert IPv6Address(ns.target) == IPv6Address(VM_EUI64)
    assert ns.options == {}


def _ns_from_unspecified_with_slla() -> bytes:
    return bytes(
        IPv6(src=UNSPEC6, dst=solicited_node6(VM_EUI64), hlim=255)
        / ICMPv6ND_NS(tgt=VM_EUI64)
        / ICMPv6NDOptSrcLLAddr(lladdr=VM_MAC_TEXT)
    )


BAD_NS = {
    "hop-limit-1": (ns_request(GATEWAY6, hlim=1), "ipv6.hop_limit"),
    "multicast-target": (ns_request("ff02::1", dst="ff02::1"), "ns.target"),
    "dad-to-all-nodes": (
        dad_request(VM_EUI64).replace(
            IPv6Address(solicited_node6(VM_EUI64)).packed, IPv6Address("ff02::1").packed
        ),
        "ipv6.dst",
    ),
    "dad-with-slla": (_ns_from_unspecified_with_slla(), "nd.option1"),
    "short-target": (bytes(IPv6(hlim=255) / ICMPv6ND_NS())[:-1], "icmpv6"),
    "an-na": (bytes(IPv6(hlim=255) / ICMPv6ND_NA(tgt=GATEWAY6)), "icmpv6.type"),
    "option-length-0": (
        ns_request(GATEWAY6, slla=None) + b"\x0e\x00" + bytes(6),
        "nd.option14.length",
    ),
}


@pytest.mark.parametrize(("packet", "field"), BAD_NS.values(), ids=BAD_NS.keys())
def test_parse_ns_rejects(packet: bytes, field: str) -> None:
    data = bytearray(packet)
    struct.pack_into("!H", data, 4, len(data) - 40)
    with pytest.raises(MalformedPacket) as err:
        ndp.parse_ns(parse_ipv6(bytes(data)))
    assert err.value.field == field


# --- truncations -------------------------------------------------------------------

SOLICITATIONS = {
    "rs": (ndp.parse_rs, rs_request()),
    "rs-unspecified": (ndp.parse_rs, rs_request(src=UNSPEC6, slla=None)),
    "ns": (ndp.parse_ns, ns_request(GATEWAY6)),
    "ns-dad": (ndp.parse_ns, dad_request(VM_EUI64)),
}


@pytest.mark.parametrize(("parse", "packet"), SOLICITATIONS.values(), ids=SOLICITATIONS.keys())
def test_every_prefix_parses_or_is_malformed(parse: Any, packet: bytes) -> None:
    parse(parse_ipv6(packet))
    for cut in range(len(packet)):
        with pytest.raises(MalformedPacket):
            parse(parse_ipv6(packet[:cut]))


@pytest.mark.parametrize(("parse", "packet"), SOLICITATIONS.values(), ids=SOLICITATIONS.keys())
def test_every_cut_of_the_icmpv6_message(parse: Any, packet: bytes) -> None:
    """Truncated inside a consistent IPv6 header (checksum recomputed for the cut):
    only cuts at an option boundary parse."""
    full = parse_ipv6(packet)
    fixed = 8 if parse is ndp.parse_rs else 24
    for cut in range(len(full.payload)):
        message = bytearray(full.payload[:cut])
        if cut >= 4:
            message[2:4] = b"\0\0"
            csum = upper_checksum6(full.src, full.dst, IPProto.ICMPV6, bytes(message))
            message[2:4] = csum.to_bytes(2, "big")
        ip = Ip6(full.src, full.dst, full.next_header, 255, bytes(message))
        if cut >= fixed and (cut - fixed) % 8 == 0:
            assert parse(ip).src == full.src
        else:
            with pytest.raises(MalformedPacket):
                parse(ip)


# --- build_ra ----------------------------------------------------------------------

NETWORK = IPv6Network(SUBNET6)
DNS = (IPv6Address("2001:db8:100::1"), IPv6Address("2001:db8:200::2"))


def ra(**changes: Any) -> Any:
    """build_ra with full arguments, wrapped by build_icmp6, decoded by scapy."""
    args: dict[str, Any] = {
        "mac": TAP_MAC,
        "managed": False,
        "other": True,
        "router_lifetime": 900,
        "prefixes": [Prefix(NETWORK, True, 2592000, 604800, IPv6Address(GATEWAY6))],
        "mtu": 1400,
        "dns": DNS,
        "domains": ["example.com", "example.org"],
        "dns_lifetime": 900,
    }
    args.update(changes)
    message = ndp.build_ra(**args)
    assert len(message) % 8 == 0
    assert message[2:4] == b"\0\0", "the checksum is left to build_icmp6"
    packet = build_icmp6(ndp.link_local(TAP_MAC), ndp.ALL_NODES, 255, message)
    assert_checksum6(packet)
    return IPv6(packet)


def test_build_ra_every_field() -> None:
    pkt = ra()
    adv = pkt[ICMPv6ND_RA]
    assert (adv.type, adv.code, adv.chlim, adv.M, adv.O, adv.H, adv.prf, adv.P) == (
        134,
        0,
        64,
        0,
        1,
        0,
        0,
        0,
    )
    assert (adv.routerlifetime, adv.reachabletime, adv.retranstimer) == (900, 0, 0)
    assert pkt[ICMPv6NDOptSrcLLAddr].lladdr == TAP_MAC_TEXT
    assert pkt[ICMPv6NDOptMTU].mtu == 1400
    info = pkt[ICMPv6NDOptPrefixInfo]
    assert (info.len, info.prefixlen, info.L, info.A, info.R) == (4, 64, 1, 1, 1)
    assert (info.validlifetime, info.preferredlifetime) == (2592000, 604800)
    assert info.prefix == GATEWAY6  # RFC 6275 7.2: with R, the router's full address
    rdnss = pkt[ICMPv6NDOptRDNSS]
    assert (rdnss.len, rdnss.lifetime, rdnss.dns) == (5, 900, [str(a) for a in DNS])
    dnssl = pkt[ICMPv6NDOptDNSSL]
    assert dnssl.lifetime == 900
    assert dnssl.searchlist == ["example.com.", "example.org."]


def test_build_ra_option_order_and_lengths_by_hand() -> None:
    message = ndp.build_ra(
        mac=TAP_MAC,
        managed=True,
        other=True,
        router_lifetime=0,
        prefixes=[Prefix(NETWORK, False, 10, 5)],
        mtu=1280,
        dns=DNS[:1],
        domains=["a.example"],
        dns_lifetime=12,
    )
    assert message[:16] == bytes((134, 0, 0, 0, 64, 0xC0, 0, 0)) + bytes(8)
    kinds = []
    pos = 16
    while pos < len(message):
        kinds.append((message[pos], message[pos + 1]))
        pos += message[pos + 1] * 8
    assert pos == len(message)
    # SLLA 1 unit, MTU 1, prefix 4, RDNSS 1+2, DNSSL: 8 + 11 bytes -> 3 units.
    assert kinds == [(1, 1), (5, 1), (3, 4), (25, 3), (31, 3)]
    prefix = message[32:64]
    assert prefix[2:4] == bytes((64, 0x80))  # L only: no A, no R
    assert prefix[16:] == NETWORK.network_address.packed


@pytest.mark.parametrize(("managed", "other"), [(False, False), (False, True), (True, True)])
def test_build_ra_flags(managed: bool, other: bool) -> None:
    adv = ra(managed=managed, other=other)[ICMPv6ND_RA]
    flags = (adv.M, adv.O)
    assert flags == (managed, other)


def test_build_ra_minimal() -> None:
    pkt = ra(prefixes=[], mtu=None, dns=(), domains=(), router_lifetime=0)
    assert pkt[ICMPv6ND_RA].routerlifetime == 0
    assert pkt[ICMPv6NDOptSrcLLAddr].lladdr == TAP_MAC_TEXT
    for layer in (ICMPv6NDOptMTU, ICMPv6NDOptPrefixInfo, ICMPv6NDOptRDNSS, ICMPv6NDOptDNSSL):
        assert layer not in pkt
    assert len(bytes(pkt[ICMPv6ND_RA])) == 16 + 8


def test_build_ra_prefix_without_router_address() -> None:
    info = ra(prefixes=[Prefix(IPv6Network("2001:db8::/48"), False, 7, 3)])[ICMPv6NDOptPrefixInfo]
    assert (info.prefixlen, info.L, info.A, info.R) == (48, 1, 0, 0)
    assert (info.validlifetime, info.preferredlifetime, info.prefix) == (7, 3, "2001:db8::")


def test_build_ra_parses_back_as_nd() -> None:
    """Our own option walker accepts what we build (RS options use the same format)."""
    message = ndp.build_ra(
        mac=TAP_MAC, managed=False, other=False, router_lifetime=1, prefixes=[],
        mtu=1500, dns=DNS, domains=["x.example"], dns_lifetime=3,
    )  # fmt: skip
    options = ndp._pull_options(Cursor(message, 40, 16), unspecified=False)
    assert set(options) == {1, 5, 25, 31}
    assert options[1] == TAP_MAC


# --- build_na ----------------------------------------------------------------------


@pytest.mark.parametrize("router", [False, True])
@pytest.mark.parametrize("solicited", [False, True])
@pytest.mark.parametrize("override", [False, True])
def test_build_na(router: bool, solicited: bool, override: bool) -> None:
    target = IPv6Address(GATEWAY6).packed
    message = ndp.build_na(
        target=target, mac=TAP_MAC, router=router, solicited=solicited, override=override
    )
    assert len(message) == 32
    packet = build_icmp6(target, IPv6Address(VM_LL).packed, 255, message)
    assert_checksum6(packet)
    pkt = IPv6(packet)
    na = pkt[ICMPv6ND_NA]
    assert (na.type, na.code, na.res) == (136, 0, 0)
    flags = (na.R, na.S, na.O)
    assert flags == (router, solicited, override)
    assert na.tgt == GATEWAY6
    assert pkt[ICMPv6NDOptDstLLAddr].lladdr == TAP_MAC_TEXT
    assert pkt[ICMPv6NDOptDstLLAddr].len == 1


# --- properties --------------------------------------------------------------------

addresses16 = st.one_of(
    st.binary(min_size=16, max_size=16),
    st.sampled_from([bytes(16), IPv6Address(VM_LL).packed, IPv6Address("ff02::1:ff00:1").packed]),
)


@st.composite
def icmp6(draw: st.DrawFn) -> Ip6:
    kind = draw(st.sampled_from([133, 135]) | st.integers(0, 255))
    body = bytes((kind, draw(st.sampled_from([0, 0, 1])))) + draw(st.binary(max_size=80))
    return Ip6(
        draw(addresses16),
        draw(addresses16),
        draw(st.sampled_from([58, 58, 17, 0])),
        draw(st.sampled_from([255, 255, 64])),
        body,
    )


@settings(max_examples=400, deadline=None)
@given(icmp6())
def test_parse_rs_ns_arbitrary(ip: Ip6) -> None:
    for parse in (ndp.parse_rs, ndp.parse_ns):
        try:
            sol = parse(ip)
        except MalformedPacket:
            continue
        assert ip.hop_limit == 255 and ip.next_header == IPProto.ICMPV6
        assert len(sol.target) in (0, 16)
        for value in sol.options.values():
            assert len(value) % 8 == 6


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=120))
def test_parse_rs_ns_arbitrary_bytes(data: bytes) -> None:
    for parse in (ndp.parse_rs, ndp.parse_ns):
        with contextlib.suppress(MalformedPacket):
            parse(parse_ipv6(b"\x60" + data))


@settings(max_examples=150, deadline=None)
@given(
    st.booleans(),
    st.booleans(),
    st.integers(0, 65535),
    st.integers(0, 128),
    st.none() | st.integers(1280, 65535),
    st.lists(st.ip_addresses(v=6), max_size=5),
    st.lists(st.from_regex(r"[a-z]{1,20}(\.[a-z0-9]{1,10}){0,3}", fullmatch=True), max_size=4),
    st.integers(0, 2**32 - 1),
)
def test_build_ra_decodes_as_built(
    managed: bool,
    other: bool,
    lifetime: int,
    prefixlen: int,
    mtu: int | None,
    dns: list[IPv6Address],
    domains: list[str],
    dns_lifetime: int,
) -> None:
    network = IPv6Network(f"2001:db8::/{prefixlen}", strict=False)
    pkt = ra(
        managed=managed,
        other=other,
        router_lifetime=lifetime,
        prefixes=[Prefix(network, True, 20, 10)],
        mtu=mtu,
        dns=dns,
        domains=domains,
        dns_lifetime=dns_lifetime,
    )
    adv = pkt[ICMPv6ND_RA]
    assert (adv.M, adv.O, adv.routerlifetime) == (managed, other, lifetime)
    assert pkt[ICMPv6NDOptPrefixInfo].prefixlen == prefixlen
    assert (ICMPv6NDOptMTU in pkt) == (mtu is not None)
    if mtu is not None:
        assert pkt[ICMPv6NDOptMTU].mtu == mtu
    if dns:
        assert [IPv6Address(a) for a in pkt[ICMPv6NDOptRDNSS].dns] == dns
        assert pkt[ICMPv6NDOptRDNSS].lifetime == dns_lifetime
    else:
        assert ICMPv6NDOptRDNSS not in pkt
    if domains:
        assert pkt[ICMPv6NDOptDNSSL].searchlist == [d + "." for d in domains]
    else:
        assert ICMPv6NDOptDNSSL not in pkt


def test_ns_built_by_scapy_round_trips_target() -> None:
    for target in (GATEWAY6, VM_EUI64, TAP_LL):
        ns = ndp.parse_ns(parse_ipv6(bytes(IPv6(hlim=255) / ICMPv6ND_NS(tgt=target))))
        assert IPv6Address(ns.target) == IPv6Address(target)


def _layers(pkt: Any, layer: Any) -> list[Any]:
    found: list[Any] = []
    while (item := pkt.getlayer(layer, nb=len(found) + 1)) is not None:
        found.append(item)
    return found


def test_build_ra_long_lists_split_into_several_options() -> None:
    """An ND option is at most 255 x 8 bytes: 130 servers or 40 long names need several."""
    dns = [IPv6Address(f"2001:db8::{i:x}") for i in range(1, 131)]
    domains = [f"{'d' * 60}{i}.example" for i in range(40)]
    pkt = ra(dns=dns, domains=domains, dns_lifetime=600)
    rdnss = _layers(pkt, ICMPv6NDOptRDNSS)
    assert len(rdnss) == 2
    assert [IPv6Address(a) for opt in rdnss for a in opt.dns] == dns
    assert all(opt.lifetime == 600 for opt in rdnss)
    dnssl = _layers(pkt, ICMPv6NDOptDNSSL)
    assert len(dnssl) >= 2
    assert [n for opt in dnssl for n in opt.searchlist] == [d + "." for d in domains]
    assert all(opt.lifetime == 600 for opt in dnssl)
