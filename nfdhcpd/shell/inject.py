"""One AF_PACKET socket transmits every reply, on whichever TAP it is for.

One socket for all TAPs (GRNET opened one per binding and hung when a buffer
filled): non-blocking, so a full transmit queue drops one reply, which the client
retransmits, instead of stalling every other VM.

A reply to a queued request goes to the interface index the request came in on
(NFQUEUE reports it), through the C helper `_sendll`: Python's socket module takes
an AF_PACKET address only by name and makes an ioctl per send to find its index,
and a TAP renamed since the request was queued would make it another interface's.
Installed with NFDHCPD_PURE=1 there is no helper, and every frame goes by name.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from ..core.decision import Frame

_SendToIndex = Callable[[int, int, bytes], int]
_native: _SendToIndex | None
try:
    from ._sendll import send_to_index as _imported

    _native = _imported
except ImportError:  # NFDHCPD_PURE=1: not built
    _native = None


class Injector:
    def __init__(self, *, by_index: bool = True) -> None:
        # Protocol 0: this socket only transmits; it never receives a copy of traffic.
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        self.sock.setblocking(False)
        self._fd = self.sock.fileno()
        #: the C helper, unless not built or not wanted (`by_index`, for the tests)
        self.by_index: _SendToIndex | None = _native if by_index else None

    def fileno(self) -> int:
        return self._fd

    def send(self, frame: Frame, ifindex: int = 0) -> None:
        """Transmit `frame` on interface `ifindex` if given (> 0), else on the one named
        `frame.ifname`; raises OSError (interface gone, buffer full) for the caller."""
        by_index = self.by_index
        if ifindex > 0 and by_index is not None:
            by_index(self._fd, ifindex, frame.data)
        else:
            self.sock.sendto(frame.data, (frame.ifname, 0))

    def close(self) -> None:
        self.sock.close()
