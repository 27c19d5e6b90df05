"""Ethernet, IPv4 and UDP headers: parse what NFQUEUE hands us, build what we inject.

NFQUEUE delivers the packet from the network header on (no Ethernet header); the
layer-2 source comes separately from the queue's hardware-address attribute.
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import NamedTuple

from .decision import NEW_TUPLE
from .errors import BadChecksum, MalformedPacket
from .wire import checksum


class EtherType(IntEnum):
    """IEEE 802 EtherTypes we emit."""

    IPV4 = 0x0800
    IPV6 = 0x86DD


class IPProto(IntEnum):
    """IANA protocol numbers (RFC 790 and successors)."""

    UDP = 17
    ICMPV6 = 58


_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_UDP = struct.Struct("!HHHH")
_ETH = struct.Struct("!6s6sH")


class Udp4(NamedTuple):
    """An IPv4 UDP datagram as received: addresses packed, payload sliced out."""

    src: bytes
    dst: bytes
    sport: int
    dport: int
    payload: bytes
    at: int  # where the payload starts in the packet


def parse_udp4(packet: bytes) -> Udp4:
    """Parse an IPv4 header (RFC 791) and the UDP header (RFC 768) after it."""
    if len(packet) < 20:
        raise MalformedPacket("ipv4.header", 0, f"{len(packet)} bytes, need 20")
    vihl, _tos, total, _ident, frag, _ttl, proto, _csum, src, dst = _IPV4.unpack_from(packet)
    if vihl >> 4 != 4:
        raise MalformedPacket("ipv4.version", 0, f"version {vihl >> 4}")
    ihl = (vihl & 0x0F) * 4
    if ihl < 20 or total < ihl or total > len(packet):
        raise MalformedPacket("ipv4.length", 2, f"ihl {ihl}, total {total}, have {len(packet)}")
    if frag & 0x3FFF:
        raise MalformedPacket("ipv4.fragment", 6, "fragments are not reassembled here")
    if proto != IPProto.UDP:
        raise MalformedPacket("ipv4.protocol", 9, f"protocol {proto}, expected UDP")
    if total - ihl < 8:
        raise MalformedPacket("udp.header", ihl, f"{total - ihl} bytes, need 8")
    sport, dport, ulen, ucsum = _UDP.unpack_from(packet, ihl)
    if ulen < 8 or ulen > total - ihl:
        raise MalformedPacket("udp.length", ihl + 4, f"length {ulen}, have {total - ihl}")
    segment = packet[ihl : ihl + ulen]
    # RFC 768: zero means the sender computed none; any other value must verify: the
    # ones' complement sum of pseudo-header and datagram is then 0xFFFF, 0 modulo
    # 0xFFFF (summed by parts, see build_udp4; with its checksum the datagram is not
    # all zeros).
    if ucsum:
        data = int.from_bytes(segment, "big")
        if ulen & 1:
            data <<= 8
        if (_words(src) + _words(dst) + IPProto.UDP + ulen + data) % 0xFFFF:
            raise BadChecksum("udp.checksum", ihl + 6, f"{ucsum:#06x} does not verify")
    return NEW_TUPLE(Udp4, (src, dst, sport, dport, segment[8:], ihl + 8))


def build_udp4(src: bytes, dst: bytes, sport: int, dport: int, payload: bytes) -> bytes:
    """An IPv4 header (TTL 64, no options) and UDP header with both checksums.

    Both are summed by parts (RFC 1071: the ones' complement sum is associative, and
    each part here is a whole number of 16-bit words, the payload last), the headers'
    fields as numbers and the payload as one integer: the datagram is concatenated
    once, at the end, not once per checksum (this runs for every reply).
    """
    ulen = 8 + len(payload)
    addresses = _words(src) + _words(dst)
    data = int.from_bytes(payload, "big")
    if ulen & 1:  # an odd length is padded with a zero byte
        data <<= 8
    ucsum = _complement(addresses + IPProto.UDP + ulen + sport + dport + ulen + data)
    # RFC 768: a computed zero is sent as all ones (zero means "no checksum").
    header = _complement(0x4500 + 20 + ulen + (64 << 8 | IPProto.UDP) + addresses)
    return (
        _IPV4.pack(0x45, 0, 20 + ulen, 0, 0, 64, IPProto.UDP, header, src, dst)
        + _UDP.pack(sport, dport, ulen, ucsum or 0xFFFF)
        + payload
    )


def _words(address: bytes) -> int:
    """The sum of an IPv4 address's two 16-bit words."""
    return (address[0] << 8 | address[1]) + (address[2] << 8 | address[3])


