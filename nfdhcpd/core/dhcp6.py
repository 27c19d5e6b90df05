"""DHCPv6 messages and options (RFC 8415; DNS options from RFC 3646)."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from enum import IntEnum
from typing import NamedTuple

from .cursor import Cursor
from .errors import MalformedPacket

CLIENT_PORT = 546
SERVER_PORT = 547


class MessageType(IntEnum):
    """RFC 8415 section 7.3."""

    SOLICIT = 1
    ADVERTISE = 2
    REQUEST = 3
    CONFIRM = 4
    RENEW = 5
    REBIND = 6
    REPLY = 7
    RELEASE = 8
    DECLINE = 9
    RECONFIGURE = 10
    INFORMATION_REQUEST = 11
    RELAY_FORW = 12
    RELAY_REPL = 13


class Option(IntEnum):
    """RFC 8415 section 21 option codes, plus RFC 3646's DNS options."""

    CLIENTID = 1
    SERVERID = 2
    IA_NA = 3
    IA_TA = 4
    IAADDR = 5
    ORO = 6
    PREFERENCE = 7
    ELAPSED_TIME = 8
    STATUS_CODE = 13
    RAPID_COMMIT = 14
    DNS_SERVERS = 23
    DOMAIN_LIST = 24
    IA_PD = 25  # RFC 8415 21.21


class Status(IntEnum):
    """RFC 8415 section 21.13."""

    SUCCESS = 0
    UNSPEC_FAIL = 1
    NO_ADDRS_AVAIL = 2
    NO_BINDING = 3
    NOT_ON_LINK = 4
    USE_MULTICAST = 5
    NO_PREFIX_AVAIL = 6


class Dhcp6Message(NamedTuple):
    msg_type: int
    xid: bytes
    options: dict[int, list[bytes]]
    #: the message as received and where it starts in the packet: errors about an
    #: option's value find its place from these (only then: the parse keeps none)
    data: bytes = b""
    at: int = 0

    def first(self, code: int) -> bytes | None:
        values = self.options.get(code)
        return values[0] if values else None

    def offset(self, code: int, index: int = 0) -> int:
        """Where the `index`th option `code` starts in the packet (its code field); where
        the options start if there is no such option."""
        return self.at + option_offset(self.data, 4, code, index)


def option_offset(data: bytes, start: int, code: int, index: int = 0) -> int:
    """Where the `index`th option `code` of an (already parsed) option area starts."""
    pos = start
    while pos + 4 <= len(data):
        if data[pos] << 8 | data[pos + 1] == code:
            if index == 0:
                return pos
            index -= 1
        pos += 4 + (data[pos + 2] << 8 | data[pos + 3])
    return start


def pull_options(data: bytes, base: int = 0, start: int = 0) -> dict[int, list[bytes]]:
    """Options from `data[start:]` as code -> every value in order (IA_NA and IAADDR may
    repeat); errors name packet offsets (`base`: where `data` starts in the packet)."""
    options: dict[int, list[bytes]] = {}
    cursor = Cursor(data, base, start)
    while cursor.pos < cursor.end:
        at = cursor.pos
        cursor.need(4, "dhcp6.option")
        code = cursor.u16("dhcp6.option")
        length = cursor.u16("dhcp6.option")
        if length > cursor.left():
            raise cursor.error(f"dhcp6.option{code}", f"length {length} runs past the end", at)
        options.setdefault(code, []).append(cursor.take(length, "dhcp6.option"))
    return options


def parse_dhcp6(data: bytes, base: int = 0) -> Dhcp6Message:
    """A client message (RFC 8415 8); `base`: where `data` starts in the packet."""
    if len(data) < 4:
        raise MalformedPacket("dhcp6", base, f"{len(data)} bytes, need 4")
    return Dhcp6Message(data[0], data[1:4], pull_options(data, base, 4), data, base)


class IaNa(NamedTuple):
    """An Identity Association for Non-temporary Addresses (RFC 8415 21.4)."""

    iaid: bytes
    addresses: tuple[bytes, ...]


def parse_ia_na(value: bytes, base: int = 0) -> IaNa:
    """An IA_NA option's value; `base`: where the value starts in the packet."""
    if len(value) < 12:
        raise MalformedPacket("dhcp6.ia_na", base, f"{len(value)} bytes, need 12")
    inner = pull_options(value, base, 12)
    addresses = []
    for index, iaaddr in enumerate(inner.get(Option.IAADDR, [])):
        if len(iaaddr) < 24:
            at = base + option_offset(value, 12, Option.IAADDR, index) + 4
            raise MalformedPacket("dhcp6.iaaddr", at, f"{len(iaaddr)} bytes, need 24")
        addresses.append(iaaddr[:16])
    return IaNa(value[:4], tuple(addresses))


def ia_na(message: Dhcp6Message, index: int) -> IaNa:
    """The `index`th IA_NA of `message`, errors at their place in the packet (found only
    when there is one: a well-formed IA_NA costs no search)."""
    value = message.options[Option.IA_NA][index]
    try:
        return parse_ia_na(value)
    except MalformedPacket as exc:
        at = message.offset(Option.IA_NA, index) + 4 + exc.offset
        raise MalformedPacket(exc.field, at, exc.reason) from None


def encode_option(code: int, value: bytes) -> bytes:
    return struct.pack("!HH", code, len(value)) + value


def encode_status(status: Status, message: str) -> bytes:
    return encode_option(Option.STATUS_CODE, struct.pack("!H", status) + message.encode())


def encode_ia_status(code: Option, iaid: bytes, status: Status, message: str) -> bytes:
    """An IA_NA or IA_PD (same 12-octet head) holding only a status (RFC 8415 21.13)."""
    return encode_option(code, iaid + bytes(8) + encode_status(status, message))


def encode_ia_na(
    iaid: bytes, t1: int, t2: int, addresses: Sequence[tuple[bytes, int, int]]
) -> bytes:
    """IA_NA with an IAADDR per (address, preferred, valid), or NoAddrsAvail if none."""
    if not addresses:
        return encode_ia_status(
            Option.IA_NA, iaid, Status.NO_ADDRS_AVAIL, "no IPv6 address in this binding"
        )
    iaaddrs = b"".join(
        encode_option(Option.IAADDR, address + struct.pack("!II", preferred, valid))
        for address, preferred, valid in addresses
    )
    return encode_option(Option.IA_NA, iaid + struct.pack("!II", t1, t2) + iaaddrs)


def build_dhcp6(msg_type: MessageType, xid: bytes, options: Iterable[bytes]) -> bytes:
    return bytes((msg_type,)) + xid + b"".join(options)


def requested(message: Dhcp6Message) -> set[int] | None:
    """The Option Request Option's codes (RFC 8415 21.7), None when absent."""
    oro = message.first(Option.ORO)
    if oro is None:
        return None
    if len(oro) % 2:
        raise MalformedPacket("dhcp6.oro", message.offset(Option.ORO), f"odd length {len(oro)}")
    return {int.from_bytes(oro[i : i + 2], "big") for i in range(0, len(oro), 2)}
