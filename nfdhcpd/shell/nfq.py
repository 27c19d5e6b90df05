"""One NFQUEUE: NetfilterQueue binds it and parses packets; verdicts leave in batches.

NetfilterQueue sends each verdict in its own sendmsg(2). Every packet we read is
answered before the next read anyway, so the verdicts of one read (a burst, or a
coalesced wake-up, see loop.Coalescer) are packed into one buffer of nfnetlink verdict
messages and written at once: the kernel handles each message of the buffer in
turn (netlink_rcv_skb), as if sent alone.
"""

from __future__ import annotations

import logging
import os
import struct

from netfilterqueue import NetfilterQueue, Packet

from ..core.decision import RawPacket, Verdict

log = logging.getLogger("nfdhcpd")

#: Packets the kernel may hold for us per queue before it drops (or bypasses) them.
QUEUE_MAXLEN = 4096
#: Verdicts written at most per write: a bounded buffer, and a flood's first packets
#: are released before its last ones are read.
BATCH = 64

# linux/netlink.h, linux/netfilter/nfnetlink.h, linux/netfilter/nfnetlink_queue.h
_NFNL_SUBSYS_QUEUE = 3
_NFQNL_MSG_VERDICT = 1
_NLM_F_REQUEST = 1
_NFQA_VERDICT_HDR = 2
_NF_DROP, _NF_ACCEPT = 0, 1
_NLMSG = struct.Struct("=IHHII")  # nlmsghdr: host byte order
_NFGEN = struct.Struct("!BBH")  # nfgenmsg: family, version, res_id (the queue, big-endian)
_NLATTR = struct.Struct("=HH")
_VERDICT_HDR = struct.Struct("!II")  # nfqnl_msg_verdict_hdr: verdict, packet id
VERDICT_LEN = _NLMSG.size + _NFGEN.size + _NLATTR.size + _VERDICT_HDR.size


def verdict_prefix(queue: int) -> bytes:
    """Everything of a verdict message for `queue` but the verdict header."""
    return (
        _NLMSG.pack(VERDICT_LEN, _NFNL_SUBSYS_QUEUE << 8 | _NFQNL_MSG_VERDICT, _NLM_F_REQUEST, 0, 0)
        + _NFGEN.pack(0, 0, queue)  # AF_UNSPEC, NFNETLINK_V0
        + _NLATTR.pack(_NLATTR.size + _VERDICT_HDR.size, _NFQA_VERDICT_HDR)
    )


def verdict_body(packet_id: int, verdict: Verdict) -> bytes:
    return _VERDICT_HDR.pack(_NF_ACCEPT if verdict is Verdict.ACCEPT else _NF_DROP, packet_id)


class Queue:
    """NFQUEUE `number` of address family `family`, read pull-style.

    `read` returns what waited, `verdict` answers each packet, `flush` sends the
    answers: the caller's loop over one read is the packets' whole way through the
    shell (see PacketPath.serve). NetfilterQueue still binds the queue and parses the
    messages; its callback only copies each packet out.
    """

    def __init__(self, number: int, family: int) -> None:
        self.number = number
        self._prefix = verdict_prefix(number)
        self._batch = bytearray()
        self._read: list[RawPacket] = []  # filled by _on_packet during `read`
        self._packets: dict[int, Packet] = {}  # by id, for the fallback in `flush`
        self._held: list[tuple[int, Verdict]] = []  # verdicts in `_batch`
        self._nfq = NetfilterQueue(af=family)
        try:
            self._nfq.bind(number, self._on_packet, max_len=QUEUE_MAXLEN)
        except OSError as exc:
            raise OSError(f"cannot bind NFQUEUE {number} (another daemon on it?): {exc}") from None
        self._fd = self._nfq.get_fd()
        os.set_blocking(self._fd, False)

    def fileno(self) -> int:
        return self._fd

    def read(self) -> list[RawPacket]:
        """Every packet waiting; each must get a `verdict`, then a `flush`."""
        self._read = []
        try:
            self._nfq.run(block=False)
        except OSError as exc:
            if not self._read:
                raise
            # What was read still gets its verdicts; the next poll sees the socket again.
            log.error("NFQUEUE %d: %s", self.number, exc)
        packets, self._read = self._read, []
        return packets

    def _on_packet(self, packet: Packet) -> None:
        hw = packet.get_hw()
        self._packets[packet.id] = packet
        self._read.append(
            RawPacket(
                packet.id,
                packet.indev,
                packet.physindev,
                hw[:6] if hw else None,
                packet.get_payload(),
            )
        )

    def verdict(self, packet: RawPacket, verdict: Verdict) -> None:
        self._held.append((packet.id, verdict))
        self._batch += self._prefix + verdict_body(packet.id, verdict)
        if len(self._held) >= BATCH:
            self.flush()

    def flush(self) -> None:
        """Send the verdicts given since the last flush, in one write."""
        if not self._held:
            return
        held, self._held = self._held, []
        batch, self._batch = bytes(self._batch), bytearray()
        packets = [self._packets.pop(packet_id) for packet_id, _verdict in held]
        try:
            os.write(self._fd, batch)  # one skb: all verdicts taken, or none
        except OSError as exc:
            log.warning("NFQUEUE %d: verdict batch refused (%s), sending singly", self.number, exc)
            for packet, (_id, verdict) in zip(packets, held, strict=True):
                if verdict is Verdict.ACCEPT:
                    packet.accept()
                else:
                    packet.drop()

    def unbind(self) -> None:
        self._nfq.unbind()
