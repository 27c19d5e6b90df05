"""The poll loop: one thread, every descriptor behind one poll(2), no callbacks from C.

Signal handlers only set flags and wake the loop through the wakeup fd; the loop
acts on them between batches of packets (the ExaBGP reactor pattern). Under load it
coalesces reads of the queues, as a NIC moderates interrupts (`Coalescer`). Whatever
a handler raises is a bug: it is logged and counted, and the loop goes on serving.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import select
import signal
import time
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from types import FrameType
from typing import Protocol, TypeVar

log = logging.getLogger("nfdhcpd")
#: What one read of a queue takes at most (nfq.READ_MAX; not imported, so the loop
#: stays free of NetfilterQueue): every ready queue gets one batch per turn.
READ_BATCH = 64
T = TypeVar("T")

#: The signals the daemon acts on (see Host.on_signals).
SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1)


class Host(Protocol):
    """What the loop serves: the daemon, or a test's fake."""

    def handlers(self) -> Mapping[int, Callable[[], object]]:
        """Descriptors other than the queues, each with what to call when readable."""
        ...

    def readers(self) -> Mapping[int, Callable[[], int]]:
        """Queue descriptors, each with its read, returning how many packets it served."""
        ...

    def window(self) -> float:
        """The coalescing window in seconds (0: never hold the queues)."""
        ...

    def deadline(self) -> float | None:
        """When `tick` next has work (monotonic), None if never."""
        ...

    def tick(self, now: float) -> None:
        """Timed work (the RA rounds); called after a wake-up once `deadline` has passed."""
        ...

    def on_signals(self, signums: set[int]) -> bool:
        """Act on the signals received; False stops the loop."""
        ...

    def on_error(self) -> None:
        """A handler raised: count it."""
        ...


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


class Loop:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.flags: set[int] = set()
        #: set when the host's descriptors changed (a reload): the pollers are rebuilt
        self.changed = True
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def fds(self) -> list[int]:
        return [self._wake_r, self._wake_w]

    def install_signals(self) -> None:
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        for signum in SIGNALS:
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.flags.add(signum)

    def close(self) -> None:
        os.close(self._wake_r)
        os.close(self._wake_w)

    def run(self, host: Host) -> None:
        """Serve `host` until `on_signals` says stop."""
        while True:
            handlers = {**host.handlers(), self._wake_r: self._drain_wakeup}
            queues = dict(host.readers())
            others = _poller(handlers)  # all but the queues: polled while coalescing
            every = _poller(handlers.keys() | queues.keys())
            self.changed = False
            coalescer = Coalescer(host.window())
            while not self.changed:
                now = self.clock()
                deadline = host.deadline()
                timeout = _timeout_ms(deadline, now)
                hold = coalescer.hold_until - now
                if hold > 0:
                    hold_ms = math.ceil(hold * 1000)
                    timeout = hold_ms if timeout is None else min(timeout, hold_ms)
                events = (others if hold > 0 else every).poll(timeout)
                started = self.clock()
                read = 0
                full = False  # a queue gave a whole batch: more waits, poll again at once
                for fd, _events in events:
                    if fd in queues:
                        count = _contained(host, queues[fd]) or 0
                        read += count
                        full = full or count >= READ_BATCH
                    else:
                        _contained(host, handlers[fd])
                if read and not full:
                    coalescer.read(read, started)
                if self.flags:
                    flags, self.flags = self.flags, set()
                    if _contained(host, partial(host.on_signals, flags)) is False:
                        return
                # Only when due: a wake-up for packets has no timed work (a deadline
                # that came nearer meanwhile sets the next poll's timeout).
                now = self.clock()
                if deadline is not None and now >= deadline:
                    _contained(host, partial(host.tick, now))

    def _drain_wakeup(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_r, 512):
                pass


def _contained(host: Host, handler: Callable[[], T]) -> T | None:
    """`handler()`; if it raises, a bug: say so loudly, and go on serving every VM."""
    try:
        return handler()
    except Exception:
        host.on_error()
        log.exception("internal error in the main loop")
        return None


def _timeout_ms(deadline: float | None, now: float) -> int | None:
    if deadline is None:
        return None
    return max(0, int((deadline - now) * 1000) + 1)


def _poller(fds: Iterable[int]) -> select.poll:
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    return poller
