"""Prometheus metrics: the latency histogram, the collector's families as a Prometheus
parser reads them, the HTTP answers, the endpoint served without threads, the config key."""

from __future__ import annotations

import select
import socket
from collections import Counter

import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from nfdhcpd.core.config import parse_config
from nfdhcpd.core.errors import ConfigError
from nfdhcpd.core.events import Event
from nfdhcpd.ops.control import ControlServer, Handler, listen_tcp
from nfdhcpd.ops.metrics import DaemonCollector, LatencyHistogram, http_handler, registry_for
from nfdhcpd.ops.status import Served


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by name and sorted labels."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            assert isinstance(s, Sample)
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_histogram_buckets_are_le_and_cumulative() -> None:
    h = LatencyHistogram([0.001, 0.01, 0.1])
    for value in (0.0005, 0.001, 0.002, 0.05, 3.0):
        h.observe(value)
    # 0.001 is `le 0.001` (Prometheus buckets include their bound).
    assert h.counts == [2, 1, 1, 1]
    assert h.cumulative() == [("0.001", 2), ("0.01", 3), ("0.1", 4), ("+Inf", 5)]
    assert h.sum == pytest.approx(3.0535)


def make_collector(
    latency: LatencyHistogram | None = None,
) -> tuple[Counter[Event], Served, str]:
    counters = Counter(
        {
            Event.OFFER: 3,
            Event.ACK: 2,
            Event.MAC_MISMATCH: 1,
            Event.NO_BINDING: 4,
            Event.RA_PERIODIC: 5,
        }
    )
    served = Served()
    served.note("tap1", 42, Event.OFFER, replied=True)
    served.note("tap1", 42, Event.ACK, replied=True)
    served.note("tap2", 42, Event.MAC_MISMATCH, replied=False)
    served.note("tap9", 43, Event.NO_BINDING, replied=False)
    collector = DaemonCollector(
        counters, served, lambda: ["tap1", "tap2"], lambda: {42: "dhcp", 43: "rs"}, latency
    )
    return counters, served, generate_latest(registry_for(collector)).decode()


def test_collector_exposes_the_daemon_counters_by_kind() -> None:
    _counters, served, text = make_collector()
    got = samples(text)
    assert got[("nfdhcpd_replies_total", (("type", "offer"),))] == 3
    assert got[("nfdhcpd_replies_total", (("type", "ack"),))] == 2
    assert got[("nfdhcpd_replies_total", (("type", "ra-periodic"),))] == 5
    assert got[("nfdhcpd_drops_total", (("reason", "mac-mismatch"),))] == 1
    assert got[("nfdhcpd_decisions_total", (("event", "no-binding"),))] == 4
    # A pass is neither a reply nor a drop.
    assert ("nfdhcpd_drops_total", (("reason", "no-binding"),)) not in got
    assert got[("nfdhcpd_requests_total", (("queue", "42"), ("service", "dhcp")))] == 3
    assert got[("nfdhcpd_requests_total", (("queue", "43"), ("service", "rs")))] == 1
    assert got[("nfdhcpd_bindings", ())] == 2
    last = got[("nfdhcpd_binding_last_served_timestamp_seconds", (("tap", "tap1"),))]
    assert last == pytest.approx(served.taps["tap1"].reply)
    # tap2 was refused, never served; tap9 has no binding.
    assert ("nfdhcpd_binding_last_served_timestamp_seconds", (("tap", "tap2"),)) not in got
    assert "tap9" not in served.taps
    assert "nfdhcpd_handle_seconds" not in text  # metrics on, but no histogram given


def test_every_refusal_the_core_decides_is_a_drop() -> None:
    """The families follow each event's outcome: issue 11's bad-checksum, discarded and
    relay-forw were decisions but not drops while the drop names were a hand-kept list."""
    counters = Counter({Event.BAD_CHECKSUM: 2, Event.DISCARDED: 1, Event.RELAY_FORW: 1})
    counters[Event.DECLINE] = 1  # noted, neither a reply nor a drop
    collector = DaemonCollector(counters, Served(), list, dict, None)
    got = samples(generate_latest(registry_for(collector)).decode())
    assert got[("nfdhcpd_drops_total", (("reason", "bad-checksum"),))] == 2
    assert got[("nfdhcpd_drops_total", (("reason", "discarded"),))] == 1
    assert got[("nfdhcpd_drops_total", (("reason", "relay-forw"),))] == 1
    assert got[("nfdhcpd_decisions_total", (("event", "decline"),))] == 1
    assert not [key for key in got if key[0] != "nfdhcpd_decisions_total" and "decline" in str(key)]


