"""DHCPv4 replies (RFC 2131): the message-type dispatch table and its handlers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from . import dhcp4
from .binding import Binding, Route
from .config import Config
from .decision import Decision, Frame, Inbound, Verdict
from .dhcp4 import BROADCAST_FLAG, DhcpMessage, MessageType, Option
from .errors import MalformedPacket
from .frames import EtherType, build_ether, build_udp4, parse_udp4
from .wire import BROADCAST_MAC, encode_domain_list, mac_text

_ZERO4 = b"\0\0\0\0"
_BROADCAST4 = b"\xff\xff\xff\xff"
_DEFAULT = IPv4Network("0.0.0.0/0")


@dataclass(frozen=True, slots=True)
class _Exchange:
    """What every DHCPv4 reply handler needs to know about the request."""

    inbound: Inbound
    binding: Binding
    config: Config
    request: DhcpMessage
    ip: IPv4Address
    subnet: IPv4Network
    server_id: bytes
    dst_ip: bytes

    def who(self) -> str:
        return f"{self.inbound.tap}: {MessageType(self.request.msg_type or 0).name} from " + (
            mac_text(self.request.client_mac)
        )


def serve(inbound: Inbound, binding: Binding, config: Config) -> Decision:
    udp = parse_udp4(inbound.payload)
    request = dhcp4.parse_dhcp(udp.payload)
    if request.op != 1:
        raise MalformedPacket("bootp.op", 0, f"op {request.op} is not BOOTREQUEST")
    mtype = request.msg_type
    if mtype is None:
        raise MalformedPacket("options.option53", 240, "no DHCP message type (plain BOOTP)")
    handler = _HANDLERS.get(mtype)
    if handler is None:
        return Decision(
            Verdict.DROP, "unexpected", f"{inbound.tap}: DHCP message type {mtype} from a client"
        )
    if binding.ip is None or binding.subnet is None:
        return Decision(Verdict.DROP, "no-ipv4", f"{inbound.tap}: binding has no IPv4 address")
    exchange = _Exchange(
        inbound,
        binding,
        config,
        request,
        binding.ip,
        binding.subnet,
        _server_id(binding, config),
        udp.dst,
    )
    return handler(exchange)


def _server_id(binding: Binding, config: Config) -> bytes:
    """Option 54: server_ip, or the VM's gateway when server_on_link (RFC 2131 4.3.1)."""
    if config.server_on_link and binding.gateway is not None and not binding.private:
        return binding.gateway.packed
    return config.server_ip.packed


def _offer(x: _Exchange) -> Decision:
    return _reply(x, MessageType.OFFER, f"OFFER {x.ip}")


def _request(x: _Exchange) -> Decision:
    """RFC 2131 4.3.2: the client's state tells which address it asks to confirm."""
    options = x.request.options
    server_id = options.get(Option.SERVER_ID)
    requested = options.get(Option.REQUESTED_IP)
    if server_id is not None:
        if server_id != x.server_id:
            return Decision(
                Verdict.DROP,
                "other-server",
                f"{x.who()}: SELECTING server {_ip_text(server_id)}, not us",
            )
        if requested is None:
            raise MalformedPacket("options.option50", 240, "SELECTING without requested IP")
        state, asked = "SELECTING", requested
    elif x.request.ciaddr != _ZERO4:
        rebinding = x.dst_ip == _BROADCAST4
        state, asked = ("REBINDING" if rebinding else "RENEWING"), x.request.ciaddr
    elif requested is not None:
        state, asked = "INIT-REBOOT", requested
    else:
        raise MalformedPacket("options.option50", 240, "REQUEST without address or server-id")
    if asked == x.ip.packed:
        return _reply(x, MessageType.ACK, f"{state}: ACK {x.ip}")
    return _reply(x, MessageType.NAK, f"{state}: NAK {_ip_text(asked)}, binding is {x.ip}")


def _inform(x: _Exchange) -> Decision:
    return _reply(x, MessageType.ACK, "INFORM: ACK without lease")


def _decline(x: _Exchange) -> Decision:
    return Decision(Verdict.DROP, "decline", f"{x.who()}: address conflict, the VM declined {x.ip}")


def _release(x: _Exchange) -> Decision:
    return Decision(Verdict.DROP, "release", f"{x.who()}: released {x.ip}")


_HANDLERS: dict[int, Callable[[_Exchange], Decision]] = {
    MessageType.DISCOVER: _offer,
    MessageType.REQUEST: _request,
    MessageType.DECLINE: _decline,
    MessageType.RELEASE: _release,
    MessageType.INFORM: _inform,
}


