"""frames.py, IPv6 part: parse the IPv6 packets NFQUEUE hands us, build ICMPv6 and UDP."""

from __future__ import annotations

import struct
from ipaddress import IPv6Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6, IPv6ExtHdrHopByHop, in6_chksum
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from nfdhcpd.core.errors import MalformedPacket
from nfdhcpd.core.frames import (
    EtherType,
    Ip6,
    IPProto,
    build_ether,
    build_icmp6,
    build_ipv6,
    build_udp6,
    parse_ipv6,
    parse_udp6,
    upper_checksum6,
)

from ..helpers.decode import assert_checksum6, decode_frame6
from ..helpers.samples import TAP_MAC, VM_LL, VM_MAC

SRC = IPv6Address("fe80::1").packed
DST = IPv6Address("2001:db8::2").packed


def udp6_packet(payload: bytes = b"hello", sport: int = 546, dport: int = 547) -> bytes:
    return bytes(IPv6(src=VM_LL, dst="ff02::1:2") / UDP(sport=sport, dport=dport) / Raw(payload))


def _patched(packet: bytes, offset: int, fmt: str, value: int) -> bytes:
    data = bytearray(packet)
    struct.pack_into(fmt, data, offset, value)
    return bytes(data)


# --- parse_ipv6 --------------------------------------------------------------------


def test_parse_ipv6_fields() -> None:
    packet = bytes(IPv6(src=VM_LL, dst="ff02::2", hlim=255, tc=5, fl=77) / Raw(b"abcdef"))
    parsed = parse_ipv6(packet)
    assert parsed == Ip6(
        src=IPv6Address(VM_LL).packed,
        dst=IPv6Address("ff02::2").packed,
        next_header=59,  # scapy's "no next header" for a raw payload
        hop_limit=255,
        payload=b"abcdef",
    )


def test_parse_ipv6_ignores_link_padding() -> None:
    assert parse_ipv6(udp6_packet(b"xy") + bytes(30)).payload == udp6_packet(b"xy")[40:]


def test_parse_ipv6_extension_header_is_next_header_not_skipped() -> None:
    """No extension headers are expected: the next header is reported as it is."""
    packet = bytes(IPv6(src=VM_LL, dst="ff02::2") / IPv6ExtHdrHopByHop() / UDP() / Raw(b"x"))
    parsed = parse_ipv6(packet)
    assert parsed.next_header == 0
    with pytest.raises(MalformedPacket) as err:
        parse_udp6(parsed)
    assert err.value.field == "ipv6.next_header"


BAD_IPV6 = {
    "empty": (b"", "ipv6.header"),
    "39-bytes": (udp6_packet()[:39], "ipv6.header"),
    "ipv4": (b"\x45" + bytes(59), "ipv6.version"),
    "version-0": (bytes(40), "ipv6.version"),
    "plen-past-end": (_patched(udp6_packet(), 4, "!H", 14), "ipv6.payload_length"),
    "plen-one-too-many": (udp6_packet()[:-1], "ipv6.payload_length"),
}


@pytest.mark.parametrize(("packet", "field"), BAD_IPV6.values(), ids=BAD_IPV6.keys())
def test_parse_ipv6_rejects(packet: bytes, field: str) -> None:
    with pytest.raises(MalformedPacket) as err:
        parse_ipv6(packet)
    assert err.value.field == field


def test_parse_ipv6_zero_payload() -> None:
    packet = bytes(IPv6(src=VM_LL, dst="ff02::2", nh=59))
    assert len(packet) == 40
    assert parse_ipv6(packet).payload == b""


def test_parse_ipv6_every_prefix() -> None:
    packet = udp6_packet(b"0123456789")
    for cut in range(len(packet)):
        with pytest.raises(MalformedPacket):
            parse_ipv6(packet[:cut])
    assert parse_ipv6(packet).payload == packet[40:]


# --- parse_udp6 --------------------------------------------------------------------


def test_parse_udp6_fields() -> None:
    assert parse_udp6(parse_ipv6(udp6_packet(b"dhcp", 1000, 547))) == (1000, 547, b"dhcp")


def test_parse_udp6_udp_length_bounds_the_payload() -> None:
    packet = _patched(_patched(udp6_packet(b"abcdef"), 44, "!H", 8 + 2), 46, "!H", 0)
    ip = parse_ipv6(packet)
    # The checksum covers the UDP length's bytes only (RFC 8200 8.1).
    csum = upper_checksum6(ip.src, ip.dst, 17, ip.payload[:10])
    assert parse_udp6(parse_ipv6(_patched(packet, 46, "!H", csum))) == (546, 547, b"ab")


BAD_UDP6 = {
    "icmpv6": (bytes(IPv6() / ICMPv6EchoRequest()), "ipv6.next_header"),
    "short-header": (bytes(IPv6(nh=17) / Raw(b"1234567")), "udp.header"),
    "ulen-below-8": (_patched(udp6_packet(), 44, "!H", 7), "udp.length"),
    "ulen-past-end": (_patched(udp6_packet(b"ab"), 44, "!H", 11), "udp.length"),
}


@pytest.mark.parametrize(("packet", "field"), BAD_UDP6.values(), ids=BAD_UDP6.keys())
def test_parse_udp6_rejects(packet: bytes, field: str) -> None:
    with pytest.raises(MalformedPacket) as err:
        parse_udp6(parse_ipv6(packet))
    assert err.value.field == field


