"""The values that cross between the shell and the core for every queued packet."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Verdict(Enum):
    ACCEPT = "accept"
    DROP = "drop"


@dataclass(frozen=True, slots=True)
class Inbound:
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


@dataclass(frozen=True, slots=True)
class Frame:
    """A complete Ethernet frame to transmit on `ifname`."""

    ifname: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    event: str
    reason: str
    frames: tuple[Frame, ...] = ()
