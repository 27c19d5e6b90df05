"""Interface names and MACs by ifindex, as NFQUEUE reports interfaces by index.

Entries are keyed by ifindex, which the kernel never reuses soon, so a recreated
TAP (new ifindex) is always looked up afresh; a one-second lifetime also catches a
MAC changed in place (a bridge's MAC follows its ports) or a renamed device, while
a boot storm still costs two ioctls per interface per second, not per packet.
"""

from __future__ import annotations

import fcntl
import socket
import struct
import time
from collections.abc import Callable

_SIOCGIFHWADDR = 0x8927  # linux/sockios.h
_TTL = 1.0


class Links:
    def __init__(self, sockfd: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._sockfd = sockfd
        self._clock = clock
        self._cache: dict[int, tuple[float, str | None, bytes | None]] = {}

    def lookup(self, ifindex: int) -> tuple[str | None, bytes | None]:
        """(name, MAC) of interface `ifindex`, either None if it is gone."""
        now = self._clock()
        hit = self._cache.get(ifindex)
        if hit is not None and hit[0] > now:
            return hit[1], hit[2]
        if len(self._cache) > 4096:  # TAPs come and go; forget the dead ones
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
        try:
            name: str | None = socket.if_indextoname(ifindex)
        except OSError:
            name = None
        mac = self._mac(name) if name is not None else None
        self._cache[ifindex] = (now + _TTL, name, mac)
        return name, mac

    def mac_of(self, name: str) -> bytes | None:
        """MAC of interface `name` now (uncached: periodic work, not the packet path)."""
        return self._mac(name)

    def _mac(self, name: str) -> bytes | None:
        try:
            ifreq = fcntl.ioctl(self._sockfd, _SIOCGIFHWADDR, struct.pack("256s", name.encode()))
        except OSError:
            return None
        return bytes(ifreq[18:24])  # struct ifreq: 16-byte name, sa_family, sa_data

    def forget(self) -> None:
        self._cache.clear()
