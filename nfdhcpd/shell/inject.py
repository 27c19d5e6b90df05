"""One AF_PACKET socket transmits every reply, on whichever TAP it is for.

One socket for all TAPs (GRNET opened one per binding and hung when a buffer
filled): non-blocking, so a full transmit queue drops one reply, which the client
retransmits, instead of stalling every other VM.
"""

from __future__ import annotations

import socket

from ..core.decision import Frame


class Injector:
    def __init__(self) -> None:
        # Protocol 0: this socket only transmits; it never receives a copy of traffic.
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        self.sock.setblocking(False)

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, frame: Frame) -> None:
        """Transmit `frame`; raises OSError (interface gone, buffer full) for the caller."""
        self.sock.sendto(frame.data, (frame.ifname, 0))

    def close(self) -> None:
        self.sock.close()
