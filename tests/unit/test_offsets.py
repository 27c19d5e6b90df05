"""Every MalformedPacket names its place in the packet as NFQUEUE hands it over (from
the IP header on), whatever layer found it: the offsets are checked against the bytes
at them, in packets scapy builds (checksums and lengths are scapy's), through the
whole core (`responder.handle`), IP options and preceding options varied."""

from __future__ import annotations

import re
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.dhcp6 import DHCP6_Solicit
from scapy.layers.inet import IP, UDP, IPOption
from scapy.layers.inet6 import ICMPv6ND_RS, IPv6
from scapy.packet import Raw

from nfdhcpd.core.cursor import Cursor
from nfdhcpd.core.decision import Decision
from nfdhcpd.core.dhcp4 import MAGIC_COOKIE
from nfdhcpd.core.errors import MalformedPacket

from ..helpers.builders import CLIENT_DUID, inbound, run
from ..helpers.samples import (
    ALL_DHCP6,
    ALL_ROUTERS6,
    DHCP6_QUEUE,
    RS_QUEUE,
    UNSPEC6,
    V6_CONFIG,
    VM_LL,
    VM_MAC,
    grnet_with,
    table_of,
)

TABLE = table_of(grnet_with(""))
_WHERE = re.compile(r"malformed: (\S+) at offset (\d+): ")


def where(decision: Decision) -> tuple[str, int]:
    """The field and offset a malformed decision names."""
    assert decision.event == "malformed", decision
    found = _WHERE.search(decision.reason)
    assert found is not None, decision.reason
    return found[1], int(found[2])


# --- DHCPv4 -----------------------------------------------------------------------

option4 = st.tuples(st.integers(1, 254).filter(lambda c: c not in (52, 53)), st.binary(max_size=12))


def bootp(options: bytes) -> bytes:
    fixed = struct.pack("!BBBBIHH16x6s10x192x", 1, 1, 6, 0, 7, 0, 0, VM_MAC)
    return fixed + MAGIC_COOKIE + options


def wrap4(message: bytes, ip_option_words: int) -> bytes:
    """IP (with `ip_option_words` 4-byte words of NOP options) / UDP / `message`."""
    ip = IP(src="0.0.0.0", dst="255.255.255.255")
    if ip_option_words:
        ip.options = [IPOption(b"\x01" * 4 * ip_option_words)]
    return bytes(ip / UDP(sport=68, dport=67) / Raw(message))


def dhcp4_packet(options: bytes, ip_option_words: int) -> bytes:
    return wrap4(bootp(options), ip_option_words)


def encode4(options: list[tuple[int, bytes]]) -> bytes:
    return b"".join(bytes((code, len(value))) + value for code, value in options)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(option4, max_size=6),
    st.integers(0, 10),
    st.integers(1, 254).filter(lambda c: c != 53),
    st.integers(1, 40),
)
def test_dhcp4_option_running_past_the_end(
    before: list[tuple[int, bytes]], words: int, code: int, excess: int
) -> None:
    head = encode4([(53, b"\x01"), *before])
    value = b"\xaa" * 3
    packet = dhcp4_packet(head + bytes((code, len(value) + excess)) + value, words)
    field, offset = where(run(inbound(packet), TABLE))
    assert field == f"options.option{code}"
    # The option's own code and length bytes are at the named offset.
    assert packet[offset] == code and packet[offset + 1] == len(value) + excess
    assert offset == 20 + 4 * words + 8 + 240 + len(head)


@settings(max_examples=60, deadline=None)
@given(st.lists(option4, max_size=6), st.integers(0, 10), st.integers(1, 254))
def test_dhcp4_option_without_its_length_byte(
    before: list[tuple[int, bytes]], words: int, code: int
) -> None:
    packet = dhcp4_packet(encode4([(53, b"\x01"), *before]) + bytes((code,)), words)
    field, offset = where(run(inbound(packet), TABLE))
    assert (field, offset) == (f"options.option{code}.length", len(packet))
    assert packet[offset - 1] == code  # the length would follow the code


