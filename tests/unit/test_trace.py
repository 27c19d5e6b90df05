"""The pcap trace: written with struct, read back by scapy's rdpcap."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import ICMPv6ND_RS, IPv6
from scapy.layers.l2 import Ether
from scapy.utils import rdpcap

from nfdhcpd.core.config import parse_config
from nfdhcpd.core.errors import ConfigError
from nfdhcpd.core.responder import Frame, Inbound
from nfdhcpd.ops.trace import PcapWriter

VM_MAC = "52:54:00:12:34:56"
TAP_MAC = "fe:54:00:12:34:56"


def inbound(payload: bytes) -> Inbound:
    return Inbound(
        queue=42,
        indev="tap1",
        physindev=None,
        hwsrc=bytes.fromhex(VM_MAC.replace(":", "")),
        ifmac=bytes.fromhex(TAP_MAC.replace(":", "")),
        payload=payload,
    )


def discover(xid: int = 0x1234) -> bytes:
    return bytes(
        IP(src="0.0.0.0", dst="255.255.255.255")
        / UDP(sport=68, dport=67)
        / BOOTP(chaddr=bytes.fromhex(VM_MAC.replace(":", "")), xid=xid)
        / DHCP(options=[("message-type", "discover"), "end"])
    )


def test_request_and_reply_read_back_by_scapy(tmp_path: Path) -> None:
    path = tmp_path / "t.pcap"
    writer = PcapWriter(str(path))
    reply = bytes(
        Ether(src=TAP_MAC, dst=VM_MAC)
        / IP(src="192.0.2.1", dst="192.0.2.100")
        / UDP(sport=67, dport=68)
        / BOOTP(op=2, xid=0x1234, yiaddr="192.0.2.100")
        / DHCP(options=[("message-type", "offer"), "end"])
    )
    writer.record(inbound(discover()), [Frame("tap1", reply)])
    # Flushed per packet: readable before the writer is closed.
    packets = rdpcap(str(path))
    assert len(packets) == 2
    request, answer = packets
    assert request[Ether].src == VM_MAC
    assert request[Ether].dst == "ff:ff:ff:ff:ff:ff"  # IPv4 broadcast
    assert bytes(request[IP]) == discover()
    assert request[DHCP].options[0] == ("message-type", 1)
    assert request[BOOTP].xid == answer[BOOTP].xid == 0x1234
    assert bytes(answer) == reply
    assert request.time <= answer.time
    writer.close()


def test_ipv6_multicast_request_and_periodic_frames(tmp_path: Path) -> None:
    path = tmp_path / "t.pcap"
    writer = PcapWriter(str(path))
    rs = bytes(IPv6(src="fe80::1", dst="ff02::2", hlim=255) / ICMPv6ND_RS())
    writer.record(inbound(rs), [])
    unicast = bytes(IP(src="10.0.0.2", dst="192.0.2.1") / UDP(sport=68, dport=67))
    writer.record(inbound(unicast), [])
    ra = bytes(Ether(src=TAP_MAC, dst="33:33:00:00:00:01") / IPv6(dst="ff02::1"))
    writer.record(None, [Frame("tap1", ra)])  # a periodic RA: no request
    writer.close()
    first, second, third = rdpcap(str(path))
    assert first[Ether].dst == "33:33:00:00:00:02"  # RFC 2464 7
    assert first[Ether].type == 0x86DD and first.haslayer(ICMPv6ND_RS)
    assert second[Ether].dst == TAP_MAC  # unicast: to the interface it came in on
    assert bytes(third) == ra


def test_trace_file_is_new_and_private(tmp_path: Path) -> None:
    path = tmp_path / "t.pcap"
    path.write_bytes(b"old contents")
    PcapWriter(str(path)).close()
    assert rdpcap(str(path)) is not None and len(rdpcap(str(path))) == 0
    assert path.stat().st_mode & 0o777 == 0o640


def test_trace_key() -> None:
    assert parse_config("[general]\ntrace = /var/tmp/x.pcap\n").trace == "/var/tmp/x.pcap"
    assert parse_config("[general]\ntrace =\n").trace is None
    with pytest.raises(ConfigError, match=re.escape("trace = 'x.pcap': not an absolute path")):
        parse_config("[general]\ntrace = x.pcap\n")
