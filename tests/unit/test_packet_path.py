"""PacketPath, the shell's way for one packet, driven with fakes: no queue, no socket.

The fakes stand for NFQUEUE (packets in, verdicts out), the interface table and the
AF_PACKET socket; the decisions themselves come from the real core.
"""

from __future__ import annotations

import logging

import pytest

from nfdhcpd.core.binding import BindingTable
from nfdhcpd.core.decision import Frame, Inbound, RawPacket, Verdict
from nfdhcpd.core.events import Event

from ..helpers.builders import dhcp_request
from ..helpers.fake_path import TAP_INDEX, FakeLinks, FakeSender, discover, make_config, make_path
from ..helpers.samples import NS_QUEUE, QUEUE, TAP, VM_MAC, grnet_binding, table_of


class FakeQueue:
    number = QUEUE

    def __init__(self, *packets: RawPacket) -> None:
        self.packets = list(packets)
        self.verdicts: list[tuple[int, Verdict]] = []
        self.flushes = 0

    def read(self) -> list[RawPacket]:
        packets, self.packets = self.packets, []
        return packets

    def verdict(self, packet: RawPacket, verdict: Verdict) -> None:
        self.verdicts.append((packet.id, verdict))

    def flush(self) -> None:
        self.flushes += 1


class FakeTrace:
    def __init__(self) -> None:
        self.records: list[tuple[Inbound | None, tuple[Frame, ...]]] = []

    def record(self, inbound: Inbound | None, frames: tuple[Frame, ...]) -> None:
        self.records.append((inbound, frames))


def test_serve_answers_each_packet_gives_verdicts_and_flushes_once() -> None:
    path, sender = make_path()
    queue = FakeQueue(discover(1), discover(2))
    observed: list[float] = []
    path.observe = observed.append
    trace = path.trace = FakeTrace()
    assert path.serve(queue) == 2
    assert queue.verdicts == [(1, Verdict.DROP), (2, Verdict.DROP)]
    assert queue.flushes == 1
    assert [f.ifname for f in sender.sent] == [TAP, TAP]
    assert path.counters[Event.OFFER] == 2
    assert len(observed) == 2 and all(s >= 0 for s in observed)
    assert [r[0].tap for r in trace.records if r[0] is not None] == [TAP, TAP]
    assert path.served.taps[TAP].reply_event == "offer"


def test_replies_go_to_the_index_the_request_came_in_on() -> None:
    """Routed: the TAP is indev; bridged, it is physindev, the bridge indev (inject.py
    sends by index). A replay has no index and goes by name (0)."""
    path, sender = make_path(make_config(pending_window=30))
    path.on_packet(QUEUE, discover(1), 1.0)
    path.table = table_of(grnet_binding(indev="br0"))
    path.on_packet(QUEUE, RawPacket(2, 9, TAP_INDEX, VM_MAC, dhcp_request("discover")), 1.0)
    assert [f.ifname for f in sender.sent] == [TAP, TAP]
    assert sender.ifindexes == [TAP_INDEX, TAP_INDEX]
    path.table = BindingTable()
    path.on_packet(QUEUE, discover(3), 2.0)
    path.table = table_of(grnet_binding())
    path.replay(3.0)
    assert sender.ifindexes[2:] == [0]


def test_an_empty_read_still_flushes_nothing_to_send() -> None:
    path, _sender = make_path()
    queue = FakeQueue()
    assert path.serve(queue) == 0
    assert queue.verdicts == []


def test_rate_limit_drops_unparsed_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    path, sender = make_path(make_config(rate_limit=1, rate_burst=1))
    with caplog.at_level(logging.INFO, logger="nfdhcpd"):
        verdicts = [path.on_packet(QUEUE, discover(i), 100.0) for i in range(3)]
    assert verdicts == [Verdict.DROP] * 3
    assert len(sender.sent) == 1  # only the first was answered
    assert path.counters[Event.RATE_LIMITED] == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"drop: {TAP}: over rate_limit (1/s, burst 1)"]
    # a second later the bucket holds a token again
    assert path.on_packet(QUEUE, discover(9), 101.0) is Verdict.DROP
    assert len(sender.sent) == 2


