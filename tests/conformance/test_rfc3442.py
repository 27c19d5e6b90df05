"""RFC 3442, The Classless Static Route Option for DHCPv4 (option 121)."""

from __future__ import annotations

import json
from ipaddress import IPv4Address
from typing import Any

import pytest

from ..e2e.site import Site
from .guest import guest, raw_options4

pytestmark = pytest.mark.e2e


def routes121(value: bytes) -> list[tuple[str, str]]:
    """Section 3's encoding, by hand: [("net/len", "router"), ...] in wire order."""
    out, pos = [], 0
    while pos < len(value):
        width = value[pos]
        octets = (width + 7) // 8
        dest = value[pos + 1 : pos + 1 + octets] + bytes(4 - octets)
        router = value[pos + 1 + octets : pos + 5 + octets]
        out.append((f"{IPv4Address(dest)}/{width}", str(IPv4Address(router))))
        pos += 5 + octets
    return out


def off_link(site: Site) -> dict[str, Any]:
    """A binding whose GATEWAY is outside SUBNET, with ROUTES via that gateway."""
    index = site.serial + 1
    gateway = f"172.31.{index}.1"
    return {
        "gateway": gateway,
        "extra": {"ROUTES": f"10.200.0.0/16 via {gateway}, 10.201.4.0/24 via {gateway}"},
    }


def option121(site: Site, **fields: Any) -> tuple[object, list[tuple[str, str]]]:
    g = guest(site, v6=False, **fields)
    (offer,) = g.ask4(g.dhcp4("discover", options=[("param_req_list", [1, 3, 121])]))
    value = b"".join(v for code, v in raw_options4(offer) if code == 121)
    return g, routes121(value)


def test_3_on_link_host_route_precedes_the_routes_through_it(site: Site) -> None:
    """3: a router must be reachable when its route is installed; Debian's rfc3442 hook
    adds routes in option order and skips those whose router is unreachable. So the
    on-link /32 to an off-link gateway (router 0.0.0.0) first, then routes via it,
    the default last."""
    fields = off_link(site)
    gateway = str(fields["gateway"])
    _, routes = option121(site, **fields)
    assert routes == [
        (f"{gateway}/32", "0.0.0.0"),
        ("10.200.0.0/16", gateway),
        ("10.201.4.0/24", gateway),
        ("0.0.0.0/0", gateway),
    ]


def test_2_default_route_is_repeated_in_option_121(site: Site) -> None:
    """2: 'If the DHCP server returns both a Classless Static Routes option and a Router
    option, the DHCP client MUST ignore the Router option': the default goes in 121."""
    g, routes = option121(site, extra={"ROUTES": "10.200.0.0/16 via 10.64.0.254"})
    assert ("0.0.0.0/0", str(g.binding.gateway)) in routes  # type: ignore[attr-defined]


def test_3_destination_encoding_uses_only_significant_octets(site: Site) -> None:
    """3: a /24 takes 3 destination octets, a /16 two, a /9 two, /0 none."""
    _, routes = option121(
        site, extra={"ROUTES": "10.128.0.0/9 via 10.64.0.254, 10.201.4.0/24 via 10.64.0.254"}
    )
    wanted = [("10.128.0.0/9", "10.64.0.254"), ("10.201.4.0/24", "10.64.0.254")]
    assert [r for r in routes if r in wanted] == wanted, routes


def test_real_dhclient_rfc3442_hook_installs_every_route(site: Site) -> None:
    """ISC dhclient with Debian's dhclient-exit-hooks.d/rfc3442-classless-routes: every
    route of option 121 ends up in the VM's routing table."""
    fields = off_link(site)
    gateway = str(fields["gateway"])
    g = guest(site, v6=False, **fields)
    run = g.vm.dhclient()
    assert run.rundir is not None and run.lease is not None, run.describe()
    table = json.loads((run.rundir / "route.json").read_text())
    got = {(r["dst"], r.get("gateway")) for r in table}
    assert {
        (gateway, None),
        ("10.200.0.0/16", gateway),
        ("10.201.4.0/24", gateway),
        ("default", gateway),
    } <= got, table
