"""Ethernet, IPv4 and UDP headers: parse what NFQUEUE hands us, build what we inject.

NFQUEUE delivers the packet from the network header on (no Ethernet header); the
layer-2 source comes separately from the queue's hardware-address attribute.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from .errors import MalformedPacket
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


@dataclass(frozen=True, slots=True)
class Udp4:
    """An IPv4 UDP datagram as received: addresses packed, payload sliced out."""

    src: bytes
    dst: bytes
    sport: int
    dport: int
    payload: bytes


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
    sport, dport, ulen, _ucsum = _UDP.unpack_from(packet, ihl)
    if ulen < 8 or ulen > total - ihl:
        raise MalformedPacket("udp.length", ihl + 4, f"length {ulen}, have {total - ihl}")
    return Udp4(src, dst, sport, dport, packet[ihl + 8 : ihl + ulen])


def build_udp4(src: bytes, dst: bytes, sport: int, dport: int, payload: bytes) -> bytes:
    """An IPv4 header (TTL 64, no options) and UDP header with both checksums."""
    ulen = 8 + len(payload)
    pseudo = src + dst + struct.pack("!xBH", IPProto.UDP, ulen)
    udp = _UDP.pack(sport, dport, ulen, 0) + payload
    ucsum = checksum(pseudo + udp) or 0xFFFF  # RFC 768: a computed zero is sent as all ones
    header = _IPV4.pack(0x45, 0, 20 + ulen, 0, 0, 64, IPProto.UDP, 0, src, dst)
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + udp[:6] + struct.pack("!H", ucsum) + udp[8:]


def build_ether(dst: bytes, src: bytes, ethertype: EtherType, payload: bytes) -> bytes:
    return _ETH.pack(dst, src, ethertype) + payload
