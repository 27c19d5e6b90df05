"""dhcp4.py: BOOTP/DHCP message parsing and building, option encodings, checked against scapy."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.dhcp import BOOTP, DHCP

from nfdhcpd.core import options4
from nfdhcpd.core.binding import Route
from nfdhcpd.core.dhcp4 import (
    BROADCAST_FLAG,
    CLIENT_PORT,
    FIXED_LEN,
    MAGIC_COOKIE,
    MIN_MAX_SIZE,
    SERVER_PORT,
    DhcpMessage,
    MessageType,
    Option,
    build_dhcp,
    encode_option,
    max_message_size,
    parse_dhcp,
)
from nfdhcpd.core.errors import MalformedPacket

from ..helpers.readers import decode_routes, walk_options
from ..helpers.samples import VM_MAC, fixture_names, load_fixture


def bootp(options: list[Any], **fields: Any) -> bytes:
    fields.setdefault("chaddr", VM_MAC)
    return bytes(BOOTP(**fields) / DHCP(options=[*options, "end"]))


def raw_message(options: bytes, *, sname: bytes = b"", file: bytes = b"") -> bytes:
    """A BOOTREQUEST with hand-written option bytes (and optionally sname/file)."""
    fixed = bytes(BOOTP(chaddr=VM_MAC, sname=sname, file=file, xid=7))[:FIXED_LEN]
    return fixed + MAGIC_COOKIE + options


def test_constants() -> None:
    assert (SERVER_PORT, CLIENT_PORT, FIXED_LEN, MIN_MAX_SIZE) == (67, 68, 236, 576)
    assert bytes([99, 130, 83, 99]) == MAGIC_COOKIE
    assert BROADCAST_FLAG == 0x8000
    assert [m.value for m in MessageType] == list(range(1, 9))
    assert (MessageType.DISCOVER.value, MessageType.INFORM.value) == (1, 8)
    options = [Option.CLASSLESS_ROUTES, Option.SEARCH, Option.CLIENT_ID, Option.MAX_SIZE]
    assert [o.value for o in options] == [121, 119, 61, 57]
    assert (Option.PARAMETERS.value, Option.OVERLOAD.value) == (55, 52)


def test_parse_fields_match_scapy() -> None:
    data = bootp(
        [
            ("message-type", "request"),
            ("requested_addr", "192.0.2.100"),
            ("server_id", "1.2.3.4"),
            ("param_req_list", [1, 3, 6]),
            ("client_id", b"\x01" + VM_MAC),
        ],
        op=1,
        hops=2,
        xid=0xDEADBEEF,
        secs=9,
        flags=0x8000,
        ciaddr="192.0.2.5",
        yiaddr="192.0.2.6",
        siaddr="192.0.2.7",
        giaddr="192.0.2.8",
    )
    msg = parse_dhcp(data)
    assert (msg.op, msg.htype, msg.hlen, msg.hops) == (1, 1, 6, 2)
    assert (msg.xid, msg.secs, msg.flags) == (0xDEADBEEF, 9, 0x8000)
    assert msg.ciaddr == IPv4Address("192.0.2.5").packed
    assert msg.yiaddr == IPv4Address("192.0.2.6").packed
    assert msg.siaddr == IPv4Address("192.0.2.7").packed
    assert msg.giaddr == IPv4Address("192.0.2.8").packed
    assert msg.chaddr == VM_MAC + bytes(10)
    assert msg.client_mac == VM_MAC
    assert msg.msg_type == MessageType.REQUEST
    assert dict(msg.options) == {
        53: b"\x03",
        50: IPv4Address("192.0.2.100").packed,
        54: IPv4Address("1.2.3.4").packed,
        55: b"\x01\x03\x06",
        61: b"\x01" + VM_MAC,
    }


@pytest.mark.parametrize("name", fixture_names())
def test_parse_recorded_requests_like_scapy(name: str) -> None:
    """Differential: our parser and scapy agree on real clients' requests."""
    recorded = load_fixture(name)
    payload = recorded.payload[28:]  # the fixtures have no IP options
    msg = parse_dhcp(payload)
    theirs = BOOTP(payload)
    assert msg.xid == theirs.xid
    assert msg.flags == theirs.flags
    assert msg.client_mac == recorded.hwsrc
    assert msg.op == theirs.op == 1
    expected: dict[int, bytes] = {}
    for code, value in walk_options(payload[240:]):
        expected[code] = expected.get(code, b"") + value
    assert dict(msg.options) == expected
    assert msg.msg_type in (MessageType.DISCOVER, MessageType.REQUEST)


