"""IPv6 Neighbor Discovery messages (RFC 4861) and the RA options of RFC 8106."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from ipaddress import IPv6Address, IPv6Network
from typing import NamedTuple

from .cursor import Cursor
from .errors import BadChecksum, MalformedPacket
from .frames import Ip6, IPProto, upper_checksum6
from .wire import encode_domain_list

ALL_NODES = IPv6Address("ff02::1").packed
UNSPECIFIED = bytes(16)
#: RFC 4861 sections 6.1.1 and 7.1.1: ND packets must arrive with hop limit 255.
ND_HOP_LIMIT = 255


class IcmpType(IntEnum):
    """ICMPv6 Neighbor Discovery message types (RFC 4861 section 4)."""

    ROUTER_SOLICITATION = 133
    ROUTER_ADVERTISEMENT = 134
    NEIGHBOR_SOLICITATION = 135
    NEIGHBOR_ADVERTISEMENT = 136


class NdOption(IntEnum):
    """ND option types (RFC 4861 section 4.6; RFC 8106 for RDNSS and DNSSL)."""

    SOURCE_LLADDR = 1
    TARGET_LLADDR = 2
    PREFIX_INFO = 3
    MTU = 5
    RDNSS = 25
    DNSSL = 31


class Solicitation(NamedTuple):
    """A Router or Neighbor Solicitation; `target` is empty for an RS."""

    src: bytes
    dst: bytes
    target: bytes
    options: dict[int, bytes]


def _pull_options(cursor: Cursor, unspecified: bool) -> dict[int, bytes]:
    """RFC 4861 4.6: type, length in 8-octet units (never 0), data. First one wins.
    From :: (`unspecified`) a source link-layer option is invalid (6.1.1, 7.1.1)."""
    options: dict[int, bytes] = {}
    while cursor.pos < cursor.end:
        at = cursor.pos
        cursor.need(2, "nd.option")
        kind = cursor.u8("nd.option")
        units = cursor.u8("nd.option")
        if units == 0 or units * 8 - 2 > cursor.left():
            raise cursor.error(f"nd.option{kind}.length", f"{units} units", at + 1)
        if unspecified and kind == NdOption.SOURCE_LLADDR:
            raise cursor.error("nd.option1", "source link-layer option from ::", at)
        value = cursor.take(units * 8 - 2, "nd.option")
        options.setdefault(kind, value)
    return options


#: Where the ICMPv6 message starts in the packet (no extension headers are accepted).
_ICMP_AT = 40


def _icmp(ip: Ip6, expected: IcmpType, fixed: int) -> bytes:
    if ip.next_header != IPProto.ICMPV6:
        raise MalformedPacket("ipv6.next_header", 6, f"{ip.next_header}, expected ICMPv6")
    message = ip.payload
    if len(message) < fixed:
        raise MalformedPacket("icmpv6", 40, f"{len(message)} bytes, need {fixed}")
    if message[0] != expected or message[1] != 0:
        raise MalformedPacket("icmpv6.type", 40, f"type {message[0]} code {message[1]}")
    if ip.hop_limit != ND_HOP_LIMIT:
        raise MalformedPacket("ipv6.hop_limit", 7, f"{ip.hop_limit}, ND requires 255")
    return message


def _verify(ip: Ip6) -> None:
    """RFC 4861 6.1.1 and 7.1.1: 'ICMP Checksum is valid' (checked once the message
    parsed, so a malformed one is reported for what is wrong with it)."""
    if upper_checksum6(ip.src, ip.dst, IPProto.ICMPV6, ip.payload):
        raise BadChecksum("icmpv6.checksum", 42, "does not verify")


def parse_rs(ip: Ip6) -> Solicitation:
    """RFC 4861 section 6.1.1 validity checks, then the options."""
    message = _icmp(ip, IcmpType.ROUTER_SOLICITATION, 8)
    options = _pull_options(Cursor(message, _ICMP_AT, 8), ip.src == UNSPECIFIED)
    _verify(ip)
    return Solicitation(ip.src, ip.dst, b"", options)


def parse_ns(ip: Ip6) -> Solicitation:
    """RFC 4861 section 7.1.1 validity checks, then the target and options."""
    message = _icmp(ip, IcmpType.NEIGHBOR_SOLICITATION, 24)
    target = message[8:24]
    if target[0] == 0xFF:
        raise MalformedPacket("ns.target", _ICMP_AT + 8, "multicast target")
    options = _pull_options(Cursor(message, _ICMP_AT, 24), ip.src == UNSPECIFIED)
    if ip.src == UNSPECIFIED and ip.dst[:13] != solicited_node(IPv6Address(target))[:13]:
        raise MalformedPacket("ipv6.dst", 24, "DAD not sent to a solicited-node address")
    _verify(ip)
    return Solicitation(ip.src, ip.dst, target, options)


def solicited_node(address: IPv6Address) -> bytes:
    """ff02::1:ffXX:XXXX for `address` (RFC 4291 section 2.7.1)."""
    return IPv6Address("ff02::1:ff00:0").packed[:13] + address.packed[13:]


def interface_id(mac: bytes) -> bytes:
    """Modified EUI-64 from a MAC (RFC 4291 appendix A): flip the U/L bit, insert fffe."""
    return bytes((mac[0] ^ 0x02,)) + mac[1:3] + b"\xff\xfe" + mac[3:6]


def link_local(mac: bytes) -> bytes:
    return b"\xfe\x80" + bytes(6) + interface_id(mac)


def eui64_address(prefix: IPv6Network, mac: bytes) -> IPv6Address:
    return IPv6Address(prefix.network_address.packed[:8] + interface_id(mac))


def multicast_mac(address: bytes) -> bytes:
    """33:33 and the low 32 bits of the group (RFC 2464 section 7)."""
    return b"\x33\x33" + address[12:]


@dataclass(frozen=True, slots=True)
class Prefix:
    """One Prefix Information option (RFC 4861 4.6.2, R flag from RFC 6275 7.2)."""

    network: IPv6Network
    autonomous: bool
    valid: int
    preferred: int
    router_address: IPv6Address | None = None


def _option(kind: NdOption, body: bytes) -> bytes:
    body += bytes(-(len(body) + 2) % 8)
    return bytes((kind, (len(body) + 2) // 8)) + body


def build_ra(
    *,
    mac: bytes,
    managed: bool,
    other: bool,
    router_lifetime: int,
    prefixes: Sequence[Prefix],
    mtu: int | None,
    dns: Sequence[IPv6Address],
    domains: Sequence[str],
    dns_lifetime: int,
) -> bytes:
    """An RA message (checksum left zero for `frames.build_icmp6`), RFC 4861 4.2."""
    flags = (0x80 if managed else 0) | (0x40 if other else 0)
    # Cur hop limit 64; reachable time and retrans timer 0: unspecified by this router.
    out = bytearray(
        struct.pack(
            "!BBHBBHII", IcmpType.ROUTER_ADVERTISEMENT, 0, 0, 64, flags, router_lifetime, 0, 0
        )
    )
    out += _option(NdOption.SOURCE_LLADDR, mac)
    if mtu is not None:
        out += _option(NdOption.MTU, struct.pack("!HI", 0, mtu))
    for prefix in prefixes:
        pflags = 0x80 | (0x40 if prefix.autonomous else 0)  # L: the prefix is on-link
        address = prefix.network.network_address
        if prefix.router_address is not None:
            pflags |= 0x20
            address = prefix.router_address
        out += _option(
            NdOption.PREFIX_INFO,
            struct.pack(
                "!BBII4x16s",
                prefix.network.prefixlen,
                pflags,
                prefix.valid,
                prefix.preferred,
                address.packed,
            ),
        )
    # An option is at most 255 units of 8 bytes; longer lists take several options
    # (RFC 8106 5.1 and 5.2 allow more than one of each).
    for start in range(0, len(dns), 127):
        servers = b"".join(a.packed for a in dns[start : start + 127])
        out += _option(NdOption.RDNSS, struct.pack("!HI", 0, dns_lifetime) + servers)
    groups: list[list[str]] = []
    size = 0
    for name in domains:
        length = len(encode_domain_list([name]))
        if not groups or size + length > 255 * 8 - 8:
            groups.append([])
            size = 0
        groups[-1].append(name)
        size += length
    for group in groups:
        out += _option(
            NdOption.DNSSL, struct.pack("!HI", 0, dns_lifetime) + encode_domain_list(group)
        )
    return bytes(out)


def build_na(*, target: bytes, mac: bytes, router: bool, solicited: bool, override: bool) -> bytes:
    """An NA message with the target link-layer option (RFC 4861 4.4); checksum zero."""
    flags = (0x80 if router else 0) | (0x40 if solicited else 0) | (0x20 if override else 0)
    header = struct.pack("!BBHB3x16s", IcmpType.NEIGHBOR_ADVERTISEMENT, 0, 0, flags, target)
    return header + _option(NdOption.TARGET_LLADDR, mac)
