"""DHCPv4 messages (RFC 2131) and the options we speak (RFC 2132, 3397, 3442, 6842)."""

from __future__ import annotations

import struct
from collections.abc import Mapping
from enum import IntEnum
from typing import NamedTuple

from .cursor import Cursor
from .decision import NEW_TUPLE
from .errors import MalformedPacket

SERVER_PORT = 67
CLIENT_PORT = 68
MAGIC_COOKIE = b"\x63\x82\x53\x63"  # RFC 2131 section 3
BROADCAST_FLAG = 0x8000  # RFC 2131 section 2, figure 2
FIXED_LEN = 236
BOOTP_MIN_LEN = 300
#: RFC 2131 section 2: every client must accept 576-byte IP datagrams; larger needs option 57.
MIN_MAX_SIZE = 576

_FIXED = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")


class MessageType(IntEnum):
    """DHCP message types, option 53 (RFC 2132 section 9.6)."""

    DISCOVER = 1
    OFFER = 2
    REQUEST = 3
    DECLINE = 4
    ACK = 5
    NAK = 6
    RELEASE = 7
    INFORM = 8


class Option(IntEnum):
    """Option codes we read or write (RFC 2132 unless noted)."""

    PAD = 0
    SUBNET_MASK = 1
    ROUTER = 3
    DNS = 6
    HOSTNAME = 12
    DOMAIN = 15
    MTU = 26
    BROADCAST = 28
    NTP = 42
    REQUESTED_IP = 50
    LEASE_TIME = 51
    OVERLOAD = 52
    MESSAGE_TYPE = 53
    SERVER_ID = 54
    PARAMETERS = 55
    MESSAGE = 56
    MAX_SIZE = 57
    RENEWAL_TIME = 58
    REBINDING_TIME = 59
    CLIENT_ID = 61
    SEARCH = 119  # RFC 3397
    CLASSLESS_ROUTES = 121  # RFC 3442
    END = 255


class DhcpMessage(NamedTuple):
    """A BOOTP/DHCP message; addresses packed, options by code (RFC 3396 joined)."""

    op: int
    htype: int
    hlen: int
    hops: int
    xid: int
    secs: int
    flags: int
    ciaddr: bytes
    yiaddr: bytes
    siaddr: bytes
    giaddr: bytes
    chaddr: bytes
    options: Mapping[int, bytes]
    #: where the message starts in the packet (errors about it name packet offsets)
    at: int = 0

    @property
    def msg_type(self) -> int | None:
        value = self.options.get(Option.MESSAGE_TYPE)
        return value[0] if value and len(value) == 1 else None

    @property
    def client_mac(self) -> bytes:
        return self.chaddr[: min(self.hlen, 16)]


#: Where the options start in a message: after the fixed fields and the magic cookie.
OPTIONS_AT = FIXED_LEN + 4


def _pull_options(cursor: Cursor, into: dict[int, bytes], where: str) -> None:
    while cursor.pos < cursor.end:
        at = cursor.pos
        code = cursor.u8(where)
        if code == Option.END:
            return
        if code == Option.PAD:
            continue
        if cursor.pos >= cursor.end:  # the field's name made only for the error
            raise cursor.error(f"{where}.option{code}.length", "truncated")
        length = cursor.u8(where)
        if length > cursor.left():
            raise cursor.error(f"{where}.option{code}", f"length {length} runs past the end", at)
        # RFC 3396: repeated instances of an option are concatenated.
        into[code] = into.get(code, b"") + cursor.take(length, where)


def option_offset(data: bytes, code: int, start: int = OPTIONS_AT, end: int = -1) -> int:
    """Where option `code` first is in the (already parsed) options area, else `start`:
    for errors about an option's value, which the parse keeps without its place."""
    pos, end = start, len(data) if end < 0 else end
    while pos + 1 < end and data[pos] != Option.END:
        if data[pos] == code:
            return pos
        pos += 1 if data[pos] == Option.PAD else 2 + data[pos + 1]
    return start


def parse_dhcp(data: bytes, base: int = 0) -> DhcpMessage:
    """Parse a BOOTP message with the DHCP magic cookie; raise `MalformedPacket` at
    its offset in the packet (`base`: where `data` starts in it)."""
    if len(data) < OPTIONS_AT:
        raise MalformedPacket("bootp", base, f"{len(data)} bytes, need {OPTIONS_AT}")
    op, htype, hlen, hops, xid, secs, flags, ci, yi, si, gi, chaddr, _sname, _file = (
        _FIXED.unpack_from(data)
    )
    if hlen > 16:
        raise MalformedPacket("bootp.hlen", base + 2, f"hardware address length {hlen}")
    if data[FIXED_LEN:OPTIONS_AT] != MAGIC_COOKIE:
        raise MalformedPacket("bootp.cookie", base + FIXED_LEN, "no DHCP magic cookie")
    options: dict[int, bytes] = {}
    _pull_options(Cursor(data, base, OPTIONS_AT), options, "options")
    overload_raw = options.get(Option.OVERLOAD, b"\0")
    if len(overload_raw) != 1:
        at = base + option_offset(data, Option.OVERLOAD)
        raise MalformedPacket("options.overload", at, "option 52 must be 1 byte")
    overload = overload_raw[0]
    if overload & 1:  # RFC 2132 9.3: the 'file' field carries options
        _pull_options(Cursor(data, base, 108, 236), options, "file")
    if overload & 2:
        _pull_options(Cursor(data, base, 44, 108), options, "sname")
    fields = (op, htype, hlen, hops, xid, secs, flags, ci, yi, si, gi, chaddr, options, base)
    return NEW_TUPLE(DhcpMessage, fields)  # in C: see decision.NEW_TUPLE


def build_dhcp(
    request: DhcpMessage,
    *,
    yiaddr: bytes,
    ciaddr: bytes,
    flags: int,
    options: bytes,
) -> bytes:
    """A BOOTREPLY to `request` (RFC 2131 table 3) carrying already encoded `options`."""
    fixed = _FIXED.pack(
        2,
        request.htype,
        request.hlen,
        0,
        request.xid,
        0,
        flags,
        ciaddr,
        yiaddr,
        b"\0\0\0\0",
        request.giaddr,
        request.chaddr,
        b"",
        b"",
    )
    message = fixed + MAGIC_COOKIE + options + b"\xff"
    # RFC 1542 2.1: relays and PXE ROMs drop BOOTP messages under 300 octets; pad
    # with zeros (PAD options) after END, as dnsmasq and Kea do.
    return message + bytes(max(0, BOOTP_MIN_LEN - len(message)))


def encode_option(code: int, value: bytes) -> bytes:
    """One option, split into 255-byte instances when longer (RFC 3396 section 5)."""
    if len(value) <= 255:
        return bytes((code, len(value))) + value
    return b"".join(
        bytes((code, len(value[i : i + 255]))) + value[i : i + 255]
        for i in range(0, len(value), 255)
    )


def max_message_size(request: DhcpMessage) -> int:
    """Largest IP datagram the client accepts (option 57, never below 576)."""
    raw = request.options.get(Option.MAX_SIZE)
    if raw is None or len(raw) != 2:
        return MIN_MAX_SIZE
    return max(MIN_MAX_SIZE, int.from_bytes(raw, "big"))
