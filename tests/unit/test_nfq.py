"""The nfnetlink messages nfq.Queue reads and the verdicts it batches, against their kernel
layout.

The expected bytes are written out by hand from linux/netlink.h (nlmsghdr, host
byte order), linux/netfilter/nfnetlink.h (nfgenmsg, res_id big-endian) and
linux/netfilter/nfnetlink_queue.h (NFQA_VERDICT_HDR: verdict and packet id, both
big-endian); the end-to-end tests show the kernel taking them.
"""

from __future__ import annotations

import sys

import pytest

from nfdhcpd.core.decision import RawPacket, Verdict
from nfdhcpd.shell.nfq import VERDICT_LEN, parse_packets, verdict_body, verdict_prefix

pytestmark = pytest.mark.skipif(sys.byteorder != "little", reason="literals are little-endian")


def test_drop_verdict_for_packet_7_on_queue_42() -> None:
    message = verdict_prefix(42) + verdict_body(7, Verdict.DROP)
    assert message == bytes.fromhex(
        "20000000"  # nlmsg_len 32
        "0103"  # nlmsg_type: NFNL_SUBSYS_QUEUE << 8 | NFQNL_MSG_VERDICT
        "0100"  # nlmsg_flags: NLM_F_REQUEST (no ACK: errors alone come back)
        "00000000"  # nlmsg_seq
        "00000000"  # nlmsg_pid: the kernel
        "00"  # nfgen_family AF_UNSPEC
        "00"  # version NFNETLINK_V0
        "002a"  # res_id: queue 42, big-endian
        "0c00"  # nla_len 12
        "0200"  # nla_type NFQA_VERDICT_HDR
        "00000000"  # NF_DROP
        "00000007"  # packet id
    )
    assert len(message) == VERDICT_LEN


def test_accept_verdict_and_large_ids() -> None:
    assert verdict_body(0xFFFFFFFE, Verdict.ACCEPT) == bytes.fromhex("00000001fffffffe")
    assert verdict_prefix(65535)[18:24] == bytes.fromhex("ffff0c000200")


# --- reading: the packet messages the kernel sends (nfqnl_build_packet_message) ---


def _attr(atype: int, value: bytes) -> bytes:
    """One netlink attribute: nla_len (host order, unpadded), nla_type, value, padding."""
    length = 4 + len(value)
    return length.to_bytes(2, "little") + atype.to_bytes(2, "little") + value + bytes(-length % 4)


def _message(mtype: int, body: bytes) -> bytes:
    length = 16 + len(body)
    header = length.to_bytes(4, "little") + mtype.to_bytes(2, "little") + bytes(10)
    return header + body + bytes(-length % 4)


PAYLOAD = bytes.fromhex("4500001c") + bytes(24)  # 28 bytes: no padding needed
PACKET = _message(
    0x0300,  # NFNL_SUBSYS_QUEUE << 8 | NFQNL_MSG_PACKET
    bytes.fromhex("02 00 002a")  # nfgenmsg: AF_INET, v0, queue 42
    + _attr(1, bytes.fromhex("0000beef 0800 00"))  # NFQA_PACKET_HDR: id, hw_protocol, hook
    + _attr(5, (7).to_bytes(4, "big"))  # NFQA_IFINDEX_INDEV
    + _attr(7, (9).to_bytes(4, "big"))  # NFQA_IFINDEX_PHYSINDEV
    + _attr(9, bytes.fromhex("0006 0000 aa6b39223344 0000"))  # NFQA_HWADDR
    + _attr(0x4000 | 4, (3).to_bytes(4, "big"))  # NFQA_IFINDEX_OUTDEV, NET_BYTEORDER flag
    + _attr(10, PAYLOAD + b"x"),  # NFQA_PAYLOAD: 29 bytes, padded
)


def test_packet_message_fields() -> None:
    out: list[RawPacket] = []
    assert parse_packets(PACKET, out) == 0
    [packet] = out
    assert (packet.id, packet.indev, packet.physindev) == (0xBEEF, 7, 9)
    assert packet.hwsrc == bytes.fromhex("aa6b39223344")
    assert packet.payload == PAYLOAD + b"x"


def test_without_hwaddr_or_physindev_and_after_an_error_message() -> None:
    bare = _message(
        0x0300,
        bytes.fromhex("02 00 002a")
        + _attr(1, bytes.fromhex("00000002 0800 00"))
        + _attr(5, (7).to_bytes(4, "big"))
        + _attr(10, PAYLOAD),
    )
    error = _message(2, (-2).to_bytes(4, "little", signed=True) + bytes(16))  # NLMSG_ERROR
    out: list[RawPacket] = []
    assert parse_packets(error + bare + PACKET, out) == 1
    assert [(p.id, p.physindev, p.hwsrc) for p in out] == [
        (2, 0, None),
        (0xBEEF, 9, bytes.fromhex("aa6b39223344")),
    ]


def test_truncated_input_yields_what_is_whole() -> None:
    out: list[RawPacket] = []
    assert parse_packets(PACKET + PACKET[:40], out) == 0
    assert len(out) == 1
    broken_attr = PACKET[:20] + (200).to_bytes(2, "little") + PACKET[22:]
    out.clear()
    assert parse_packets(broken_attr, out) == 1  # no attribute trusted, so no packet id
    assert out == []