def test_msg_type_absent_or_malformed() -> None:
    assert parse_dhcp(bootp([])).msg_type is None
    assert parse_dhcp(raw_message(b"\x35\x02\x01\x01\xff")).msg_type is None
    assert parse_dhcp(raw_message(b"\x35\x00\xff")).msg_type is None


def test_client_mac_follows_hlen() -> None:
    assert parse_dhcp(bootp([], hlen=3)).client_mac == VM_MAC[:3]
    assert parse_dhcp(bootp([], hlen=16)).client_mac == VM_MAC + bytes(10)
    assert parse_dhcp(bootp([], hlen=0)).client_mac == b""


def test_pad_skipped_and_end_stops() -> None:
    msg = parse_dhcp(raw_message(b"\0\0\x35\x01\x01\0\xff\x36\x04\x01\x02\x03\x04"))
    assert dict(msg.options) == {53: b"\x01"}


def test_missing_end_is_tolerated() -> None:
    assert dict(parse_dhcp(raw_message(b"\x35\x01\x01")).options) == {53: b"\x01"}


def test_rfc3396_repeated_options_are_joined() -> None:
    msg = parse_dhcp(raw_message(b"\x35\x01\x01\x3d\x02ab\x37\x01\x01\x3d\x03cde\xff"))
    assert msg.options[61] == b"abcde"


@pytest.mark.parametrize(
    ("overload", "sname", "file", "expected"),
    [
        (1, b"", b"\x0c\x02vm\xff", {12: b"vm"}),
        (2, b"\x0c\x02vm\xff", b"", {12: b"vm"}),
        (3, b"\x0f\x03org\xff", b"\x0c\x02vm\xff", {12: b"vm", 15: b"org"}),
        (0, b"\x0c\x02vm\xff", b"\x0c\x02vm\xff", {}),
    ],
)
def test_option_overload(
    overload: int, sname: bytes, file: bytes, expected: dict[int, bytes]
) -> None:
    """RFC 2132 section 9.3: option 52 puts more options in 'file' (1), 'sname' (2) or both."""
    msg = parse_dhcp(raw_message(bytes([53, 1, 1, 52, 1, overload, 255]), sname=sname, file=file))
    for code, value in expected.items():
        assert msg.options[code] == value
    assert set(msg.options) == {53, 52, *expected}


def test_overload_option_without_value_is_malformed_not_a_crash() -> None:
    """Option 52 with length 0: must be MalformedPacket (parsers raise nothing else)."""
    data = raw_message(b"\x35\x01\x01\x34\x00\xff")
    try:
        msg = parse_dhcp(data)
    except MalformedPacket:
        return
    assert msg.msg_type == MessageType.DISCOVER  # or ignored, as an empty overload


BAD = {
    "short": (bytes(239), "bootp"),
    "hlen-17": (bytes(bootp([], hlen=17)), "bootp.hlen"),
    "no-cookie": (bytes(BOOTP(chaddr=VM_MAC)) + bytes(64), "bootp.cookie"),
    "wrong-cookie": (bytes(236) + b"\x63\x82\x53\x64\xff", "bootp.cookie"),
    "option-past-end": (raw_message(b"\x35\x05\x01"), "options.option53"),
    "length-missing": (raw_message(b"\x35\x01\x01\x0c"), "options.option12.length"),
    "file-option-past-end": (
        raw_message(b"\x34\x01\x01\xff", file=b"\x0c\xf0vm"),
        "file.option12",
    ),
}


