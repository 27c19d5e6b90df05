"""The daemon: wires the parts (queues, packet path, pending replay, RA schedule,
watcher, operations) to the poll loop, and swaps state on reload.

Each part is its own module and unit-tested with fakes; this one only builds them,
hands the loop its descriptors, and reloads in two phases: everything new is built
first (config, queues, watcher), and only if all of it could be built is it swapped
in. A failure leaves the running state exactly as it was.
"""

from __future__ import annotations

import gc
import logging
import signal
import socket
from collections.abc import Callable, Mapping
from functools import partial
from typing import NamedTuple, Protocol

from ..core import responder
from ..core.binding import Binding, BindingTable, describe
from ..core.config import Config
from ..core.decision import Frame
from ..core.errors import ConfigError
from ..core.events import Event
from ..ops.endpoints import Endpoints
from ..ops.status import Served
from .files import load_config
from .inject import Injector
from .links import Links
from .loop import Loop
from .nfq import Queue
from .notify import Notifier
from .packet_path import PacketPath, QueueLike
from .pending import Pending
from .ra import Advertiser, RaScheduler
from .watcher import Watcher

log = logging.getLogger("nfdhcpd")
#: gc.set_threshold while serving: the youngest generation collected every 10,000 net
#: container allocations instead of 700 (see `collect_less`).
GC_THRESHOLDS = (10_000, 10, 10)


def collect_less() -> None:
    """What start-up made (modules, config, the first table) lives as long as the
    daemon: kept out of the cycle collector's scans. The packet path makes no cycles,
    reference counting frees what it makes, so the collector runs less often (it was
    7 % of the CPU on reply-cache misses, issue 14)."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def wanted_queues(config: Config) -> dict[int, int]:
    """Queue number -> address family, for the services `config` enables."""
    wanted: dict[int, int] = {}
    if config.enable_dhcp:
        wanted[config.dhcp_queue] = socket.AF_INET
    if config.enable_ipv6:
        for number in (config.rs_queue, config.ns_queue, config.dhcpv6_queue):
            wanted[number] = socket.AF_INET6
    return wanted


def earliest(*deadlines: float | None) -> float | None:
    return min((d for d in deadlines if d is not None), default=None)


def serving(bindings: int, queues: Mapping[int, object]) -> str:
    """The STATUS= systemd shows for the daemon."""
    return f"serving {bindings} bindings on NFQUEUE {', '.join(map(str, sorted(queues)))}"


class BoundQueue(QueueLike, Protocol):
    def fileno(self) -> int: ...
    def unbind(self) -> None: ...


class Watching(Protocol):
    def fileno(self) -> int: ...
    def read(self) -> None: ...
    def rescan(self) -> None: ...
    def close(self) -> None: ...


class Transmitter(Protocol):
    def fileno(self) -> int: ...
    def send(self, frame: Frame, ifindex: int = 0) -> None: ...
    def close(self) -> None: ...


class _Next(NamedTuple):
    """A reload's new state, built before any of it is swapped in."""

    config: Config
    queues: dict[int, BoundQueue]
    watcher: Watching | None  # None: the datapath is unchanged