def test_collector_reads_counters_at_scrape_time() -> None:
    counters, served, _text = make_collector()
    collector = DaemonCollector(counters, served, list, dict, None)
    registry = registry_for(collector)
    counters[Event.OFFER] += 10
    got = samples(generate_latest(registry).decode())
    assert got[("nfdhcpd_replies_total", (("type", "offer"),))] == 13


def test_collector_exposes_the_latency_histogram() -> None:
    latency = LatencyHistogram()
    latency.observe(20e-6)
    latency.observe(0.3)
    got = samples(make_collector(latency)[2])
    assert got[("nfdhcpd_handle_seconds_bucket", (("le", "2.5e-05"),))] == 1
    assert got[("nfdhcpd_handle_seconds_bucket", (("le", "1.0"),))] == 2
    assert got[("nfdhcpd_handle_seconds_bucket", (("le", "+Inf"),))] == 2
    assert got[("nfdhcpd_handle_seconds_count", ())] == 2
    assert got[("nfdhcpd_handle_seconds_sum", ())] == pytest.approx(0.30002)


def registry_handler() -> Handler:
    counters = Counter({Event.OFFER: 1})
    return http_handler(registry_for(DaemonCollector(counters, Served(), list, dict, None)))


def test_http_answers() -> None:
    answer = registry_handler()
    assert answer(b"GET /metrics HTTP/1.1\r\nHost: x\r\n") is None  # header not complete
    ok = answer(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    assert ok is not None
    head, _, body = ok.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200 OK\r\n")
    assert f"Content-Length: {len(body)}".encode() in head
    assert samples(body.decode())[("nfdhcpd_replies_total", (("type", "offer"),))] == 1
    head_only = answer(b"HEAD /metrics HTTP/1.1\r\n\r\n")
    assert head_only is not None and head_only.endswith(b"\r\n\r\n")
    for request, status in (
        (b"GET / HTTP/1.1\r\n\r\n", b"404"),
        (b"GET /metricsx HTTP/1.1\r\n\r\n", b"404"),
        (b"POST /metrics HTTP/1.1\r\n\r\n", b"405"),
        (b"\x00garbage\r\n\r\n", b"400"),
    ):
        response = answer(request)
        assert response is not None and response.split(b" ")[1] == status, request


def pump_exchange(server: ControlServer, client: socket.socket, request: bytes) -> bytes:
    """Drive the server as the daemon's loop does (service() when its fd is readable)
    until the client has the whole answer."""
    client.setblocking(False)
    client.sendall(request)
    received = b""
    for _ in range(200):
        ready, _, _ = select.select([server.fileno(), client.fileno()], [], [], 0.05)
        if server.fileno() in ready:
            server.service()
        if client.fileno() in ready:
            chunk = client.recv(65536)
            if not chunk:
                return received
            received += chunk
    raise AssertionError(f"no complete answer, got {received!r}")


def test_endpoint_served_from_the_loop_without_threads() -> None:
    server = ControlServer()
    listener = listen_tcp("127.0.0.1", 0)
    port = listener.getsockname()[1]
    server.listen(listener, registry_handler())
    try:
        idle = socket.create_connection(("127.0.0.1", port))  # a client that never asks
        with socket.create_connection(("127.0.0.1", port)) as client:
            answer = pump_exchange(server, client, b"GET /metrics HTTP/1.0\r\n\r\n")
        assert answer.startswith(b"HTTP/1.0 200 OK")
        assert b"nfdhcpd_replies_total" in answer
        idle.close()
    finally:
        server.close()


def test_metrics_key() -> None:
    assert parse_config("[general]\nmetrics = 127.0.0.1:9167\n").metrics == ("127.0.0.1", 9167)
    assert parse_config("[general]\nmetrics = [::1]:9167\n").metrics == ("::1", 9167)
    assert parse_config("[general]\nmetrics =\n").metrics is None
    assert parse_config("").metrics is None
    for bad, why in (
        ("localhost:9167", "'localhost' is not an IPv4 address or an [IPv6] address"),
        ("::1:9167", "not an IPv4 address or an [IPv6] address"),
        ("127.0.0.1", "not ADDRESS:PORT"),
        ("127.0.0.1:0", "port 1..65535"),
        ("127.0.0.1:http", "not ADDRESS:PORT"),
    ):
        with pytest.raises(ConfigError) as info:
            parse_config(f"[general]\nmetrics = {bad}\n", "/etc/x.conf")
        message = str(info.value)
        for part in ("/etc/x.conf", "[general]", "metrics", bad, why):
            assert part in message, (part, message)


def test_metrics_listener_error_names_the_address() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"metrics: cannot listen on 127.0.0.1:{port}"):
            listen_tcp("127.0.0.1", port)
