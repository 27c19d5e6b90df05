"""DHCPv4 replies (RFC 2131): the message-type dispatch table and its handlers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from ipaddress import IPv4Address, IPv4Network
from typing import NamedTuple

from . import dhcp4, options4
from .binding import Binding, Route
from .config import Config
from .decision import NEW_TUPLE, Decision, Frame, Inbound, Verdict, decision, frame, no_ifmac
from .dhcp4 import BROADCAST_FLAG, DhcpMessage, MessageType, Option
from .effective import Effective
from .errors import MalformedPacket
from .events import Event
from .frames import EtherType, build_ether, build_udp4, parse_udp4
from .wire import BROADCAST_MAC, mac_text

_ZERO4 = b"\0\0\0\0"
_BROADCAST4 = b"\xff\xff\xff\xff"
_DEFAULT = IPv4Network("0.0.0.0/0")
_ANY = IPv4Address(0)
_LIMITED_BROADCAST = IPv4Address("255.255.255.255")


class Kit:
    """What replies to one binding share, encoded once per binding and config (a
    Responder keeps one per binding, and a reloaded config comes with a new Responder).

    A boot storm or a looping client asks the same thing over and over: the options,
    the lease times and the texts for the log are the binding's, not the packet's.
    """

    __slots__ = (
        "binding",
        "blocks",
        "config",
        "ip",
        "ip_text",
        "lease",
        "mac_text",
        "options",
        "order",
        "server_id",
        "server_id_option",
        "subnet",
    )

    def __init__(
        self,
        binding: Binding,
        config: Config,
        effective: Effective,
        ip: IPv4Address,
        subnet: IPv4Network,
    ) -> None:
        self.binding = binding
        self.config = config
        self.ip = ip.packed
        self.ip_text = str(ip)
        self.subnet = subnet
        self.mac_text = mac_text(binding.mac)
        self.server_id = effective.server_id.packed
        self.server_id_option = _option(Option.SERVER_ID, effective.server_id)
        self.lease = b"".join(
            _option(code, seconds)
            for code, seconds in (
                (Option.LEASE_TIME, config.lease_lifetime),
                (Option.RENEWAL_TIME, config.lease_renewal),
                (Option.REBINDING_TIME, config.rebinding_time),
            )
        )
        self.options = {
            code: _option(code, value)
            for code, value in _binding_options(binding, subnet, effective)
        }
        self.order = sorted(self.options)
        #: (parameter request list, room) -> the options chosen for it
        self.blocks: dict[tuple[bytes, int], bytes] = {}

    def block(self, wanted: bytes, room: int) -> bytes:
        """The PRL's options in its order, then the rest, skipping what does not fit."""
        key = (wanted, room)
        block = self.blocks.get(key)
        if block is None:
            options = self.options
            order = [c for c in dict.fromkeys(wanted) if c in options]
            order += [c for c in self.order if c not in order]
            chosen = bytearray()
            for code in order:
                option = options[code]
                if len(option) <= room:  # skip what does not fit; a smaller one may still
                    chosen += option
                    room -= len(option)
            block = bytes(chosen)
            if len(self.blocks) >= _MAX_BLOCKS:  # a VM cycling through PRLs
                self.blocks.clear()
            self.blocks[key] = block
        return block


_MAX_BLOCKS = 16


def make_kit(binding: Binding, config: Config, effective: Effective) -> Kit | None:
    """`binding`'s kit under `config`; None when it has no IPv4 address to hand out."""
    if binding.ip is None or binding.subnet is None:
        return None
    return Kit(binding, config, effective, binding.ip, binding.subnet)


class _Exchange(NamedTuple):
    """What every DHCPv4 reply handler needs to know about the request."""

    inbound: Inbound
    kit: Kit
    request: DhcpMessage
    dst_ip: bytes

    def who(self) -> str:
        request = self.request
        mac = request.client_mac
        client = self.kit.mac_text if mac == self.kit.binding.mac else mac_text(mac)
        return f"{self.inbound.tap}: {_NAMES.get(request.msg_type or 0, '?')} from {client}"


_NAMES = {t.value: t.name for t in MessageType}