def _reply(x: _Exchange, mtype: MessageType, what: str) -> Decision:
    """Build the reply and address it as RFC 2131 section 4.1 says."""
    request, inbound = x.request, x.inbound
    if inbound.ifmac is None:
        return Decision(Verdict.DROP, "no-ifmac", f"{x.who()}: MAC of {inbound.indev} unknown")
    informing = request.msg_type == MessageType.INFORM
    nak = mtype == MessageType.NAK
    # RFC 2131 table 3: yiaddr/ciaddr per reply type.
    yiaddr = _ZERO4 if nak or informing else x.ip.packed
    ciaddr = request.ciaddr if mtype == MessageType.ACK else _ZERO4
    flags = request.flags
    l2_unicast = inbound.hwsrc or request.client_mac
    if request.giaddr != _ZERO4:
        # Through a relay: to its address at the server port; a NAK asks it to broadcast.
        dst_ip, dport, dst_mac = request.giaddr, dhcp4.SERVER_PORT, l2_unicast
        if nak:
            flags |= BROADCAST_FLAG
        to = f"relay {_ip_text(dst_ip)}"
    elif nak or (ciaddr == _ZERO4 and (flags & BROADCAST_FLAG or yiaddr == _ZERO4)):
        dst_ip, dport, dst_mac, to = _BROADCAST4, dhcp4.CLIENT_PORT, BROADCAST_MAC, "broadcast"
    elif ciaddr != _ZERO4:
        dst_ip, dport, dst_mac, to = ciaddr, dhcp4.CLIENT_PORT, l2_unicast, "ciaddr"
    else:
        dst_ip, dport, dst_mac, to = yiaddr, dhcp4.CLIENT_PORT, l2_unicast, "unicast"
    options = _encode_reply_options(x, mtype, lease=not (nak or informing))
    payload = dhcp4.build_dhcp(request, yiaddr=yiaddr, ciaddr=ciaddr, flags=flags, options=options)
    packet = build_udp4(x.server_id, dst_ip, dhcp4.SERVER_PORT, dport, payload)
    frame = build_ether(dst_mac, inbound.ifmac, EtherType.IPV4, packet)
    return Decision(
        Verdict.DROP,
        mtype.name.lower(),
        f"{x.who()}: {what} to {to} {_ip_text(dst_ip)} via {inbound.tap}",
        (Frame(inbound.tap, frame),),
    )


def _encode_reply_options(x: _Exchange, mtype: MessageType, *, lease: bool) -> bytes:
    """Mandatory options first, then the PRL's order, then the rest, within size.

    RFC 2131 section 4.3.1 and 2132 section 9.8: honour the parameter request list;
    the whole IP datagram must fit the client's option 57, 576 bytes when absent.
    """
    head = [
        (Option.MESSAGE_TYPE, bytes((mtype,))),
        (Option.SERVER_ID, x.server_id),
    ]
    client_id = x.request.options.get(Option.CLIENT_ID)
    if client_id is not None:
        head.append((Option.CLIENT_ID, client_id))  # RFC 6842 section 3
    if mtype == MessageType.NAK:
        return b"".join(dhcp4.encode_option(c, v) for c, v in head)
    if lease:
        config = x.config
        t2 = config.rebinding_time
        head += [
            (Option.LEASE_TIME, config.lease_lifetime.to_bytes(4, "big")),
            (Option.RENEWAL_TIME, config.lease_renewal.to_bytes(4, "big")),
            (Option.REBINDING_TIME, t2.to_bytes(4, "big")),
        ]
    encoded = bytearray(b"".join(dhcp4.encode_option(c, v) for c, v in head))
    limit = min(dhcp4.max_message_size(x.request), x.binding.mtu or 1500)
    room = limit - 20 - 8 - dhcp4.FIXED_LEN - 4 - 1 - len(encoded)
    available = dict(_binding_options(x.binding, x.subnet, x.config))
    wanted = x.request.options.get(Option.PARAMETERS, b"")
    order = [c for c in dict.fromkeys(wanted) if c in available]
    order += sorted(c for c in available if c not in order)
    for code in order:
        option = dhcp4.encode_option(code, available[code])
        if len(option) <= room:  # skip what does not fit; a smaller one may still
            encoded += option
            room -= len(option)
    return bytes(encoded)


def _binding_options(
    binding: Binding, subnet: IPv4Network, config: Config
) -> Iterator[tuple[int, bytes]]:
    yield Option.SUBNET_MASK, subnet.netmask.packed
    yield Option.BROADCAST, subnet.broadcast_address.packed
    gateway = None if binding.private else binding.gateway
    if gateway is not None:
        yield Option.ROUTER, gateway.packed
    dns = binding.dns if binding.dns is not None else config.nameservers
    if dns:
        yield Option.DNS, dhcp4.encode_addresses(dns)
    if binding.hostname:
        yield Option.HOSTNAME, binding.hostname.encode("ascii")
    domain = binding.domain or config.domain
    if domain:
        yield Option.DOMAIN, domain.encode("ascii")
    search = binding.search if binding.search is not None else ((domain,) if domain else ())
    if search:
        yield Option.SEARCH, encode_domain_list(search)
    if binding.mtu is not None:
        yield Option.MTU, binding.mtu.to_bytes(2, "big")
    ntp = binding.ntp if binding.ntp is not None else config.ntp_servers
    if ntp:
        yield Option.NTP, dhcp4.encode_addresses(ntp)
    routes = _classless_routes(binding, subnet, gateway)
    if routes:
        yield Option.CLASSLESS_ROUTES, dhcp4.encode_routes(routes)


def _classless_routes(
    binding: Binding, subnet: IPv4Network, gateway: IPv4Address | None
) -> list[Route]:
    """Option 121 when there are explicit routes or the gateway is off-subnet.

    RFC 3442 section 2: a client that uses option 121 ignores option 3, so the
    default route must be repeated here; an off-subnet gateway first needs an
    on-link host route (router 0.0.0.0) to be reachable at all.
    """
    off_link = gateway is not None and gateway not in subnet
    if not binding.routes and not off_link:
        return []
    routes = list(binding.routes)
    if gateway is not None:
        if off_link:
            routes.append(Route(IPv4Network(f"{gateway}/32"), IPv4Address(0)))
        routes.append(Route(_DEFAULT, gateway))
    return routes


def _ip_text(packed: bytes) -> str:
    return str(IPv4Address(packed)) if len(packed) == 4 else packed.hex()
