"""wire.py: the Internet checksum, MAC text and RFC 1035 name encoding."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.utils import checksum as scapy_checksum

from nfdhcpd.core.wire import BROADCAST_MAC, checksum, encode_domain_list, mac_text, parse_mac

from ..helpers.readers import decode_search


def reference_checksum(data: bytes) -> int:
    """RFC 1071 section 4.1, word by word with end-around carry."""
    if len(data) % 2:
        data += b"\0"
    total = 0
    for i in range(0, len(data), 2):
        total += (data[i] << 8) | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def test_rfc1071_example() -> None:
    # RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (carries folded).
    assert checksum(bytes.fromhex("0001f203f4f5f6f7")) == ~0xDDF2 & 0xFFFF


@pytest.mark.parametrize(
    "data",
    [b"", b"\0", b"\0\0\0\0", b"\xff\xff", b"\xff\xff\xff\xff", b"\x01", b"\xff\xfe\x00\x01"],
)
def test_edge_cases_match_reference(data: bytes) -> None:
    assert checksum(data) == reference_checksum(data)


def test_ip_header_with_its_checksum_sums_to_zero() -> None:
    header = bytes.fromhex("450000730000400040110000c0a80001c0a800c7")
    csum = checksum(header)
    assert csum == 0xB861  # the classic Wikipedia example
    filled = header[:10] + csum.to_bytes(2, "big") + header[12:]
    assert checksum(filled) == 0


@settings(max_examples=500)
@given(st.binary(max_size=2000))
def test_checksum_matches_reference_and_scapy(data: bytes) -> None:
    assert checksum(data) == reference_checksum(data)
    assert checksum(data) == scapy_checksum(data)


@settings(max_examples=300)
@given(st.binary(max_size=600).map(lambda b: b + bytes(len(b) % 2)))
def test_data_plus_its_checksum_verifies(data: bytes) -> None:
    csum = checksum(data)
    assert checksum(data + csum.to_bytes(2, "big")) in (0, 0xFFFF)
    assert reference_checksum(data + csum.to_bytes(2, "big")) in (0, 0xFFFF)


def test_broadcast_mac() -> None:
    assert BROADCAST_MAC == b"\xff" * 6


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("aa:6b:39:22:33:44", bytes.fromhex("aa6b39223344")),
        ("AA:6B:39:22:33:44", bytes.fromhex("aa6b39223344")),
        ("aa-6b-39-22-33-44", bytes.fromhex("aa6b39223344")),
        ("00:00:00:00:00:00", bytes(6)),
    ],
)
def test_parse_mac(text: str, expected: bytes) -> None:
    assert parse_mac(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "aa:6b:39:22:33",
        "aa:6b:39:22:33:44:55",
        "aa:6b:39:22:33:4",
        "aa:6b:39:22:33:444",
        "gg:6b:39:22:33:44",
        "aa6b39223344",
        "aa:6b:39:22:33:44:",
    ],
)
def test_parse_mac_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a MAC address"):
        parse_mac(text)


@given(st.binary(min_size=6, max_size=6))
def test_mac_text_round_trip(mac: bytes) -> None:
    text = mac_text(mac)
    assert len(text) == 17
    assert text == text.lower()
    assert parse_mac(text) == mac


def test_encode_domain_list_rfc1035() -> None:
    encoded = encode_domain_list(["example.com", "a.b.example.org."])
    assert encoded == b"\x07example\x03com\x00\x01a\x01b\x07example\x03org\x00"
    assert decode_search(encoded) == ["example.com", "a.b.example.org"]


def test_encode_domain_list_empty() -> None:
    assert encode_domain_list([]) == b""


label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=63)


@given(st.lists(st.lists(label, min_size=1, max_size=4).map(".".join), max_size=5))
def test_encode_domain_list_round_trip(names: list[str]) -> None:
    assert decode_search(encode_domain_list(names)) == names
