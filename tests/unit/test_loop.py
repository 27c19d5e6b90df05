"""The poll loop with a fake host: pipes for descriptors, no queue, no root."""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections.abc import Iterator

import pytest

from nfdhcpd.shell.loop import SIGNALS, Loop

from ..helpers.fake_loop import Host, stop


@pytest.fixture
def host() -> Iterator[Host]:
    loop = Loop()
    host = Host(loop)
    yield host
    host.close()
    loop.close()


def test_a_readable_descriptor_is_served_and_a_flag_stops(host: Host) -> None:
    r, w = host.pipe()
    served: list[bytes] = []

    def read() -> None:
        served.append(os.read(r, 100))
        stop(host)

    host.other[r] = read
    os.write(w, b"hi")
    host.loop.run(host)
    assert served == [b"hi"]
    assert host.signals == [{signal.SIGTERM}]


def test_a_handler_that_raises_is_counted_and_the_loop_goes_on(
    host: Host, caplog: pytest.LogCaptureFixture
) -> None:
    r, w = host.pipe()
    calls = 0

    def read() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug")
        os.read(r, 100)
        stop(host)

    host.other[r] = read
    os.write(w, b"x")
    host.loop.run(host)
    assert calls == 2 and host.errors == 1
    assert "internal error in the main loop" in caplog.text


def test_tick_runs_when_the_deadline_passes(host: Host) -> None:
    start = time.monotonic()
    host.due = start + 0.05
    host.loop.run(host)  # nothing readable: only the deadline's timeout wakes it
    assert host.ticks[-1] >= start + 0.05
    assert host.signals == [{signal.SIGTERM}]


def test_a_wake_up_before_the_deadline_does_not_tick(host: Host) -> None:
    """Timed work runs when due, not for every read of packets (one tick per wake-up
    was a measurable share of the CPU under load, issue 14)."""
    r, w = host.pipe()
    host.due = time.monotonic() + 3600

    def read() -> None:
        os.read(r, 100)
        stop(host)

    host.other[r] = read
    os.write(w, b"x")
    host.loop.run(host)
    assert host.ticks == [] and host.signals == [{signal.SIGTERM}]


def test_changed_rebuilds_the_pollers(host: Host) -> None:
    r, w = host.pipe()
    r2, w2 = host.pipe()

    def first() -> None:
        os.read(r, 100)
        del host.other[r]
        host.other[r2] = second
        host.loop.changed = True
        os.write(w2, b"y")

    def second() -> None:
        os.read(r2, 100)
        stop(host)

    host.other[r] = first
    os.write(w, b"x")
    host.loop.run(host)
    assert host.rebuilt == 2


def test_busy_queues_are_read_at_most_once_a_window(host: Host) -> None:
    """A queue that stays readable, with reads of several packets, is held one window
    from each read's start: reads are at least `window` apart (see Coalescer)."""
    r, w = host.pipe()
    os.write(w, b"always readable")
    reads: list[float] = []
    host.coalesce = 0.03

    def read_queue() -> int:
        reads.append(time.monotonic())
        if len(reads) == 4:
            stop(host)
        return 2

    host.queue[r] = read_queue
    host.loop.run(host)
    gaps = [b - a for a, b in itertools.pairwise(reads)]
    assert len(gaps) == 3 and min(gaps) >= 0.03 - 0.002, gaps


def test_without_a_window_a_busy_queue_is_read_at_once(host: Host) -> None:
    r, w = host.pipe()
    os.write(w, b"always readable")
    reads = 0

    def read_queue() -> int:
        nonlocal reads
        reads += 1
        if reads == 50:
            stop(host)
        return 2

    host.queue[r] = read_queue
    started = time.monotonic()
    host.loop.run(host)
    assert reads == 50 and time.monotonic() - started < 50 * 0.03  # never held a window


def test_a_signal_wakes_the_loop(host: Host) -> None:
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    host.loop.install_signals()
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        os.kill(os.getpid(), signal.SIGTERM)
        host.loop.run(host)  # no descriptor, no deadline: only the wakeup fd can end this
    finally:
        signal.set_wakeup_fd(-1)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    assert set().union(*host.signals) == {signal.SIGUSR1, signal.SIGTERM}
    assert host.errors == 0
