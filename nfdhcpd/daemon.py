"""The IO shell: queues in, verdicts and frames out, one poll loop, no threads.

Signal handlers only set flags and wake the loop through the wakeup fd; the loop
acts on them between batches of packets (the ExaBGP reactor pattern).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import logging
import math
import os
import random
import select
import signal
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

from netfilterqueue import Packet

from . import responder
from .binding import Binding, BindingTable
from .config import Config, parse_config
from .control import ControlServer, listen_tcp, listen_unix, status_handler
from .errors import ConfigError
from .inject import Injector
from .links import Links
from .metrics import DaemonCollector, LatencyHistogram, http_handler, registry_for
from .nfq import Queue
from .ratelimit import RateLimiter
from .reply6 import unsolicited_ra
from .responder import Decision, Inbound, Verdict
from .status import Served, snapshot
from .trace import PcapWriter
from .watcher import Watcher, describe

log = logging.getLogger("nfdhcpd")

#: Decisions worth more than debug level: a VM got an answer or was refused.
_QUIET_EVENTS = frozenset({"no-binding", "unknown-queue", "ns-own", "ns-other"})
_WARN_EVENTS = frozenset({"decline", "mac-mismatch", "indev-mismatch", "malformed", "error"})
#: Requests from TAPs without binding kept at most (each TAP keeps only its latest).
_MAX_PENDING = 4096


def load_config(path: str) -> Config:
    """Read and parse the config file; any failure is one `ConfigError` line."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, "-", None, None, f"cannot read: {exc}") from None
    config = parse_config(text, path)
    if not config.server_duid:
        config = dataclasses.replace(config, server_duid=default_duid())
    return config


def default_duid() -> bytes:
    """A DUID-UUID (RFC 6355) from /etc/machine-id: stable across restarts and reboots."""
    try:
        with open("/etc/machine-id", encoding="ascii") as f:
            ident = uuid.UUID(f.read().strip())
    except (OSError, ValueError):
        ident = uuid.uuid5(uuid.NAMESPACE_DNS, socket.gethostname())
    return b"\x00\x04" + ident.bytes


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


