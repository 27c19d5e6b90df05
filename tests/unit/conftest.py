"""Shared helpers of the unit tests: scapy builds the requests and decodes the replies.

scapy is an independent oracle here: requests are built with scapy layers and every
reply the fast codec produces is decoded by scapy, its checksums recomputed by scapy,
and its options walked by a small hand-written RFC 2132 TLV reader as a second opinion.
Every frame `decode_frame`/`decode_frame6` sees is also gathered for tshark
(tests/oracle.py): at the end of each test module one tshark run decodes them all, and
any Malformed mark or Expert Info of severity warning or error fails the module.
The helpers are imported by the test modules (`from .conftest import ...`).
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.dhcp6 import DUID_LL
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import (
    ICMPv6ND_NS,
    ICMPv6ND_RS,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
    in6_chksum,
)
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from nfdhcpd.core.binding import Binding, BindingTable, parse_binding
from nfdhcpd.core.config import Config
from nfdhcpd.core.responder import Decision, Inbound, Verdict, handle

from .. import oracle

FIXTURES = Path(__file__).parent / "fixtures"

#: Every reply frame the helpers below decode, for tshark at the end of the module.
TSHARK = oracle.Collector()


@pytest.fixture(scope="module", autouse=True)
def tshark_oracle() -> Iterator[None]:
    """One tshark run per module over the replies its tests decoded (tests/oracle.py).

    Without tshark the check is skipped with a warning on a developer machine and
    fails in CI, where scripts/setup installs it."""
    TSHARK.frames.clear()
    TSHARK.origins.clear()
    yield
    if not TSHARK.frames:
        return
    if oracle.tshark() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tshark missing in CI (scripts/setup installs it)", pytrace=False)
        warnings.warn("tshark not installed: replies not checked by it", stacklevel=1)
        return
    found = TSHARK.check()
    if found:
        pytest.fail(oracle.report(found, "replies decoded by this module"), pytrace=False)


#: The sample binding file of GRNET nfdhcpd's README, verbatim.
GRNET_BINDING = """\
INDEV=tap10
IP=192.0.2.100
MAC=aa:6b:39:22:33:44
HOSTNAME=testing-vm
TAGS=""
GATEWAY=192.0.2.1
SUBNET=192.0.2.0/24
GATEWAY6=2001:db8:aaaa:bbbb::1
SUBNET6=2001:db8:aaaa:bbbb::/64
EUI64=2001:db8:aaaa:bbbb:a86b:39ff:fe22:3344
PRIVATE=
MTU=
MACSPOOF=
"""

#: The sample configuration of GRNET nfdhcpd's README, verbatim (note the TAB before "# 1 hour").
GRNET_CONFIG = """\
## nfdhcpd sample configuration file
## General options
[general]
pidfile = /var/run/nfdhcpd/nfdhcpd.pid
datapath = /var/lib/nfdhcpd # Where the client configuration will be read from
logdir = /var/log/nfdhcpd   # Where to write our logs
user = nobody # An unprivileged user to run as

## DHCP options
[dhcp]
enable_dhcp = yes
lease_lifetime = 604800 # 1 week
lease_renewal = 3600 \t# 1 hour
server_ip = 192.0.2.1
server_on_link = no
dhcp_queue = 42 # NFQUEUE number to listen on for DHCP requests
# IPv4 nameservers to include in DHCP responses
nameservers = 192.0.2.2, 192.0.2.3
# Optional domain to serve with the replies
domain = example.com

