"""Precomputed DHCPv4 replies: a VM that asks again what it asked before gets a copy.

A DHCPv4 reply depends on the request only through what a VM sends the same each
time it asks the same thing: its addresses, flags, chaddr, giaddr and options. The
xid is copied into the reply and the secs are not (RFC 2131 table 3: secs 0), and
neither is the IP identification or either checksum. So a decision is kept under the
request with those fields left out, for the binding table and config it was made
with, and a request that matches one is answered with a copy whose xid is the new
request's (and its UDP checksum updated for it, RFC 1624). This is what a VM in a
DHCP loop, one retransmitting, or one renewing its lease sends: it skips parsing the
request and building the reply, which are most of the CPU a DHCPv4 packet costs.
Only OFFERs and ACKs are kept, and a new table or config (a binding changed, a
reload) empties the cache.
"""

from __future__ import annotations

from typing import Final

from ..core.binding import BindingTable
from ..core.decision import Decision, Frame, Inbound, Verdict
from ..core.events import Event
from ..core.responder import Responder

#: Decisions worth keeping: the answers a VM asks for again and again.
CACHED_EVENTS = frozenset({Event.OFFER, Event.ACK})
#: Requests kept at most; when full, the cache starts afresh (a flood of distinct
#: requests costs one clear per this many, not a lookup structure to maintain).
MAX_ENTRIES = 4096

_ETHER = 14
_IPV4 = 0x0800
_UDP = 17
_BOOTP_MIN = 240  # fixed fields and the magic cookie

Key = tuple[int, str, str | None, bytes | None, bytes | None, bytes]


class _Entry:
    def __init__(
        self, decision: Decision, xid: bytes, offsets: list[tuple[int, int]], rest: int
    ) -> None:
        self.decision = decision
        self.xid = xid  # the xid of the request the decision was made for
        self.offsets = offsets  # per frame: where its xid and its UDP checksum are
        self.rest = rest  # the request's UDP sum without what a key leaves out


class ReplyCache:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: dict[Key, _Entry] = {}
        self._table: BindingTable | None = None
        self._responder: Responder | None = None
        self.hits = 0

    def __len__(self) -> int:
        return len(self._entries)

    def decide(self, inbound: Inbound, table: BindingTable, responder: Responder) -> Decision:
        """What `responder.handle` decides for `inbound`, from the cache when it can be;
        a new responder (a reloaded config) or table starts it afresh."""
        if table is not self._table or responder is not self._responder:
            self._entries.clear()
            self._table, self._responder = table, responder
        payload = inbound.payload
        key = _key(inbound)
        if key is None:
            return responder.handle(inbound, table)
        xid_at = (payload[0] & 15) * 4 + 8 + 4
        xid = payload[xid_at : xid_at + 4]
        entry = self._entries.get(key)
        if entry is not None and _verifies(payload, xid_at, entry.rest):
            self.hits += 1
            if xid == entry.xid:
                return entry.decision
            decision, old = entry.decision, entry.xid
            kept = decision.frames
            if len(kept) == 1:  # the usual reply: no generator to build
                at, csum_at = entry.offsets[0]
                frames: tuple[Frame, ...] = (
                    _frame(kept[0].ifname, _with_xid(kept[0].data, at, csum_at, old, xid)),
                )
            else:
                frames = tuple(
                    _frame(frame.ifname, _with_xid(frame.data, at, csum_at, old, xid))
                    for frame, (at, csum_at) in zip(kept, entry.offsets, strict=True)
                )
            return _decision(decision.verdict, decision.event, decision.reason, frames)
        decision = responder.handle(inbound, table)
        if decision.event in CACHED_EVENTS and decision.frames:
            offsets = _xid_offsets(decision.frames, xid)
            if offsets is not None:
                if len(self._entries) >= self.max_entries:
                    self._entries.clear()
                self._entries[key] = _Entry(decision, xid, offsets, _rest(payload, xid_at))
        return decision


def _verifies(payload: bytes, xid_at: int, rest: int) -> bool:
    """The request's UDP checksum verifies (or is 0, none computed: RFC 768), as the
    core checks it (RFC 1122 4.1.3.4): a damaged request that matches a kept one must
    still be dropped as `bad-checksum`, not answered from here.

    A request that matches a key differs from the kept one only in the fields the key
    leaves out, and of those the UDP checksum covers the xid, the secs and itself
    (RFC 768: pseudo-header, header, data). `rest` is the sum of all the others, so
    the whole sum is `rest` plus those three (RFC 1624's incremental view): six bytes
    of arithmetic instead of a sum over the datagram. The ones' complement sum of
    16-bit words is their big-endian value modulo 0xFFFF (see `wire.checksum`); it
    verifies when that is 0, the datagram being never all zeros (its ports are not).
    """
    at = xid_at - 6  # the UDP checksum is 6 bytes into the UDP header, the xid 12
    csum = payload[at] << 8 | payload[at + 1]
    if not csum:
        return True
    varying = (
        (payload[xid_at] << 8 | payload[xid_at + 1])
        + (payload[xid_at + 2] << 8 | payload[xid_at + 3])
        + (payload[xid_at + 4] << 8 | payload[xid_at + 5])  # secs
    )
    return (rest + varying + csum) % 0xFFFF == 0