class Daemon:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.counters: Counter[str] = Counter()
        self._log_budget = LogBudget()
        self.limiter = _limiter(config)
        self._scapy = _scapy_layers() if log.isEnabledFor(logging.DEBUG) else None
        #: (TAP, queue) -> (when, request) for requests from TAPs with no binding yet
        self._pending: dict[tuple[str, int], tuple[float, Inbound]] = {}
        self.injector = Injector()
        self.links = Links(self.injector.fileno())
        self.queues: dict[int, Queue] = {}
        self.watcher = Watcher(config.datapath, self._table_changed)
        self.table: BindingTable = self.watcher.table
        self._flags: set[int] = set()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._fds_changed = False
        self._next_ra = 0.0
        self.served = Served()  # per-TAP last request and reply, requests per queue
        self.latency = LatencyHistogram() if config.metrics else None
        self.control: ControlServer | None = None  # see open_ops
        self.trace: PcapWriter | None = None
        self._bind_queues()

    # --- setup -----------------------------------------------------------------

    def _wanted_queues(self) -> dict[int, int]:
        """Queue number -> address family, for the services the config enables."""
        config = self.config
        wanted: dict[int, int] = {}
        if config.enable_dhcp:
            wanted[config.dhcp_queue] = socket.AF_INET
        if config.enable_ipv6:
            for number in (config.rs_queue, config.ns_queue, config.dhcpv6_queue):
                wanted[number] = socket.AF_INET6
        return wanted

    def _bind_queues(self) -> None:
        wanted = self._wanted_queues()
        for number in set(self.queues) - set(wanted):
            self.queues.pop(number).unbind()
            log.info("unbound NFQUEUE %d", number)
        for number in sorted(set(wanted) - set(self.queues)):
            queue = Queue(number, wanted[number], self._timed(self._callback(number)))
            self.queues[number] = queue
            log.info("listening on NFQUEUE %d", number)
        self._fds_changed = True

    def fds(self) -> list[int]:
        """Every descriptor the daemon needs kept open across daemonizing."""
        fds = [q.fileno() for q in self.queues.values()]
        fds += self._ops_fds()
        return [*fds, self.injector.fileno(), self.watcher.fileno(), self._wake_r, self._wake_w]

    def install_signals(self) -> None:
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._flags.add(signum)

    # --- the packet path -------------------------------------------------------

    def _callback(self, number: int) -> Callable[[Packet], Verdict]:
        def on_packet(packet: Packet) -> Verdict:
            try:
                ifindex = packet.physindev or packet.indev
                if self.limiter is not None and not self.limiter.allow(ifindex, time.monotonic()):
                    self._over_limit(ifindex)
                    return Verdict.DROP  # unparsed
                inbound = self._inbound(number, packet)
                decision = responder.handle(inbound, self.table, self.config)
                self._act(decision, inbound)
                if decision.event == "no-binding" and not self._is_ns_queue(number):
                    self._remember(inbound)
                return decision.verdict
            except Exception:
                # A bug, not bad input (the core turns that into decisions): log it, count
                # it, drop this packet and keep serving everyone else.
                self.counters["error"] += 1
                log.exception("internal error handling a packet from queue %d", number)
                return Verdict.DROP

        return on_packet

    def _is_ns_queue(self, number: int) -> bool:
        return self.config.enable_ipv6 and number == self.config.ns_queue

    def _over_limit(self, ifindex: int) -> None:
        self.counters["rate-limited"] += 1
        name = self.links.lookup(ifindex)[0] or f"if{ifindex}"
        similar = self._log_budget.spend((name, "rate-limited"), time.monotonic())
        if similar is not None:
            log.warning(
                "drop: %s: over rate_limit (%d/s, burst %d)%s",
                name,
                self.config.rate_limit,
                self.config.rate_burst,
                f" (and {similar} like it before)" if similar else "",
            )

    def _remember(self, inbound: Inbound) -> None:
        """Keep a request from a TAP with no binding yet: the boot race (see _replay)."""
        if self.config.pending_window <= 0:
            return
        if len(self._pending) >= _MAX_PENDING:
            self._expire_pending()
            if len(self._pending) >= _MAX_PENDING:
                return
        self._pending[(inbound.tap, inbound.queue)] = (time.monotonic(), inbound)

    def _expire_pending(self) -> None:
        horizon = time.monotonic() - self.config.pending_window
        self._pending = {k: v for k, v in self._pending.items() if v[0] >= horizon}

    def _replay(self) -> None:
        """Answer what the VM asked before its binding landed: an OFFER for that very xid,
        an RA, an Advertise, at once, rather than after the VM's next backed-off retry."""
        self._expire_pending()
        for key, (_seen, inbound) in list(self._pending.items()):
            if inbound.tap not in self.table:
                continue
            del self._pending[key]
            decision = responder.handle(inbound, self.table, self.config)
            if decision.frames:
                self._act(decision, inbound)
                self.counters["replayed"] += 1

    def _inbound(self, number: int, packet: Packet) -> Inbound:
        indev, ifmac = self.links.lookup(packet.indev)
        physindev = self.links.lookup(packet.physindev)[0] if packet.physindev else None
        hw = packet.get_hw()
        return Inbound(
            queue=number,
            indev=indev or f"if{packet.indev}",
            physindev=physindev,
            hwsrc=hw[:6] if hw else None,
            ifmac=ifmac,
            payload=packet.get_payload(),
        )

    def _act(self, decision: Decision, inbound: Inbound) -> None:
        event = decision.event
        self.counters[event] += 1
        self.served.note(inbound.tap, inbound.queue, event, bool(decision.frames))
        if self.trace is not None:
            self.trace.record(inbound, decision.frames)
        for frame in decision.frames:
            try:
                self.injector.send(frame)
            except OSError as exc:
                self.counters["send-error"] += 1
                log.warning("cannot send on %s: %s (%s)", frame.ifname, exc, decision.reason)
                return
        if event in _QUIET_EVENTS:
            level = logging.DEBUG
        else:
            level = logging.WARNING if event in _WARN_EVENTS else logging.INFO
            similar = self._log_budget.spend((inbound.tap, event), time.monotonic())
            if similar is None:
                level = logging.DEBUG
            elif similar:
                decision = decision._replace(
                    reason=f"{decision.reason} (and {similar} like it before)"
                )
        if log.isEnabledFor(level):
            log.log(level, "%s", decision.log_text())
            if self._scapy is not None and log.isEnabledFor(logging.DEBUG):
                _debug_dump(self._scapy, inbound, decision)

    # --- the loop --------------------------------------------------------------

    def run(self) -> None:
        # The first scan runs here, once logging goes where the daemon keeps it; events
        # since the watch was set up are read afterwards and change nothing twice.
        self.watcher.rescan()
        log.info(
            "serving %d bindings from %s (packet path %s)",
            len(self.table),
            self.config.datapath,
            "interpreted" if responder.__file__.endswith(".py") else "compiled",
        )
        while True:
            handlers: dict[int, Callable[[], object]] = {self._wake_r: self._drain_wakeup}
            handlers[self.watcher.fileno()] = self.watcher.read
            if self.control is not None:
                handlers[self.control.fileno()] = self.control.service
            others = _poller(handlers)  # all but the queues: polled while coalescing
            queues = {queue.fileno(): queue for queue in self.queues.values()}
            every = _poller(handlers.keys() | queues.keys())
            self._fds_changed = False
            coalescer = Coalescer(self.config.coalesce_ms / 1000)
            while not self._fds_changed:
                timeout = self._timeout_ms()
                hold = coalescer.hold_until - time.monotonic()
                if hold > 0:
                    hold_ms = math.ceil(hold * 1000)
                    timeout = hold_ms if timeout is None else min(timeout, hold_ms)
                events = (others if hold > 0 else every).poll(timeout)
                started = time.monotonic()
                read = 0
                for fd, _events in events:
                    try:
                        if fd in queues:
                            read += queues[fd].read()
                        else:
                            handlers[fd]()
                    except Exception:
                        # A bug: say so loudly, and go on serving every VM.
                        self.counters["error"] += 1
                        log.exception("internal error in the main loop")
                if read:
                    coalescer.read(read, started)
                if self._flags and not self._handle_flags():
                    return
                if self.config.enable_ipv6 and time.monotonic() >= self._next_ra:
                    self._ra_round()

    def _timeout_ms(self) -> int | None:
        if not self.config.enable_ipv6:
            return None
        return max(0, int((self._next_ra - time.monotonic()) * 1000) + 1)

    def _ra_round(self) -> None:
        """Unsolicited RAs to every IPv6 binding (RFC 4861 6.2.4), jittered (6.2.1)."""
        for binding in self.table.values():
            self._send_ra(binding)
        self._next_ra = time.monotonic() + self.config.ra_period * random.uniform(0.9, 1.1)

    def _send_ra(self, binding: Binding) -> None:
        """One RA on one TAP; a missing or failing interface only skips itself."""
        if binding.subnet6 is None:
            return
        mac = self.links.mac_of(binding.indev or binding.name)
        if mac is None:
            log.debug("no RA on %s: interface absent", binding.name)
            return
        frame = unsolicited_ra(binding, self.config, mac)
        if frame is None:
            return
        try:
            self.injector.send(frame)
        except OSError as exc:
            self.counters["send-error"] += 1
            log.debug("no RA on %s: %s", binding.name, exc)
            return
        self.counters["ra-periodic"] += 1
        if self.trace is not None:
            self.trace.record(None, (frame,))
        log.debug("unsolicited RA on %s", binding.name)

    def _drain_wakeup(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_r, 512):
                pass

    def _handle_flags(self) -> bool:
        """Act on signals; False means stop."""
        flags, self._flags = self._flags, set()
        if flags & {signal.SIGTERM, signal.SIGINT}:
            log.info("exiting on signal")
            return False
        if signal.SIGHUP in flags:
            self.reload()
        if signal.SIGUSR1 in flags:
            self.dump()
        return True

    def reload(self) -> None:
        try:
            config = load_config(self.config.path)
        except ConfigError as exc:
            log.error("reload refused, keeping the running configuration: %s", exc)
            return
        for warning in config.warnings:
            log.warning("%s", warning)
        old, self.config = self.config, config
        self.limiter = _limiter(config)
        try:
            self._bind_queues()
        except OSError as exc:
            log.error("reload: %s; keeping the old configuration", exc)
            self.config = old
            self.limiter = _limiter(old)
            self._bind_queues()
            return
        if config.datapath != old.datapath:
            self.watcher.close()
            self.watcher = Watcher(config.datapath, self._table_changed)
            self._fds_changed = True
        self.links.forget()
        self.watcher.rescan()
        log.info("reloaded %s: %d bindings", config.path, len(self.table))

    def dump(self) -> None:
        log.info("binding table: %d bindings", len(self.table))
        for name in sorted(self.table):
            log.info("  %s: %s", name, describe(self.table[name]))
        log.info("counters: %s", ", ".join(f"{k}={v}" for k, v in sorted(self.counters.items())))

    def _table_changed(self, table: BindingTable) -> None:
        old, self.table = self.table, table
        if self._pending:
            self._replay()
        if not self.config.enable_ipv6:
            return
        # A new or changed IPv6 binding is advertised at once, not a period later.
        for name, binding in table.items():
            if binding.subnet6 is not None and old.get(name) != binding:
                self._send_ra(binding)

    def close(self) -> None:
        for queue in self.queues.values():
            queue.unbind()
        self.queues.clear()
        self.watcher.close()
        self.injector.close()
        self._close_ops()

    # --- operations: metrics, control socket, trace ------------------------------

    def open_ops(self, control: str | None, trace: str | None) -> list[str]:
        """Listen for scrapes ([general] metrics) and status requests (unix socket at
        `control`), open the pcap `trace`: as root, before the privilege drop. Served
        from the poll loop; changing them takes a restart. Returns what the daemon's
        user must own (the socket, so it can remove it at exit)."""
        server = self.control = ControlServer()
        handed_over = []
        if self.config.metrics is not None:
            collector = DaemonCollector(
                self.counters, self.served, lambda: self.table, self._queue_names, self.latency
            )
            server.listen(listen_tcp(*self.config.metrics), http_handler(registry_for(collector)))
            log.info("metrics at %s port %d, /metrics", *self.config.metrics)
        if control is not None:
            server.listen(listen_unix(control), status_handler(self.status))
            handed_over.append(control)
        if trace is not None:
            self.trace = PcapWriter(trace)
            log.info("tracing every handled packet to %s", trace)
        return handed_over

    def status(self) -> dict[str, Any]:
        """What `nfdhcpd status` shows (see status.snapshot)."""
        return {
            "config": self.config.path,
            **snapshot(self.table, self.served, self.config.datapath, self.counters),
        }

    def _queue_names(self) -> dict[int, str]:
        config = self.config
        names = {}
        if config.enable_ipv6:
            names = {config.rs_queue: "rs", config.ns_queue: "ns", config.dhcpv6_queue: "dhcpv6"}
        if config.enable_dhcp:
            names[config.dhcp_queue] = "dhcp"
        return names

    def _timed(self, callback: Callable[[Packet], Verdict]) -> Callable[[Packet], Verdict]:
        """`callback`, timed into the latency histogram when metrics are on."""
        latency = self.latency
        if latency is None:
            return callback  # metrics off: not even a clock read per packet
        observe, clock = latency.observe, time.perf_counter

        def timed(packet: Packet) -> Verdict:
            start = clock()
            verdict = callback(packet)  # catches everything itself
            observe(clock() - start)
            return verdict

        return timed

    def _ops_fds(self) -> list[int]:
        fds = [] if self.control is None else self.control.fds()
        return fds if self.trace is None else [*fds, self.trace.fileno()]

    def _close_ops(self) -> None:
        if self.control is not None:
            self.control.close()
            self.control = None
        if self.trace is not None:
            self.trace.close()
            self.trace = None


