"""DHCPv6 replies (RFC 8415): the message-type dispatch table and its handlers.

Replies come from the same link-local address as the RAs (reply6.py); the VM's
address is the binding's IP6, else EUI64, else the EUI-64 of its MAC in a /64.
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv6Address
from typing import NamedTuple

from . import dhcp6, ndp
from .binding import Binding
from .config import Config
from .decision import Decision, Frame, Inbound, Verdict, no_ifmac
from .dhcp6 import Dhcp6Message, MessageType, Option, Status
from .effective import Effective
from .errors import MalformedPacket
from .events import Event
from .frames import UDP6_PAYLOAD_AT, EtherType, build_ether, build_udp6, parse_ipv6, parse_udp6
from .reply6 import MIN_MTU6, address6
from .wire import encode_domain_list


class _Exchange(NamedTuple):
    inbound: Inbound
    binding: Binding
    config: Config
    effective: Effective
    request: Dhcp6Message
    src: bytes

    def who(self) -> str:
        name = MessageType(self.request.msg_type).name
        return f"{self.inbound.tap}: {name} from {IPv6Address(self.src)}"


def serve_dhcp6(
    inbound: Inbound, binding: Binding, config: Config, effective: Effective
) -> Decision:
    ip = parse_ipv6(inbound.payload)
    _sport, dport, payload = parse_udp6(ip)
    if dport != dhcp6.SERVER_PORT:
        raise MalformedPacket("udp.dport", 42, f"port {dport}, expected 547")
    if payload[:1] == _RELAY_FORW:
        # Only the VM is behind its TAP: it has no business relaying (RFC 8415 19).
        # Its header is not a client message's (9.1): counted before parsing.
        return Decision(
            Verdict.DROP, Event.RELAY_FORW, f"{inbound.tap}: Relay-forward from a VM, not answered"
        )
    request = dhcp6.parse_dhcp6(payload, UDP6_PAYLOAD_AT)
    handler = _HANDLERS.get(request.msg_type)
    if handler is None:
        return Decision(
            Verdict.DROP, Event.UNEXPECTED, f"{inbound.tap}: DHCPv6 type {request.msg_type}"
        )
    if ip.src == _UNSPECIFIED or ip.src[0] == 0xFF:
        # RFC 8415 16: clients send from a link-local address; :: has no reply path.
        raise MalformedPacket("ipv6.src", 8, "DHCPv6 request from :: or a multicast address")
    x = _Exchange(inbound, binding, config, effective, request, ip.src)
    unicast = ip.dst[0] != 0xFF
    if unicast and request.msg_type in _MULTICAST_ONLY:
        return Decision(
            Verdict.DROP, Event.DISCARDED, f"{x.who()}: sent to a unicast address (RFC 8415 16)"
        )
    server_id = request.first(Option.SERVERID)
    if server_id is not None and request.msg_type in _NO_SERVER_ID:
        return Decision(
            Verdict.DROP, Event.MALFORMED, f"{x.who()}: carries a Server Identifier (RFC 8415 16)"
        )
    if server_id is not None and server_id != config.server_duid:
        return Decision(Verdict.DROP, Event.OTHER_SERVER, f"{x.who()}: for another server")
    if request.msg_type in _NEED_SERVER_ID and server_id is None:
        raise MalformedPacket("dhcp6.serverid", request.at + 4, "missing (RFC 8415 16)")
    if request.msg_type != MessageType.INFORMATION_REQUEST and not request.first(Option.CLIENTID):
        raise MalformedPacket("dhcp6.clientid", request.at + 4, "missing (RFC 8415 16)")
    if request.msg_type == MessageType.INFORMATION_REQUEST and not _IA_OPTIONS.isdisjoint(
        request.options
    ):
        return Decision(
            Verdict.DROP,
            Event.DISCARDED,
            f"{x.who()}: Information-request with an IA (RFC 8415 16.12)",
        )
    if unicast:
        # RFC 8415 18.4: no Server Unicast option was ever sent, so the client must
        # multicast: say so and nothing else (dnsmasq does the same).
        options = [*_identifiers(x), dhcp6.encode_status(Status.USE_MULTICAST, "use multicast")]
        return _reply(x, MessageType.REPLY, options, "UseMulticast")
    return handler(x)


def _identifiers(x: _Exchange) -> list[bytes]:
    options = [dhcp6.encode_option(Option.SERVERID, x.config.server_duid)]
    client_id = x.request.first(Option.CLIENTID)
    if client_id is not None:
        options.append(dhcp6.encode_option(Option.CLIENTID, client_id))
    return options


def _common(x: _Exchange) -> list[bytes]:
    """Server and client identifiers, then DNS options if asked for (RFC 8415 18.3)."""
    options = _identifiers(x)
    wanted = dhcp6.requested(x.request)
    dns = x.effective.dns6
    if dns and (wanted is None or Option.DNS_SERVERS in wanted):
        options.append(dhcp6.encode_option(Option.DNS_SERVERS, b"".join(a.packed for a in dns)))
    domains = x.effective.domains6
    if domains and (wanted is None or Option.DOMAIN_LIST in wanted):
        options.append(dhcp6.encode_option(Option.DOMAIN_LIST, encode_domain_list(domains)))
    return options


#: Addresses a client says it holds that are listed back (with lifetime 0) per IA.
_MAX_HELD = 8
#: A reply stays within the IPv6 minimum MTU (RFC 8200 5): IAs past what fits are
#: left out, which only a client asking for dozens of IAs sees.
_MAX_PAYLOAD = MIN_MTU6 - 40 - 8


def _ia_options(x: _Exchange, room: int, *, on_link_check: bool = False) -> list[bytes]:
    """An answer for each IA_NA asked for (RFC 8415 18.3.2, 18.3.9): the binding's
    address in the first, NoAddrsAvail in the others (one address sits in one IA
    only, 6.2); with `on_link_check` (Request, 18.3.2), NotOnLink for an IA that
    holds an address outside SUBNET6."""
    ours = address6(x.binding)
    subnet = x.binding.subnet6
    config = x.config
    t2 = config.rebinding_time
    out: list[bytes] = []
    given = False
    for index in range(len(x.request.options.get(Option.IA_NA, ()))):
        ia = dhcp6.ia_na(x.request, index)
        if (
            on_link_check
            and subnet is not None
            and any(IPv6Address(a) not in subnet for a in ia.addresses)
        ):
            option = dhcp6.encode_ia_status(
                Option.IA_NA, ia.iaid, Status.NOT_ON_LINK, "not on this link"
            )
        elif given:
            option = dhcp6.encode_ia_status(
                Option.IA_NA, ia.iaid, Status.NO_ADDRS_AVAIL, "address in another IA"
            )
        else:
            addresses: list[tuple[bytes, int, int]] = []
            if ours is not None:
                life = config.lease_lifetime
                addresses.append((ours.packed, life, life))
                given = True
            if addresses or ia.addresses:
                # RFC 8415 18.3.4: addresses held that are not its own get lifetime 0.
                held = [a for a in ia.addresses if ours is None or a != ours.packed]
                addresses += [(a, 0, 0) for a in held[:_MAX_HELD]]
            option = dhcp6.encode_ia_na(ia.iaid, config.lease_renewal, t2, addresses)
        if len(option) > room:
            break
        room -= len(option)
        out.append(option)
    return out


def _other_ias(x: _Exchange, room: int) -> list[bytes]:
    """IA_PD and IA_TA get an answer too: no prefixes are delegated (NoPrefixAvail,
    RFC 8415 18.3.9) and no temporary addresses given (NoAddrsAvail)."""
    out: list[bytes] = []
    for index, raw in enumerate(x.request.options.get(Option.IA_PD, [])):
        if len(raw) < 12:
            at = x.request.offset(Option.IA_PD, index) + 4
            raise MalformedPacket("dhcp6.ia_pd", at, f"{len(raw)} bytes, need 12")
        out.append(
            dhcp6.encode_ia_status(Option.IA_PD, raw[:4], Status.NO_PREFIX_AVAIL, "none here")
        )
    for index, raw in enumerate(x.request.options.get(Option.IA_TA, [])):
        if len(raw) < 4:
            at = x.request.offset(Option.IA_TA, index) + 4
            raise MalformedPacket("dhcp6.ia_ta", at, f"{len(raw)} bytes, need 4")
        status = dhcp6.encode_status(Status.NO_ADDRS_AVAIL, "none here")
        out.append(dhcp6.encode_option(Option.IA_TA, raw[:4] + status))
    fitting: list[bytes] = []
    for option in out:
        if len(option) > room:
            break
        room -= len(option)
        fitting.append(option)
    return fitting


def _room(options: list[bytes]) -> int:
    return _MAX_PAYLOAD - 4 - sum(map(len, options)) - 16  # 16: Preference, Rapid Commit


def _reply(x: _Exchange, mtype: MessageType, options: list[bytes], what: str) -> Decision:
    mac = x.inbound.ifmac
    if mac is None:
        return no_ifmac(x.who(), x.inbound.indev)
    src = ndp.link_local(mac)
    payload = dhcp6.build_dhcp6(mtype, x.request.xid, options)
    packet = build_udp6(src, x.src, dhcp6.SERVER_PORT, dhcp6.CLIENT_PORT, payload)
    frame = build_ether(x.inbound.hwsrc or x.binding.mac, mac, EtherType.IPV6, packet)
    return Decision(
        Verdict.DROP,
        _EVENTS[mtype],
        f"{x.who()}: {mtype.name} {what}".rstrip(),
        (Frame(x.inbound.tap, frame),),
    )


def _address_text(binding: Binding) -> str:
    ours = address6(binding)
    return str(ours) if ours is not None else "no address"


def _solicit(x: _Exchange) -> Decision:
    rapid = x.request.first(Option.RAPID_COMMIT) is not None
    asked = x.request.options
    if (Option.IA_NA in asked or Option.IA_TA in asked) and (
        address6(x.binding) is None or Option.IA_NA not in asked
    ):
        # RFC 8415 18.3.9: no address for any IA: 'only a Status Code option with
        # code NoAddrsAvail', the Server and the Client Identifier (odhcp6c and others
        # ignore an Advertise with only an empty IA).
        status = dhcp6.encode_status(Status.NO_ADDRS_AVAIL, "no address for this client")
        options = [*_identifiers(x), status]
        mtype = MessageType.REPLY if rapid else MessageType.ADVERTISE
        return _reply(x, mtype, options, "NoAddrsAvail")
    options = _common(x)
    options += _ia_options(x, _room(options))
    options += _other_ias(x, _room(options))
    if rapid:
        # RFC 8415 18.3.1: with Rapid Commit the Reply commits the lease at once.
        options.append(dhcp6.encode_option(Option.RAPID_COMMIT, b""))
        return _reply(x, MessageType.REPLY, options, f"{_address_text(x.binding)} (rapid)")
    # Preference 255: the client may take this offer without waiting for others (18.2.1).
    options.append(dhcp6.encode_option(Option.PREFERENCE, b"\xff"))
    return _reply(x, MessageType.ADVERTISE, options, _address_text(x.binding))


def _lease(x: _Exchange) -> Decision:
    """Request, Renew and Rebind all get the binding's address with fresh lifetimes;
    a Request naming an address off this link gets NotOnLink for it (18.3.2)."""
    options = _common(x)
    request = x.request.msg_type == MessageType.REQUEST
    options += _ia_options(x, _room(options), on_link_check=request)
    options += _other_ias(x, _room(options))
    return _reply(x, MessageType.REPLY, options, _address_text(x.binding))


def _confirm(x: _Exchange) -> Decision:
    """RFC 8415 18.3.3: are the client's addresses still on this link?"""
    held = [
        a
        for index in range(len(x.request.options.get(Option.IA_NA, ())))
        for a in dhcp6.ia_na(x.request, index).addresses
    ]
    if not held:
        return Decision(Verdict.DROP, Event.CONFIRM, f"{x.who()}: no addresses to confirm")
    subnet = x.binding.subnet6
    on_link = subnet is not None and all(IPv6Address(a) in subnet for a in held)
    status = Status.SUCCESS if on_link else Status.NOT_ON_LINK
    options = [*_common(x), dhcp6.encode_status(status, "on link" if on_link else "not on link")]
    return _reply(x, MessageType.REPLY, options, status.name)


