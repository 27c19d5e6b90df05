"""Unsolicited Router Advertisements: when they are due, and sending one.

RFC 4861 6.2.4: a router sends unsolicited RAs periodically, the interval jittered
(6.2.1) so that routers do not synchronise. A new or changed IPv6 binding gets one
at once (see Daemon), not a period later.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable
from typing import Protocol

from ..core.binding import Binding
from ..core.config import Config
from ..core.decision import Frame, Inbound
from ..core.reply6 import unsolicited_ra

log = logging.getLogger("nfdhcpd")


class RaScheduler:
    """When the next round of unsolicited RAs is due; none while IPv6 is off."""

    def __init__(
        self,
        period: float,
        enabled: bool,
        jitter: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self.period = period
        self.enabled = enabled
        self._jitter = jitter
        self._next = 0.0  # the first round goes out at once

    def deadline(self) -> float | None:
        """The monotonic time of the next round, None if there is none to wait for."""
        return self._next if self.enabled else None

    def due(self, now: float) -> bool:
        """True if a round is due at `now`; the next one is then scheduled."""
        if not self.enabled or now < self._next:
            return False
        self._next = now + self.period * self._jitter(0.9, 1.1)
        return True


class _Links(Protocol):
    def mac_of(self, name: str) -> bytes | None: ...


class _Sender(Protocol):
    def send(self, frame: Frame) -> None: ...


class _Trace(Protocol):
    def record(self, inbound: Inbound | None, frames: tuple[Frame, ...]) -> None: ...


class Advertiser:
    """Sends one unsolicited RA on one TAP; a missing or failing interface skips only itself."""

    def __init__(self, links: _Links, sender: _Sender, counters: Counter[str]) -> None:
        self.links = links
        self.sender = sender
        self.counters = counters
        self.trace: _Trace | None = None

    def send(self, binding: Binding, config: Config) -> None:
        if binding.subnet6 is None:
            return
        mac = self.links.mac_of(binding.indev or binding.name)
        if mac is None:
            log.debug("no RA on %s: interface absent", binding.name)
            return
        frame = unsolicited_ra(binding, config, mac)
        if frame is None:
            return
        try:
            self.sender.send(frame)
        except OSError as exc:
            self.counters["send-error"] += 1
            log.debug("no RA on %s: %s", binding.name, exc)
            return
        self.counters["ra-periodic"] += 1
        if self.trace is not None:
            self.trace.record(None, (frame,))
        log.debug("unsolicited RA on %s", binding.name)
