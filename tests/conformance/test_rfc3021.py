"""RFC 3021, Using 31-Bit Prefixes on IPv4 Point-to-Point Links (and /32 host routes).

On a /31 both addresses are hosts: there is no broadcast address, so option 28 would
name the peer (the gateway). dhclient-script then sets that as the interface's broadcast
address and fails to add the default route through it.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any

import pytest

from ..e2e.site import Site
from .guest import guest, options4, raw_options4

pytestmark = pytest.mark.e2e


def p2p(site: Site, prefixlen: int) -> dict[str, Any]:
    """Binding fields for a /31 (gateway = the peer) or a /32 (gateway off-link)."""
    index = site.serial + 1
    base = IPv4Address(f"100.64.{index}.0")
    if prefixlen == 31:
        return {"ip": str(base), "subnet": f"{base}/31", "gateway": str(base + 1)}
    return {"ip": str(base + 5), "subnet": f"{base + 5}/32", "gateway": str(base + 1)}


@pytest.mark.parametrize("prefixlen", [31, 32])
def test_2_2_broadcast_option_on_31_or_32_is_the_limited_broadcast(
    site: Site, prefixlen: int
) -> None:
    """3021 2.2: 'the limited broadcast address MUST be used' for link broadcast on a /31:
    the prefix has no directed broadcast address. Option 28 says so: 255.255.255.255,
    never the peer. (Left out, ISC dhclient computes it from the mask, the peer again,
    and cannot route through it: the real-client test below.)"""
    g = guest(site, v6=False, **p2p(site, prefixlen))
    (offer,) = g.ask4(g.dhcp4("discover", options=[("param_req_list", [1, 3, 28])]))
    values = [value for code, value in raw_options4(offer) if code == 28]
    assert values == [b"\xff\xff\xff\xff"], options4(offer)


def test_2_mask_and_router_on_a_31(site: Site) -> None:
    """On a /31 the mask is 255.255.255.254 and the router the other address."""
    fields = p2p(site, 31)
    g = guest(site, v6=False, **fields)
    (offer,) = g.ask4(g.dhcp4("discover"))
    opts = options4(offer)
    assert (opts["subnet_mask"], opts["router"]) == ("255.255.255.254", fields["gateway"])


def test_2_real_dhclient_configures_a_31_and_its_default_route(site: Site) -> None:
    """ISC dhclient with Debian's dhclient-script: the /31 address and a default route
    via the peer, read back from the VM's kernel."""
    fields = p2p(site, 31)
    g = guest(site, v6=False, **fields)
    run = g.vm.dhclient()
    assert run.applied is not None, run.describe()
    assert run.applied.addresses == (IPv4Interface(f"{fields['ip']}/31"),), run.describe()
    assert run.applied.default_gateway == IPv4Address(fields["gateway"]), run.describe()
    assert IPv4Network(fields["subnet"]).num_addresses == 2