def _complement(total: int) -> int:
    """The Internet checksum of words summing to `total` (> 0): the ones' complement of
    their ones' complement sum, the integer modulo 0xFFFF (0 read as 0xFFFF, since the
    words are not all zero; see wire.checksum)."""
    return ~(total % 0xFFFF or 0xFFFF) & 0xFFFF


def build_ether(dst: bytes, src: bytes, ethertype: EtherType, payload: bytes) -> bytes:
    return _ETH.pack(dst, src, ethertype) + payload


_IPV6 = struct.Struct("!IHBB16s16s")


class Ip6(NamedTuple):
    """An IPv6 packet as received (RFC 8200 section 3); no extension headers expected."""

    src: bytes
    dst: bytes
    next_header: int
    hop_limit: int
    payload: bytes


def parse_ipv6(packet: bytes) -> Ip6:
    if len(packet) < 40:
        raise MalformedPacket("ipv6.header", 0, f"{len(packet)} bytes, need 40")
    vtf, plen, next_header, hop_limit, src, dst = _IPV6.unpack_from(packet)
    if vtf >> 28 != 6:
        raise MalformedPacket("ipv6.version", 0, f"version {vtf >> 28}")
    if 40 + plen > len(packet):
        raise MalformedPacket("ipv6.payload_length", 4, f"{plen}, have {len(packet) - 40}")
    return Ip6(src, dst, next_header, hop_limit, packet[40 : 40 + plen])


def upper_checksum6(src: bytes, dst: bytes, proto: int, data: bytes) -> int:
    """Checksum over the RFC 8200 section 8.1 pseudo-header and `data`."""
    return checksum(src + dst + struct.pack("!I3xB", len(data), proto) + data)


def build_ipv6(src: bytes, dst: bytes, proto: IPProto, hop_limit: int, payload: bytes) -> bytes:
    return _IPV6.pack(6 << 28, len(payload), proto, hop_limit, src, dst) + payload


def build_icmp6(src: bytes, dst: bytes, hop_limit: int, message: bytes) -> bytes:
    """IPv6 + ICMPv6 (RFC 4443); `message` has a zero checksum field at bytes 2-3."""
    csum = upper_checksum6(src, dst, IPProto.ICMPV6, message)
    message = message[:2] + struct.pack("!H", csum) + message[4:]
    return build_ipv6(src, dst, IPProto.ICMPV6, hop_limit, message)


#: Where a UDP payload starts in an IPv6 packet (no extension headers are accepted).
UDP6_PAYLOAD_AT = 48


def parse_udp6(ip: Ip6) -> tuple[int, int, bytes]:
    """(source port, destination port, payload) of a UDP datagram in `ip`; the payload
    starts at `UDP6_PAYLOAD_AT` in the packet."""
    if ip.next_header != IPProto.UDP:
        raise MalformedPacket("ipv6.next_header", 6, f"{ip.next_header}, expected UDP")
    if len(ip.payload) < 8:
        raise MalformedPacket("udp.header", 40, f"{len(ip.payload)} bytes, need 8")
    sport, dport, ulen, ucsum = _UDP.unpack_from(ip.payload)
    if ulen < 8 or ulen > len(ip.payload):
        raise MalformedPacket("udp.length", 44, f"length {ulen}, have {len(ip.payload)}")
    # RFC 8200 8.1: the checksum is mandatory over IPv6; zero is discarded too.
    if ucsum == 0 or upper_checksum6(ip.src, ip.dst, IPProto.UDP, ip.payload[:ulen]):
        raise BadChecksum("udp.checksum", 46, f"{ucsum:#06x} does not verify")
    return sport, dport, ip.payload[8:ulen]


def build_udp6(src: bytes, dst: bytes, sport: int, dport: int, payload: bytes) -> bytes:
    udp = _UDP.pack(sport, dport, 8 + len(payload), 0) + payload
    csum = upper_checksum6(src, dst, IPProto.UDP, udp) or 0xFFFF  # zero is illegal in IPv6
    udp = udp[:6] + struct.pack("!H", csum) + udp[8:]
    return build_ipv6(src, dst, IPProto.UDP, 64, udp)