def serve(inbound: Inbound, kit: Kit | None) -> Decision:
    """Answer a DHCPv4 request with the binding's `kit` (None: no IPv4 address)."""
    udp = parse_udp4(inbound.payload)
    request = dhcp4.parse_dhcp(udp.payload, udp.at)
    if request.op != 1:
        raise MalformedPacket("bootp.op", udp.at, f"op {request.op} is not BOOTREQUEST")
    mtype = request.msg_type
    if mtype is None:
        raise _missing(request, "options.option53", "no DHCP message type (plain BOOTP)")
    handler = _HANDLERS.get(mtype)
    if handler is None:
        return Decision(
            Verdict.DROP,
            Event.UNEXPECTED,
            f"{inbound.tap}: DHCP message type {mtype} from a client",
        )
    if kit is None:
        return Decision(Verdict.DROP, Event.NO_IPV4, f"{inbound.tap}: binding has no IPv4 address")
    exchange: _Exchange = NEW_TUPLE(_Exchange, (inbound, kit, request, udp.dst))
    return handler(exchange)


def _missing(request: DhcpMessage, field: str, reason: str) -> MalformedPacket:
    """An option the message lacks: named where its options start in the packet."""
    return MalformedPacket(field, request.at + dhcp4.OPTIONS_AT, reason)


def _offer(x: _Exchange) -> Decision:
    return _reply(x, MessageType.OFFER, f"OFFER {x.kit.ip_text}")


def _request(x: _Exchange) -> Decision:
    """RFC 2131 4.3.2: the client's state tells which address it asks to confirm."""
    options = x.request.options
    server_id = options.get(Option.SERVER_ID)
    requested = options.get(Option.REQUESTED_IP)
    renewing = x.request.ciaddr != _ZERO4
    if server_id is not None:
        if server_id != x.kit.server_id:
            return Decision(
                Verdict.DROP,
                Event.OTHER_SERVER,
                f"{x.who()}: SELECTING server {_ip_text(server_id)}, not us",
            )
        if requested is not None:
            state, asked = "SELECTING", requested
        elif renewing:
            # Our server-id and ciaddr without option 50: a renewal that names the
            # server, as some clients send it; dnsmasq ACKs it too.
            state, asked = "RENEWING", x.request.ciaddr
        else:
            raise _missing(x.request, "options.option50", "SELECTING without requested IP")
    elif requested is not None:
        # INIT-REBOOT: option 50 is the client's notion of its address, whatever a
        # stale ciaddr (which 4.3.2 says MUST be zero here) holds.
        state, asked = "INIT-REBOOT", requested
    elif renewing:
        rebinding = x.dst_ip == _BROADCAST4
        state, asked = ("REBINDING" if rebinding else "RENEWING"), x.request.ciaddr
    else:
        raise _missing(x.request, "options.option50", "REQUEST without address or server-id")
    # Only a renewing or rebinding client holds ciaddr (4.3.2): a stale one is ignored.
    renewal = state in ("RENEWING", "REBINDING")
    if asked == x.kit.ip:
        return _reply(x, MessageType.ACK, f"{state}: ACK {x.kit.ip_text}", renewal=renewal)
    what = f"{state}: NAK {_ip_text(asked)}, binding is {x.kit.ip_text}"
    return _reply(x, MessageType.NAK, what, renewal=renewal)


def _inform(x: _Exchange) -> Decision:
    return _reply(x, MessageType.ACK, "INFORM: ACK without lease")


def _decline(x: _Exchange) -> Decision:
    """RFC 2131 4.3.3: option 50 holds the address the client found in use."""
    declined = x.request.options.get(Option.REQUESTED_IP)
    what = _ip_text(declined) if declined is not None else "an address it did not name"
    return Decision(
        Verdict.DROP,
        Event.DECLINE,
        f"{x.who()}: address conflict, the VM declined {what} (binding is {x.kit.ip_text})",
    )


def _release(x: _Exchange) -> Decision:
    return Decision(Verdict.DROP, Event.RELEASE, f"{x.who()}: released {x.kit.ip_text}")


_HANDLERS: dict[int, Callable[[_Exchange], Decision]] = {
    MessageType.DISCOVER: _offer,
    MessageType.REQUEST: _request,
    MessageType.DECLINE: _decline,
    MessageType.RELEASE: _release,
    MessageType.INFORM: _inform,
}


