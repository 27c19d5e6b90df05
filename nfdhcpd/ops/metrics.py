"""Prometheus metrics, read from the daemon's own counters when scraped.

The packet path already counts every decision (`PacketPath.counters`) and notes every
request per TAP (`status.Served`); the collector turns those into metric families at
scrape time, so metrics cost the packet path nothing but the latency histogram, which
is a bisect and two additions. prometheus_client's own server runs a thread; the
daemon has one poll loop and no threads, so `http_handler` is served from that loop
by `control.ControlServer` instead.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping

from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from ..core.events import Event, Outcome
from .status import Served

#: Seconds; a DHCPv4 exchange is handled in tens of microseconds, so the low end is fine.
LATENCY_BUCKETS = (
    10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6,
    1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 1.0,
)  # fmt: skip


class LatencyHistogram:
    """Non-cumulative bucket counts in a plain list: O(log n) per observation."""

    def __init__(self, bounds: Iterable[float] = LATENCY_BUCKETS) -> None:
        self.bounds = sorted(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        # bisect_left: a value equal to a bound belongs to it (Prometheus buckets are `le`).
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.sum += seconds

    def cumulative(self) -> list[tuple[str, float]]:
        buckets: list[tuple[str, float]] = []
        total = 0
        for bound, count in zip([*map(repr, self.bounds), "+Inf"], self.counts, strict=True):
            total += count
            buckets.append((bound, total))
        return buckets


class DaemonCollector(Collector):
    """The daemon's counters as metric families, read when scraped."""

    def __init__(
        self,
        counters: Mapping[Event, int],
        served: Served,
        bindings: Callable[[], Iterable[str]],
        queue_names: Callable[[], Mapping[int, str]],
        latency: LatencyHistogram | None,
    ) -> None:
        self.counters = counters
        self.served = served
        self.bindings = bindings  # a callable: the table is replaced, not changed
        self.queue_names = queue_names  # queue number -> service, as configured now
        self.latency = latency

    def collect(self) -> Iterator[Metric]:
        counters = self.counters
        decisions = CounterMetricFamily(
            "nfdhcpd_decisions", "Decisions taken, by event (SIGUSR1 logs them)", labels=["event"]
        )
        replies = CounterMetricFamily(
            "nfdhcpd_replies", "Replies decided, by type", labels=["type"]
        )
        drops = CounterMetricFamily(
            "nfdhcpd_drops", "Packets refused or replies lost, by reason", labels=["reason"]
        )
        for event, count in sorted(counters.items()):
            name = str(event)
            decisions.add_metric([name], count)
            # replies by type (`ra-periodic`: unsolicited RAs); drops by reason
            if event.outcome is Outcome.REPLY:
                replies.add_metric([name], count)
            elif event.outcome is Outcome.DROP:
                drops.add_metric([name], count)
        yield from (decisions, replies, drops)

        requests = CounterMetricFamily(
            "nfdhcpd_requests",
            "Requests handled (rate-limited ones excepted), by queue and service",
            labels=["queue", "service"],
        )
        names = self.queue_names()
        for queue, count in sorted(self.served.requests.items()):
            requests.add_metric([str(queue), names.get(queue, "none")], count)
        yield requests

        bound = list(self.bindings())
        yield GaugeMetricFamily("nfdhcpd_bindings", "Bindings in use", value=len(bound))
        served = GaugeMetricFamily(
            "nfdhcpd_binding_last_served_timestamp_seconds",
            "When each binding's TAP was last sent a reply to a request (unix time)",
            labels=["tap"],
        )
        taps = self.served.taps
        for name in bound:
            seen = taps.get(name)
            if seen is not None and seen.reply:
                served.add_metric([name], seen.reply)
        yield served

        if self.latency is not None:
            latency = HistogramMetricFamily(
                "nfdhcpd_handle_seconds",
                "Time to handle one queued packet, verdict and replies included",
            )
            latency.add_metric([], self.latency.cumulative(), self.latency.sum)
            yield latency


def registry_for(collector: Collector) -> CollectorRegistry:
    """A registry of ours alone: no process or platform collectors, and no global state."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def http_handler(registry: CollectorRegistry) -> Callable[[bytes], bytes | None]:
    """Answer `GET /metrics` (and HEAD) of HTTP/1.x; 404 elsewhere. The request so far
    in, the whole response out, or None while the header is not complete."""

    def answer(request: bytes) -> bytes | None:
        head, complete, _ = request.partition(b"\r\n\r\n")
        if not complete:
            return None
        lines = head.decode("latin-1").split("\r\n")
        words = lines[0].split()
        if len(words) != 3 or not words[2].startswith("HTTP/"):
            return _response("400 Bad Request", b"bad request\n")
        method, target = words[0], words[1]
        if method not in ("GET", "HEAD"):
            return _response("405 Method Not Allowed", b"GET only\n")
        if target.partition("?")[0] != "/metrics":
            return _response("404 Not Found", b"metrics are at /metrics\n")
        accept = ""
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "accept":
                accept = value.strip()
        encoder, content_type = choose_encoder(accept)
        body = encoder(registry)
        return _response("200 OK", body, content_type, with_body=method == "GET")

    return answer


def _response(
    status: str,
    body: bytes,
    content_type: str = "text/plain; charset=utf-8",
    *,
    with_body: bool = True,
) -> bytes:
    head = (
        f"HTTP/1.0 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + (body if with_body else b"")
