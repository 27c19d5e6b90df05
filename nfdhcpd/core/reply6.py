"""IPv6 replies: Router Advertisements, proxy Neighbor Advertisements, DHCPv6.

Every reply comes from the link-local address derived from the MAC we answer from
(RFC 4861 6.1.2 requires RAs from a link-local source), so the host needs no IPv6
address on the TAP. The VM's own IPv6 address is the binding's IP6, else EUI64,
else the modified EUI-64 of its MAC in a /64 SUBNET6.
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv6Address
from typing import NamedTuple

from . import dhcp6, ndp
from .binding import Binding
from .config import Config
from .decision import Decision, Frame, Inbound, Verdict
from .dhcp6 import Dhcp6Message, MessageType, Option, Status
from .errors import MalformedPacket
from .frames import EtherType, build_ether, build_icmp6, build_udp6, parse_ipv6, parse_udp6
from .ndp import ALL_NODES, UNSPECIFIED, Prefix
from .wire import encode_domain_list

#: RFC 4861 section 6.2.1 defaults for the prefix lifetimes (30 and 7 days).
VALID_LIFETIME = 2592000
PREFERRED_LIFETIME = 604800
#: Router lifetime of every RA that makes the host the default router: RFC 4861
#: 6.2.1's maximum AdvDefaultLifetime (RFC 8319 allows more; hosts before it cap at
#: this). The VMs keep their default route 2.5 hours without RAs: an hour of daemon
#: downtime after an RA up to 1.1 x ra_period (at most 1980 s) old, with room to spare.
ROUTER_LIFETIME = 9000


def address6(binding: Binding) -> IPv6Address | None:
    if binding.ip6 is not None:
        return binding.ip6
    if binding.eui64 is not None:
        return binding.eui64
    if binding.subnet6 is not None and binding.subnet6.prefixlen == 64:
        return ndp.eui64_address(binding.subnet6, binding.mac)
    return None


def search6(binding: Binding, config: Config) -> tuple[str, ...]:
    """DNSSL and DHCPv6 option 24: SEARCH, else [ipv6] domains, else the domain of a
    fully qualified HOSTNAME (GRNET's DHCPv6 fallback)."""
    if binding.search is not None:
        return binding.search
    if config.domains6:
        return config.domains6
    return (binding.fqdn_domain,) if binding.fqdn_domain else ()


def _flags(binding: Binding, config: Config) -> tuple[bool, bool, bool]:
    """(M, O, A) for the binding, by mode (FEATURES section 1).

    auto: SLAAC plus stateless DHCPv6 when SLAAC yields the binding's address,
    stateful DHCPv6 (M, no A) when the binding names an address SLAAC cannot form.
    """
    mode = config.mode
    if mode == "auto":
        subnet = binding.subnet6
        slaac = subnet is not None and subnet.prefixlen == 64
        formed = ndp.eui64_address(subnet, binding.mac) if subnet is not None and slaac else None
        mode = "slaac+dhcpv6" if address6(binding) == formed else "dhcpv6"
    managed, other, autonomous = {
        "slaac": (False, False, True),
        "slaac+dhcpv6": (False, True, True),
        "dhcpv6": (True, True, False),
    }[mode]
    # RFC 4862 5.5.3: SLAAC needs a 64-bit interface identifier on Ethernet.
    prefix64 = binding.subnet6 is not None and binding.subnet6.prefixlen == 64
    return managed, other, autonomous and prefix64


def router_advertisement(binding: Binding, config: Config, mac: bytes) -> bytes:
    """The RA message for `binding`, sent from MAC `mac` (ICMPv6, checksum zero)."""
    managed, other, autonomous = _flags(binding, config)
    lifetime = ROUTER_LIFETIME if binding.default_router6 else 0
    prefixes = []
    if binding.subnet6 is not None:
        prefixes.append(
            Prefix(
                binding.subnet6,
                autonomous,
                VALID_LIFETIME,
                PREFERRED_LIFETIME,
                binding.gateway6,
            )
        )
    dns = binding.dns6 if binding.dns6 is not None else config.nameservers6
    return ndp.build_ra(
        mac=mac,
        managed=managed,
        other=other,
        router_lifetime=lifetime,
        prefixes=prefixes,
        mtu=binding.mtu,
        dns=dns,
        domains=search6(binding, config),
        dns_lifetime=3 * config.ra_period,  # RFC 8106 5.1: at least MaxRtrAdvInterval
    )


def unsolicited_ra(binding: Binding, config: Config, mac: bytes) -> Frame | None:
    """The periodic RA to all nodes on the binding's TAP; None without SUBNET6."""
    if binding.subnet6 is None:
        return None
    src = ndp.link_local(mac)
    packet = build_icmp6(
        src, ALL_NODES, ndp.ND_HOP_LIMIT, router_advertisement(binding, config, mac)
    )
    frame = build_ether(ndp.multicast_mac(ALL_NODES), mac, EtherType.IPV6, packet)
    return Frame(binding.name, frame)


def _ifmac(inbound: Inbound) -> bytes:
    if inbound.ifmac is None:
        raise MalformedPacket("ifmac", 0, f"MAC of {inbound.indev} unknown")
    return inbound.ifmac


def serve_rs(inbound: Inbound, binding: Binding, config: Config) -> Decision:
    """RFC 4861 6.2.6: a solicited RA, here unicast to the soliciting VM only."""
    rs = ndp.parse_rs(parse_ipv6(inbound.payload))
    if binding.subnet6 is None:  # responder.handle passes these on before parsing
        return Decision(Verdict.ACCEPT, "no-subnet6", f"{inbound.tap}: RS, binding has no SUBNET6")
    mac = _ifmac(inbound)
    dst = rs.src if rs.src != UNSPECIFIED else ALL_NODES
    src = ndp.link_local(mac)
    packet = build_icmp6(src, dst, ndp.ND_HOP_LIMIT, router_advertisement(binding, config, mac))
    frame = build_ether(inbound.hwsrc or binding.mac, mac, EtherType.IPV6, packet)
    return Decision(
        Verdict.DROP,
        "ra",
        f"{inbound.tap}: RS from {IPv6Address(rs.src)}: RA {binding.subnet6} to {IPv6Address(dst)}",
        (Frame(inbound.tap, frame),),
    )


def serve_ns(inbound: Inbound, binding: Binding, config: Config) -> Decision:
    """Proxy NA for the gateway and, on routed TAPs, the subnet's other addresses.

    Never for the VM's own address (its DAD must succeed), and in a bridge only for the
    router itself: the other VMs on the bridge answer for themselves.
    """
    ns = ndp.parse_ns(parse_ipv6(inbound.payload))
    mac = _ifmac(inbound)
    target = IPv6Address(ns.target)
    who = f"{inbound.tap}: NS from {IPv6Address(ns.src)} for {target}"
    router = ns.target == ndp.link_local(mac) or target == binding.gateway6
    if target == address6(binding):
        return Decision(Verdict.ACCEPT, "ns-own", f"{who}: the VM's own address")
    routed = inbound.physindev is None
    proxied = (
        routed
        # Only the VM is behind a routed TAP: its DAD probe (from ::) is for its own
        # tentative address, which may be one we cannot predict (RFC 7217, RFC 8981).
        and ns.src != UNSPECIFIED
        and binding.subnet6 is not None
        and target in binding.subnet6
        and not target.is_link_local
    )
    if not (router or proxied):
        return Decision(Verdict.ACCEPT, "ns-other", f"{who}: not ours to answer")
    solicited = ns.src != UNSPECIFIED
    dst = ns.src if solicited else ALL_NODES
    # RFC 4861 7.2.8: a proxy's NA must not override the owner's own (O=0).
    message = ndp.build_na(
        target=ns.target, mac=mac, router=True, solicited=solicited, override=router
    )
    packet = build_icmp6(ns.target, dst, ndp.ND_HOP_LIMIT, message)
    frame = build_ether(inbound.hwsrc or binding.mac, mac, EtherType.IPV6, packet)
    kind = "gateway" if router else "proxy"
    return Decision(
        Verdict.DROP, "na", f"{who}: NA ({kind}) {mac.hex(':')}", (Frame(inbound.tap, frame),)
    )


# --- DHCPv6 (RFC 8415) ---------------------------------------------------------


class _Exchange(NamedTuple):
    inbound: Inbound
    binding: Binding
    config: Config
    request: Dhcp6Message
    src: bytes

    def who(self) -> str:
        name = MessageType(self.request.msg_type).name
        return f"{self.inbound.tap}: {name} from {IPv6Address(self.src)}"


def serve_dhcp6(inbound: Inbound, binding: Binding, config: Config) -> Decision:
    ip = parse_ipv6(inbound.payload)
    _sport, dport, payload = parse_udp6(ip)
    if dport != dhcp6.SERVER_PORT:
        raise MalformedPacket("udp.dport", 42, f"port {dport}, expected 547")
    request = dhcp6.parse_dhcp6(payload)
    handler = _HANDLERS.get(request.msg_type)
    if handler is None:
        return Decision(
            Verdict.DROP, "unexpected", f"{inbound.tap}: DHCPv6 type {request.msg_type}"
        )
    if ip.src == _UNSPECIFIED or ip.src[0] == 0xFF:
        # RFC 8415 16: clients send from a link-local address; :: has no reply path.
        raise MalformedPacket("ipv6.src", 8, "DHCPv6 request from :: or a multicast address")
    x = _Exchange(inbound, binding, config, request, ip.src)
    server_id = request.first(Option.SERVERID)
    if server_id is not None and request.msg_type in _NO_SERVER_ID:
        return Decision(
            Verdict.DROP, "malformed", f"{x.who()}: carries a Server Identifier (RFC 8415 16)"
        )
    if server_id is not None and server_id != config.server_duid:
        return Decision(Verdict.DROP, "other-server", f"{x.who()}: for another server")
    if request.msg_type in _NEED_SERVER_ID and server_id is None:
        raise MalformedPacket("dhcp6.serverid", 4, "missing (RFC 8415 16)")
    if request.msg_type != MessageType.INFORMATION_REQUEST and not request.first(Option.CLIENTID):
        raise MalformedPacket("dhcp6.clientid", 4, "missing (RFC 8415 16)")
    return handler(x)


def _common(x: _Exchange) -> list[bytes]:
    """Server and client identifiers, then DNS options if asked for (RFC 8415 18.3)."""
    options = [dhcp6.encode_option(Option.SERVERID, x.config.server_duid)]
    client_id = x.request.first(Option.CLIENTID)
    if client_id is not None:
        options.append(dhcp6.encode_option(Option.CLIENTID, client_id))
    wanted = dhcp6.requested(x.request)
    dns = x.binding.dns6 if x.binding.dns6 is not None else x.config.nameservers6
    if dns and (wanted is None or Option.DNS_SERVERS in wanted):
        options.append(dhcp6.encode_option(Option.DNS_SERVERS, b"".join(a.packed for a in dns)))
    domains = search6(x.binding, x.config)
    if domains and (wanted is None or Option.DOMAIN_LIST in wanted):
        options.append(dhcp6.encode_option(Option.DOMAIN_LIST, encode_domain_list(domains)))
    return options


#: IA_NAs answered per message: one gets the address, a few more are told there is
#: none; a client asking for thousands gets no reply larger than a page for it.
_MAX_IAS = 4
_MAX_HELD = 8


def _ia_options(x: _Exchange) -> list[bytes]:
    """The binding's address in the first IA_NA asked for (RFC 8415 18.3).

    One address may sit in one IA only (RFC 8415 6.2): any further IA_NA is told
    NoAddrsAvail.
    """
    ours = address6(x.binding)
    config = x.config
    t2 = config.rebinding_time
    out: list[bytes] = []
    for raw in x.request.options.get(Option.IA_NA, [])[:_MAX_IAS]:
        ia = dhcp6.parse_ia_na(raw)
        addresses: list[tuple[bytes, int, int]] = []
        if ours is not None and not out:
            life = config.lease_lifetime
            addresses.append((ours.packed, life, life))
        if addresses or ia.addresses:
            # RFC 8415 18.3.4: addresses the client holds that are not its own get lifetime 0.
            held = [a for a in ia.addresses if ours is None or a != ours.packed]
            addresses += [(a, 0, 0) for a in held[:_MAX_HELD]]
        out.append(dhcp6.encode_ia_na(ia.iaid, config.lease_renewal, t2, addresses))
    return out


def _reply(x: _Exchange, mtype: MessageType, options: list[bytes], what: str) -> Decision:
    mac = _ifmac(x.inbound)
    src = ndp.link_local(mac)
    payload = dhcp6.build_dhcp6(mtype, x.request.xid, options)
    packet = build_udp6(src, x.src, dhcp6.SERVER_PORT, dhcp6.CLIENT_PORT, payload)
    frame = build_ether(x.inbound.hwsrc or x.binding.mac, mac, EtherType.IPV6, packet)
    return Decision(
        Verdict.DROP,
        mtype.name.lower(),
        f"{x.who()}: {mtype.name} {what}".rstrip(),
        (Frame(x.inbound.tap, frame),),
    )


def _address_text(binding: Binding) -> str:
    ours = address6(binding)
    return str(ours) if ours is not None else "no address"


def _solicit(x: _Exchange) -> Decision:
    options = _common(x) + _ia_options(x)
    if x.request.first(Option.RAPID_COMMIT) is not None:
        # RFC 8415 18.3.1: with Rapid Commit the Reply commits the lease at once.
        options.append(dhcp6.encode_option(Option.RAPID_COMMIT, b""))
        return _reply(x, MessageType.REPLY, options, f"{_address_text(x.binding)} (rapid)")
    # Preference 255: the client may take this offer without waiting for others (18.2.1).
    options.append(dhcp6.encode_option(Option.PREFERENCE, b"\xff"))
    return _reply(x, MessageType.ADVERTISE, options, _address_text(x.binding))


def _lease(x: _Exchange) -> Decision:
    """Request, Renew and Rebind all get the binding's address with fresh lifetimes."""
    return _reply(x, MessageType.REPLY, _common(x) + _ia_options(x), _address_text(x.binding))


def _confirm(x: _Exchange) -> Decision:
    """RFC 8415 18.3.3: are the client's addresses still on this link?"""
    held = [
        a
        for raw in x.request.options.get(Option.IA_NA, [])
        for a in dhcp6.parse_ia_na(raw).addresses
    ]
    if not held:
        return Decision(Verdict.DROP, "confirm", f"{x.who()}: no addresses to confirm")
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
    return Decision(decision.verdict, "decline", decision.reason, decision.frames)


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
#: RFC 8415 section 16: these must name the server they are for.
_UNSPECIFIED = bytes(16)
#: RFC 8415 16.2, 16.5, 16.8: discarded when they name a server.
_NO_SERVER_ID = frozenset({MessageType.SOLICIT, MessageType.CONFIRM, MessageType.REBIND})
_NEED_SERVER_ID = frozenset(
    {MessageType.REQUEST, MessageType.RENEW, MessageType.RELEASE, MessageType.DECLINE}
)