def _reply(x: _Exchange, mtype: MessageType, what: str, *, renewal: bool = True) -> Decision:
    """Build the reply and address it as RFC 2131 section 4.1 says; without `renewal`
    the request's ciaddr is not the client's (a stale one in an INIT-REBOOT)."""
    request, inbound = x.request, x.inbound
    if inbound.ifmac is None:
        return no_ifmac(x.who(), inbound.indev)
    informing = request.msg_type == MessageType.INFORM
    nak = mtype == MessageType.NAK
    # RFC 2131 table 3: yiaddr/ciaddr per reply type.
    yiaddr = _ZERO4 if nak or informing else x.kit.ip
    ciaddr = request.ciaddr if mtype == MessageType.ACK and renewal else _ZERO4
    flags = request.flags
    l2_unicast = inbound.hwsrc or request.client_mac
    also: tuple[bytes, bytes] | None = None  # a second (IP, MAC) destination
    if request.giaddr != _ZERO4:
        # Through a relay: to its address at the server port; a NAK asks it to broadcast.
        dst_ip, dport, dst_mac = request.giaddr, dhcp4.SERVER_PORT, l2_unicast
        if nak:
            flags |= BROADCAST_FLAG
        to = "relay"
    elif nak:
        dst_ip, dport, dst_mac, to = _BROADCAST4, dhcp4.CLIENT_PORT, BROADCAST_MAC, "broadcast"
        if renewal and request.ciaddr != _ZERO4:
            # 4.1 broadcasts NAKs, but a RENEWING client may listen on its address only
            # (systemd-networkd binds its renewal socket to it): to ciaddr too, as Kea.
            also = (request.ciaddr, l2_unicast)
            to = f"ciaddr {_ip_text(request.ciaddr)} and to broadcast"
    elif ciaddr == _ZERO4 and (flags & BROADCAST_FLAG or yiaddr == _ZERO4):
        dst_ip, dport, dst_mac, to = _BROADCAST4, dhcp4.CLIENT_PORT, BROADCAST_MAC, "broadcast"
    elif ciaddr != _ZERO4:
        dst_ip, dport, dst_mac, to = ciaddr, dhcp4.CLIENT_PORT, l2_unicast, "ciaddr"
    else:
        dst_ip, dport, dst_mac, to = yiaddr, dhcp4.CLIENT_PORT, l2_unicast, "unicast"
    options = _encode_reply_options(x, mtype, lease=not (nak or informing))
    payload = dhcp4.build_dhcp(request, yiaddr=yiaddr, ciaddr=ciaddr, flags=flags, options=options)
    ifmac = inbound.ifmac
    frames = [_frame(x, ifmac, dst_ip, dport, dst_mac, payload)]
    if also is not None:
        frames.insert(0, _frame(x, ifmac, also[0], dport, also[1], payload))
    return decision(
        Verdict.DROP,
        _EVENTS[mtype],
        f"{x.who()}: {what} to {to} {_ip_text(dst_ip)} via {inbound.tap}",
        tuple(frames),
    )


def _frame(
    x: _Exchange, ifmac: bytes, dst_ip: bytes, dport: int, dst_mac: bytes, payload: bytes
) -> Frame:
    packet = build_udp4(x.kit.server_id, dst_ip, dhcp4.SERVER_PORT, dport, payload)
    return frame(x.inbound.tap, build_ether(dst_mac, ifmac, EtherType.IPV4, packet))


