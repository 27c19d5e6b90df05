"""DHCPv6 messages through scapy, for the unit tests (tests/unit/test_reply6.py,
test_dhcp6.py) and the conformance tests (tests/conformance/test_rfc8415.py) alike:
an IA_NA option to send, and readers of a reply's top-level options, status codes and
IA addresses (RFC 8415 21.4, 21.6, 21.13). scapy only: the conformance tests import
nothing of nfdhcpd."""

from __future__ import annotations

from typing import Any

from scapy.layers.dhcp6 import DHCP6OptIA_NA, DHCP6OptIAAddress, DHCP6OptStatusCode
from scapy.layers.inet import UDP

#: The IAID `ia_na` uses unless told otherwise.
IAID = 0x0A0B0C0D


def ia_na(*addresses: str, iaid: int = IAID) -> Any:
    """An IA_NA holding `addresses` (none: a plain request for an address)."""
    return DHCP6OptIA_NA(iaid=iaid, ianaopts=[DHCP6OptIAAddress(addr=a) for a in addresses])


def replies6(packets: list[Any]) -> list[Any]:
    """The DHCPv6 server messages among decoded packets (UDP from port 547)."""
    return [p for p in packets if UDP in p and p[UDP].sport == 547]


def top(reply: Any) -> list[Any]:
    """The message's top-level options, in order (IA sub-options stay inside)."""
    out = []
    layer = reply[UDP].payload.payload
    while layer and not isinstance(layer, bytes):
        out.append(layer)
        layer = layer.payload
    return out


def top_status(reply: Any) -> int | None:
    """The message's own Status Code, not an IA's (None if it has none)."""
    codes = [o.statuscode for o in top(reply) if isinstance(o, DHCP6OptStatusCode)]
    return codes[0] if codes else None


def ia_status(ia: Any) -> int | None:
    """An IA_NA's Status Code (None if it has none)."""
    codes = [o.statuscode for o in ia.ianaopts if isinstance(o, DHCP6OptStatusCode)]
    return codes[0] if codes else None


def ia_addresses(ia: Any) -> list[tuple[str, int, int]]:
    """An IA_NA's (address, preferred lifetime, valid lifetime), in order."""
    return [
        (o.addr, o.preflft, o.validlft) for o in ia.ianaopts if isinstance(o, DHCP6OptIAAddress)
    ]


def ias(reply: Any, kind: type = DHCP6OptIA_NA) -> list[Any]:
    """The message's top-level IA options of `kind`."""
    return [o for o in top(reply) if isinstance(o, kind)]
