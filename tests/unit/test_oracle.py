"""The tshark oracle (tests/oracle.py) must catch what it is there to catch: a check
that never fails would let every reply through."""

from __future__ import annotations

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from .. import oracle

pytestmark = pytest.mark.skipif(oracle.tshark() is None, reason="tshark not installed")


def offer() -> bytes:
    return bytes(
        Ether(dst="aa:6b:39:22:33:44", src="02:00:00:00:00:fe")
        / IP(src="192.0.2.1", dst="192.0.2.100")
        / UDP(sport=67, dport=68)
        / BOOTP(op=2, yiaddr="192.0.2.100", chaddr=bytes.fromhex("aa6b39223344"))
        / DHCP(options=[("message-type", "offer"), ("server_id", "192.0.2.1"), "end"])
    )


def test_clean_frame_has_no_findings() -> None:
    assert oracle.check_frames([offer()]) == []


def test_truncated_frame_is_malformed() -> None:
    findings = oracle.check_frames([offer(), offer()[:-40]])
    assert findings, "a frame 40 bytes shorter than its IP length went unnoticed"
    assert {f.frame for f in findings} == {2}
    assert any(f.malformed or f.severity == "error" for f in findings)


def test_bad_udp_checksum_is_an_error() -> None:
    frame = bytearray(offer())
    frame[40] ^= 0xFF  # the UDP checksum's first byte
    findings = oracle.check_frames([bytes(frame)])
    assert any("checksum" in f.message.lower() for f in findings), findings


def test_collector_names_the_origin_and_honours_exemptions() -> None:
    collector = oracle.Collector()
    collector.add(offer(), origin="test_a")
    collector.add(offer()[:-40], origin="test_b")
    with collector.exempt("a known dissector limit"):
        collector.add(offer()[:-40], origin="test_c")
    lines = collector.check()
    assert lines and all(line.startswith("test_b: frame 2") for line in lines), lines
    assert collector.exempted == [("test_c", "a known dissector limit")]
    assert collector.check() == [], "frames are checked once"


def test_findings_inside_an_echoed_client_identifier_are_the_clients() -> None:
    """RFC 6842 3 makes the server return option 61 unaltered: tshark's opinion of a
    fuzzed identifier (type 255 with a 2-byte DUID) is not held against the reply, but
    the same reply truncated still is."""
    fuzzed = bytes(
        Ether(dst="aa:6b:39:22:33:44", src="02:00:00:00:00:fe")
        / IP(src="192.0.2.1", dst="192.0.2.100")
        / UDP(sport=67, dport=68)
        / BOOTP(op=2, yiaddr="192.0.2.100", chaddr=bytes.fromhex("aa6b39223344"))
        / DHCP(
            options=[
                ("message-type", "offer"),
                ("server_id", "192.0.2.1"),
                ("client_id", bytes.fromhex("ffff54007e0001")),
                "end",
            ]
        )
    )
    assert oracle.check_frames([fuzzed]) == []
    assert oracle.check_frames([fuzzed[:-20]]) != []
    # An identifier too short for its type: tshark's exception ends the dissection in
    # option 61, and its Malformed layer follows the DHCP layer.
    short = bytes(
        Ether(dst="aa:6b:39:22:33:44", src="02:00:00:00:00:fe")
        / IP(src="192.0.2.1", dst="192.0.2.100")
        / UDP(sport=67, dport=68)
        / BOOTP(op=2, yiaddr="192.0.2.100", chaddr=bytes.fromhex("aa6b39223344"))
        / DHCP(options=[("message-type", "ack"), ("client_id", b"\xff\xb1\x40"), "end"])
    )
    assert oracle.check_frames([short]) == []


def test_findings_inside_an_echoed_dhcpv6_client_identifier_are_the_clients() -> None:
    """RFC 8415 18.3: the Reply copies the Client Identifier; a 1-byte DUID in it is the
    client's doing. The same reply truncated is still flagged."""
    reply = bytes.fromhex(
        "aa6b392233440200000000fe86dd60000000005c1140fe80000000000000000000fffe0000fe"
        "20010db8aaaabbbba86b39fffe22334402230222005c7dfb0700000000020012000400010203"
        "0405060708090a0b0c0d0e0f00010001590017002020010db8010000000000000000000001"
        "20010db80200000000000000000000020018000d076578616d706c6503636f6d00"
    )
    assert oracle.check_frames([reply]) == []
    assert oracle.check_frames([reply[:-20]]) != []
