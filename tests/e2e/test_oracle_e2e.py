"""The hypervisor's reply capture (tests/oracle.py via netns.Hypervisor) must see what
is injected on a TAP as nfdhcpd injects it, and tshark must flag a broken frame there:
otherwise the per-test check of every e2e and conformance test could never fail."""

from __future__ import annotations

import sys

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from .. import oracle
from . import netns

pytestmark = pytest.mark.e2e

#: Sends argv[2] (hex) on interface argv[1] with an AF_PACKET socket, as nfdhcpd does.
_INJECT = """
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
s.sendto(bytes.fromhex(sys.argv[2]), (sys.argv[1], 0))
"""


def reply(vm: netns.VM) -> bytes:
    return bytes(
        Ether(dst=vm.mac)
        / IP(src="192.0.2.1", dst="10.64.0.5")
        / UDP(sport=67, dport=68)
        / BOOTP(op=2, yiaddr="10.64.0.5", chaddr=bytes.fromhex(vm.mac.replace(":", "")))
        / DHCP(options=[("message-type", "ack"), ("server_id", "192.0.2.1"), "end"])
    )


@pytest.mark.skipif(oracle.tshark() is None, reason="tshark not installed")
def test_capture_flags_a_broken_reply_and_passes_a_good_one(e2e_ready: None) -> None:
    with netns.hypervisor(None, label="orc") as hv:
        vm = hv.add_vm("tap1", netns.mac_for(1))
        good = reply(vm)
        hv.exec(sys.executable, "-c", _INJECT, vm.tap, good.hex())
        assert hv.check_capture() == []
        broken = bytearray(good)
        broken[40] ^= 0xFF  # the UDP checksum
        hv.exec(sys.executable, "-c", _INJECT, vm.tap, bytes(broken).hex())
        findings = hv.check_capture()
        assert any("checksum" in line.lower() for line in findings), findings
        hv.exec(sys.executable, "-c", _INJECT, vm.tap, good[:-30].hex())
        with pytest.raises(AssertionError, match="tshark flags"):
            hv.__exit__(None, None, None)
