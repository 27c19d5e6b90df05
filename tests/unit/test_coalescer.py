"""When the loop waits for the queues to fill (loop.Coalescer: interrupt moderation)."""

from __future__ import annotations

import pytest

from nfdhcpd.shell.loop import Coalescer

WINDOW = 0.002


def test_an_isolated_request_is_not_held() -> None:
    coalescer = Coalescer(WINDOW)
    coalescer.read(1, 100.0)
    assert coalescer.hold_until == 0.0
    coalescer.read(1, 100.5)  # the next one half a second later: still isolated
    assert coalescer.hold_until == 0.0


def test_a_burst_holds_for_a_window_from_the_start_of_its_read() -> None:
    coalescer = Coalescer(WINDOW)
    coalescer.read(5, 100.0)
    assert coalescer.hold_until == pytest.approx(100.0 + WINDOW)


def test_packets_closer_than_the_window_hold() -> None:
    coalescer = Coalescer(WINDOW)
    coalescer.read(1, 100.0)
    coalescer.read(1, 100.0015)
    assert coalescer.hold_until == pytest.approx(100.0015 + WINDOW)


def test_the_load_ending_ends_the_holding() -> None:
    coalescer = Coalescer(WINDOW)
    coalescer.read(8, 100.0)
    coalescer.read(1, 100.0021)  # the read after the hold: one packet, a window later
    assert coalescer.hold_until == pytest.approx(100.0 + WINDOW)  # not extended
    coalescer.read(1, 101.0)
    assert coalescer.hold_until < 101.0  # so the queues are polled at once


def test_window_zero_never_holds() -> None:
    coalescer = Coalescer(0.0)
    coalescer.read(100, 100.0)
    coalescer.read(100, 100.0001)
    assert coalescer.hold_until == 0.0
