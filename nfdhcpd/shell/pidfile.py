"""The pidfile, held under flock(2), root's in a directory root owns."""

from __future__ import annotations

import contextlib
import fcntl
import os

from .files import open_private


class PidFile:
    """A pidfile held under flock(2): a dead owner's lock vanishes with it, so a stale
    file never blocks a restart and a live owner always does.

    It stays root's (init scripts' start-stop-daemon refuses pidfiles others could
    write), opened by `open_private`: a link planted in its place is refused. Its
    directory is made root's too, so the daemon, no longer root when it exits, cannot
    remove it: it empties it instead (the init script removes it after the stop).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
        self.fd = open_private(path, os.O_RDWR | os.O_CREAT, 0o644, owners=(0,))
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
        """Empty the pidfile, and remove it where the directory lets us."""
        with contextlib.suppress(OSError):
            os.ftruncate(self.fd, 0)
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(self.fd)
