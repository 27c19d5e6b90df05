"""RFC 4862, IPv6 Stateless Address Autoconfiguration, with the VM's own Linux kernel
as the host (and RFC 8978, reaction of SLAAC to flash-renumbering events)."""

from __future__ import annotations

from ipaddress import IPv6Address, IPv6Interface, IPv6Network

import pytest
from scapy.layers.inet6 import ICMPv6ND_RA, ICMPv6NDOptPrefixInfo

from ..e2e import netns
from ..e2e.site import Site
from .guest import guest

pytestmark = pytest.mark.e2e

#: RFC 4861 6.2.1 AdvValidLifetime / AdvPreferredLifetime defaults.
VALID_LIFETIME = 2592000
PREFERRED_LIFETIME = 604800
#: RFC 4862 5.5.3 (e): a host keeps a valid lifetime of at least two hours.
TWO_HOURS = 7200


def prefix_options(packets: list[object]) -> list[ICMPv6NDOptPrefixInfo]:
    out = []
    for pkt in packets:
        if ICMPv6ND_RA in pkt:  # type: ignore[operator]
            layer = pkt[ICMPv6ND_RA].payload  # type: ignore[index]
            while layer:
                if isinstance(layer, ICMPv6NDOptPrefixInfo):
                    out.append(layer)
                layer = layer.payload
    return out


def test_5_5_3_prefix_lifetimes_are_the_rfc_4861_defaults(site: Site) -> None:
    """5.5.3 takes the lifetimes from the Prefix Information option; the daemon sends
    RFC 4861 6.2.1's defaults: valid 30 days, preferred 7 days."""
    g = guest(site)
    (info,) = prefix_options(g.ask(g.rs(), count=1))
    assert (info.validlifetime, info.preferredlifetime) == (VALID_LIFETIME, PREFERRED_LIFETIME)


def test_5_5_3_kernel_forms_the_eui64_address_and_default_route(site: Site) -> None:
    """5.5.3 (d): the VM's kernel forms prefix + interface identifier; with GATEWAY6
    in SUBNET6 the default route goes to the RA's source."""
    g = guest(site, link=False, sysctls6={"router_solicitations": "3"})
    site.hv.create_link(g.vm)
    subnet = IPv6Network(g.binding.extra["SUBNET6"])
    address = netns.eui64(subnet, g.mac)
    assert g.vm.wait_address6(address).interface == IPv6Interface(f"{address}/64")
    routes = netns.wait_for(g.vm.default_routes6, timeout=10, what="a default route")
    assert [r.gateway for r in routes] == [g.router_link_local]


def test_5_5_3_kernel_slaac_with_a_link_local_gateway6(site: Site) -> None:
    """Routed hosting's GATEWAY6=fe80::1: the VM's kernel forms its global address in
    SUBNET6 and routes by default via fe80::1 (the router's link-local, 6.3.4 of
    RFC 4861), from its own solicitations."""
    g = guest(
        site, link=False, sysctls6={"router_solicitations": "3"}, extra={"GATEWAY6": "fe80::1"}
    )
    site.hv.create_link(g.vm)
    subnet = IPv6Network(g.binding.extra["SUBNET6"])
    address = netns.eui64(subnet, g.mac)
    got = g.vm.wait_address6(address, timeout=10)
    assert got.interface == IPv6Interface(f"{address}/64")
    assert "dadfailed" not in got.flags
    routes = netns.wait_for(g.vm.default_routes6, timeout=10, what="a default route")
    assert [r.gateway for r in routes] == [IPv6Address("fe80::1")]


def test_5_5_3_e_old_prefix_is_deprecated_after_subnet6_changes(site: Site) -> None:
    """RFC 8978 3 and RFC 4862 5.5.3 (c, e): after SUBNET6 changes, the old prefix is
    advertised with preferred lifetime 0 (new connections use the new address at once)
    and a short valid lifetime, so the VM's kernel deprecates its old address instead of
    preferring it for 7 more days."""
    g = guest(site)
    old_subnet = IPv6Network(g.binding.extra["SUBNET6"])
    old = netns.eui64(old_subnet, g.mac)
    g.ask(g.rs(), count=1)  # the kernel takes the RA addressed to its link-local
    g.vm.wait_address6(old)
    new_subnet = IPv6Network(f"2001:db8:f{site.serial:x}::/64")
    g.rebind(extra={"SUBNET6": str(new_subnet), "GATEWAY6": str(new_subnet[1])})
    infos = prefix_options(g.ask(g.rs(), count=1))
    by_prefix = {IPv6Network(f"{i.prefix}/{i.prefixlen}", strict=False): i for i in infos}
    assert set(by_prefix) == {old_subnet, new_subnet}, infos
    stale = by_prefix[old_subnet]
    assert stale.preferredlifetime == 0
    assert 0 < stale.validlifetime <= TWO_HOURS
    assert by_prefix[new_subnet].preferredlifetime == PREFERRED_LIFETIME
    netns.wait_for(
        lambda: any(a.interface.ip == old and "deprecated" in a.flags for a in g.vm.addresses6()),
        timeout=5,
        what=f"{old} deprecated",
    )
    g.vm.wait_address6(netns.eui64(new_subnet, g.mac))
