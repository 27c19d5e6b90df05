"""The pidfile, held under flock(2)."""

from __future__ import annotations

import contextlib
import fcntl
import os


class PidFile:
    """A pidfile held under flock(2): a dead owner's lock vanishes with it, so a stale
    file never blocks a restart and a live owner always does."""

    def __init__(self, path: str) -> None:
        self.path = path
        os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            owner = os.read(self.fd, 32).decode(errors="replace").strip()
            os.close(self.fd)
            raise RuntimeError(f"{path}: nfdhcpd already running (pid {owner})") from None

    def write(self) -> None:
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(self.fd)
