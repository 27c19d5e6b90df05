"""Pending: requests from TAPs with no binding yet, kept for the replay."""

from __future__ import annotations

from nfdhcpd.core.decision import Inbound
from nfdhcpd.shell.pending import Pending


def request(tap: str, queue: int = 42, payload: bytes = b"x") -> Inbound:
    return Inbound(queue, tap, None, None, None, payload)


def test_ready_takes_out_only_bound_taps() -> None:
    pending = Pending(30.0)
    pending.remember(request("tap1"), 0.0)
    pending.remember(request("tap2"), 0.0)
    assert pending.ready({"tap2"}, 1.0) == [request("tap2")]
    assert len(pending) == 1
    assert pending.ready({"tap2"}, 1.0) == []
    assert pending.ready({"tap1"}, 2.0) == [request("tap1")]


def test_each_tap_and_queue_keeps_its_latest() -> None:
    pending = Pending(30.0)
    pending.remember(request("tap1", payload=b"old"), 0.0)
    pending.remember(request("tap1", payload=b"new"), 1.0)
    pending.remember(request("tap1", queue=43), 1.0)
    assert sorted(pending.ready({"tap1"}, 2.0)) == sorted(
        [request("tap1", payload=b"new"), request("tap1", queue=43)]
    )


def test_requests_older_than_the_window_expire() -> None:
    pending = Pending(30.0)
    pending.remember(request("tap1"), 0.0)
    pending.remember(request("tap2"), 20.0)
    assert pending.ready({"tap1", "tap2"}, 40.0) == [request("tap2")]


def test_window_zero_keeps_nothing() -> None:
    pending = Pending(0.0)
    pending.remember(request("tap1"), 0.0)
    assert len(pending) == 0


def test_full_store_expires_then_refuses_young_requests() -> None:
    pending = Pending(30.0, max_size=2)
    pending.remember(request("tap1"), 0.0)
    pending.remember(request("tap2"), 10.0)
    pending.remember(request("tap3"), 35.0)  # tap1 expired: room made
    assert len(pending) == 2
    pending.remember(request("tap4"), 36.0)  # both still young: refused
    assert pending.ready({"tap2", "tap3", "tap4"}, 36.0) == [request("tap2"), request("tap3")]
