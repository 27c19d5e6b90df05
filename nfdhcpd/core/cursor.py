"""A byte cursor for parsing received packets: every error it raises names the field
and its offset in the packet as NFQUEUE delivered it (from the IP header on; add 14
for the Ethernet frame of a pcap trace).

A parser may be handed a slice of the packet (the UDP payload, one option's value):
`base` is where that slice starts in the packet, so offsets stay absolute however
deep the parse goes.
"""

from __future__ import annotations

from .errors import MalformedPacket


class Cursor:
    __slots__ = ("base", "data", "end", "pos")

    def __init__(self, data: bytes, base: int = 0, pos: int = 0, end: int = -1) -> None:
        self.data = data
        self.base = base  # the packet offset of data[0]
        self.pos = pos
        self.end = len(data) if end < 0 else end

    def at(self) -> int:
        """The packet offset of the next byte."""
        return self.base + self.pos

    def left(self) -> int:
        return self.end - self.pos

    def error(self, field: str, reason: str, pos: int = -1) -> MalformedPacket:
        """MalformedPacket for `field` at `pos` (in `data`; default: the next byte)."""
        return MalformedPacket(field, self.base + (self.pos if pos < 0 else pos), reason)

    def need(self, count: int, field: str) -> None:
        if self.end - self.pos < count:
            raise self.error(field, f"{self.end - self.pos} bytes, need {count}")

    def u8(self, field: str) -> int:
        if self.pos >= self.end:
            raise self.error(field, "truncated")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def u16(self, field: str) -> int:
        self.need(2, field)
        pos = self.pos
        self.pos = pos + 2
        return self.data[pos] << 8 | self.data[pos + 1]

    def take(self, count: int, field: str) -> bytes:
        """The next `count` bytes; `field` is named at the start of what is missing."""
        self.need(count, field)
        pos = self.pos
        self.pos = pos + count
        return self.data[pos : pos + count]
