"""Scope (issue 10): nothing nfdhcpd does not answer is dropped or delayed.

The NFQUEUE rules divert every TAP's solicitations, served or not. A VM nfdhcpd does
not serve must see its link as if nfdhcpd did not exist:

- an unbound bridged VM's Neighbor Solicitations all reach its neighbour, however
  fast it sends them (the per-TAP rate limit is only for bound TAPs);
- a bound VM whose binding has no SUBNET6 gets its IPv6 from whoever else serves the
  bridge: a real radvd answers its Router Solicitation (radvd here sends no unsolicited
  RA at all, `UnicastOnly on`, so only a solicited answer can configure the VM) and a
  real dnsmasq answers its DHCPv6 Information-Request.

The neighbour counts what reaches it with an nftables counter on its own ingress, in
the kernel: no user-space receiver that could miss packets.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import sys
from collections.abc import Iterator
from ipaddress import IPv6Address, IPv6Interface, IPv6Network

import pytest

from . import netns
from .leases import resolv_conf
from .site import Site, unavailable

pytestmark = pytest.mark.e2e

QUEUES = (42, *netns.QUEUES6)
RS_QUEUE, NS_QUEUE, DHCPV6_QUEUE = netns.QUEUES6
#: Far above the default rate_limit (100/s, burst 200): the limit would cut most.
NS_COUNT = 600
#: The network the other router serves on the bridge, and what its DHCPv6 hands out.
OTHER_PREFIX = IPv6Network("2001:db8:77::/64")
OTHER_ROUTER = IPv6Interface("2001:db8:77::1/64")
OTHER_DNS6 = IPv6Address("2001:db8:77::53")
#: nfdhcpd's own DNS servers, so an answer from nfdhcpd would show.
OUR_DNS6 = "2001:db8:53::1"


@pytest.fixture(scope="module")
def bridge_site(e2e_ready: None) -> Iterator[Site]:
    missing = netns.missing_tools(("ip6tables", "nft", "radvd", "rdisc6", "dnsmasq"))
    if missing:
        unavailable(f"missing tools: {', '.join(missing)} (run scripts/setup)")
    with netns.hypervisor("bridged", label="hv-scope") as hv:
        hv.add_ipv6_rules("bridged")
        # The default rate limit (100/s, burst 200) on purpose: it must not matter here.
        config = functools.partial(
            netns.render_config,
            ipv6={"mode": "auto", "ra_period": "300", "nameservers": OUR_DNS6},
        )
        site = Site(hv, hv.start_daemon(config, queues=QUEUES), "bridged")
        yield site
        assert site.daemon.stop() == 0, site.daemon.log()[-3000:]


@pytest.fixture
def site(bridge_site: Site) -> Iterator[Site]:
    bridge_site.log_offset = len(bridge_site.daemon.log())
    try:
        yield bridge_site
        assert bridge_site.daemon.alive(), bridge_site.daemon.log()[bridge_site.log_offset :]
    finally:
        bridge_site.cleanup_test()


def count_ingress_ns(vm: netns.VM) -> None:
    """An nftables counter of the Neighbor Solicitations arriving on the VM's eth0."""
    rules = f"""
table netdev nfdt_scope {{
    chain ingress {{
        type filter hook ingress device "{vm.ifname}" priority 0;
        icmpv6 type nd-neighbor-solicit counter
    }}
}}
"""
    netns.run(["ip", "netns", "exec", vm.ns, "nft", "-f", "-"], stdin=rules)


def ingress_ns_packets(vm: netns.VM) -> int:
    listing = vm.exec("nft", "list", "table", "netdev", "nfdt_scope").stdout
    found = re.search(r"counter packets (\d+)", listing)
    assert found, listing
    return int(found.group(1))


#: Sends `count` Neighbor Solicitations for `target` from eth0 in one burst (scapy
#: builds them; one sendp call, no pacing), as a VM resolving a neighbour in a loop.
_NS_SENDER = """
import sys
from scapy.layers.inet6 import IPv6, ICMPv6ND_NS, ICMPv6NDOptSrcLLAddr, in6_getnsma, in6_getnsmac
from scapy.layers.l2 import Ether
from scapy.sendrecv import sendp
from scapy.pton_ntop import inet_pton
import socket
iface, mac, src, target, count = sys.argv[1:6]
group = socket.inet_ntop(socket.AF_INET6, in6_getnsma(inet_pton(socket.AF_INET6, target)))
frame = (
    Ether(src=mac, dst=in6_getnsmac(inet_pton(socket.AF_INET6, group)))
    / IPv6(src=src, dst=group, hlim=255)
    / ICMPv6ND_NS(tgt=target)
    / ICMPv6NDOptSrcLLAddr(lladdr=mac)
)
sendp([frame] * int(count), iface=iface, verbose=False)
"""


