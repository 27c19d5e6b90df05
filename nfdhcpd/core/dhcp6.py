"""DHCPv6 messages and options (RFC 8415; DNS options from RFC 3646)."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from enum import IntEnum
from typing import NamedTuple

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

    def first(self, code: int) -> bytes | None:
        values = self.options.get(code)
        return values[0] if values else None


def pull_options(data: bytes, offset: int) -> dict[int, list[bytes]]:
    """Options as code -> every value in order (IA_NA and IAADDR may repeat)."""
    options: dict[int, list[bytes]] = {}
    pos = 0
    while pos < len(data):
        if pos + 4 > len(data):
            raise MalformedPacket("dhcp6.option", offset + pos, "truncated option header")
        code, length = struct.unpack_from("!HH", data, pos)
        if pos + 4 + length > len(data):
            raise MalformedPacket(
                f"dhcp6.option{code}", offset + pos, f"length {length} runs past the end"
            )
        options.setdefault(code, []).append(data[pos + 4 : pos + 4 + length])
        pos += 4 + length
    return options


def parse_dhcp6(data: bytes) -> Dhcp6Message:
    if len(data) < 4:
        raise MalformedPacket("dhcp6", 0, f"{len(data)} bytes, need 4")
    return Dhcp6Message(data[0], data[1:4], pull_options(data[4:], 4))


class IaNa(NamedTuple):
    """An Identity Association for Non-temporary Addresses (RFC 8415 21.4)."""

    iaid: bytes
    addresses: tuple[bytes, ...]


def parse_ia_na(value: bytes) -> IaNa:
    if len(value) < 12:
        raise MalformedPacket("dhcp6.ia_na", 0, f"{len(value)} bytes, need 12")
    inner = pull_options(value[12:], 12)
    addresses = []
    for iaaddr in inner.get(Option.IAADDR, []):
        if len(iaaddr) < 24:
            raise MalformedPacket("dhcp6.iaaddr", 12, f"{len(iaaddr)} bytes, need 24")
        addresses.append(iaaddr[:16])
    return IaNa(value[:4], tuple(addresses))


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
        raise MalformedPacket("dhcp6.oro", 4, f"odd length {len(oro)}")
    return {int.from_bytes(oro[i : i + 2], "big") for i in range(0, len(oro), 2)}
