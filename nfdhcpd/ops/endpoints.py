"""A running daemon's operations endpoints: metrics, control socket, pcap trace.

Opened as root, before the privilege drop, and served from the poll loop; changing
them takes a restart.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any, Protocol

from ..core.binding import BindingTable
from ..core.config import Config
from ..core.events import Event
from .control import ControlServer, listen_tcp, listen_unix, status_handler
from .metrics import DaemonCollector, LatencyHistogram, http_handler, registry_for
from .status import Served, snapshot
from .trace import PcapWriter

log = logging.getLogger("nfdhcpd")


class Running(Protocol):
    """What the endpoints read of the daemon, at each request."""

    @property
    def config(self) -> Config: ...
    @property
    def table(self) -> BindingTable: ...
    @property
    def counters(self) -> Counter[Event]: ...
    @property
    def served(self) -> Served: ...


class Endpoints:
    def __init__(self, daemon: Running) -> None:
        self.daemon = daemon
        self.control: ControlServer | None = None
        self.trace: PcapWriter | None = None
        self.latency: LatencyHistogram | None = None

    def open(self, control: str | None, trace: str | None) -> list[str | int]:
        """Listen for scrapes ([general] metrics) and status requests (unix socket at
        `control`), open the pcap `trace`. Returns what the daemon's user must own (the
        socket, so it can remove it at exit)."""
        daemon = self.daemon
        server = self.control = ControlServer()
        handed_over: list[str | int] = []
        metrics = daemon.config.metrics
        if metrics is not None:
            self.latency = LatencyHistogram()
            collector = DaemonCollector(
                daemon.counters,
                daemon.served,
                lambda: daemon.table,
                self.queue_names,
                self.latency,
            )
            server.listen(listen_tcp(*metrics), http_handler(registry_for(collector)))
            log.info("metrics at %s port %d, /metrics", *metrics)
        if control is not None:
            server.listen(listen_unix(control), status_handler(self.status))
            handed_over.append(control)
        if trace is not None:
            self.trace = PcapWriter(trace)
            log.info("tracing every handled packet to %s", trace)
        return handed_over

    def status(self) -> dict[str, Any]:
        """What `nfdhcpd status` shows (see status.snapshot)."""
        daemon = self.daemon
        return {
            "config": daemon.config.path,
            **snapshot(daemon.table, daemon.served, daemon.config.datapath, daemon.counters),
        }

    def queue_names(self) -> dict[int, str]:
        config = self.daemon.config
        names = {}
        if config.enable_ipv6:
            names = {config.rs_queue: "rs", config.ns_queue: "ns", config.dhcpv6_queue: "dhcpv6"}
        if config.enable_dhcp:
            names[config.dhcp_queue] = "dhcp"
        return names

    def fds(self) -> list[int]:
        fds = [] if self.control is None else self.control.fds()
        return fds if self.trace is None else [*fds, self.trace.fileno()]

    def close(self) -> None:
        if self.control is not None:
            self.control.close()
            self.control = None
        if self.trace is not None:
            self.trace.close()
            self.trace = None