def _release(x: _Exchange) -> Decision:
    options = [*_common(x), dhcp6.encode_status(Status.SUCCESS, "released")]
    return _reply(x, MessageType.REPLY, options, "released")


def _decline(x: _Exchange) -> Decision:
    options = [*_common(x), dhcp6.encode_status(Status.SUCCESS, "declined")]
    decision = _reply(x, MessageType.REPLY, options, "address conflict: declined")
    if not decision.frames:  # not answered (no-ifmac): that is what it is counted as
        return decision
    return Decision(decision.verdict, Event.DECLINE, decision.reason, decision.frames)


def _information(x: _Exchange) -> Decision:
    return _reply(x, MessageType.REPLY, _common(x), "DNS only")


_HANDLERS: dict[int, Callable[[_Exchange], Decision]] = {
    MessageType.SOLICIT: _solicit,
    MessageType.REQUEST: _lease,
    MessageType.RENEW: _lease,
    MessageType.REBIND: _lease,
    MessageType.CONFIRM: _confirm,
    MessageType.RELEASE: _release,
    MessageType.DECLINE: _decline,
    MessageType.INFORMATION_REQUEST: _information,
}
_EVENTS = {MessageType.ADVERTISE: Event.ADVERTISE, MessageType.REPLY: Event.REPLY}
_UNSPECIFIED = bytes(16)
_RELAY_FORW = bytes((MessageType.RELAY_FORW,))
#: RFC 8415 16: discarded when sent to a unicast address.
_MULTICAST_ONLY = frozenset(
    {
        MessageType.SOLICIT,
        MessageType.CONFIRM,
        MessageType.REBIND,
        MessageType.INFORMATION_REQUEST,
    }
)
#: RFC 8415 16.12: an Information-request carrying any of these is discarded.
_IA_OPTIONS = frozenset({Option.IA_NA, Option.IA_TA, Option.IA_PD})
#: RFC 8415 16.2, 16.5, 16.8: discarded when they name a server.
_NO_SERVER_ID = frozenset({MessageType.SOLICIT, MessageType.CONFIRM, MessageType.REBIND})
#: RFC 8415 section 16: these must name the server they are for.
_NEED_SERVER_ID = frozenset(
    {MessageType.REQUEST, MessageType.RENEW, MessageType.RELEASE, MessageType.DECLINE}
)
