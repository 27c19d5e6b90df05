"""frames.py: parse the IPv4/UDP packets NFQUEUE hands us, build the frames we inject."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from nfdhcpd.core.errors import BadChecksum, MalformedPacket
from nfdhcpd.core.frames import EtherType, IPProto, Udp4, build_ether, build_udp4, parse_udp4
from nfdhcpd.core.wire import checksum

from ..helpers.decode import assert_checksums


def udp_packet(payload: bytes = b"hello", **ip_fields: Any) -> bytes:
    return bytes(
        IP(src="192.0.2.100", dst="255.255.255.255", **ip_fields)
        / UDP(sport=68, dport=67)
        / Raw(payload)
    )


def test_parse_udp4_fields() -> None:
    parsed = parse_udp4(udp_packet(b"payload bytes"))
    assert parsed == Udp4(
        src=IPv4Address("192.0.2.100").packed,
        dst=b"\xff\xff\xff\xff",
        sport=68,
        dport=67,
        payload=b"payload bytes",
        at=28,  # where the payload starts in the packet
    )


def test_parse_udp4_with_ip_options() -> None:
    packet = bytes(
        IP(src="10.0.0.1", dst="10.0.0.2", options=b"\x94\x04\x00\x00")  # router alert
        / UDP(sport=1000, dport=67)
        / Raw(b"xyz")
    )
    assert packet[0] & 0x0F == 6
    parsed = parse_udp4(packet)
    assert (parsed.sport, parsed.dport, parsed.payload) == (1000, 67, b"xyz")


def test_parse_udp4_ignores_link_padding() -> None:
    # Short Ethernet frames are padded; the IP total length says where the packet ends.
    parsed = parse_udp4(udp_packet(b"abc") + b"\0" * 20)
    assert parsed.payload == b"abc"


def test_parse_udp4_udp_length_bounds_the_payload() -> None:
    packet = bytearray(udp_packet(b"abcdef"))
    struct.pack_into("!H", packet, 24, 8 + 3)  # UDP length says 3 payload bytes
    struct.pack_into("!H", packet, 26, 0)  # RFC 768: no checksum computed
    assert parse_udp4(bytes(packet)).payload == b"abc"


def _patched(packet: bytes, offset: int, fmt: str, value: int) -> bytes:
    data = bytearray(packet)
    struct.pack_into(fmt, data, offset, value)
    return bytes(data)


BAD_PACKETS = {
    "short": (b"\x45" + bytes(18), "ipv4.header"),
    "ipv6": (b"\x60" + bytes(47), "ipv4.version"),
    "ihl-4": (_patched(udp_packet(), 0, "!B", 0x44), "ipv4.length"),
    "total-past-end": (_patched(udp_packet(), 2, "!H", 200), "ipv4.length"),
    "total-below-ihl": (_patched(udp_packet(), 2, "!H", 19), "ipv4.length"),
    "more-fragments": (udp_packet(flags="MF"), "ipv4.fragment"),
    "fragment-offset": (udp_packet(frag=10), "ipv4.fragment"),
    "tcp": (bytes(IP(src="1.1.1.1", dst="2.2.2.2") / TCP()), "ipv4.protocol"),
    "udp-header-short": (
        bytes(IP(src="1.1.1.1", dst="2.2.2.2", proto=17) / Raw(b"1234")),
        "udp.header",
    ),
    "udp-length-7": (_patched(udp_packet(), 24, "!H", 7), "udp.length"),
    "udp-length-past-ip": (_patched(udp_packet(b"abc"), 24, "!H", 12), "udp.length"),
}


@pytest.mark.parametrize(("packet", "field"), BAD_PACKETS.values(), ids=BAD_PACKETS.keys())
def test_parse_udp4_rejects(packet: bytes, field: str) -> None:
    with pytest.raises(MalformedPacket) as info:
        parse_udp4(packet)
    assert info.value.field == field
    assert field in str(info.value)
    assert f"offset {info.value.offset}" in str(info.value)


def test_dont_fragment_flag_is_fine() -> None:
    assert parse_udp4(udp_packet(b"x", flags="DF")).payload == b"x"


def test_parse_udp4_truncations() -> None:
    """Every strict prefix of a valid packet is refused with MalformedPacket."""
    packet = udp_packet(b"some DHCP-sized payload " * 10)
    assert parse_udp4(packet).payload == b"some DHCP-sized payload " * 10
    for end in range(len(packet)):
        with pytest.raises(MalformedPacket):
            parse_udp4(packet[:end])


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_parse_udp4_arbitrary_bytes(data: bytes) -> None:
    try:
        parsed = parse_udp4(data)
    except MalformedPacket:
        return
    assert isinstance(parsed, Udp4)
    assert len(parsed.payload) <= len(data) - 28


@settings(max_examples=300)
@given(
    st.binary(min_size=28, max_size=120).map(
        lambda b: bytes([0x45, 0]) + struct.pack("!H", len(b)) + b[4:9] + b"\x11" + b[10:]
    )
)
def test_parse_udp4_plausible_headers(data: bytes) -> None:
    """Mostly valid version, protocol and length: reach the deeper checks."""
    try:
        parsed = parse_udp4(data)
    except MalformedPacket:
        return
    assert isinstance(parsed, Udp4)


def test_build_udp4_decodes_under_scapy() -> None:
    packet = build_udp4(
        IPv4Address("1.2.3.4").packed, IPv4Address("192.0.2.100").packed, 67, 68, b"reply" * 50
    )
    ip = IP(packet)
    assert (ip.version, ip.ihl, ip.ttl, ip.proto, ip.len) == (4, 5, 64, 17, len(packet))
    assert (ip.src, ip.dst) == ("1.2.3.4", "192.0.2.100")
    assert (ip[UDP].sport, ip[UDP].dport, ip[UDP].len) == (67, 68, 8 + 250)
    assert bytes(ip[UDP].payload) == b"reply" * 50
    assert_checksums(bytes(14) + packet)


addresses = st.binary(min_size=4, max_size=4)
ports = st.integers(0, 65535)


@settings(max_examples=300)
@given(addresses, addresses, ports, ports, st.binary(max_size=700))
def test_build_udp4_checksums_and_round_trip(
    src: bytes, dst: bytes, sport: int, dport: int, payload: bytes
) -> None:
    packet = build_udp4(src, dst, sport, dport, payload)
    assert_checksums(bytes(14) + packet)
    assert checksum(packet[:20]) == 0
    assert parse_udp4(packet) == Udp4(src, dst, sport, dport, payload, 28)


@settings(max_examples=300)
@given(addresses, addresses, st.binary(min_size=8, max_size=600), st.integers(-2, 2))
def test_parse_udp4_verifies_as_rfc_1071_sums_the_whole(
    src: bytes, dst: bytes, segment: bytes, damage: int
) -> None:
    """parse_udp4 sums the pseudo-header and datagram by parts: it must accept and
    refuse exactly what the checksum of the concatenation (wire.checksum) says,
    odd lengths, checksum 0 (none: RFC 768) and checksums off by a little included."""
    ulen = len(segment)
    pseudo = src + dst + struct.pack("!xBH", 17, ulen)
    datagram = bytearray(segment)
    struct.pack_into("!H", datagram, 4, ulen)
    struct.pack_into("!H", datagram, 6, 0)
    good = checksum(pseudo + bytes(datagram)) or 0xFFFF
    struct.pack_into("!H", datagram, 6, (good + damage) & 0xFFFF)
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, 0, 0, 64, 17, 0, src, dst)
    csum = (good + damage) & 0xFFFF
    verifies = csum == 0 or checksum(pseudo + bytes(datagram)) == 0
    try:
        parse_udp4(header + bytes(datagram))
    except BadChecksum:
        assert not verifies
    else:
        assert verifies


def test_build_udp4_zero_checksum_sent_as_all_ones() -> None:
    """RFC 768: a computed UDP checksum of zero is transmitted as 0xFFFF."""
    src, dst = IPv4Address("192.0.2.1").packed, IPv4Address("192.0.2.100").packed
    probe = build_udp4(src, dst, 67, 68, b"\0\0")
    csum = struct.unpack_from("!H", probe, 26)[0]
    # Putting the checksum into the payload word makes the sum 0xFFFF, the checksum 0.
    packet = build_udp4(src, dst, 67, 68, csum.to_bytes(2, "big"))
    assert struct.unpack_from("!H", packet, 26)[0] == 0xFFFF
    assert_checksums(bytes(14) + packet)


def test_build_ether() -> None:
    frame = build_ether(b"\xff" * 6, bytes.fromhex("0200000000fe"), EtherType.IPV4, b"payload")
    eth = Ether(frame)
    assert (eth.dst, eth.src, eth.type) == ("ff:ff:ff:ff:ff:ff", "02:00:00:00:00:fe", 0x0800)
    assert frame[14:] == b"payload"


def test_constants() -> None:
    assert (EtherType.IPV4.value, EtherType.IPV6.value) == (0x0800, 0x86DD)
    assert (IPProto.UDP.value, IPProto.ICMPV6.value) == (17, 58)