def test_unbound_request_is_remembered_then_replayed() -> None:
    path, sender = make_path(make_config(pending_window=30), bound=False)
    assert path.on_packet(QUEUE, discover(), 10.0) is Verdict.ACCEPT
    assert len(path.pending) == 1 and sender.sent == []
    path.table = table_of(grnet_binding())
    path.replay(11.0)
    assert len(path.pending) == 0
    assert [f.ifname for f in sender.sent] == [TAP]
    assert path.counters[Event.REPLAYED] == 1


def test_replay_window_expires_and_ns_queue_is_never_remembered() -> None:
    path, sender = make_path(make_config(pending_window=30), bound=False)
    path.on_packet(QUEUE, discover(), 10.0)
    path.on_packet(NS_QUEUE, discover(2), 10.0)
    assert len(path.pending) == 1  # the NS one is not kept
    path.table = table_of(grnet_binding())
    path.replay(41.0)
    assert sender.sent == [] and path.counters[Event.REPLAYED] == 0


def test_a_bug_drops_the_packet_and_is_counted(caplog: pytest.LogCaptureFixture) -> None:
    path, _sender = make_path()

    class Broken(FakeLinks):
        def lookup(self, ifindex: int) -> tuple[str | None, bytes | None]:
            raise RuntimeError("bug")

    path.links = Broken({})
    with caplog.at_level(logging.ERROR, logger="nfdhcpd"):
        assert path.on_packet(QUEUE, discover(), 0.0) is Verdict.DROP
    assert path.counters[Event.ERROR] == 1
    assert "internal error handling a packet from queue 42" in caplog.text


def test_a_send_failure_is_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    path, _sender = make_path(sender=FakeSender(OSError(105, "No buffer space available")))
    with caplog.at_level(logging.WARNING, logger="nfdhcpd"):
        assert path.on_packet(QUEUE, discover(), 0.0) is Verdict.DROP
    assert path.counters[Event.SEND_ERROR] == 1
    assert f"cannot send on {TAP}" in caplog.text


def test_log_policy_levels_and_budget(caplog: pytest.LogCaptureFixture) -> None:
    path, _sender = make_path()
    with caplog.at_level(logging.DEBUG, logger="nfdhcpd"):
        path.on_packet(QUEUE, discover(1), 0.0)
        path.on_packet(QUEUE, discover(2), 1.0)
        path.on_packet(QUEUE, discover(3), 61.0)
        path.on_packet(QUEUE, RawPacket(4, 8, 0, VM_MAC, dhcp_request("discover")), 61.0)
    records = [(r.levelno, r.getMessage()) for r in caplog.records]
    lines = [line for line in records if not line[1].startswith("  ")]  # the packets aside
    assert lines[0][0] == logging.INFO  # an answer: info
    assert lines[1][0] == logging.DEBUG  # its repeat within the period: debug
    assert lines[2][0] == logging.INFO and lines[2][1].endswith("(and 1 like it before)")
    assert lines[3] == (logging.DEBUG, "accept: no binding for tap99")  # quiet event


def test_debug_logs_each_packet_as_one_line_and_only_then(
    caplog: pytest.LogCaptureFixture,
) -> None:
    path, _sender = make_path()
    with caplog.at_level(logging.INFO, logger="nfdhcpd"):
        path.on_packet(QUEUE, discover(1), 0.0)
    assert not [r for r in caplog.records if r.getMessage().startswith("  ")]
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="nfdhcpd"):
        path.on_packet(QUEUE, discover(2), 100.0)
    dumps = [r.getMessage() for r in caplog.records if r.getMessage().startswith("  ")]
    assert dumps[0] == (
        "  request: DHCPDISCOVER xid=0x12345678 chaddr=aa:6b:39:22:33:44 opts: 53=1"
    )
    assert dumps[1].startswith(f"  reply on {TAP}: DHCPOFFER xid=0x12345678 ")
    assert " yiaddr=192.0.2.100 opts: 53=2 54=" in dumps[1]
    assert all(r.levelno == logging.DEBUG for r in caplog.records if r.getMessage() in dumps)