def _rest(payload: bytes, xid_at: int) -> int:
    """The UDP checksum's sum over the request (pseudo-header and datagram, RFC 768)
    without its xid, secs and checksum fields, modulo 0xFFFF; see `_verifies`.

    The core has just verified the request: with a checksum, its whole sum is 0, so
    the rest is what makes the xid, secs and checksum sum to 0. Only a request sent
    without one (0, RFC 768) is summed in full.
    """
    at = xid_at - 6
    csum = payload[at] << 8 | payload[at + 1]
    if csum:
        varying = (
            (payload[xid_at] << 8 | payload[xid_at + 1])
            + (payload[xid_at + 2] << 8 | payload[xid_at + 3])
            + (payload[xid_at + 4] << 8 | payload[xid_at + 5])
        )
        return -(varying + csum) % 0xFFFF
    udp = (payload[0] & 15) * 4
    ulen = payload[udp + 4] << 8 | payload[udp + 5]
    pseudo = payload[12:20] + bytes((0, _UDP, ulen >> 8, ulen & 0xFF))
    datagram = (
        payload[udp : udp + 6] + b"\0\0" + payload[udp + 8 : udp + 12] + bytes(6)
    ) + payload[udp + 18 : udp + ulen]
    if ulen & 1:  # RFC 1071: an odd length is padded with a zero byte
        datagram += b"\0"
    return int.from_bytes(pseudo + datagram, "big") % 0xFFFF


def _frame(ifname: str, data: bytes) -> Frame:
    """Frame(ifname, data), built by tuple.__new__ in C: a NamedTuple's own __new__ is
    interpreted Python, even when mypyc compiles the caller."""
    return _TUPLE_NEW(Frame, (ifname, data))


def _decision(verdict: Verdict, event: Event, reason: str, frames: tuple[Frame, ...]) -> Decision:
    """Decision(...), as `_frame` builds a Frame (never one to replay: it answers)."""
    return _TUPLE_NEW(Decision, (verdict, event, reason, frames, False))


_TUPLE_NEW: Final = tuple.__new__


def _key(inbound: Inbound) -> Key | None:
    """The request without what may differ between two asking for the same reply: the
    IP identification and checksum, the UDP checksum, the xid and the secs. None if it
    is too short to be a DHCP message (`handle` says what is wrong with it)."""
    payload = inbound.payload
    if len(payload) < 20 or payload[0] >> 4 != 4:
        return None
    udp = (payload[0] & 15) * 4
    bootp = udp + 8
    if udp < 20 or len(payload) < bootp + _BOOTP_MIN:
        return None
    masked = (
        payload[:4]  # version, header length, TOS, total length
        + payload[6:10]  # fragment field, TTL, protocol
        + payload[12 : udp + 6]  # addresses, IP options, UDP ports and length
        + payload[bootp : bootp + 4]  # op, htype, hlen, hops
        + payload[bootp + 10 :]  # flags on: addresses, chaddr, sname, file, options
    )
    return (
        inbound.queue,
        inbound.indev,
        inbound.physindev,
        inbound.hwsrc,
        inbound.ifmac,
        masked,
    )


def _xid_offsets(frames: tuple[Frame, ...], xid: bytes) -> list[tuple[int, int]] | None:
    """Where each frame, an Ethernet/IPv4/UDP/BOOTP reply, carries the request's xid and
    its UDP checksum; None if a frame is not such a reply (it is then not cached)."""
    offsets = []
    for frame in frames:
        data = frame.data
        if len(data) < _ETHER + 20 or int.from_bytes(data[12:14], "big") != _IPV4:
            return None
        udp = _ETHER + (data[_ETHER] & 15) * 4
        if data[_ETHER + 9] != _UDP or len(data) < udp + 8 + _BOOTP_MIN:
            return None
        at = udp + 8 + 4
        if data[at : at + 4] != xid:
            return None
        offsets.append((at, udp + 6))
    return offsets


def _with_xid(data: bytes, at: int, csum_at: int, old: bytes, new: bytes) -> bytes:
    """`data` with `new` for the xid `old` at `at`, and its UDP checksum at `csum_at`
    (before `at`) updated incrementally (RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')).
    Byte by byte, which mypyc compiles to plain C arithmetic."""
    checksum = data[csum_at] << 8 | data[csum_at + 1]
    if not checksum:  # 0: the sender did not checksum (RFC 768), nothing to update
        return data[:at] + new + data[at + 4 :]
    total = (
        (~checksum & 0xFFFF)
        + (~(old[0] << 8 | old[1]) & 0xFFFF)
        + (~(old[2] << 8 | old[3]) & 0xFFFF)
        + (new[0] << 8 | new[1])
        + (new[2] << 8 | new[3])
    )
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    checksum = ~total & 0xFFFF or 0xFFFF
    return (
        data[:csum_at]
        + bytes((checksum >> 8, checksum & 0xFF))
        + data[csum_at + 2 : at]
        + new
        + data[at + 4 :]
    )
