"""Oracles for the replies: scapy decodes every frame and recomputes its checksums,
small hand-written RFC readers give a second opinion on the options, and every frame
decoded here is gathered in `TSHARK` for one tshark run per test module (the unit
conftest's fixture, tests/oracle.py)."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any

from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6, in6_chksum
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from nfdhcpd.core.responder import Decision, Verdict

from .. import oracle
from .readers import walk_options
from .samples import MAGIC, TAP

#: Every reply frame the helpers below decode, for tshark at the end of the module.
TSHARK = oracle.Collector()


def assert_checksums(frame: bytes) -> None:
    """Have scapy recompute the IPv4 and UDP checksums and lengths; they must agree."""
    ip = IP(frame[14:])
    total = ip.len
    udp_payload = frame[14 + ip.ihl * 4 + 8 : 14 + total]
    fresh = (
        IP(
            tos=ip.tos,
            id=ip.id,
            flags=ip.flags,
            frag=ip.frag,
            ttl=ip.ttl,
            src=ip.src,
            dst=ip.dst,
        )
        / UDP(sport=ip[UDP].sport, dport=ip[UDP].dport)
        / Raw(udp_payload)
    )
    rebuilt = IP(bytes(fresh))
    assert rebuilt.chksum == ip.chksum, "IPv4 header checksum"
    assert rebuilt[UDP].chksum == ip[UDP].chksum, "UDP checksum"
    assert bytes(fresh) == frame[14 : 14 + total]


@dataclass(frozen=True)
class Reply:
    """A reply frame decoded by scapy, with its options also walked by hand."""

    data: bytes
    pkt: Any  # scapy Ether
    options: tuple[tuple[int, bytes], ...]  # raw options in wire order

    @property
    def ip(self) -> Any:
        return self.pkt[IP]

    @property
    def udp(self) -> Any:
        return self.pkt[UDP]

    @property
    def bootp(self) -> Any:
        return self.pkt[BOOTP]

    @property
    def codes(self) -> list[int]:
        return [code for code, _ in self.options]

    def option(self, code: int) -> bytes | None:
        """The value of option `code`, instances joined (RFC 3396), None if absent."""
        parts = [value for c, value in self.options if c == code]
        return b"".join(parts) if parts else None

    def scapy_options(self) -> dict[Any, tuple[Any, ...]]:
        """scapy's own decoding of the options: name (or code) -> values."""
        decoded: dict[Any, tuple[Any, ...]] = {}
        for item in self.pkt[DHCP].options:
            if isinstance(item, tuple):
                decoded[item[0]] = tuple(item[1:])
        return decoded

    def scapy_option(self, name: str) -> Any:
        values = self.scapy_options()[name]
        return values[0] if len(values) == 1 else values

    @property
    def msg_type(self) -> int:
        value = self.option(53)
        assert value is not None and len(value) == 1
        return value[0]

    @property
    def size(self) -> int:
        """Length of the IP datagram (what option 57 and the 576 rule limit)."""
        return len(self.data) - 14


def decode_frame(data: bytes) -> Reply:
    TSHARK.add(data)
    pkt = Ether(data)
    assert pkt.type == 0x0800
    for layer in (IP, UDP, BOOTP, DHCP):
        assert layer in pkt, f"{layer.__name__} missing"
    ip = pkt[IP]
    assert ip.version == 4
    assert ip.ihl == 5
    assert ip.proto == 17
    assert ip.len == len(data) - 14, "no Ethernet padding, IP length covers the frame"
    assert ip.frag == 0
    assert not ip.flags.MF
    assert ip.ttl > 0
    assert pkt[UDP].len == ip.len - 20
    assert pkt[UDP].sport == 67
    assert_checksums(data)
    bootp = data[42:]
    assert len(bootp) >= 241
    assert bootp[236:240] == MAGIC
    assert pkt[BOOTP].op == 2
    return Reply(data, pkt, walk_options(bootp[240:]))


def one_frame(decision: Decision, tap: str) -> bytes:
    """The one frame of an answered request: the request DROPped, one reply, on `tap`."""
    assert decision.verdict is Verdict.DROP, decision
    assert len(decision.frames) == 1, decision
    frame = decision.frames[0]
    assert frame.ifname == tap
    return frame.data


def decode_reply(decision: Decision, *, tap: str = TAP) -> Reply:
    """The one frame of an answered request, decoded."""
    return decode_frame(one_frame(decision, tap))


def u32(value: bytes | None) -> int:
    assert value is not None and len(value) == 4
    return int.from_bytes(value, "big")


def addresses(value: bytes | None) -> list[str]:
    assert value is not None and len(value) % 4 == 0
    return [str(IPv4Address(value[i : i + 4])) for i in range(0, len(value), 4)]


def assert_checksum6(packet: bytes) -> None:
    """scapy recomputes the ICMPv6 or UDP checksum over the RFC 8200 pseudo-header."""
    ip = IPv6(packet)
    upper = bytearray(packet[40 : 40 + ip.plen])
    offset = {58: 2, 17: 6}[ip.nh]
    sent = int.from_bytes(upper[offset : offset + 2], "big")
    upper[offset : offset + 2] = b"\0\0"
    expected = in6_chksum(ip.nh, ip, bytes(upper))
    if ip.nh == 17 and expected == 0:
        expected = 0xFFFF
    assert sent == expected, f"checksum {sent:#06x}, scapy says {expected:#06x}"


def decode_frame6(data: bytes) -> Any:
    """An IPv6 frame we built, decoded by scapy after the checks every frame must pass."""
    TSHARK.add(data)
    pkt = Ether(data)
    assert pkt.type == 0x86DD
    ip = pkt[IPv6]
    assert ip.version == 6
    assert ip.plen == len(data) - 54, "no padding, payload length covers the frame"
    assert ip.nh in (17, 58)
    assert_checksum6(data[14:])
    return pkt


def decode_reply6(decision: Decision, *, tap: str = TAP) -> Any:
    """The one frame of an answered IPv6 request, decoded by scapy."""
    return decode_frame6(one_frame(decision, tap))
