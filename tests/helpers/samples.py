"""Sample inputs of the unit tests: GRNET's README binding and configuration,
the addresses and MACs of the one VM the tests serve, configurations built from them,
and the requests real clients sent (fixtures/*.hex)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any

from nfdhcpd.core.binding import Binding, BindingTable, parse_binding
from nfdhcpd.core.config import Config

FIXTURES = Path(__file__).parents[1] / "unit" / "fixtures"


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


def mac_bytes(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def ip_bytes(text: str) -> bytes:
    return IPv4Address(text).packed


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
