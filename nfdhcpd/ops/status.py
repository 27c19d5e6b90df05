"""Per-binding status: what each TAP last asked and was last answered, for `nfdhcpd status`
and the metrics. Noted on the packet path, so `Served.note` is a few dict operations;
everything else (TAP presence, files not applied) is worked out when someone asks.
"""

from __future__ import annotations

import os
import socket
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from ..core.binding import Binding, ignored_name
from ..core.events import Event
from ..core.reply6 import address6
from ..core.wire import mac_text

#: Events of packets from TAPs without a binding: nothing to show a status against.
_UNBOUND = frozenset(e for e in Event if e.unbound)
#: TAPs remembered at most; past that the memory is reset (TAP names are reused, so
#: only a host churning through more than this many names ever gets there).
_MAX_TAPS = 65536


class TapSeen:
    """The last request from one TAP and the last reply sent to it (unix times)."""

    __slots__ = ("event", "reply", "reply_event", "request")

    def __init__(self) -> None:
        self.request = 0.0
        self.event = ""
        self.reply = 0.0
        self.reply_event = ""


class Served:
    def __init__(self) -> None:
        self.taps: dict[str, TapSeen] = {}
        #: handled requests per NFQUEUE number (the decision counters are per outcome)
        self.requests: Counter[int] = Counter()
        #: binding file -> when a status query first found its TAP missing (unix time);
        #: `nfdhcpd prune` removes what has been gone long enough (Ganeti runs no ifdown)
        self.gone: dict[str, float] = {}

    def gone_since(self, tap: str, present: bool, now: float) -> float | None:
        """Since when `tap` has been seen missing, None while it exists."""
        if present:
            self.gone.pop(tap, None)
            return None
        return self.gone.setdefault(tap, now)

    def note(self, tap: str, queue: int, event: Event, replied: bool) -> None:
        """One handled request from `tap` and what became of it (`replied`: frames sent)."""
        self.requests[queue] += 1
        if event in _UNBOUND:
            return
        seen = self.taps.get(tap)
        if seen is None:
            if len(self.taps) >= _MAX_TAPS:
                self.taps.clear()
            seen = self.taps[tap] = TapSeen()
        seen.request = now = time.time()
        seen.event = event
        if replied:
            seen.reply = now
            seen.reply_event = event


def tap_present(name: str) -> bool:
    try:
        socket.if_nametoindex(name)
    except (OSError, ValueError):  # ValueError: a file name no interface can have
        return False
    return True


def binding_status(
    binding: Binding, seen: TapSeen | None, gone_since: float | None = None
) -> dict[str, Any]:
    """One row of `nfdhcpd status --json`; times are unix seconds, null when never."""
    ip6 = address6(binding)
    return {
        "tap": binding.name,
        "applied": True,
        "tap_present": gone_since is None,
        "tap_gone_since": gone_since,
        "mac": mac_text(binding.mac),
        "indev": binding.indev,
        "ip": None if binding.ip is None else str(binding.ip),
        "ip6": None if ip6 is None else str(ip6),
        "last_request": seen.request if seen else None,
        "last_event": seen.event if seen else None,
        "last_reply": seen.reply if seen and seen.reply else None,
        "last_reply_event": seen.reply_event if seen and seen.reply else None,
    }


def snapshot(
    table: Mapping[str, Binding],
    served: Served,
    datapath: str,
    counters: Mapping[Event, int],
) -> dict[str, Any]:
    """The whole status: every binding in use, then files in `datapath` not in use
    (invalid ones: the log and `nfdhcpd check` say why). Each row says since when its
    TAP has been missing, as first seen by a status query."""
    now = time.time()
    try:
        names = os.listdir(datapath)
    except OSError:
        names = []
    unapplied = sorted(n for n in names if n not in table and not ignored_name(n))
    gone = {n: served.gone_since(n, tap_present(n), now) for n in (*sorted(table), *unapplied)}
    served.gone = {n: since for n, since in gone.items() if since is not None}
    rows = [binding_status(table[n], served.taps.get(n), gone[n]) for n in sorted(table)]
    rows += [
        {"tap": n, "applied": False, "tap_present": gone[n] is None, "tap_gone_since": gone[n]}
        for n in unapplied
    ]
    return {
        "pid": os.getpid(),
        "time": now,
        "datapath": datapath,
        "bindings": rows,
        "counters": {str(event): n for event, n in sorted(counters.items())},
    }