## IPv6-related functionality
[ipv6]
enable_ipv6 = yes
mode = auto
ra_period = 300 # seconds
rs_queue = 43 # NFQUEUE number to listen on for router solicitations
ns_queue = 44 # NFQUEUE number to listen on for neighbor solicitations
dhcpv6_queue = 45 # NFQUEUE number to listen on for DHCPv6 Information-Requests
# IPv6 nameservers to send using the ICMPv6 RA RDNSS option (RFC 5006)
# since it is not supported by several OS we serve them to DHCPv6 replies
nameservers = 2001:db8:100::1, 2001:db8:200::2
domains = example.com
"""

TAP = "tap10"
VM_MAC = bytes.fromhex("aa6b39223344")
VM_MAC_TEXT = "aa:6b:39:22:33:44"
TAP_MAC = bytes.fromhex("0200000000fe")  # the MAC we answer from (the TAP's or the bridge's)
TAP_MAC_TEXT = "02:00:00:00:00:fe"
OTHER_MAC = bytes.fromhex("02aabbccddee")
VM_IP = "192.0.2.100"
OTHER_IP = "192.0.2.77"
GATEWAY = "192.0.2.1"
SERVER_IP = "1.2.3.4"  # GRNET's dummy, off-link server identifier (the Config default)
RELAY_IP = "198.51.100.1"
ZERO = "0.0.0.0"
BCAST = "255.255.255.255"
BCAST_MAC = "ff:ff:ff:ff:ff:ff"
MAGIC = b"\x63\x82\x53\x63"
QUEUE = 42

BASE_CONFIG = Config(
    path="/test/nfdhcpd.conf",
    nameservers=(IPv4Address("192.0.2.2"), IPv4Address("192.0.2.3")),
    domain="example.com",
    lease_lifetime=604800,
    lease_renewal=3600,
)


def make_config(**changes: Any) -> Config:
    return dataclasses.replace(BASE_CONFIG, **changes)


def grnet_binding(**changes: Any) -> Binding:
    """The GRNET sample binding, with some fields replaced."""
    return dataclasses.replace(parse_binding(GRNET_BINDING.encode(), TAP), **changes)


def binding_from(text: str, name: str = TAP) -> Binding:
    return parse_binding(text.encode(), name)


def grnet_with(extra: str, name: str = TAP) -> Binding:
    """The GRNET sample binding file with `extra` lines appended (later keys win)."""
    return binding_from(GRNET_BINDING + extra, name)


def table_of(*bindings: Binding) -> BindingTable:
    table = BindingTable()
    for binding in bindings:
        table = table.with_binding(binding)
    return table


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


# --- decoding replies ------------------------------------------------------------


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


def decode_reply(decision: Decision, *, tap: str = TAP) -> Reply:
    """The one frame of an answered request, decoded; checks verdict and interface."""
    assert decision.verdict is Verdict.DROP, decision
    assert len(decision.frames) == 1, decision
    frame = decision.frames[0]
    assert frame.ifname == tap
    return decode_frame(frame.data)


def mac_bytes(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def ip_bytes(text: str) -> bytes:
    return IPv4Address(text).packed


def u32(value: bytes | None) -> int:
    assert value is not None and len(value) == 4
    return int.from_bytes(value, "big")


def addresses(value: bytes | None) -> list[str]:
    assert value is not None and len(value) % 4 == 0
    return [str(IPv4Address(value[i : i + 4])) for i in range(0, len(value), 4)]


# --- recorded requests from real clients -------------------------------------------


@dataclass(frozen=True)
class Recorded:
    name: str
    headers: Mapping[str, str]
    payload: bytes

    @property
    def hwsrc(self) -> bytes:
        return mac_bytes(self.headers["hwsrc"])


def load_fixture(name: str) -> Recorded:
    """A `fixtures/*.hex` file: `# key: value` header comments, then the packet in hex."""
    headers: dict[str, str] = {}
    hex_lines: list[str] = []
    for line in (FIXTURES / name).read_text().splitlines():
        if line.startswith("#"):
            key, sep, value = line[1:].partition(":")
            if sep and " " not in key.strip():
                headers.setdefault(key.strip(), value.strip())
        elif line.strip():
            hex_lines.append(line.strip())
    return Recorded(name, headers, bytes.fromhex("".join(hex_lines)))


def fixture_names() -> list[str]:
    return sorted(p.name for p in FIXTURES.glob("*.hex"))


def all_codes(options: Iterable[tuple[int, bytes]]) -> list[int]:
    """Option codes in order, repeated instances of a split option (RFC 3396) folded."""
    codes: list[int] = []
    for code, _ in options:
        if not codes or codes[-1] != code:
            codes.append(code)
    return codes


# --- IPv6: Router and Neighbor Solicitations, DHCPv6 -------------------------------

RS_QUEUE = 43
NS_QUEUE = 44
DHCP6_QUEUE = 45
SUBNET6 = "2001:db8:aaaa:bbbb::/64"
GATEWAY6 = "2001:db8:aaaa:bbbb::1"
VM_EUI64 = "2001:db8:aaaa:bbbb:a86b:39ff:fe22:3344"  # the GRNET sample's EUI64
VM_LL = "fe80::a86b:39ff:fe22:3344"
TAP_LL = "fe80::ff:fe00:fe"  # modified EUI-64 link-local of TAP_MAC, worked out by hand
OTHER6 = "2001:db8:aaaa:bbbb::77"  # another address of SUBNET6
OFF_LINK6 = "2001:db8:ffff::5"
UNSPEC6 = "::"
ALL_NODES6 = "ff02::1"
ALL_ROUTERS6 = "ff02::2"
ALL_DHCP6 = "ff02::1:2"
#: A DUID-UUID (RFC 6355): type 4, then 16 bytes.
SERVER_DUID = bytes.fromhex("0004") + bytes(range(16))
NAMESERVERS6 = ("2001:db8:100::1", "2001:db8:200::2")

V6_CONFIG = make_config(
    server_duid=SERVER_DUID,
    nameservers6=tuple(IPv6Address(a) for a in NAMESERVERS6),
    domains6=("example.com",),
)


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
    assert decision.verdict is Verdict.DROP, decision
    assert len(decision.frames) == 1, decision
    frame = decision.frames[0]
    assert frame.ifname == tap
    return decode_frame6(frame.data)


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
