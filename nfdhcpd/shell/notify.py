"""systemd's notify protocol (sd_notify(3)) without libsystemd: one datagram per state
change to the AF_UNIX socket named by $NOTIFY_SOCKET.

`READY=1` once the queues are bound and the bindings loaded, `RELOADING=1` with
`MONOTONIC_USEC` (what `Type=notify-reload` of systemd 253 and later checks) and
`READY=1` around a reload, `STATUS=` with the bindings served, `STOPPING=1`, and
`WATCHDOG=1` from the poll loop every half of $WATCHDOG_USEC. The socket is
connected at start-up, as root, so the daemon can still send once it is not; a
socket that cannot be reached is logged and the daemon runs on without it.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

log = logging.getLogger("nfdhcpd")


def monotonic_usec() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


class Notifier:
    """Sends to the service manager; every method is a no-op when there is none."""

    def __init__(
        self,
        sock: socket.socket | None = None,
        watchdog: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sock = sock
        #: seconds between WATCHDOG=1, None when systemd watches nothing
        self.interval = watchdog
        self._clock = clock
        self._next_ping = clock()  # the first ping at the first tick
        self._failed = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Notifier:
        """The notifier $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID ask for."""
        address = environ.get("NOTIFY_SOCKET", "")
        sock = None
        if address:
            # "@name" is an abstract socket (a leading NUL byte), "/path" a file.
            target = "\0" + address[1:] if address.startswith("@") else address
            try:
                if not target.startswith(("\0", "/")):
                    raise OSError(f"only AF_UNIX sockets are supported, not {address!r}")
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                sock.connect(target)
                sock.setblocking(False)
            except OSError as exc:
                log.warning("NOTIFY_SOCKET %s: %s; not notifying systemd", address, exc)
                if sock is not None:
                    sock.close()
                sock = None
        watchdog = None
        usec, pid = environ.get("WATCHDOG_USEC", ""), environ.get("WATCHDOG_PID", "")
        # WATCHDOG_PID names the process watched, when it is set: it may not be us.
        if sock is not None and usec.isdigit() and int(usec) > 0 and pid in ("", str(os.getpid())):
            watchdog = int(usec) / 1e6 / 2  # sd_watchdog_enabled(3): ping at half
        return cls(sock, watchdog)

    def fileno(self) -> int | None:
        return self._sock.fileno() if self._sock is not None else None

    def send(self, *fields: str) -> None:
        if self._sock is None:
            return
        try:
            self._sock.send("\n".join(fields).encode())
        except OSError as exc:
            if not self._failed:  # once: the journal needs no line per ping
                log.warning("cannot notify systemd: %s", exc)
            self._failed = True

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")

    def reloading(self) -> None:
        self.send("RELOADING=1", f"MONOTONIC_USEC={monotonic_usec()}", "STATUS=reloading")

    def status(self, status: str) -> None:
        self.send(f"STATUS={status}")

    def stopping(self) -> None:
        self.send("STOPPING=1", "STATUS=stopping")

    def deadline(self) -> float | None:
        """When the next WATCHDOG=1 is due (monotonic), None without a watchdog."""
        return self._next_ping if self.interval is not None else None

    def watchdog(self, now: float) -> None:
        """WATCHDOG=1 if one is due: called from the loop, so it stops when the loop does."""
        if self.interval is not None and now >= self._next_ping:
            self.send("WATCHDOG=1")
            self._next_ping = now + self.interval

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