def test_ns_burst_from_an_unbound_bridged_vm_all_reach_the_neighbour(site: Site) -> None:
    sender = site.vm()
    neighbour = site.vm()
    count_ingress_ns(neighbour)
    target = neighbour.wait_link_local().interface.ip
    source = sender.wait_link_local().interface.ip
    queued_before = site.hv.queue_stats()[NS_QUEUE].id_sequence
    before = ingress_ns_packets(neighbour)

    sender.exec(
        sys.executable, "-c", _NS_SENDER, sender.ifname, sender.mac, str(source), str(target),
        str(NS_COUNT), timeout=60,
    )  # fmt: skip

    def arrived() -> int:
        return ingress_ns_packets(neighbour) - before

    with contextlib.suppress(TimeoutError):
        netns.wait_for(lambda: arrived() >= NS_COUNT, timeout=10, what=f"{NS_COUNT} NS")
    assert arrived() == NS_COUNT, f"{arrived()} of {NS_COUNT} NS reached the neighbour"
    # Each went through nfdhcpd's queue (no bypass while it runs) and was passed on.
    assert site.hv.queue_stats()[NS_QUEUE].id_sequence - queued_before >= NS_COUNT
    assert "rate-limited" not in site.daemon.log()[site.log_offset :]


def start_other_router(site: Site) -> tuple[netns.Process, IPv6Address]:
    """A router namespace on br0 (its port is no TAP: no rule matches its packets),
    running radvd that only answers solicitations, and dnsmasq as stateless DHCPv6."""
    hv = site.hv
    ns = f"{hv.name}-rtr"
    netns.run(["ip", "netns", "add", ns])
    hv._cleanup.callback(netns.run, ["ip", "netns", "delete", ns], check=False)
    hv.ip("link", "add", "rtrport", "type", "veth", "peer", "name", "eth0", "netns", ns)
    hv.ip("link", "set", "rtrport", "master", "br0")
    hv.ip("link", "set", "rtrport", "up")
    netns.run(["ip", "-n", ns, "link", "set", "lo", "up"])
    netns.run(["ip", "-n", ns, "link", "set", "eth0", "up"])
    netns.run(["ip", "-n", ns, "addr", "add", str(OTHER_ROUTER), "dev", "eth0", "nodad"])
    netns.run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1"])
    conf = hv.workdir / "radvd.conf"
    conf.write_text(
        "interface eth0 {\n"
        "    AdvSendAdvert on;\n"
        "    UnicastOnly on;\n"  # no unsolicited RAs: only an RS that got through is answered
        "    AdvRASolicitedUnicast on;\n"
        "    AdvDefaultLifetime 1800;\n"
        "    AdvOtherConfigFlag on;\n"
        f"    prefix {OTHER_PREFIX} {{ AdvOnLink on; AdvAutonomous on; }};\n"
        "};\n"
    )
    radvd = hv.spawn(
        "radvd",
        ["radvd", "-n", "-m", "stderr", "-C", str(conf), "-p", str(hv.workdir / "radvd.pid")],
        ns=ns,
    )
    dnsmasq = hv.spawn(
        "dnsmasq6",
        [
            "dnsmasq",
            "--no-daemon",
            "--conf-file=/dev/null",
            "--port=0",
            "--log-dhcp",
            "--leasefile-ro",
            "--interface=eth0",
            "--bind-interfaces",
            "--dhcp-range=::,static",  # Information-Requests only; no RA from dnsmasq
            f"--dhcp-option=option6:dns-server,[{OTHER_DNS6}]",
        ],
        ns=ns,
    )
    netns.wait_for(
        lambda: radvd.alive() and dnsmasq.alive() and "DHCPv6" in dnsmasq.log(),
        timeout=10,
        what="radvd and dnsmasq",
    )
    info = json.loads(netns.run(["ip", "-n", ns, "-j", "link", "show", "eth0"]).stdout)
    return radvd, netns.link_local(str(info[0]["address"]))


def test_bound_vm_without_subnet6_reaches_the_real_router(site: Site) -> None:
    radvd, router = start_other_router(site)
    # Control: an unbound VM is configured by radvd (the setup works without nfdhcpd).
    control = site.vm()
    control.wait_address6(netns.eui64(OTHER_PREFIX, control.mac))
    assert str(OTHER_DNS6) in resolv_conf(control.dhclient6(stateless=True))[0]

    vm = site.vm(link=False)
    # IPv4 only, as snf-network writes it for a network without IPv6.
    binding = site.binding(vm, extra={"SUBNET6": "", "GATEWAY6": "", "EUI64": ""})
    site.daemon.write_binding(vm.tap, binding)
    netns.wait_for(
        lambda: f"binding {vm.tap} loaded" in site.daemon.log()[site.log_offset :],
        timeout=5,
        what="the binding to load",
    )
    rs_before = site.hv.queue_stats()[RS_QUEUE].id_sequence
    site.hv.create_link(vm)

    # The VM's own kernel solicits when its link comes up; radvd's answer configures it.
    address = netns.eui64(OTHER_PREFIX, vm.mac)
    vm.wait_address6(address)
    routes = netns.wait_for(vm.default_routes6, timeout=5, what="an IPv6 default route")
    assert [(r.gateway, r.dev) for r in routes] == [(router, vm.ifname)], routes
    assert site.hv.queue_stats()[RS_QUEUE].id_sequence > rs_before, "no RS went through"
    assert radvd.alive()

    # Stateless DHCPv6: dnsmasq's DNS server, not nfdhcpd's.
    run = vm.dhclient6(stateless=True)
    nameservers, _search = resolv_conf(run)
    assert str(OTHER_DNS6) in nameservers, run.describe()
    assert OUR_DNS6 not in nameservers, run.describe()
