"""The option table and the one-line describer, against scapy's and tshark's decoding
of the same packets (oracles we did not write)."""

from __future__ import annotations

import json
import shutil
import subprocess
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.dhcp import BOOTP, DHCP, DHCPRevOptions
from scapy.layers.dhcp6 import (
    DHCP6_Solicit,
    DHCP6OptClientId,
    DHCP6OptElapsedTime,
    DHCP6OptIA_NA,
    DHCP6OptIAAddress,
    DHCP6OptOptReq,
)
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import ICMPv6ND_RS, IPv6
from scapy.layers.l2 import Ether

from nfdhcpd.core import options4
from nfdhcpd.core.binding import Route
from nfdhcpd.core.describe import describe_frame, describe_packet
from nfdhcpd.core.wire import encode_domain_list

from .. import oracle
from ..helpers.builders import client_duid, inbound, run
from ..helpers.samples import VM_LL, VM_MAC

ips = st.ip_addresses(v=4).map(str)
text = st.binary(min_size=1, max_size=12)
#: scapy option tuples, by how scapy names them
scapy_option = st.one_of(
    st.tuples(st.sampled_from(["requested_addr", "server_id", "subnet_mask"]), ips),
    st.builds(
        lambda n, a: (n, *a),
        st.sampled_from(["router", "name_server", "NTP_server"]),
        st.lists(ips, min_size=1, max_size=3),
    ),
    st.tuples(st.just("param_req_list"), st.lists(st.integers(1, 254), min_size=1, max_size=8)),
    st.tuples(st.sampled_from(["client_id", "hostname", "vendor_class_id"]), text),
    st.tuples(st.sampled_from(["lease_time", "renewal_time"]), st.integers(0, 2**32 - 1)),
    st.tuples(st.sampled_from(["max_dhcp_size", "interface-mtu"]), st.integers(0, 65535)),
    st.tuples(
        st.just("classless_static_routes"),
        st.lists(
            st.builds(
                lambda width, net, r: f"{IPv4Network(f'{net}/{width}', strict=False)}:{r}",
                st.integers(0, 32),
                ips,
                ips,
            ),
            min_size=1,
            max_size=3,
        ),
    ),
)


def quoted(raw: bytes) -> str:
    """The describer's quoting, written out again: printable ASCII but space, quote and
    backslash as is, the rest as \\xNN."""
    return (
        '"'
        + "".join(chr(b) if 32 < b < 127 and chr(b) not in '"\\' else f"\\x{b:02x}" for b in raw)
        + '"'
    )


def expected_token(option: tuple[Any, ...]) -> str:
    """What the describer must say for one option, from scapy's decoding of it."""
    name, *values = option
    code = DHCPRevOptions[name][0]
    if name == "param_req_list":
        value = ",".join(map(str, values[0]))
    elif name == "classless_static_routes":
        value = ",".join(r.replace(":", ">") for r in values[0])
    elif name == "client_id":
        value = values[0].hex(":")
    elif isinstance(values[0], bytes):
        value = quoted(values[0])
    else:
        value = ",".join(map(str, values))
    return f"{code}={value}"


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([1, 3, 8]),
    st.lists(scapy_option, max_size=8, unique_by=lambda o: o[0]),
    st.integers(0, 2**32 - 1),
    st.booleans(),
)
def test_dhcp4_describer_agrees_with_scapy(
    mtype: int, options: list[tuple[Any, ...]], xid: int, broadcast: bool
) -> None:
    bootp = BOOTP(chaddr=VM_MAC, xid=xid, flags=0x8000 if broadcast else 0, ciaddr="192.0.2.9")
    packet = bytes(
        IP(src="0.0.0.0", dst="255.255.255.255")
        / UDP(sport=68, dport=67)
        / bootp
        / DHCP(options=[("message-type", mtype), *options, "end"])
    )
    decoded = IP(packet)
    seen = [o for o in decoded[DHCP].options if isinstance(o, tuple)]
    head = {1: "DHCPDISCOVER", 3: "DHCPREQUEST", 8: "DHCPINFORM"}[decoded[DHCP].options[0][1]]
    words = [head, f"xid=0x{decoded[BOOTP].xid:08x}", "chaddr=aa:6b:39:22:33:44"]
    words += [f"ciaddr={decoded[BOOTP].ciaddr}"] + (["flags=B"] if broadcast else [])
    words += ["opts:", *map(expected_token, seen)]
    assert describe_packet(packet) == " ".join(words)


def test_the_table_encodes_what_scapy_decodes() -> None:
    """Replies are encoded through the table: each codec's bytes, decoded by scapy."""
    routes = [Route(IPv4Network("10.0.0.0/8"), IPv4Address("192.0.2.1"))]
    values: dict[int, Any] = {
        1: IPv4Address("255.255.255.0"),
        6: (IPv4Address("192.0.2.2"), IPv4Address("192.0.2.3")),
        12: "vm1",
        26: 1400,
        51: 86400,
        53: 5,
        121: routes,
    }
    raw = b"".join(
        bytes((c, len(options4.encode(c, v)))) + options4.encode(c, v) for c, v in values.items()
    )
    decoded = DHCP(raw + b"\xff").options
    assert decoded[:-1] == [
        ("subnet_mask", "255.255.255.0"),
        ("name_server", "192.0.2.2", "192.0.2.3"),
        ("hostname", b"vm1"),
        ("interface-mtu", 1400),
        ("lease_time", 86400),
        ("message-type", 5),
        ("classless_static_routes", ["10.0.0.0/8:192.0.2.1"]),
    ]


