"""The values that cross between the shell and the core for every queued packet."""

from __future__ import annotations

from enum import Enum
from typing import Final, NamedTuple

from .events import Event


class Verdict(Enum):
    ACCEPT = "accept"
    DROP = "drop"


class RawPacket:
    """A queued packet as the queue read it: interfaces still as indexes (0: none).

    A plain class, not a NamedTuple: mypyc builds it in C, where a NamedTuple's
    `__new__` is interpreted Python, once for every packet read.
    """

    def __init__(
        self, id: int, indev: int, physindev: int, hwsrc: bytes | None, payload: bytes
    ) -> None:
        self.id = id
        self.indev = indev
        self.physindev = physindev
        self.hwsrc = hwsrc
        self.payload = payload

    def __repr__(self) -> str:
        return (
            f"RawPacket(id={self.id}, indev={self.indev}, physindev={self.physindev}, "
            f"hwsrc={self.hwsrc!r}, payload={self.payload!r})"
        )


class Inbound(NamedTuple):
    """One queued packet, as the shell saw it; `payload` starts at the IP header."""

    queue: int
    indev: str
    physindev: str | None
    hwsrc: bytes | None
    ifmac: bytes | None
    payload: bytes

    @property
    def tap(self) -> str:
        """The interface the VM is behind: the bridge port when bridged, else indev."""
        return self.physindev or self.indev


class Frame(NamedTuple):
    """A complete Ethernet frame to transmit on `ifname`."""

    ifname: str
    data: bytes


class Decision(NamedTuple):
    verdict: Verdict
    event: Event
    reason: str
    frames: tuple[Frame, ...] = ()
    #: a request from a TAP with no binding yet: kept, to answer when the binding lands
    replay: bool = False

    def log_text(self) -> str:
        """The log line: an answer's reason says what was sent; a refusal or a pass
        also says what became of the packet."""
        return self.reason if self.frames else f"{self.verdict.value}: {self.reason}"


#: tuple.__new__, which builds a NamedTuple in C: the NamedTuple's own __new__ is
#: Python that collections.namedtuple makes with eval, interpreted even when mypyc
#: compiles the caller, once for every reply (issue 14's profile: 5 % of a reply).
NEW_TUPLE: Final = tuple.__new__


def frame(ifname: str, data: bytes) -> Frame:
    """Frame(ifname, data), built in C (see NEW_TUPLE)."""
    return NEW_TUPLE(Frame, (ifname, data))


def decision(
    verdict: Verdict, event: Event, reason: str, frames: tuple[Frame, ...] = ()
) -> Decision:
    """Decision(verdict, event, reason, frames), built in C (see NEW_TUPLE)."""
    return NEW_TUPLE(Decision, (verdict, event, reason, frames, False))


def no_ifmac(who: str, indev: str) -> Decision:
    """No reply without the MAC to send it from (the interface is gone, or was never
    seen): the same refusal for every protocol, so it is counted and logged alike."""
    return Decision(Verdict.DROP, Event.NO_IFMAC, f"{who}: MAC of {indev} unknown")