@pytest.mark.parametrize("words", [0, 1, 10])
def test_dhcp4_missing_message_type_names_where_the_options_start(words: int) -> None:
    packet = dhcp4_packet(encode4([(12, b"vm")]) + b"\xff", words)
    field, offset = where(run(inbound(packet), TABLE))
    assert field == "options.option53"
    assert packet[offset - 4 : offset] == MAGIC_COOKIE


@pytest.mark.parametrize("words", [0, 3])
def test_dhcp4_bad_cookie_and_op_are_named_in_the_packet(words: int) -> None:
    bootp_at = 20 + 4 * words + 8
    message = bootp(encode4([(53, b"\x01")]) + b"\xff")
    packet = wrap4(message.replace(MAGIC_COOKIE, bytes(4)), words)
    assert where(run(inbound(packet), TABLE)) == ("bootp.cookie", bootp_at + 236)
    assert packet[bootp_at + 236 : bootp_at + 240] == bytes(4)
    packet = wrap4(b"\x02" + message[1:], words)
    assert where(run(inbound(packet), TABLE)) == ("bootp.op", bootp_at)
    assert packet[bootp_at] == 2


def test_dhcp4_overload_option_of_the_wrong_length() -> None:
    head = encode4([(53, b"\x01"), (12, b"vm")])
    packet = dhcp4_packet(head + encode4([(52, b"\x01\x02")]) + b"\xff", 3)
    field, offset = where(run(inbound(packet), TABLE))
    assert field == "options.overload" and packet[offset] == 52


# --- DHCPv6 -----------------------------------------------------------------------

option6 = st.tuples(st.integers(100, 200), st.binary(max_size=12))


def dhcp6_packet(options: bytes) -> bytes:
    return bytes(
        IPv6(src=VM_LL, dst=ALL_DHCP6)
        / UDP(sport=546, dport=547)
        / DHCP6_Solicit(trid=5)
        / Raw(options)
    )


def encode6(options: list[tuple[int, bytes]]) -> bytes:
    return b"".join(struct.pack("!HH", code, len(value)) + value for code, value in options)


CLIENT = encode6([(1, CLIENT_DUID)])


@settings(max_examples=150, deadline=None)
@given(st.lists(option6, max_size=6), st.integers(1, 300), st.integers(1, 40))
def test_dhcp6_option_running_past_the_end(
    before: list[tuple[int, bytes]], code: int, excess: int
) -> None:
    head = CLIENT + encode6(before)
    packet = dhcp6_packet(head + struct.pack("!HH", code, 2 + excess) + b"\0\0")
    field, offset = where(run(inbound(packet, queue=DHCP6_QUEUE), TABLE, V6_CONFIG))
    assert field == f"dhcp6.option{code}"
    assert struct.unpack_from("!HH", packet, offset) == (code, 2 + excess)
    assert offset == 40 + 8 + 4 + len(head)


@settings(max_examples=100, deadline=None)
@given(st.lists(option6, max_size=4), st.integers(0, 3), st.integers(0, 11))
def test_dhcp6_short_ia_na_is_named_at_its_value(
    before: list[tuple[int, bytes]], good: int, short: int
) -> None:
    """The `good`+1th IA_NA is too short: the offset is its value's, after the others."""
    ias = encode6([(3, struct.pack("!III", n, 0, 0)) for n in range(good)])
    head = CLIENT + encode6(before) + ias
    packet = dhcp6_packet(head + encode6([(3, b"\x07" * short)]))
    field, offset = where(run(inbound(packet, queue=DHCP6_QUEUE), TABLE, V6_CONFIG))
    assert field == "dhcp6.ia_na"
    assert struct.unpack_from("!HH", packet, offset - 4) == (3, short)
    assert offset == 40 + 8 + 4 + len(head) + 4


def test_dhcp6_short_iaaddr_inside_an_ia_na() -> None:
    iaaddr = encode6([(5, bytes(10))])
    ia = struct.pack("!III", 1, 0, 0) + encode6([(5, bytes(24))]) + iaaddr
    head = CLIENT + encode6([(3, ia)])
    packet = dhcp6_packet(head)
    field, offset = where(run(inbound(packet, queue=DHCP6_QUEUE), TABLE, V6_CONFIG))
    assert field == "dhcp6.iaaddr"
    assert struct.unpack_from("!HH", packet, offset - 4) == (5, 10)


