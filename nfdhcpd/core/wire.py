"""Small codec helpers shared by every protocol module: checksums and address text."""

from __future__ import annotations

import re
from collections.abc import Sequence

BROADCAST_MAC = b"\xff" * 6


def checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum of `data`.

    The ones' complement sum of 16-bit words is the big-endian integer modulo 0xFFFF
    (2**16 = 1 mod 0xFFFF), which CPython computes in C: far cheaper than a Python loop.
    """
    if len(data) & 1:
        data += b"\0"
    total = int.from_bytes(data, "big") % 0xFFFF
    if total == 0 and any(data):
        total = 0xFFFF
    return ~total & 0xFFFF


def mac_text(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


_MAC = re.compile(r"[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(\1[0-9A-Fa-f]{2}){4}")


def parse_mac(text: str) -> bytes:
    """Parse `aa:bb:cc:dd:ee:ff` (or with dashes); raise ValueError naming the input."""
    if not _MAC.fullmatch(text):
        raise ValueError(f"not a MAC address: {text!r}")
    return bytes.fromhex(text.replace("-", "").replace(":", ""))


def encode_domain_list(names: Sequence[str]) -> bytes:
    """Domain names as RFC 1035 section 3.1 label sequences, uncompressed.

    The encoding of DHCPv4 option 119 (RFC 3397), DHCPv6 option 24 (RFC 3646) and
    the NDP DNSSL option (RFC 8106 5.2); none requires compression.
    """
    out = bytearray()
    for name in names:
        for label in name.removesuffix(".").split("."):
            raw = label.encode("ascii")
            out += bytes((len(raw),)) + raw
        out += b"\0"
    return bytes(out)
