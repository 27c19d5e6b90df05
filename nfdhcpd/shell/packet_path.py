"""One queued packet's way through the shell: rate limit, inbound, handle, act, log.

`PacketPath.serve` is the whole of it for one read of one queue, as one straight
loop: the packets the queue read, a decision for each, the verdicts, one flush. Every
part it talks to (queue, links, injector, trace) is passed in, and so is the time, so
the unit tests drive it with fakes.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Final, Protocol

from ..core.binding import BindingTable
from ..core.config import Config
from ..core.decision import Decision, Frame, Inbound, RawPacket, Verdict
from ..core.describe import describe_frame, describe_packet
from ..core.events import Event, Level
from ..core.responder import Responder, in_scope
from ..ops.status import Served
from .pending import Pending
from .ra import MulticastRas, is_multicast_ra
from .ratelimit import RateLimiter
from .replies import ReplyCache

log = logging.getLogger("nfdhcpd")
_TUPLE_NEW: Final = tuple.__new__

#: The log policy, by each event's level (core/events.py), as sets: one lookup a packet.
QUIET_EVENTS = frozenset(e for e in Event if e.level is Level.DEBUG)
WARN_EVENTS = frozenset(e for e in Event if e.level is Level.WARNING)


class QueueLike(Protocol):
    number: int

    def read(self) -> list[RawPacket]: ...
    def verdict(self, packet: RawPacket, verdict: Verdict) -> None: ...
    def flush(self) -> None: ...


class LinksLike(Protocol):
    def lookup(self, ifindex: int) -> tuple[str | None, bytes | None]: ...


class SenderLike(Protocol):
    def send(self, frame: Frame, ifindex: int = 0) -> None: ...


class TraceLike(Protocol):
    def record(self, inbound: Inbound | None, frames: tuple[Frame, ...]) -> None: ...


class LogBudget:
    """One log line per key and period at its own level; the repeats go to debug.

    A VM stuck in a DHCP loop, or a hostile one, would otherwise write a line per
    packet: thousands a second, costing CPU and disk for every other VM.
    """

    def __init__(self, period: float = 60.0, max_keys: int = 65536) -> None:
        self.period = period
        self.max_keys = max_keys
        self._keys: dict[tuple[str, str], list[float]] = {}

    def spend(self, key: tuple[str, str], now: float) -> int | None:
        """None: stay quiet. Else log, mentioning this many repeats kept quiet since."""
        entry = self._keys.get(key)
        if entry is not None and now < entry[0]:
            entry[1] += 1
            return None
        if len(self._keys) >= self.max_keys:
            self._keys.clear()
        similar = int(entry[1]) if entry is not None else 0
        self._keys[key] = [now + self.period, 0]
        return similar


class PacketPath:
    """Decides and answers queued packets against the current `table` and config.

    `configure` and `table` are how the daemon swaps state in; `counters`, `served`
    and `pending` live as long as the daemon.
    """

    def __init__(
        self,
        config: Config,
        links: LinksLike,
        sender: SenderLike,
        *,
        pending: Pending,
        clock: Callable[[], float] = time.monotonic,
        multicast_ras: MulticastRas | None = None,
    ) -> None:
        self.table = BindingTable()
        self.multicast_ras = multicast_ras
        self.links = links
        self.sender = sender
        self.pending = pending
        self.clock = clock
        self.counters: Counter[Event] = Counter()
        self.served = Served()  # per-TAP last request and reply, requests per queue
        self.trace: TraceLike | None = None
        #: seconds per packet, observed when metrics are on (see `serve`)
        self.observe: Callable[[float], None] | None = None
        self.log_budget = LogBudget()
        self.replies = ReplyCache()
        self.configure(config)

    def configure(self, config: Config) -> None:
        """Serve under `config` from now on (cannot fail: the reload's swap phase)."""
        self.config = config
        self.responder = Responder(config)  # what it encoded was for the old config
        self.limiter = (
            RateLimiter(config.rate_limit, config.rate_burst) if config.rate_limit else None
        )
        self.dhcp_queue = config.dhcp_queue if config.enable_dhcp else None
        self.pending.window = float(config.pending_window)

    def serve(self, queue: QueueLike) -> int:
        """Read `queue`, decide each packet, give each its verdict, flush; the count."""
        packets = queue.read()
        clock, observe, number = self.clock, self.observe, queue.number
        try:
            for packet in packets:
                if observe is None:  # metrics off: one clock read per packet, for the limiter
                    verdict = self.on_packet(number, packet, clock())
                else:
                    start = time.perf_counter()
                    verdict = self.on_packet(number, packet, clock())
                    observe(time.perf_counter() - start)
                queue.verdict(packet, verdict)
        finally:
            queue.flush()
        return len(packets)

    def on_packet(self, number: int, packet: RawPacket, now: float) -> Verdict:
        """The verdict on one packet from queue `number`, its replies sent and logged."""
        try:
            inbound = self._inbound(number, packet)
            # Only what nfdhcpd answers is limited: a TAP without binding (or IPv6 from
            # one without SUBNET6) passes on undelayed, however much it sends.
            limiter = self.limiter
            if limiter is not None and in_scope(number, self.table.get(inbound.tap), self.config):
                ifindex = packet.physindev or packet.indev
                if not limiter.allow(ifindex, now):
                    self._over_limit(inbound.tap, now)
                    return Verdict.DROP  # unparsed
            if number == self.dhcp_queue:
                decision = self.replies.decide(inbound, self.table, self.responder)
            else:
                decision = self.responder.handle(inbound, self.table)
            # The replies for the VM's TAP go to the very interface the request came in
            # on, by index (inject.py), not to whatever has its name by now.
            self.act(decision, inbound, now, packet.physindev or packet.indev)
            if decision.replay:
                self.pending.remember(inbound, now)
            return decision.verdict
        except Exception:
            # A bug, not bad input (the core turns that into decisions): log it, count
            # it, drop this packet and keep serving everyone else.
            self.counters[Event.ERROR] += 1
            log.exception("internal error handling a packet from queue %d", number)
            return Verdict.DROP

    def replay(self, now: float) -> None:
        """Answer what VMs asked before their binding landed: an OFFER for that very
        xid, an RA, an Advertise, at once, rather than after the VM's next retry."""
        for inbound in self.pending.ready(self.table, now):
            decision = self.responder.handle(inbound, self.table)
            if decision.frames:
                self.act(decision, inbound, now)
                self.counters[Event.REPLAYED] += 1

    def _inbound(self, number: int, packet: RawPacket) -> Inbound:
        indev, ifmac = self.links.lookup(packet.indev)
        physindev = self.links.lookup(packet.physindev)[0] if packet.physindev else None
        # tuple.__new__ in C rather than the NamedTuple's interpreted __new__ (per packet)
        name = indev or f"if{packet.indev}"
        return _TUPLE_NEW(Inbound, (number, name, physindev, packet.hwsrc, ifmac, packet.payload))

    def _over_limit(self, name: str, now: float) -> None:
        self.counters[Event.RATE_LIMITED] += 1
        similar = self.log_budget.spend((name, Event.RATE_LIMITED), now)
        if similar is not None:
            log.warning(
                "drop: %s: over rate_limit (%d/s, burst %d)%s",
                name,
                self.config.rate_limit,
                self.config.rate_burst,
                f" (and {similar} like it before)" if similar else "",
            )

    def _send(self, decision: Decision, inbound: Inbound, now: float, ifindex: int) -> bool:
        """Send `decision`'s frames, those for `inbound.tap` to `ifindex` if known (> 0);
        False if one could not be (logged under the budget: a VM can make sends fail on
        purpose, with a frame too large, say)."""
        tap = inbound.tap
        for frame in decision.frames:
            data = frame.data  # IPv6 first: is_multicast_ra is interpreted (ra.py)
            ipv6 = len(data) > 14 and data[12] == 0x86 and data[13] == 0xDD
            if ipv6 and self.multicast_ras is not None and is_multicast_ra(frame):
                self.multicast_ras.hold(frame, now)  # RFC 4861 6.2.6: sent by `tick`
                continue
            try:
                self.sender.send(frame, ifindex if frame.ifname == tap else 0)
            except OSError as exc:
                self.counters[Event.SEND_ERROR] += 1
                similar = self.log_budget.spend((inbound.tap, Event.SEND_ERROR), now)
                if similar is not None:
                    log.warning(
                        "cannot send on %s: %s (%s)%s",
                        frame.ifname,
                        exc,
                        decision.reason,
                        f" (and {similar} like it before)" if similar else "",
                    )
                return False
        return True

    def act(self, decision: Decision, inbound: Inbound, now: float, ifindex: int = 0) -> None:
        """Count, note, trace and send `decision`'s frames (see `_send` for `ifindex`),
        then log it by its event."""
        event = decision.event
        self.counters[event] += 1
        self.served.note(inbound.tap, inbound.queue, event, bool(decision.frames))
        # The reply first, the trace after: tracing may be slow or fail, the VM waits.
        sent = self._send(decision, inbound, now, ifindex)
        if self.trace is not None:
            self.trace.record(inbound, decision.frames)
        if not sent:
            return
        if event in QUIET_EVENTS:
            level = logging.DEBUG
        else:
            level = logging.WARNING if event in WARN_EVENTS else logging.INFO
            similar = self.log_budget.spend((inbound.tap, event), now)
            if similar is None:
                level = logging.DEBUG
            elif similar:
                decision = decision._replace(
                    reason=f"{decision.reason} (and {similar} like it before)"
                )
        if log.isEnabledFor(level):
            log.log(level, "%s", decision.log_text())
            if log.isEnabledFor(logging.DEBUG):
                _debug_dump(inbound, decision)


def _debug_dump(inbound: Inbound, decision: Decision) -> None:
    """The request and what we sent, one line each (core/describe.py), for
    troubleshooting: only when debug lines are logged."""
    log.debug("  request: %s", describe_packet(inbound.payload))
    for frame in decision.frames:
        log.debug("  reply on %s: %s", frame.ifname, describe_frame(frame.data))
