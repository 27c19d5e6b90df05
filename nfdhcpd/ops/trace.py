"""`[general] trace` / `--trace`: every handled packet in a pcap file, for wireshark or scapy.

NFQUEUE hands us IP packets, not frames, so a request is wrapped in a synthesized
Ethernet header (source: the VM's MAC as the kernel saw it); replies are written as
the exact frames injected. The classic pcap format (LINKTYPE_ETHERNET) is a 24-byte
file header and a 16-byte header per record: struct does it, no scapy on the packet
path. One write(2) per handled packet, so a trace is complete up to the last packet
even if the daemon is killed, and `tail -c +1 -f` can follow it.
"""

from __future__ import annotations

import logging
import os
import struct
import time
from collections.abc import Iterable

from ..core.decision import Frame, Inbound
from ..shell.files import open_private

log = logging.getLogger("nfdhcpd")

#: pcap file header: magic (microsecond timestamps), version 2.4, zone, sigfigs,
#: snaplen, LINKTYPE_ETHERNET; native byte order, which the magic tells readers.
_FILE_HEADER = struct.pack("=IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
_RECORD = struct.Struct("=IIII")
_BROADCAST = b"\xff" * 6
_NO_MAC = bytes(6)
_ETHERTYPE_IPV4 = b"\x08\x00"
_ETHERTYPE_IPV6 = b"\x86\xdd"


class PcapWriter:
    """Appends records to a pcap file opened (as root, before the privilege drop) here.

    The file stays root's. It is opened as `open_private` opens: never through a link,
    and an existing file only if it is the opener's (root's) own regular file (a trace
    left by an earlier run), which is then replaced; one another user made is refused.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = open_private(path, os.O_WRONLY | os.O_CREAT, 0o640, owners=(os.geteuid(),))
        try:
            os.ftruncate(self.fd, 0)
            # 0640, also when replacing an older trace: it holds the VMs' addresses and names.
            os.fchmod(self.fd, 0o640)
            os.write(self.fd, _FILE_HEADER)
        except OSError:
            os.close(self.fd)
            raise
        #: False once a write failed: tracing is off, the file closed
        self.on = True

    def fileno(self) -> int:
        return self.fd

    def record(self, inbound: Inbound | None, frames: Iterable[Frame]) -> None:
        """Write the request (if any) and the reply frames, in one write(2).

        A failed write (a full disk, say) turns tracing off with one error line: the
        trace is an aid, and must never cost a VM its reply or the daemon its life.
        """
        if not self.on:
            return
        now = time.time()
        sec, usec = int(now), int(now % 1 * 1_000_000)
        parts = [] if inbound is None else [_ether(inbound)]
        parts += [frame.data for frame in frames]
        try:
            os.write(
                self.fd,
                b"".join(_RECORD.pack(sec, usec, len(data), len(data)) + data for data in parts),
            )
        except OSError as exc:
            self.close()
            log.error("trace %s: cannot write (%s): tracing off", self.path, exc.strerror)

    def close(self) -> None:
        if self.on:
            self.on = False
            os.close(self.fd)


def _ether(inbound: Inbound) -> bytes:
    """The request as a frame: source the VM's MAC; destination what the IP one implies."""
    packet = inbound.payload
    if packet[:1] and packet[0] >> 4 == 6:
        dst6 = packet[24:40]
        # RFC 2464 7: IPv6 multicast goes to 33:33 and the address's last 32 bits.
        multicast = len(dst6) == 16 and dst6[0] == 0xFF
        dst = b"\x33\x33" + dst6[12:] if multicast else inbound.ifmac
        ethertype = _ETHERTYPE_IPV6
    else:
        dst = _BROADCAST if packet[16:20] == b"\xff\xff\xff\xff" else inbound.ifmac
        ethertype = _ETHERTYPE_IPV4
    return (dst or _NO_MAC) + (inbound.hwsrc or _NO_MAC) + ethertype + packet
