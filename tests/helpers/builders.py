"""Requests built with scapy, as NFQUEUE hands them to us, and `run`: the core's
`handle` plus the invariants every decision keeps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from ipaddress import IPv6Address
from typing import Any

from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.dhcp6 import DUID_LL
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import ICMPv6ND_NS, ICMPv6ND_RS, ICMPv6NDOptSrcLLAddr, IPv6
from scapy.packet import Raw

from nfdhcpd.core.binding import Binding
from nfdhcpd.core.config import Config
from nfdhcpd.core.responder import Decision, Inbound, Verdict, handle

from .samples import (
    ALL_DHCP6,
    ALL_ROUTERS6,
    BASE_CONFIG,
    BCAST,
    QUEUE,
    TAP,
    TAP_MAC,
    UNSPEC6,
    VM_LL,
    VM_MAC,
    VM_MAC_TEXT,
    ZERO,
    grnet_binding,
    table_of,
)


def dhcp_request(
    mtype: int | str | None,
    *,
    options: Sequence[Any] = (),
    xid: int = 0x12345678,
    flags: int = 0,
    ciaddr: str = ZERO,
    giaddr: str = ZERO,
    chaddr: bytes = VM_MAC,
    src: str = ZERO,
    dst: str = BCAST,
    sport: int = 68,
    op: int = 1,
    hlen: int = 6,
) -> bytes:
    """A request built with scapy: the IP packet as NFQUEUE hands it to us."""
    opts: list[Any] = [("message-type", mtype)] if mtype is not None else []
    opts += [*options, "end"]
    pkt = (
        IP(src=src, dst=dst)
        / UDP(sport=sport, dport=67)
        / BOOTP(
            op=op,
            hlen=hlen,
            xid=xid,
            flags=flags,
            ciaddr=ciaddr,
            giaddr=giaddr,
            chaddr=chaddr,
        )
        / DHCP(options=opts)
    )
    return bytes(pkt)


def wrap_udp(bootp: bytes, *, src: str = ZERO, dst: str = BCAST, sport: int = 68) -> bytes:
    """Any bytes as the payload of a well-formed IP/UDP datagram to port 67."""
    return bytes(IP(src=src, dst=dst) / UDP(sport=sport, dport=67) / Raw(bootp))


def inbound(
    payload: bytes,
    *,
    queue: int = QUEUE,
    indev: str = TAP,
    physindev: str | None = None,
    hwsrc: bytes | None = VM_MAC,
    ifmac: bytes | None = TAP_MAC,
) -> Inbound:
    return Inbound(
        queue=queue, indev=indev, physindev=physindev, hwsrc=hwsrc, ifmac=ifmac, payload=payload
    )


def run(
    packet: Inbound,
    table: Mapping[str, Binding] | None = None,
    config: Config = BASE_CONFIG,
) -> Decision:
    """`responder.handle`, plus the invariants every decision must keep."""
    if table is None:
        table = table_of(grnet_binding())
    decision = handle(packet, table, config)
    assert isinstance(decision, Decision)
    assert isinstance(decision.verdict, Verdict)
    assert decision.event
    assert isinstance(decision.reason, str)
    if decision.verdict is Verdict.ACCEPT:
        assert decision.frames == (), "an ACCEPTed packet goes on; we must not answer it too"
    return decision


def solicited_node6(address: str) -> str:
    """ff02::1:ffXX:XXXX, by hand from RFC 4291 section 2.7.1."""
    low = IPv6Address(address).packed[13:]
    return str(IPv6Address(IPv6Address("ff02::1:ff00:0").packed[:13] + low))


def rs_request(
    *, src: str = VM_LL, dst: str = ALL_ROUTERS6, hlim: int = 255, slla: str | None = VM_MAC_TEXT
) -> bytes:
    """A Router Solicitation built with scapy (the IPv6 packet NFQUEUE hands us)."""
    pkt = IPv6(src=src, dst=dst, hlim=hlim) / ICMPv6ND_RS()
    if slla is not None:
        pkt = pkt / ICMPv6NDOptSrcLLAddr(lladdr=slla)
    return bytes(pkt)


def ns_request(
    target: str,
    *,
    src: str = VM_LL,
    dst: str | None = None,
    hlim: int = 255,
    slla: str | None = VM_MAC_TEXT,
) -> bytes:
    """A Neighbor Solicitation built with scapy; to the target's solicited-node group."""
    pkt = IPv6(src=src, dst=dst or solicited_node6(target), hlim=hlim) / ICMPv6ND_NS(tgt=target)
    if slla is not None and src != UNSPEC6:
        pkt = pkt / ICMPv6NDOptSrcLLAddr(lladdr=slla)
    return bytes(pkt)


def dad_request(target: str) -> bytes:
    """Duplicate address detection (RFC 4862 5.4.2): an NS from :: without SLLA."""
    return ns_request(target, src=UNSPEC6, slla=None)


def client_duid() -> Any:
    """The VM's DUID-LL (RFC 8415 11.4), as a scapy layer."""
    return DUID_LL(lladdr=VM_MAC_TEXT)


CLIENT_DUID = bytes(client_duid())


def dhcp6_request(
    message: Any,
    *options: Any,
    src: str = VM_LL,
    dst: str = ALL_DHCP6,
    sport: int = 546,
    dport: int = 547,
) -> bytes:
    """A DHCPv6 message (a scapy DHCP6_* layer) and its options, in IPv6/UDP."""
    pkt = IPv6(src=src, dst=dst) / UDP(sport=sport, dport=dport) / message
    for option in options:
        pkt = pkt / option
    return bytes(pkt)
