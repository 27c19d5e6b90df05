"""One NFQUEUE: NetfilterQueue binds it; we read its socket and batch the verdicts.

NetfilterQueue binds the queue (nfq_create_queue, copy mode, queue length, socket
buffer), and that is all it does here. Its receive loop would build a Packet object
and call back into Python for every message, and send each verdict in its own
sendmsg(2); both cost more than the work on a DHCP request itself. So `read` takes
the messages off the netlink socket into one preallocated buffer and `parse_packets`
picks the few attributes we use out of them (linux/netfilter/nfnetlink_queue.h),
and the verdicts of one read (a burst, or a coalesced wake-up, see loop.Coalescer)
are packed into one buffer of nfnetlink verdict messages and written at once: the
kernel handles each message of the buffer in turn (netlink_rcv_skb), as if sent alone.
"""

from __future__ import annotations

import errno
import logging
import os
import struct
import sys
import time
from typing import Final

from netfilterqueue import NetfilterQueue

from ..core.decision import RawPacket, Verdict

log = logging.getLogger("nfdhcpd")

#: Packets the kernel may hold for us per queue before it drops (or bypasses) them.
QUEUE_MAXLEN = 4096
#: Verdicts written at most per write: a bounded buffer, and a flood's first packets
#: are released before its last ones are read.
BATCH = 64
#: Messages taken off the socket at most per `read`: the loop serves every ready queue
#: one batch per turn, so a flooded queue cannot make the others wait until it is
#: drained (issue 12, finding 3); after a whole batch the loop polls again at once,
#: without a coalescing hold (loop.READ_BATCH, the same number).
READ_MAX = 64
#: The socket's receive buffer (the kernel doubles it): room for a full queue of
#: packets up to NetfilterQueue's copy size, so a coalescing window under a flood
#: fills the queue before the socket overflows.
SOCKET_BUFFER = QUEUE_MAXLEN * 4096
#: The read buffer: NetfilterQueue copies at most 4016 bytes of a packet (its
#: MaxCopySize), so one message, which is one queued packet, always fits.
RECV_SIZE = 8192

# linux/netlink.h, linux/netfilter/nfnetlink.h, linux/netfilter/nfnetlink_queue.h
_NFNL_SUBSYS_QUEUE: Final = 3
_NFQNL_MSG_PACKET: Final = 0
_NFQNL_MSG_VERDICT: Final = 1
_NLM_F_REQUEST: Final = 1
_NFQA_PACKET_HDR: Final = 1
_NFQA_VERDICT_HDR: Final = 2
_NFQA_IFINDEX_INDEV: Final = 5
_NFQA_IFINDEX_PHYSINDEV: Final = 7
_NFQA_HWADDR: Final = 9
_NFQA_PAYLOAD: Final = 10
_NLA_TYPE_MASK: Final = 0x3FFF  # without NLA_F_NESTED and NLA_F_NET_BYTEORDER
_NF_DROP, _NF_ACCEPT = 0, 1
_NLMSG = struct.Struct("=IHHII")  # nlmsghdr: host byte order
_NFGEN = struct.Struct("!BBH")  # nfgenmsg: family, version, res_id (the queue, big-endian)
_NLATTR = struct.Struct("=HH")
_VERDICT_HDR = struct.Struct("!II")  # nfqnl_msg_verdict_hdr: verdict, packet id
VERDICT_LEN: Final = 32  # nlmsghdr 16, nfgenmsg 4, nlattr 4, verdict header 8
_NLMSGHDR_LEN: Final = 16
_PACKET_TYPE: Final = _NFNL_SUBSYS_QUEUE << 8 | _NFQNL_MSG_PACKET
_HEADER: Final = 20  # nlmsghdr, nfgenmsg
_LITTLE: Final = sys.byteorder == "little"


def verdict_prefix(queue: int) -> bytes:
    """Everything of a verdict message for `queue` but the verdict header."""
    return (
        _NLMSG.pack(VERDICT_LEN, _NFNL_SUBSYS_QUEUE << 8 | _NFQNL_MSG_VERDICT, _NLM_F_REQUEST, 0, 0)
        + _NFGEN.pack(0, 0, queue)  # AF_UNSPEC, NFNETLINK_V0
        + _NLATTR.pack(_NLATTR.size + _VERDICT_HDR.size, _NFQA_VERDICT_HDR)
    )


def verdict_body(packet_id: int, verdict: Verdict) -> bytes:
    return _VERDICT_HDR.pack(_NF_ACCEPT if verdict is Verdict.ACCEPT else _NF_DROP, packet_id)


