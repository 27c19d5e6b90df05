"""Hand-written readers of RFC wire formats, a second opinion to scapy's decoding:
DHCPv4 options (RFC 2132), domain search lists (RFC 1035, RFC 3397), classless routes
(RFC 3442), DHCPv6 options (RFC 8415). Standard library only, so that the conformance
tests, which import nothing of nfdhcpd, use them too."""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address


def walk_options(data: bytes) -> tuple[tuple[int, bytes], ...]:
    """RFC 2132 section 2 TLVs up to END, by hand; only PAD may follow END."""
    found: list[tuple[int, bytes]] = []
    pos = 0
    while True:
        assert pos < len(data), "options field has no END option"
        code = data[pos]
        if code == 255:
            assert set(data[pos + 1 :]) <= {0}, "junk after END"
            return tuple(found)
        if code == 0:
            pos += 1
            continue
        length = data[pos + 1]
        value = data[pos + 2 : pos + 2 + length]
        assert len(value) == length, f"option {code} runs past the end"
        found.append((code, value))
        pos += 2 + length


def decode_search(value: bytes) -> list[str]:
    """RFC 1035 section 3.1 uncompressed names (RFC 3397 option 119), by hand."""
    names: list[str] = []
    labels: list[str] = []
    pos = 0
    while pos < len(value):
        length = value[pos]
        assert length < 64, "compression pointers or bad label length"
        if length == 0:
            names.append(".".join(labels))
            labels = []
        else:
            label = value[pos + 1 : pos + 1 + length]
            assert len(label) == length
            labels.append(label.decode("ascii"))
        pos += 1 + length
    assert not labels, "the last name is not terminated by the root label"
    return names


def decode_routes(value: bytes) -> list[tuple[str, str]]:
    """RFC 3442 section 3 classless routes, by hand: [("net/len", "router"), ...]."""
    routes: list[tuple[str, str]] = []
    pos = 0
    while pos < len(value):
        width = value[pos]
        assert width <= 32
        octets = (width + 7) // 8
        dest = value[pos + 1 : pos + 1 + octets] + bytes(4 - octets)
        router = value[pos + 1 + octets : pos + 5 + octets]
        assert len(router) == 4, "route runs past the end"
        routes.append((f"{IPv4Address(dest)}/{width}", str(IPv4Address(router))))
        pos += 5 + octets
    return routes


def all_codes(options: Iterable[tuple[int, bytes]]) -> list[int]:
    """Option codes in order, repeated instances of a split option (RFC 3396) folded."""
    codes: list[int] = []
    for code, _ in options:
        if not codes or codes[-1] != code:
            codes.append(code)
    return codes


def dhcp6_options(data: bytes) -> list[tuple[int, bytes]]:
    """RFC 8415 section 21.1 TLVs, by hand, as a second opinion to scapy."""
    found: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(data):
        assert pos + 4 <= len(data), "truncated option header"
        code = int.from_bytes(data[pos : pos + 2], "big")
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        value = data[pos + 4 : pos + 4 + length]
        assert len(value) == length, f"option {code} runs past the end"
        found.append((code, value))
        pos += 4 + length
    return found