class Daemon:
    """The parts, wired. `bind` and `watch` make the queues and the watcher, and
    `injector` sends (the tests pass fakes: NFQUEUE and AF_PACKET take root)."""

    def __init__(
        self,
        config: Config,
        *,
        bind: Callable[[int, int], BoundQueue] = Queue,
        watch: Callable[[str, Callable[[BindingTable], None]], Watching] = Watcher,
        injector: Transmitter | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.config = config
        self.notifier = notifier or Notifier()  # systemd's, when it runs us
        self._new_queue, self._new_watcher = bind, watch
        self.loop = Loop()
        self.injector = injector or Injector()
        self.links = Links(self.injector.fileno())
        self.path = PacketPath(config, self.links, self.injector, pending=Pending(0.0))
        self.counters = self.path.counters
        self.ra = RaScheduler(config.ra_period, config.enable_ipv6)
        self.path.multicast_ras = self.ra.multicast
        self.advertiser = Advertiser(self.links, self.injector, self.counters, self.ra.multicast)
        self.queues: dict[int, BoundQueue] = {}
        self.watcher = watch(config.datapath, self._table_changed)
        self.ops = Endpoints(self)
        self.queues = self._bind({}, config)
        for number in sorted(self.queues):
            log.info("listening on NFQUEUE %d", number)

    @property
    def table(self) -> BindingTable:
        return self.path.table

    @property
    def served(self) -> Served:
        return self.path.served

    def fds(self) -> list[int]:
        """Every descriptor the daemon needs kept open across daemonizing."""
        fds = [q.fileno() for q in self.queues.values()] + self.ops.fds()
        notify = [fd] if (fd := self.notifier.fileno()) is not None else []
        return [*fds, self.injector.fileno(), self.watcher.fileno(), *self.loop.fds(), *notify]

    def install_signals(self) -> None:
        self.loop.install_signals()

    def open_ops(self, control: str | None, trace: str | None) -> list[str | int]:
        """Open the metrics endpoint, control socket and trace (see ops.endpoints)."""
        handed_over = self.ops.open(control, trace)
        self.path.trace = self.advertiser.trace = self.ops.trace
        if self.ops.latency is not None:
            self.path.observe = self.ops.latency.observe
        return handed_over

    def run(self) -> None:
        # The first scan runs here, once logging goes where the daemon keeps it; events
        # since are read afterwards and change nothing twice. It cannot stop the daemon.
        contained("the first scan", self.watcher.rescan, self.on_error)
        log.info(
            "serving %d bindings from %s (packet path %s)",
            len(self.table),
            self.config.datapath,
            "interpreted" if responder.__file__.endswith(".py") else "compiled",
        )
        self.notifier.ready(self.status_line())  # queues bound, bindings loaded
        collect_less()
        self.loop.run(self)

    def status_line(self) -> str:
        return serving(len(self.table), self.queues)

    # --- what the loop asks (loop.Host) --------------------------------------------

    def handlers(self) -> Mapping[int, Callable[[], object]]:
        handlers: dict[int, Callable[[], object]] = {self.watcher.fileno(): self.watcher.read}
        if self.ops.control is not None:
            handlers[self.ops.control.fileno()] = self.ops.control.service
        return handlers

    def readers(self) -> Mapping[int, Callable[[], int]]:
        return {q.fileno(): partial(self.path.serve, q) for q in self.queues.values()}

    def window(self) -> float:
        return self.config.coalesce_ms / 1000

    def deadline(self) -> float | None:
        return earliest(self.ra.deadline(), self.notifier.deadline())

    def tick(self, now: float) -> None:
        """The watchdog; RAs held or due (RFC 4861 6.2.4, 6.2.6), old prefixes expired."""
        self.notifier.watchdog(now)
        self.path.table = self.ra.held(self.path.table, self.injector, self.counters, now)
        if self.ra.due(now):
            for binding in self.table.values():
                self._advertise(binding)

    def on_signals(self, signums: set[int]) -> bool:
        if signums & {signal.SIGTERM, signal.SIGINT}:
            log.info("exiting on signal")
            self.notifier.stopping()
            return False
        if signal.SIGHUP in signums:
            self.notifier.reloading()
            self.reload()
            self.notifier.ready(self.status_line())  # the new config, or the kept one
        if signal.SIGUSR1 in signums:
            dump(self.table, self.counters)
        return True

    def on_error(self) -> None:
        self.counters[Event.ERROR] += 1

    # --- reload: build, then swap ----------------------------------------------------

    def reload(self) -> None:
        """SIGHUP: the whole new state, or none of it and one error line saying why."""
        try:
            config = load_config(self.config.path)
            new = self._build(config)
        except (ConfigError, OSError, RuntimeError) as exc:
            log.error("reload refused, keeping the running configuration: %s", exc)
            return
        for warning in config.warnings:
            log.warning("%s", warning)
        self._swap(new)
        log.info("reloaded %s: %d bindings", config.path, len(self.table))

    def _build(self, config: Config) -> _Next:
        """Phase one: the queues and watcher `config` needs beyond what runs now."""
        queues = self._bind(self.queues, config)
        watcher = None
        if config.datapath != self.config.datapath:
            try:
                watcher = self._new_watcher(config.datapath, self._table_changed)
            except OSError:
                for number in queues.keys() - self.queues.keys():
                    queues[number].unbind()
                raise
        return _Next(config, queues, watcher)

    def _swap(self, new: _Next) -> None:
        """Phase two, which cannot fail: the new state in, what it replaces closed."""
        for number in self.queues.keys() - new.queues.keys():
            self.queues[number].unbind()
            log.info("unbound NFQUEUE %d", number)
        for number in sorted(new.queues.keys() - self.queues.keys()):
            log.info("listening on NFQUEUE %d", number)
        self.config, self.queues = new.config, new.queues
        self.path.configure(new.config)
        self.ra.period, self.ra.enabled = new.config.ra_period, new.config.enable_ipv6
        if new.watcher is not None:
            self.watcher.close()
            self.watcher = new.watcher
        self.loop.changed = True
        self.links.forget()
        self.watcher.rescan()

    def _bind(self, running: dict[int, BoundQueue], config: Config) -> dict[int, BoundQueue]:
        """The queues `config` wants: those of `running` it keeps, and new ones bound
        (all of them unbound again if one cannot be)."""
        wanted = wanted_queues(config)
        queues = {n: q for n, q in running.items() if n in wanted}
        try:
            for number in sorted(wanted.keys() - running.keys()):
                queues[number] = self._new_queue(number, wanted[number])
        except OSError:
            for number in queues.keys() - running.keys():
                queues[number].unbind()
            raise
        return queues

    def _table_changed(self, table: BindingTable) -> None:
        old = self.path.table
        table = self.path.table = self.ra.renumbering.apply(old, table, self.loop.clock())
        if len(old) != len(table):
            self.notifier.status(self.status_line())
        if len(self.path.pending):
            self.path.replay(self.loop.clock())
        if not self.config.enable_ipv6:
            return
        # A new or changed IPv6 binding is advertised at once, not a period later.
        for name, binding in table.items():
            if binding.subnet6 is not None and old.get(name) != binding:
                self._advertise(binding)

    def _advertise(self, binding: Binding) -> None:
        # Inside the error handler: a bug with one binding costs only its own RA.
        send = partial(self.advertiser.send, binding, self.config)
        contained(f"the RA on {binding.name}", send, self.on_error)

    def close(self) -> None:
        for queue in self.queues.values():
            queue.unbind()
        self.queues.clear()
        self.watcher.close()
        self.injector.close()
        self.ops.close()
        self.notifier.close()


def contained(what: str, task: Callable[[], object], on_error: Callable[[], None]) -> None:
    """`task()`; if it raises, a bug: count it, say so loudly, and go on serving."""
    try:
        task()
    except Exception:
        on_error()
        log.exception("internal error in %s", what)


def dump(table: BindingTable, counters: Mapping[Event, int]) -> None:
    """SIGUSR1: the binding table and the counters, in the log."""
    log.info("binding table: %d bindings", len(table))
    for name in sorted(table):
        log.info("  %s: %s", name, describe(table[name]))
    log.info("counters: %s", ", ".join(f"{k}={v}" for k, v in sorted(counters.items())))
