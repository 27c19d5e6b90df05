"""A loop.Host whose descriptors are pipes, for driving the real Loop without a queue."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Mapping

from nfdhcpd.shell.loop import Loop


class Host:
    """A loop.Host whose descriptors are pipes; records what the loop did."""

    def __init__(self, loop: Loop) -> None:
        self.loop = loop
        self.pipes: list[tuple[int, int]] = []
        self.other: dict[int, Callable[[], object]] = {}
        self.queue: dict[int, Callable[[], int]] = {}
        self.coalesce = 0.0
        self.due: float | None = None
        self.ticks: list[float] = []
        self.signals: list[set[int]] = []
        self.errors = 0
        self.rebuilt = 0

    def pipe(self) -> tuple[int, int]:
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.pipes.append((r, w))
        return r, w

    def handlers(self) -> Mapping[int, Callable[[], object]]:
        self.rebuilt += 1
        return self.other

    def readers(self) -> Mapping[int, Callable[[], int]]:
        return self.queue

    def window(self) -> float:
        return self.coalesce

    def deadline(self) -> float | None:
        return self.due

    def tick(self, now: float) -> None:
        self.ticks.append(now)
        if self.due is not None and now >= self.due:
            stop(self)

    def on_signals(self, signums: set[int]) -> bool:
        self.signals.append(signums)
        return signal.SIGTERM not in signums

    def on_error(self) -> None:
        self.errors += 1

    def close(self) -> None:
        for r, w in self.pipes:
            os.close(r)
            os.close(w)


def stop(host: Host) -> None:
    host.loop.flags.add(signal.SIGTERM)