@pytest.mark.parametrize(("data", "field"), BAD.values(), ids=BAD.keys())
def test_parse_rejects(data: bytes, field: str) -> None:
    with pytest.raises(MalformedPacket) as info:
        parse_dhcp(data)
    assert info.value.field == field


def test_truncations() -> None:
    """Every prefix of a real request parses or raises MalformedPacket; short ones raise."""
    data = load_fixture("dhcpcd-request-selecting.hex").payload[28:]
    full = parse_dhcp(data)
    assert full.msg_type == MessageType.REQUEST
    for end in range(len(data)):
        prefix = data[:end]
        if end < FIXED_LEN + 4:
            with pytest.raises(MalformedPacket):
                parse_dhcp(prefix)
            continue
        try:
            msg = parse_dhcp(prefix)
        except MalformedPacket:
            continue
        # What parsed is a prefix of what the whole message says.
        for code, value in msg.options.items():
            assert full.options[code].startswith(value)


@settings(max_examples=500)
@given(st.binary(max_size=400))
def test_parse_arbitrary_bytes(data: bytes) -> None:
    try:
        msg = parse_dhcp(data)
    except MalformedPacket:
        return
    assert isinstance(msg, DhcpMessage)


@settings(max_examples=500)
@given(
    st.binary(min_size=FIXED_LEN, max_size=FIXED_LEN).map(lambda b: b[:2] + b"\x06" + b[3:]),
    st.binary(max_size=120),
)
def test_parse_arbitrary_options(fixed: bytes, options: bytes) -> None:
    """A valid fixed part and cookie, then any option bytes: parse or MalformedPacket."""
    try:
        msg = parse_dhcp(fixed + MAGIC_COOKIE + options)
    except MalformedPacket:
        return
    assert isinstance(msg, DhcpMessage)
    assert all(isinstance(v, bytes) for v in msg.options.values())


option_tlv = st.tuples(
    st.sampled_from([0, 1, 12, 50, 52, 53, 54, 55, 57, 61, 255]) | st.integers(0, 255),
    st.binary(max_size=6),
    st.sampled_from([None, None, None, 0, 1, 255]),  # None: the true length
).map(lambda t: bytes([t[0], len(t[1]) if t[2] is None else t[2]]) + t[1])


@settings(max_examples=500)
@given(
    st.lists(option_tlv, max_size=8).map(b"".join),
    st.binary(max_size=64),
    st.binary(max_size=128),
)
def test_parse_structured_options(options: bytes, sname: bytes, file: bytes) -> None:
    """Option-shaped input (with overload, PAD, END, wrong lengths) reaches every branch."""
    try:
        msg = parse_dhcp(raw_message(options, sname=sname, file=file))
    except MalformedPacket:
        return
    assert isinstance(msg, DhcpMessage)


def test_build_dhcp_decodes_under_scapy() -> None:
    request = parse_dhcp(
        bootp([("message-type", "discover")], op=1, xid=0xABCD, giaddr="198.51.100.1", hops=3)
    )
    options = encode_option(53, b"\x02") + encode_option(54, IPv4Address("1.2.3.4").packed)
    data = build_dhcp(
        request,
        yiaddr=IPv4Address("192.0.2.100").packed,
        ciaddr=IPv4Address("192.0.2.9").packed,
        flags=0x8000,
        options=options,
    )
    reply = BOOTP(data)
    assert (reply.op, reply.htype, reply.hlen, reply.hops) == (2, 1, 6, 0)
    assert (reply.xid, reply.secs, reply.flags) == (0xABCD, 0, 0x8000)
    assert (reply.ciaddr, reply.yiaddr, reply.siaddr, reply.giaddr) == (
        "192.0.2.9",
        "192.0.2.100",
        "0.0.0.0",
        "198.51.100.1",
    )
    assert reply.chaddr == VM_MAC + bytes(10)
    assert reply.sname == bytes(64) and reply.file == bytes(128)
    decoded = [o for o in reply[DHCP].options if o != "pad"]
    assert decoded == [("message-type", 2), ("server_id", "1.2.3.4"), "end"]
    assert data[FIXED_LEN : FIXED_LEN + 4] == MAGIC_COOKIE
    # RFC 1542 2.1: padded with zeros after END to the BOOTP minimum of 300 octets.
    assert len(data) == 300 and data.rstrip(b"\0").endswith(b"\xff")
    parsed = parse_dhcp(data)
    assert parsed.op == 2 and parsed.options[54] == IPv4Address("1.2.3.4").packed