def test_an_offer_is_described_option_by_option() -> None:
    discover = IP(src="0.0.0.0", dst="255.255.255.255") / UDP(sport=68, dport=67)
    discover /= BOOTP(chaddr=VM_MAC, xid=7) / DHCP(options=[("message-type", 1), "end"])
    decision = run(inbound(bytes(discover)))
    line = describe_frame(decision.frames[0].data)
    offer = Ether(decision.frames[0].data)
    assert line.startswith("DHCPOFFER xid=0x00000007 chaddr=aa:6b:39:22:33:44 ")
    assert f"yiaddr={offer[BOOTP].yiaddr}" in line
    seen = [o for o in offer[DHCP].options if isinstance(o, tuple) and o[0] in DHCPRevOptions]
    for option in seen:
        assert expected_token(option) in line.split(), (option, line)


def test_malformed_and_foreign_packets_are_described_not_raised() -> None:
    packet = bytes(IP() / UDP(sport=68, dport=67) / (b"\x01" * 20))
    assert describe_packet(packet).startswith("malformed: bootp at offset 28: 20 bytes")
    assert describe_packet(b"") == "not IP: 0 bytes"
    assert describe_packet(bytes(IP(proto=6))).startswith("IPv4 protocol 6")
    # an ICMPv6 header that says its payload is empty, with bytes after it
    empty = bytes(IPv6(src=VM_LL, dst="ff02::2", nh=58, plen=0)) + bytes(8)
    assert describe_packet(empty) == "IPv6 next header 58, 48 bytes"


SEARCH_FIELD = "dhcp.option.dhcp_dns_domain_search_list_fqdn"  # RFC 3397, tshark 4


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_search_list_and_dhcpv6_agree_with_tshark(tmp_path: Path) -> None:
    """scapy knows neither option 119 nor every DHCPv6 option's text: tshark does."""
    names = ["a.example", "vm.b.example"]
    search = encode_domain_list(names)
    v4 = Ether() / IP(src="0.0.0.0", dst="255.255.255.255") / UDP(sport=68, dport=67)
    v4 /= BOOTP(chaddr=VM_MAC, xid=1) / DHCP(options=[("message-type", 1), (119, search), "end"])
    v6 = Ether() / IPv6(src=VM_LL, dst="ff02::1:2") / UDP(sport=546, dport=547)
    v6 /= DHCP6_Solicit(trid=0xABCDEF) / DHCP6OptClientId(duid=client_duid())
    v6 /= DHCP6OptElapsedTime(elapsedtime=12) / DHCP6OptOptReq(reqopts=[23, 24])
    v6 /= DHCP6OptIA_NA(iaid=0x01020304, T1=10, T2=20, ianaopts=[
        DHCP6OptIAAddress(addr="2001:db8::5", preflft=30, validlft=40)])  # fmt: skip
    pcap = tmp_path / "d.pcap"
    oracle.write_pcap(pcap, [bytes(v4), bytes(v6)])
    wanted = [SEARCH_FIELD, "dhcpv6.xid", "dhcpv6.option.type", "dhcpv6.elapsed_time"]
    wanted += ["dhcpv6.requested_option_code", "dhcpv6.iaid", "dhcpv6.iaaddr.ip"]
    command = ["tshark", "-r", str(pcap), "-T", "json"]
    command += [arg for field in wanted for arg in ("-e", field)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    fields = [p["_source"]["layers"] for p in json.loads(out)]
    line4, line6 = describe_frame(bytes(v4)), describe_frame(bytes(v6))
    assert (
        f"119={','.join(fields[0]['dhcp.option.dhcp_dns_domain_search_list_fqdn'])}"
        in line4.split()
    )
    six = fields[1]
    assert line6.startswith(f"DHCPv6 SOLICIT xid=0x{int(six['dhcpv6.xid'][0], 16):06x} opts: ")
    codes = [int(c) for c in six["dhcpv6.option.type"]]
    tokens = line6.split(" opts: ")[1].split()
    assert [int(t.split("=")[0]) for t in tokens] == [c for c in codes if c != 5]
    # RFC 8415 21.9: hundredths of a second, as sent; tshark shows milliseconds
    assert f"8={int(six['dhcpv6.elapsed_time'][0]) // 10}" in tokens
    assert f"6={','.join(six['dhcpv6.requested_option_code'])}" in tokens
    ia = next(t for t in tokens if t.startswith("3="))
    assert ia.startswith(f"3=iaid=0x{int(six['dhcpv6.iaid'][0], 16):08x},t1=10,t2=20")
    assert f"5={six['dhcpv6.iaaddr.ip'][0]},30,40" in ia


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["dhcp4", "dhcp6", "rs"]), st.data())
def test_any_damage_is_described_never_raised(kind: str, data: st.DataObject) -> None:
    """The describer runs on the packet path (at debug level): whatever a VM sends, it
    returns a line."""
    v6 = IPv6(src=VM_LL, dst="ff02::1:2")
    base = {
        "dhcp4": IP() / UDP(sport=68, dport=67) / BOOTP() / DHCP(options=[("message-type", 1)]),
        "dhcp6": v6 / UDP(sport=546, dport=547) / DHCP6_Solicit() / DHCP6OptIA_NA(),
        "rs": IPv6(src=VM_LL, dst="ff02::2") / ICMPv6ND_RS(),
    }[kind]
    packet = bytearray(bytes(base))
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(packet) - 1))
        packet[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(packet)))
    assert isinstance(describe_packet(bytes(packet[:cut])), str)
    assert isinstance(describe_frame(bytes(14) + bytes(packet)), str)
