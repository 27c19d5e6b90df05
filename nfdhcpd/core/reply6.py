"""IPv6 replies: Router Advertisements, proxy Neighbor Advertisements, DHCPv6.

Every reply comes from the link-local address derived from the MAC we answer from
(RFC 4861 6.1.2 requires RAs from a link-local source), so the host needs no IPv6
address on the TAP. The VM's own IPv6 address is the binding's IP6, else EUI64,
else the modified EUI-64 of its MAC in a /64 SUBNET6.
"""

from __future__ import annotations

from ipaddress import IPv6Address

from . import ndp
from .binding import Binding
from .config import Config
from .decision import Decision, Frame, Inbound, Verdict, no_ifmac
from .effective import Effective, resolve
from .events import Event
from .frames import EtherType, build_ether, build_icmp6, parse_ipv6
from .ndp import ALL_NODES, UNSPECIFIED, Prefix

#: RFC 4861 section 6.2.1 defaults for the prefix lifetimes (30 and 7 days).
VALID_LIFETIME = 2592000
PREFERRED_LIFETIME = 604800
#: A renumbered-away prefix: preferred lifetime 0 (new connections use the new
#: address at once) and two hours valid, the least a host honours without
#: authentication (RFC 4862 5.5.3 e), so its old address goes with them (RFC 8978).
DEPRECATED_VALID_LIFETIME = 7200
#: RFC 8200 5: the IPv6 minimum link MTU. Hosts ignore a smaller MTU option (RFC 4861
#: 6.3.4), so advertising one only misleads; and no reply of ours is larger.
MIN_MTU6 = 1280


def router_address(binding: Binding, mac: bytes) -> bytes:
    """The router's link-local address, the RAs' source (RFC 4861 6.1.2): a link-local
    GATEWAY6 (routed hosting's fe80::1), else the one formed from the MAC we answer
    from, so that the host needs no IPv6 address on the TAP."""
    gateway = binding.gateway6
    if gateway is not None and gateway.is_link_local:
        return gateway.packed
    return ndp.link_local(mac)


def address6(binding: Binding) -> IPv6Address | None:
    if binding.ip6 is not None:
        return binding.ip6
    if binding.eui64 is not None:
        return binding.eui64
    if binding.subnet6 is not None and binding.subnet6.prefixlen == 64:
        return ndp.eui64_address(binding.subnet6, binding.mac)
    return None


def _flags(binding: Binding, config: Config) -> tuple[bool, bool, bool]:
    """(M, O, A) for the binding, by `[ipv6] mode` (README: "IPv6").

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


def router_advertisement(
    binding: Binding, config: Config, effective: Effective, mac: bytes
) -> bytes:
    """The RA message for `binding`, sent from MAC `mac` (ICMPv6, checksum zero)."""
    managed, other, autonomous = _flags(binding, config)
    prefixes = []
    subnet = binding.subnet6
    if subnet is not None:
        # RFC 6275 7.2: with R set the prefix field carries the router's full address,
        # which must then lie in the prefix; a link-local router is the RA's source.
        gateway = binding.gateway6
        inside = gateway if gateway is not None and gateway in subnet else None
        prefixes.append(Prefix(subnet, autonomous, VALID_LIFETIME, PREFERRED_LIFETIME, inside))
    for old in binding.deprecated6:
        # A (the address was formed by SLAAC) so that the host updates its lifetimes.
        prefixes.append(Prefix(old, old.prefixlen == 64, DEPRECATED_VALID_LIFETIME, 0))
    return ndp.build_ra(
        mac=mac,
        managed=managed,
        other=other,
        router_lifetime=effective.router_lifetime,
        prefixes=prefixes,
        mtu=binding.mtu if binding.mtu is not None and binding.mtu >= MIN_MTU6 else None,
        dns=effective.dns6,
        domains=effective.domains6,
        dns_lifetime=3 * config.ra_period,  # RFC 8106 5.1: at least MaxRtrAdvInterval
    )


def unsolicited_ra(binding: Binding, config: Config, mac: bytes) -> Frame | None:
    """The periodic RA to all nodes on the binding's TAP; None without SUBNET6."""
    if binding.subnet6 is None:
        return None
    src = router_address(binding, mac)
    message = router_advertisement(binding, config, resolve(binding, config), mac)
    packet = build_icmp6(src, ALL_NODES, ndp.ND_HOP_LIMIT, message)
    frame = build_ether(ndp.multicast_mac(ALL_NODES), mac, EtherType.IPV6, packet)
    return Frame(binding.name, frame)


def serve_rs(inbound: Inbound, binding: Binding, config: Config, effective: Effective) -> Decision:
    """RFC 4861 6.2.6: a solicited RA, here unicast to the soliciting VM only."""
    rs = ndp.parse_rs(parse_ipv6(inbound.payload))
    if binding.subnet6 is None:  # the Responder passes these on before parsing
        return Decision(
            Verdict.ACCEPT, Event.NO_SUBNET6, f"{inbound.tap}: RS, binding has no SUBNET6"
        )
    who = f"{inbound.tap}: RS from {IPv6Address(rs.src)}"
    mac = inbound.ifmac
    if mac is None:
        return no_ifmac(who, inbound.indev)
    dst = rs.src if rs.src != UNSPECIFIED else ALL_NODES
    src = router_address(binding, mac)
    message = router_advertisement(binding, config, effective, mac)
    packet = build_icmp6(src, dst, ndp.ND_HOP_LIMIT, message)
    frame = build_ether(inbound.hwsrc or binding.mac, mac, EtherType.IPV6, packet)
    return Decision(
        Verdict.DROP,
        Event.RA,
        f"{who}: RA {binding.subnet6} to {IPv6Address(dst)}",
        (Frame(inbound.tap, frame),),
    )


def serve_ns(inbound: Inbound, binding: Binding, config: Config) -> Decision:
    """Proxy NA for the gateway and, on routed TAPs, the subnet's other addresses.

    Never for the VM's own address (its DAD must succeed), and in a bridge only for the
    router itself: the other VMs on the bridge answer for themselves.
    """
    ns = ndp.parse_ns(parse_ipv6(inbound.payload))
    target = IPv6Address(ns.target)
    who = f"{inbound.tap}: NS from {IPv6Address(ns.src)} for {target}"
    mac = inbound.ifmac
    if mac is None:
        return no_ifmac(who, inbound.indev)
    router = ns.target == ndp.link_local(mac) or target == binding.gateway6
    if target == address6(binding):
        return Decision(Verdict.ACCEPT, Event.NS_OWN, f"{who}: the VM's own address")
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
        return Decision(Verdict.ACCEPT, Event.NS_OTHER, f"{who}: not ours to answer")
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
        Verdict.DROP, Event.NA, f"{who}: NA ({kind}) {mac.hex(':')}", (Frame(inbound.tap, frame),)
    )