@pytest.mark.parametrize("size", [0, 1, 254, 255])
def test_encode_option_single(size: int) -> None:
    value = bytes(i % 256 for i in range(size))
    assert encode_option(12, value) == bytes([12, size]) + value


@pytest.mark.parametrize("size", [256, 510, 511, 600, 1000])
def test_encode_option_split_rfc3396(size: int) -> None:
    value = bytes(i % 251 for i in range(size))
    encoded = encode_option(119, value)
    parts = walk_options(encoded + b"\xff")
    assert all(code == 119 and 0 < len(part) <= 255 for code, part in parts)
    assert [len(p) for _, p in parts[:-1]] == [255] * (len(parts) - 1)
    assert b"".join(part for _, part in parts) == value


def encode_addresses(addresses: list[IPv4Address]) -> bytes:
    return options4.encode(Option.DNS, addresses)


def encode_routes(routes: list[Route]) -> bytes:
    return options4.encode(Option.CLASSLESS_ROUTES, routes)


def test_encode_addresses() -> None:
    addrs = [IPv4Address("192.0.2.2"), IPv4Address("192.0.2.3")]
    assert encode_addresses(addrs) == bytes([192, 0, 2, 2, 192, 0, 2, 3])
    assert encode_addresses([]) == b""


def route(net: str, router: str) -> Route:
    return Route(IPv4Network(net), IPv4Address(router))


def test_encode_routes_rfc3442_examples() -> None:
    """The table of RFC 3442 section 3, each with router 192.0.2.1."""
    routes = [
        ("0.0.0.0/0", bytes([0])),
        ("10.0.0.0/8", bytes([8, 10])),
        ("10.17.0.0/16", bytes([16, 10, 17])),
        ("10.27.129.0/24", bytes([24, 10, 27, 129])),
        ("10.229.0.128/25", bytes([25, 10, 229, 0, 128])),
        ("10.198.122.47/32", bytes([32, 10, 198, 122, 47])),
    ]
    gw = bytes([192, 0, 2, 1])
    for net, prefix in routes:
        assert encode_routes([route(net, "192.0.2.1")]) == prefix + gw
    encoded = encode_routes([route(net, "192.0.2.1") for net, _ in routes])
    assert decode_routes(encoded) == [(net, "192.0.2.1") for net, _ in routes]
    # scapy's own decoder of option 121 agrees.
    decoded = DHCP(encode_option(121, encoded) + b"\xff").options[0]
    assert decoded[0] == "classless_static_routes"
    assert decoded[1] == [f"{net}:192.0.2.1" for net, _ in routes]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, 576),
        (b"\x05\xdc", 1500),
        (b"\x02\x40", 576),
        (b"\x01\x2c", 576),
        (b"\x00\x00", 576),
        (b"\xff\xff", 65535),
        (b"\x05", 576),
        (b"\x05\xdc\x00", 576),
    ],
)
def test_max_message_size(raw: bytes | None, expected: int) -> None:
    options = [("message-type", "discover")]
    if raw is not None:
        options.append((57, raw))  # type: ignore[arg-type]
    assert max_message_size(parse_dhcp(bootp(options))) == expected
