"""One line of text for a packet, for the debug log: what it is and every option in it,
without scapy (`DHCPREQUEST xid=0x12345678 chaddr=aa:6b:39:22:33:44 opts: 53=3 ...`).

Only called when the line is logged. It never raises: what does not parse is shown
as far as it parsed, with the error.
"""

from __future__ import annotations

from ipaddress import IPv6Address

from . import dhcp4, dhcp6, options4
from .errors import MalformedPacket
from .wire import mac_text

_ZERO4 = b"\0\0\0\0"
_BOOTP = {1: "BOOTREQUEST", 2: "BOOTREPLY"}
_ND = {133: "RS", 134: "RA", 135: "NS", 136: "NA"}


def describe_packet(packet: bytes) -> str:
    """An IP packet, as NFQUEUE hands it over."""
    try:
        if packet[:1] and packet[0] >> 4 == 6:
            return _ipv6(packet)
        if packet[:1] and packet[0] >> 4 == 4:
            return _ipv4(packet)
        return f"not IP: {len(packet)} bytes"
    except MalformedPacket as exc:
        return f"malformed: {exc}"
    except (IndexError, ValueError) as exc:  # a describer's slip must not cost a reply
        return f"undecodable ({exc!r}): {len(packet)} bytes"


def describe_frame(frame: bytes) -> str:
    """An Ethernet frame, as nfdhcpd sends it."""
    return describe_packet(frame[14:])


def _ipv4(packet: bytes) -> str:
    ihl = (packet[0] & 15) * 4
    if len(packet) < ihl + 8 or packet[9] != 17:
        return f"IPv4 protocol {packet[9] if len(packet) > 9 else '?'}, {len(packet)} bytes"
    ulen = packet[ihl + 4] << 8 | packet[ihl + 5]
    return describe_dhcp4(packet[ihl + 8 : ihl + max(ulen, 8)], ihl + 8)


def describe_dhcp4(data: bytes, base: int = 0) -> str:
    message = dhcp4.parse_dhcp(data, base)
    mtype = message.msg_type
    try:
        name = "DHCP" + dhcp4.MessageType(mtype).name if mtype else _BOOTP[message.op]
    except (ValueError, KeyError):
        name = f"DHCP type {mtype}"
    words = [name, f"xid=0x{message.xid:08x}", f"chaddr={mac_text(message.client_mac)}"]
    for field, value in (
        ("ciaddr", message.ciaddr),
        ("yiaddr", message.yiaddr),
        ("giaddr", message.giaddr),
    ):
        if value != _ZERO4:
            words.append(f"{field}={options4.show(1, value)}")
    if message.flags & dhcp4.BROADCAST_FLAG:
        words.append("flags=B")
    words.append("opts:")
    words.append(options4.show_options(list(message.options.items())))
    return " ".join(words)


def _ipv6(packet: bytes) -> str:
    if len(packet) < 48:
        return f"IPv6, {len(packet)} bytes"
    proto = packet[6]
    payload = packet[40 : 40 + (packet[4] << 8 | packet[5])]
    if proto == 58 and payload:
        kind = _ND.get(payload[0], f"ICMPv6 type {payload[0]}")
        if payload[0] in (135, 136) and len(payload) >= 24:
            return f"{kind} target={IPv6Address(payload[8:24])} from {IPv6Address(packet[8:24])}"
        return f"{kind} from {IPv6Address(packet[8:24])} to {IPv6Address(packet[24:40])}"
    if proto == 17:
        return describe_dhcp6(payload[8:], 48)
    return f"IPv6 next header {proto}, {len(packet)} bytes"


def describe_dhcp6(data: bytes, base: int = 0) -> str:
    message = dhcp6.parse_dhcp6(data, base)
    try:
        name = dhcp6.MessageType(message.msg_type).name
    except ValueError:
        name = f"type {message.msg_type}"
    options = [(code, value) for code, values in message.options.items() for value in values]
    return f"DHCPv6 {name} xid=0x{message.xid.hex()} opts: {_show6(options)}"


def _show6(options: list[tuple[int, bytes]]) -> str:
    return " ".join(f"{code}={_value6(code, raw)}" for code, raw in options)


def _value6(code: int, raw: bytes) -> str:
    """RFC 8415 21 (and RFC 3646 for 23, 24); nested options in braces."""
    if code in (3, 25) and len(raw) >= 12:  # IA_NA, IA_PD: IAID, T1, T2, options
        inner = dhcp6.pull_options(raw, 0, 12)
        nested = [(c, v) for c, values in inner.items() for v in values]
        head = f"iaid=0x{raw[:4].hex()},t1={_u32(raw[4:8])},t2={_u32(raw[8:12])}"
        return head + ("{" + _show6(nested).replace(" ", ";") + "}" if nested else "")
    if code == 5 and len(raw) >= 24:  # IAADDR
        return f"{IPv6Address(raw[:16])},{_u32(raw[16:20])},{_u32(raw[20:24])}"
    if code == 6 and len(raw) % 2 == 0:  # ORO
        return ",".join(str(raw[i] << 8 | raw[i + 1]) for i in range(0, len(raw), 2)) or '""'
    if code in (7, 8) and len(raw) in (1, 2):  # Preference, Elapsed Time
        return str(int.from_bytes(raw, "big"))
    if code == 13 and len(raw) >= 2:  # Status Code
        return f"{raw[0] << 8 | raw[1]},{options4.show(56, raw[2:])}"
    if code == 23 and raw and len(raw) % 16 == 0:
        return ",".join(str(IPv6Address(raw[i : i + 16])) for i in range(0, len(raw), 16))
    if code == 24:
        return options4.show(119, raw)
    return raw.hex(":") if raw else '""'


def _u32(raw: bytes) -> int:
    return int.from_bytes(raw, "big")