def parse_packets(data: bytes, out: list[RawPacket]) -> int:
    """Append the queued packets among the netlink messages in `data` to `out`; return
    how many other messages there were (errors: a verdict the kernel refused).

    A packet message is an nfgenmsg and attributes, each 4-byte aligned: the packet
    header (id), the in-interfaces, the layer-2 source when the kernel knows it, and
    the packet from its network header on. The fields are read byte by byte, which
    mypyc turns into plain C, where struct's methods would be calls through Python.
    """
    others = 0
    end = len(data)
    offset = 0
    while offset + _NLMSGHDR_LEN <= end:
        length = _host16(data, offset) | _host16(data, offset + 2) << 16
        if length < _NLMSGHDR_LEN or offset + length > end:
            break  # truncated: not from the kernel, nothing more to trust
        if _host16(data, offset + 4) != _PACKET_TYPE:
            others += 1
        else:
            packet_id = -1
            indev = physindev = 0
            hwsrc: bytes | None = None
            payload = b""
            attr = offset + _HEADER
            stop = offset + length
            while attr + 4 <= stop:
                alen = _host16(data, attr)
                if alen < 4 or attr + alen > stop:
                    break
                atype = _host16(data, attr + 2) & _NLA_TYPE_MASK
                value = attr + 4
                if atype == _NFQA_PACKET_HDR:
                    packet_id = _be32(data, value)
                elif atype == _NFQA_IFINDEX_INDEV:
                    indev = _be32(data, value)
                elif atype == _NFQA_IFINDEX_PHYSINDEV:
                    physindev = _be32(data, value)
                elif atype == _NFQA_HWADDR:
                    if data[value] << 8 | data[value + 1] >= 6:  # hw_addrlen
                        hwsrc = data[value + 4 : value + 10]
                elif atype == _NFQA_PAYLOAD:
                    payload = data[value : attr + alen]
                attr += (alen + 3) & ~3
            if packet_id < 0:
                others += 1  # no packet header: no id to give a verdict for
            else:
                out.append(RawPacket(packet_id, indev, physindev, hwsrc, payload))
        offset += (length + 3) & ~3
    return others


def _host16(data: bytes, at: int) -> int:
    """A 16-bit field of a netlink header, which is in host byte order."""
    if _LITTLE:
        return data[at] | data[at + 1] << 8
    return data[at] << 8 | data[at + 1]


def _be32(data: bytes, at: int) -> int:
    return data[at] << 24 | data[at + 1] << 16 | data[at + 2] << 8 | data[at + 3]


class Queue:
    """NFQUEUE `number` of address family `family`, read pull-style.

    `read` returns what waited, `verdict` answers each packet, `flush` sends the
    answers: the caller's loop over one read is the packets' whole way through the
    shell (see PacketPath.serve).
    """

    def __init__(self, number: int, family: int) -> None:
        self.number = number
        # Each verdict message but its last field, the packet id.
        self._accept = verdict_prefix(number) + _NF_ACCEPT.to_bytes(4, "big")
        self._drop = verdict_prefix(number) + _NF_DROP.to_bytes(4, "big")
        self._batch = bytearray()
        self._held = 0  # verdicts in `_batch`
        self.overflows = 0  # times the socket overflowed
        self._overflow_logged = float("-inf")
        self._buffer = bytearray(RECV_SIZE)
        self._view = memoryview(self._buffer)
        self._nfq = NetfilterQueue(af=family)
        try:
            self._nfq.bind(number, _never_called, max_len=QUEUE_MAXLEN, sock_len=SOCKET_BUFFER)
        except OSError as exc:
            raise OSError(f"cannot bind NFQUEUE {number} (another daemon on it?): {exc}") from None
        self._fd = self._nfq.get_fd()
        os.set_blocking(self._fd, False)

    def fileno(self) -> int:
        return self._fd

    def read(self) -> list[RawPacket]:
        """The packets waiting, READ_MAX at most; each must get a `verdict`, then a
        `flush`."""
        packets: list[RawPacket] = []
        fd, buffers, view = self._nfq.get_fd(), [self._buffer], self._view
        for _ in range(READ_MAX):
            try:
                size = os.readv(fd, buffers)  # one message, as recv(2) would
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    # The socket overflowed: the kernel dropped packets (counted in
                    # /proc/net/netfilter/nfnetlink_queue); what is left is still ours.
                    self._overflowed()
                    continue
                if packets:
                    # What was read still gets its verdicts; the next poll sees the socket.
                    log.error("NFQUEUE %d: %s", self.number, exc)
                    break
                raise
            if parse_packets(view[:size].tobytes(), packets):
                log.debug("NFQUEUE %d: a verdict was refused by the kernel", self.number)
        return packets

    def _overflowed(self) -> None:
        """Say so at most once a minute: a flood would otherwise write a line per read."""
        self.overflows += 1
        now = time.monotonic()
        if now >= self._overflow_logged + 60:
            self._overflow_logged = now
            log.warning(
                "NFQUEUE %d: socket overflowed, packets were lost (%d times so far)",
                self.number,
                self.overflows,
            )

    def verdict(self, packet: RawPacket, verdict: Verdict) -> None:
        self._batch += self._accept if verdict is Verdict.ACCEPT else self._drop
        self._batch += packet.id.to_bytes(4, "big")
        self._held += 1
        if self._held >= BATCH:
            self.flush()

    def flush(self) -> None:
        """Send the verdicts given since the last flush, in one write."""
        if not self._held:
            return
        batch, self._batch, self._held = bytes(self._batch), bytearray(), 0
        try:
            os.write(self._fd, batch)  # one skb: all verdicts taken, or none
        except OSError as exc:
            log.warning("NFQUEUE %d: verdict batch refused (%s), sending singly", self.number, exc)
            fd = self._nfq.get_fd()
            for start in range(0, len(batch), VERDICT_LEN):
                try:
                    os.write(fd, batch[start : start + VERDICT_LEN])
                except OSError as single:
                    log.error("NFQUEUE %d: verdict refused: %s", self.number, single)

    def unbind(self) -> None:
        self._nfq.unbind()


def _never_called(_packet: object) -> None:
    """NetfilterQueue's callback: it never runs, as its receive loop never does."""
