"""Unsolicited Router Advertisements: when they are due, and sending one.

RFC 4861 6.2.4: a router sends unsolicited RAs periodically, at a random interval
between MinRtrAdvInterval and MaxRtrAdvInterval (6.2.1; here 0.75 x and 1 x ra_period)
so that routers do not synchronise. A new or changed IPv6 binding gets one at once
(see Daemon), not a period later. Solicited RAs to all nodes wait as 6.2.6 says
(`MulticastRas`).
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from ipaddress import IPv6Network
from typing import Protocol

from ..core.binding import Binding, BindingTable
from ..core.config import Config
from ..core.decision import Frame, Inbound
from ..core.events import Event
from ..core.reply6 import DEPRECATED_VALID_LIFETIME, unsolicited_ra

log = logging.getLogger("nfdhcpd")

#: RFC 4861 6.2.1: MinRtrAdvInterval as a share of MaxRtrAdvInterval (ra_period, at
#: least 4 s, so Min stays at or above the 3 s floor).
MIN_RTR_ADV_SHARE = 0.75
#: RFC 4861 section 10, router constants.
MAX_RA_DELAY_TIME = 0.5
MIN_DELAY_BETWEEN_RAS = 3.0


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
        self.multicast = MulticastRas()
        self.renumbering = Renumbering()

    def deadline(self) -> float | None:
        """The monotonic time of the next round, held RA or expiring old prefix; None if
        there is none to wait for."""
        times = [self.multicast.deadline(), self.renumbering.deadline()]
        if self.enabled:
            times.append(self._next)
        return min((t for t in times if t is not None), default=None)

    def held(
        self, table: BindingTable, sender: _Sender, counters: Counter[Event], now: float
    ) -> BindingTable:
        """Send the solicited multicast RAs due at `now`; `table` without the old
        prefixes whose time is up."""
        self.multicast.flush(sender, counters, now)
        return self.renumbering.expire(table, now)

    def due(self, now: float) -> bool:
        """True if a round is due at `now`; the next one is then scheduled."""
        if not self.enabled or now < self._next:
            return False
        self._next = now + self.period * self._jitter(MIN_RTR_ADV_SHARE, 1.0)
        return True


class Renumbering:
    """RFC 4862 5.5.3 (e) and RFC 8978: when a binding's SUBNET6 changes, its old
    prefix stays in the RAs, deprecated, for DEPRECATED_VALID_LIFETIME seconds, so the
    VM stops preferring the old SLAAC address at once and drops it within two hours
    instead of keeping it preferred for 7 days. The shell sees both tables when it
    swaps them: the old binding's prefix goes into the new binding's `deprecated6`."""

    def __init__(self, window: float = DEPRECATED_VALID_LIFETIME) -> None:
        self.window = window
        self._stale: dict[str, list[tuple[IPv6Network, float]]] = {}

    def apply(self, old: BindingTable, new: BindingTable, now: float) -> BindingTable:
        """`new`, its renumbered bindings advertising their unexpired old prefixes."""
        for name, binding in new.items():
            was = old.get(name)
            previous = was.subnet6 if was is not None else None
            if previous is not None and previous != binding.subnet6:
                entries = [(n, t) for n, t in self._stale.get(name, []) if n != previous]
                self._stale[name] = [*entries, (previous, now + self.window)]
        table = new
        for name, entries in list(self._stale.items()):
            current = new.get(name)
            if current is None:
                del self._stale[name]
                continue
            kept = [(n, t) for n, t in entries if t > now and n != current.subnet6]
            if kept:
                self._stale[name] = kept
            else:
                del self._stale[name]
            prefixes = tuple(n for n, _ in kept)
            if current.deprecated6 != prefixes:
                table = table.with_binding(replace(current, deprecated6=prefixes))
        return table

    def expire(self, table: BindingTable, now: float) -> BindingTable:
        """`table` without the old prefixes whose time is up (itself if none is)."""
        deadline = self.deadline()
        return self.apply(table, table, now) if deadline is not None and deadline <= now else table

    def deadline(self) -> float | None:
        return min((t for entries in self._stale.values() for _, t in entries), default=None)


def is_multicast_ra(frame: Frame) -> bool:
    """A Router Advertisement to all nodes (ff02::1; ICMPv6 type 134), whatever its
    layer-2 destination (a solicited one goes to the soliciting VM's MAC)."""
    data = frame.data
    return (
        data[12:14] == b"\x86\xdd"
        and len(data) > 54
        and data[20] == 58
        and data[38:54] == _ALL_NODES
        and data[54] == 134
    )


_ALL_NODES = bytes.fromhex("ff020000000000000000000000000001")


class MulticastRas:
    """RFC 4861 6.2.6 for solicited RAs to all nodes (an RS from ::): each waits a
    random 0 to MAX_RA_DELAY_TIME, so that routers do not answer in step, and no two
    multicast RAs leave a TAP within MIN_DELAY_BETWEEN_RAS; solicitations meanwhile
    share the one held. RAs unicast to the soliciting host go at once (RFC 7772)."""

    def __init__(self, delay: Callable[[float, float], float] = random.uniform) -> None:
        self._delay = delay
        self._last: dict[str, float] = {}  # TAP -> when its last multicast RA left
        self._held: dict[str, tuple[float, Frame]] = {}

    def hold(self, frame: Frame, now: float) -> None:
        tap = frame.ifname
        if tap in self._held:
            return
        at = now + self._delay(0.0, MAX_RA_DELAY_TIME)
        last = self._last.get(tap)
        if last is not None:
            at = max(at, last + MIN_DELAY_BETWEEN_RAS)
        self._held[tap] = (at, frame)

    def sent(self, tap: str, now: float) -> None:
        """A multicast RA left `tap` at `now` (a periodic one, say)."""
        self._last[tap] = now

    def deadline(self) -> float | None:
        return min((at for at, _ in self._held.values()), default=None)

    def flush(self, sender: _Sender, counters: Counter[Event], now: float) -> None:
        """Send the held RAs due at `now`; a failing interface skips only itself."""
        for frame in self.due(now):
            try:
                sender.send(frame)
            except OSError as exc:
                counters[Event.SEND_ERROR] += 1
                log.debug("no solicited RA on %s: %s", frame.ifname, exc)

    def due(self, now: float) -> list[Frame]:
        """The held RAs due at `now`, in the order they fell due; noted as sent."""
        ready = sorted((at, tap) for tap, (at, _) in self._held.items() if at <= now)
        frames = []
        for _, tap in ready:
            frames.append(self._held.pop(tap)[1])
            self._last[tap] = now
        if len(self._last) > len(self._held) + 1024:  # forget TAPs quiet for long
            self._last = {t: at for t, at in self._last.items() if at > now - MIN_DELAY_BETWEEN_RAS}
        return frames


class _Links(Protocol):
    def mac_of(self, name: str) -> bytes | None: ...


class _Sender(Protocol):
    def send(self, frame: Frame) -> None: ...


class _Trace(Protocol):
    def record(self, inbound: Inbound | None, frames: tuple[Frame, ...]) -> None: ...


class Advertiser:
    """Sends one unsolicited RA on one TAP; a missing or failing interface skips only itself."""

    def __init__(
        self,
        links: _Links,
        sender: _Sender,
        counters: Counter[Event],
        multicast: MulticastRas | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.links = links
        self.sender = sender
        self.counters = counters
        self.multicast = multicast
        self.clock = clock
        self.trace: _Trace | None = None

    def changed(self, old: BindingTable, new: BindingTable, config: Config) -> None:
        """A new or changed IPv6 binding is advertised at once, not a period later (a
        renumbered one with its old prefix deprecated)."""
        for name, binding in new.items():
            if binding.subnet6 is not None and old.get(name) != binding:
                self.send(binding, config)

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
            self.counters[Event.SEND_ERROR] += 1
            log.debug("no RA on %s: %s", binding.name, exc)
            return
        self.counters[Event.RA_PERIODIC] += 1
        if self.multicast is not None:
            self.multicast.sent(frame.ifname, self.clock())
        if self.trace is not None:
            self.trace.record(None, (frame,))
        log.debug("unsolicited RA on %s", binding.name)
