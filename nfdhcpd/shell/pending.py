"""Requests from TAPs with no binding yet, kept to be answered when the binding lands.

The boot race: Ganeti starts the VM and writes its binding file at about the same
time, and a VM whose first DISCOVER, RS or Solicit met no binding would otherwise wait
for its next, backed-off, retry. Each TAP and queue keeps only its latest request, for
`window` seconds at most.
"""

from __future__ import annotations

from collections.abc import Container

from ..core.decision import Inbound

#: Requests kept at most (each TAP and queue keeps only its latest).
MAX_PENDING = 4096


class Pending:
    def __init__(self, window: float, max_size: int = MAX_PENDING) -> None:
        self.window = window
        self.max_size = max_size
        #: (TAP, queue) -> (when, request)
        self._requests: dict[tuple[str, int], tuple[float, Inbound]] = {}

    def __len__(self) -> int:
        return len(self._requests)

    def remember(self, inbound: Inbound, now: float) -> None:
        """Keep `inbound`, seen at `now`, unless replay is off or the store is full of
        requests younger than the window."""
        if self.window <= 0:
            return
        if len(self._requests) >= self.max_size:
            self._expire(now)
            if len(self._requests) >= self.max_size:
                return
        self._requests[(inbound.tap, inbound.queue)] = (now, inbound)

    def ready(self, bound: Container[str], now: float) -> list[Inbound]:
        """Take out the requests still in the window whose TAP is now in `bound`."""
        self._expire(now)
        taken = []
        for key, (_seen, inbound) in list(self._requests.items()):
            if inbound.tap in bound:
                del self._requests[key]
                taken.append(inbound)
        return taken

    def _expire(self, now: float) -> None:
        horizon = now - self.window
        self._requests = {k: v for k, v in self._requests.items() if v[0] >= horizon}