def test_dhcp6_odd_option_request_option() -> None:
    head = CLIENT + encode6([(8, b"\0\0")])
    packet = dhcp6_packet(head + encode6([(6, b"\x00\x17\x00")]))
    field, offset = where(run(inbound(packet, queue=DHCP6_QUEUE), TABLE, V6_CONFIG))
    assert field == "dhcp6.oro"
    assert struct.unpack_from("!HH", packet, offset) == (6, 3)


def test_dhcp6_missing_client_id_names_where_the_options_start() -> None:
    packet = dhcp6_packet(encode6([(8, b"\0\0")]))
    field, offset = where(run(inbound(packet, queue=DHCP6_QUEUE), TABLE, V6_CONFIG))
    assert (field, offset) == ("dhcp6.clientid", 40 + 8 + 4)
    assert packet[offset - 4] == 1  # the message type, Solicit, just before


# --- Neighbor Discovery -----------------------------------------------------------

nd_option = st.tuples(st.integers(2, 250), st.integers(1, 3))


def rs_packet(options: bytes, src: str = VM_LL) -> bytes:
    return bytes(IPv6(src=src, dst=ALL_ROUTERS6, hlim=255) / ICMPv6ND_RS() / Raw(options))


def encode_nd(options: list[tuple[int, int]]) -> bytes:
    return b"".join(bytes((kind, units)) + bytes(units * 8 - 2) for kind, units in options)


@settings(max_examples=100, deadline=None)
@given(st.lists(nd_option, max_size=5), st.integers(1, 250), st.sampled_from([0, 9]))
def test_nd_option_of_a_bad_length(before: list[tuple[int, int]], kind: int, units: int) -> None:
    head = encode_nd(before)
    packet = rs_packet(head + bytes((kind, units)) + bytes(6))
    field, offset = where(run(inbound(packet, queue=RS_QUEUE), TABLE, V6_CONFIG))
    assert field == f"nd.option{kind}.length"
    assert packet[offset] == units and packet[offset - 1] == kind  # the length byte
    assert offset == 40 + 8 + len(head) + 1


@settings(max_examples=60, deadline=None)
@given(st.lists(nd_option, max_size=5))
def test_nd_source_link_layer_option_from_unspecified(before: list[tuple[int, int]]) -> None:
    head = encode_nd(before)
    packet = rs_packet(head + bytes((1, 1)) + VM_MAC, src=UNSPEC6)
    field, offset = where(run(inbound(packet, queue=RS_QUEUE), TABLE, V6_CONFIG))
    assert field == "nd.option1"
    assert packet[offset : offset + 8] == bytes((1, 1)) + VM_MAC


# --- the cursor itself --------------------------------------------------------------


def test_cursor_reads_and_names_packet_offsets() -> None:
    cursor = Cursor(b"\x01\x02\x03\x04\x05", base=100, pos=1)
    assert (cursor.at(), cursor.left()) == (101, 4)
    assert cursor.u8("a") == 2 and cursor.u16("b") == 0x0304 and cursor.at() == 104
    with pytest.raises(MalformedPacket) as info:
        cursor.take(2, "c")
    assert (info.value.field, info.value.offset) == ("c", 104)
    assert str(info.value) == "c at offset 104: 1 bytes, need 2"
    assert cursor.take(1, "d") == b"\x05"
    with pytest.raises(MalformedPacket) as info:
        cursor.u8("e")
    assert info.value.offset == 105


def test_cursor_end_bounds_a_sub_area() -> None:
    cursor = Cursor(b"abcdef", base=10, pos=2, end=4)
    assert cursor.take(2, "x") == b"cd"
    with pytest.raises(MalformedPacket) as info:
        cursor.u16("y")
    assert info.value.offset == 14
    assert cursor.error("z", "why", 0).offset == 10