def _encode_reply_options(x: _Exchange, mtype: MessageType, *, lease: bool) -> bytes:
    """Mandatory options first, then the PRL's order, then the rest, within size.

    RFC 2131 section 4.3.1 and 2132 section 9.8: honour the parameter request list;
    the whole IP datagram must fit the client's option 57, 576 bytes when absent.
    """
    kit = x.kit
    head = _MESSAGE_TYPE[mtype] + kit.server_id_option
    nak = mtype == MessageType.NAK
    # RFC 2131 table 3 and RFC 2132 9.9: a NAK SHOULD say why.
    tail = _NAK_MESSAGE if nak else kit.lease if lease else b""
    limit = min(dhcp4.max_message_size(x.request), kit.binding.mtu or 1500)
    room = limit - 20 - 8 - dhcp4.FIXED_LEN - 4 - 1 - len(head) - len(tail)
    client_id = x.request.options.get(Option.CLIENT_ID)
    if client_id is not None:
        # RFC 6842 section 3 asks for the echo; one that cannot fit is left out, not the
        # reply (a 1,215-byte identifier made every reply exceed the MTU).
        echo = dhcp4.encode_option(Option.CLIENT_ID, client_id)
        if len(echo) <= room:
            head += echo
            room -= len(echo)
    if nak:
        return head + tail
    head += tail
    return head + kit.block(x.request.options.get(Option.PARAMETERS, b""), room)


def _option(code: int, value: object) -> bytes:
    """Option `code` with `value`, encoded by its codec in the option table."""
    return dhcp4.encode_option(code, options4.encode(code, value))


_MESSAGE_TYPE = {t: _option(Option.MESSAGE_TYPE, int(t)) for t in MessageType}
_EVENTS = {MessageType.OFFER: Event.OFFER, MessageType.ACK: Event.ACK, MessageType.NAK: Event.NAK}
_NAK_MESSAGE = _option(
    Option.MESSAGE, "requested address is not this VM's address: restart with DISCOVER"
)


def _binding_options(
    binding: Binding, subnet: IPv4Network, effective: Effective
) -> Iterator[tuple[int, object]]:
    """The binding's options, as values of their codecs (`options4.TABLE`)."""
    yield Option.SUBNET_MASK, subnet.netmask
    # RFC 3021 2.2: a /31 (or /32) has no directed broadcast, the limited one is used.
    # Said explicitly: left out, ISC dhclient computes it from the mask (the peer on a
    # /31) and then cannot route through that peer.
    broadcast = subnet.broadcast_address if subnet.prefixlen < 31 else _LIMITED_BROADCAST
    yield Option.BROADCAST, broadcast
    gateway = effective.router
    if gateway is not None:
        yield Option.ROUTER, (gateway,)
    if effective.dns:
        yield Option.DNS, effective.dns
    if binding.hostname:
        yield Option.HOSTNAME, binding.hostname
    if effective.domain:
        yield Option.DOMAIN, effective.domain
    if effective.search:
        yield Option.SEARCH, effective.search
    if binding.mtu is not None:
        yield Option.MTU, binding.mtu
    if effective.ntp:
        yield Option.NTP, effective.ntp
    routes = _classless_routes(binding, subnet, gateway)
    if routes:
        yield Option.CLASSLESS_ROUTES, routes


def _classless_routes(
    binding: Binding, subnet: IPv4Network, gateway: IPv4Address | None
) -> list[Route]:
    """Option 121 when there are explicit routes or the gateway is off-subnet.

    RFC 3442 section 2: a client that uses option 121 ignores option 3, so the
    default route must be repeated here. An off-subnet router needs an on-link host
    route (router 0.0.0.0) to be reachable at all, and clients install the routes in
    option order, skipping those whose router is unreachable (Debian's rfc3442 hook):
    so on-link host routes first, then the routes through them, the default last.
    """
    off_link = gateway is not None and gateway not in subnet
    if not binding.routes and not off_link:
        return []
    on_link = [r for r in binding.routes if r.router == _ANY]
    routers = [r.router for r in binding.routes] + ([gateway] if gateway is not None else [])
    for router in dict.fromkeys(routers):
        host = Route(IPv4Network(f"{router}/32"), _ANY)
        if router != _ANY and router not in subnet and host not in on_link:
            on_link.append(host)
    routes = on_link + [r for r in binding.routes if r.router != _ANY]
    if gateway is not None:
        routes.append(Route(_DEFAULT, gateway))
    return routes


def _ip_text(packed: bytes) -> str:
    """Dotted quad without building an IPv4Address (this runs for every reply); an
    f-string, which mypyc builds in C, where join(map(str, ...)) iterates in Python."""
    if len(packed) != 4:
        return packed.hex()
    return f"{packed[0]}.{packed[1]}.{packed[2]}.{packed[3]}"