class Coalescer:
    """Interrupt moderation for the queues.

    Under load (a read of several packets, or one that began within `window` seconds of
    the previous one) the queues are read again only `window` after this read began, so
    one wake-up serves what gathered meanwhile; a read that took longer than the window
    is followed at once. An isolated request is answered at once.
    """

    def __init__(self, window: float) -> None:
        self.window = window
        #: monotonic time before which the queues are not polled
        self.hold_until = 0.0
        self._last_read = float("-inf")

    def read(self, packets: int, started: float) -> None:
        """A read of `packets` (at least one) that began at `started`."""
        if self.window and (packets > 1 or started - self._last_read < self.window):
            self.hold_until = started + self.window
        self._last_read = started


def _poller(fds: Iterable[int]) -> select.poll:
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    return poller


def _limiter(config: Config) -> RateLimiter | None:
    return RateLimiter(config.rate_limit, config.rate_burst) if config.rate_limit else None


def _scapy_layers() -> tuple[Any, Any, Any]:
    """scapy, for debug logs only: it costs a second and tens of MB, and it must be
    imported before privileges are dropped, while every module is still readable."""
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether

    return IP, IPv6, Ether


def _debug_dump(layers: tuple[Any, Any, Any], inbound: Inbound, decision: Decision) -> None:
    """scapy's view of the request and of what we sent, for troubleshooting."""
    ip, ipv6, ether = layers
    layer = ipv6 if inbound.payload[:1] and inbound.payload[0] >> 4 == 6 else ip
    log.debug("  request: %r", layer(inbound.payload))
    for frame in decision.frames:
        log.debug("  reply on %s: %r", frame.ifname, ether(frame.data))