def test_parse_udp6_truncated_inside_valid_ipv6() -> None:
    """Every cut of the UDP datagram, with the IPv6 payload length kept consistent."""
    udp = udp6_packet(b"payload")[40:]
    for cut in range(len(udp)):
        with pytest.raises(MalformedPacket):
            parse_udp6(Ip6(SRC, DST, IPProto.UDP, 64, udp[:cut]))


# --- building ----------------------------------------------------------------------


def test_upper_checksum6_matches_scapy() -> None:
    ip = IPv6(src="fe80::1", dst="2001:db8::2")
    for data in (b"", b"\x01", b"\x80\x00\x00\x00abc", bytes(range(256))):
        assert upper_checksum6(SRC, DST, 58, data) == in6_chksum(58, ip, data)
        assert upper_checksum6(SRC, DST, 17, data) == in6_chksum(17, ip, data)


def test_build_ipv6_decoded_by_scapy() -> None:
    packet = build_ipv6(SRC, DST, IPProto.UDP, 7, b"xyz")
    ip = IPv6(packet)
    assert (ip.version, ip.tc, ip.fl, ip.plen, ip.nh, ip.hlim) == (6, 0, 0, 3, 17, 7)
    assert (ip.src, ip.dst) == ("fe80::1", "2001:db8::2")
    assert bytes(ip.payload) == b"xyz"
    assert parse_ipv6(packet) == Ip6(SRC, DST, 17, 7, b"xyz")


def test_build_icmp6_checksum_and_fields() -> None:
    message = bytes((128, 0, 0, 0)) + b"\x12\x34\x00\x01hello"  # an echo request
    packet = build_icmp6(SRC, DST, 255, message)
    assert_checksum6(packet)
    ip = IPv6(packet)
    assert (ip.nh, ip.hlim, ip.plen) == (58, 255, len(message))
    echo = ip[ICMPv6EchoRequest]
    assert (echo.id, echo.seq, echo.data) == (0x1234, 1, b"hello")
    # Only the checksum field was filled in.
    assert packet[40:42] + packet[44:] == message[:2] + message[4:]


@pytest.mark.parametrize("payload", [b"", b"a", b"dhcpv6 payload", bytes(1000)])
def test_build_udp6_decoded_by_scapy(payload: bytes) -> None:
    packet = build_udp6(SRC, DST, 547, 546, payload)
    assert_checksum6(packet)
    ip = IPv6(packet)
    assert (ip.nh, ip.hlim, ip.plen) == (17, 64, 8 + len(payload))
    udp = ip[UDP]
    assert (udp.sport, udp.dport, udp.len) == (547, 546, 8 + len(payload))
    assert parse_udp6(parse_ipv6(packet)) == (547, 546, payload)


def test_build_udp6_never_sends_a_zero_checksum() -> None:
    """RFC 8200 8.1: a computed zero is sent as 0xffff (zero means none, illegal in IPv6)."""
    header = struct.pack("!HHHH", 547, 546, 10, 0)
    # A payload word equal to the checksum without it makes the sum all ones: checksum 0.
    payload = struct.pack("!H", upper_checksum6(SRC, DST, 17, header + b"\0\0"))
    assert upper_checksum6(SRC, DST, 17, header + payload) == 0
    packet = build_udp6(SRC, DST, 547, 546, payload)
    assert packet[46:48] == b"\xff\xff"
    assert_checksum6(packet)


def test_build_ether_ipv6() -> None:
    # A DHCPv6 Reply header (type 7, transaction id): tshark decodes every frame here.
    packet = build_udp6(SRC, DST, 547, 546, b"\x07abc")
    frame = build_ether(VM_MAC, TAP_MAC, EtherType.IPV6, packet)
    pkt = decode_frame6(frame)
    assert (pkt.dst, pkt.src, pkt.type) == ("aa:6b:39:22:33:44", "02:00:00:00:00:fe", 0x86DD)
    assert bytes(pkt[IPv6]) == packet
    assert Ether(frame)[UDP].dport == 546


# --- properties --------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_parse_ipv6_arbitrary(data: bytes) -> None:
    try:
        ip = parse_ipv6(data)
    except MalformedPacket:
        return
    assert len(ip.src) == len(ip.dst) == 16
    assert ip.payload == data[40 : 40 + len(ip.payload)]


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=40, max_size=120).map(lambda d: b"\x60" + d[1:]))
def test_parse_ipv6_and_udp6_arbitrary_version_6(data: bytes) -> None:
    try:
        sport, dport, payload = parse_udp6(parse_ipv6(data))
    except MalformedPacket:
        return
    assert 0 <= sport <= 65535 and 0 <= dport <= 65535
    assert len(payload) <= len(data) - 48


@settings(max_examples=200, deadline=None)
@given(
    st.binary(min_size=16, max_size=16),
    st.binary(min_size=16, max_size=16),
    st.integers(0, 65535),
    st.integers(0, 65535),
    st.binary(max_size=300),
)
def test_build_udp6_round_trip(src: bytes, dst: bytes, sport: int, dport: int, data: bytes) -> None:
    packet = build_udp6(src, dst, sport, dport, data)
    assert parse_udp6(parse_ipv6(packet)) == (sport, dport, data)
    assert_checksum6(packet)
