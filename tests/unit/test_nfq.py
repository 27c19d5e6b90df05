"""The nfnetlink verdict messages nfq.Queue batches, against their kernel layout.

The expected bytes are written out by hand from linux/netlink.h (nlmsghdr, host
byte order), linux/netfilter/nfnetlink.h (nfgenmsg, res_id big-endian) and
linux/netfilter/nfnetlink_queue.h (NFQA_VERDICT_HDR: verdict and packet id, both
big-endian); the end-to-end tests show the kernel taking them.
"""

from __future__ import annotations

import sys

import pytest

from nfdhcpd.core.decision import Verdict
from nfdhcpd.shell.nfq import VERDICT_LEN, verdict_body, verdict_prefix

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
