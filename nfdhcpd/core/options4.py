"""The DHCPv4 option table: each option's code, name and codec (RFC 2132 unless noted).

A codec turns a value into the option's bytes (replies are encoded through it, once
per binding: `reply4.Kit`) and the bytes into one token of text for the log
(`describe.py`). Text never raises: a value that does not fit its codec is shown in hex.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from ipaddress import IPv4Address
from typing import Any, NamedTuple

from .binding import Route
from .wire import encode_domain_list


def _ip(value: IPv4Address) -> bytes:
    return value.packed


def _ips(values: Iterable[IPv4Address]) -> bytes:
    return b"".join(a.packed for a in values)


def _u8(value: int) -> bytes:
    return value.to_bytes(1, "big")


def _u16(value: int) -> bytes:
    return value.to_bytes(2, "big")


def _u32(value: int) -> bytes:
    return value.to_bytes(4, "big")


def _text(value: str) -> bytes:
    return value.encode("ascii")


def _raw(value: bytes) -> bytes:
    return value


def _routes(routes: Iterable[Route]) -> bytes:
    """RFC 3442 section 3: prefix length, significant destination octets, router."""
    out = bytearray()
    for route in routes:
        width = route.network.prefixlen
        out.append(width)
        out += route.network.network_address.packed[: (width + 7) // 8]
        out += route.router.packed
    return bytes(out)


def _hex(raw: bytes) -> str:
    return raw.hex(":") if raw else '""'


def _show_ips(raw: bytes) -> str:
    if not raw or len(raw) % 4:
        return _hex(raw)
    return ",".join(".".join(map(str, raw[i : i + 4])) for i in range(0, len(raw), 4))


def _show_ip(raw: bytes) -> str:
    return _show_ips(raw) if len(raw) == 4 else _hex(raw)


def _show_uint(size: int) -> Callable[[bytes], str]:
    def show(raw: bytes) -> str:
        return str(int.from_bytes(raw, "big")) if len(raw) == size else _hex(raw)

    return show


def _show_text(raw: bytes) -> str:
    """Quoted; what is not printable ASCII (or is a quote or backslash) as \\xNN."""
    out = "".join(chr(b) if 32 < b < 127 and b not in (34, 92) else f"\\x{b:02x}" for b in raw)
    return f'"{out}"'


def _show_codes(raw: bytes) -> str:
    return ",".join(map(str, raw)) if raw else '""'


def _show_domains(raw: bytes) -> str:
    """RFC 1035 3.1 names, with 4.1.4 compression pointers within the value (RFC 3397)."""
    names: list[str] = []
    pos = 0
    while pos < len(raw):
        labels: list[str] = []
        at, jumps, end = pos, 0, -1
        while True:
            if at >= len(raw) or jumps > len(raw):
                return _hex(raw)
            length = raw[at]
            if length == 0:
                at += 1
                break
            if length >= 0xC0:
                if at + 1 >= len(raw):
                    return _hex(raw)
                end = at + 2 if end < 0 else end
                at, jumps = (length & 0x3F) << 8 | raw[at + 1], jumps + 1
                continue
            label = raw[at + 1 : at + 1 + length]
            if len(label) < length:
                return _hex(raw)
            labels.append(_show_text(label)[1:-1])
            at += 1 + length
        names.append(".".join(labels) or ".")
        pos = end if end >= 0 else at
    return ",".join(names) if names else '""'


def _show_routes(raw: bytes) -> str:
    """RFC 3442: destination/width>router for each route."""
    routes: list[str] = []
    pos = 0
    while pos < len(raw):
        width = raw[pos]
        size = (width + 7) // 8
        if width > 32 or pos + 1 + size + 4 > len(raw):
            return _hex(raw)
        destination = raw[pos + 1 : pos + 1 + size] + bytes(4 - size)
        router = raw[pos + 1 + size : pos + 5 + size]
        routes.append(f"{_show_ip(destination)}/{width}>{_show_ip(router)}")
        pos += 5 + size
    return ",".join(routes) if routes else '""'


class Spec(NamedTuple):
    code: int
    name: str
    encode: Callable[[Any], bytes]
    show: Callable[[bytes], str]


_IP = (_ip, _show_ip)
_IPS = (_ips, _show_ips)
_U8 = (_u8, _show_uint(1))
_U16 = (_u16, _show_uint(2))
_U32 = (_u32, _show_uint(4))
_TEXT = (_text, _show_text)
_HEX = (_raw, _hex)

TABLE: dict[int, Spec] = {
    spec.code: spec
    for spec in (
        Spec(1, "subnet_mask", *_IP),
        Spec(3, "router", *_IPS),
        Spec(6, "dns", *_IPS),
        Spec(12, "hostname", *_TEXT),
        Spec(15, "domain", *_TEXT),
        Spec(26, "mtu", *_U16),
        Spec(28, "broadcast", *_IP),
        Spec(42, "ntp", *_IPS),
        Spec(50, "requested_ip", *_IP),
        Spec(51, "lease_time", *_U32),
        Spec(52, "overload", *_U8),
        Spec(53, "message_type", *_U8),
        Spec(54, "server_id", *_IP),
        Spec(55, "parameters", _raw, _show_codes),
        Spec(56, "message", *_TEXT),
        Spec(57, "max_size", *_U16),
        Spec(58, "renewal_time", *_U32),
        Spec(59, "rebinding_time", *_U32),
        Spec(60, "vendor_class", *_TEXT),
        Spec(61, "client_id", *_HEX),
        Spec(116, "auto_config", *_U8),  # RFC 2563
        Spec(119, "search", encode_domain_list, _show_domains),  # RFC 3397
        Spec(121, "classless_routes", _routes, _show_routes),  # RFC 3442
    )
}


def encode(code: int, value: Any) -> bytes:
    """Option `code`'s value bytes for `value` (its codec's type: an address, a tuple
    of them, an int, a str, a sequence of names or of routes)."""
    return TABLE[code].encode(value)


def show(code: int, raw: bytes) -> str:
    """One token for option `code`'s value; hex for a code not in the table."""
    spec = TABLE.get(code)
    return spec.show(raw) if spec is not None else _hex(raw)


def show_options(options: Sequence[tuple[int, bytes]]) -> str:
    return " ".join(f"{code}={show(code, raw)}" for code, raw in options)
