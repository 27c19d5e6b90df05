"""Migration from GRNET nfdhcpd 0.17 (issue 10): its own nfdhcpd.conf and bindings as
snf-network and gnt-networking write them are served as GRNET served them.

- The config is `nfdhcpd.conf` of github.com/grnet/nfdhcpd at tag 0.17 (commit d2a50d8),
  byte for byte (fixtures/grnet-0.17-nfdhcpd.conf), with only its three paths moved
  into the test's directory. It still has `enable_dhcpv6 = yes`, which 0.17 ignored.
- The bindings are written as snf-network's `setup_nfdhcpd` (common.sh) writes them:
  INDEV, IP, MAC, HOSTNAME=<instance>, TAGS="<network tags>", GATEWAY, SUBNET,
  GATEWAY6, SUBNET6, EUI64 in that order, unquoted except TAGS, empty values bare
  (`GATEWAY6=` for a network without an IPv6 gateway). gnt-networking's version puts
  its NFDHCPD_STATE_EXTRA text (an admin's extra keys, such as `PRIVATE=1`; an empty
  line when unset) in front.
- What GRNET answered, from its vm_net_proxy.py: a DISCOVER gets yiaddr = IP, options
  hostname (12), domain (15, the config's `domain`), broadcast (28), mask (1),
  renewal (58, lease_renewal), lease (51, lease_lifetime), router (3, GATEWAY, unless
  PRIVATE is non-empty), DNS (6, the config's nameservers), server id (54,
  server_ip); a MAC other than MAC is answered when MACSPOOF is non-empty. Its RAs
  carry router lifetime 14400 whatever GATEWAY6 holds, and the SUBNET6 prefix
  (autonomous), so a SLAAC VM gets its EUI-64 address and a default route via the
  link-local address of the TAP's MAC.
"""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Interface, IPv6Network
from pathlib import Path

import pytest

from . import netns
from .leases import assert_applied, assert_lease
from .netns import DaemonDirs, Lease

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).parent / "fixtures"
QUEUES = (42, *netns.QUEUES6)
#: From GRNET 0.17's nfdhcpd.conf.
SERVER_ID = IPv4Address("192.0.2.1")
DNS = (IPv4Address("192.0.2.2"), IPv4Address("192.0.2.3"))
DOMAIN = "example.com"
LEASE_TIME = 604800
RENEWAL_TIME = 3600
TAGS = "nfdhcpd ip-less-routed"


def grnet_017_config(dirs: DaemonDirs) -> str:
    text = (FIXTURES / "grnet-0.17-nfdhcpd.conf").read_text()
    assert "enable_dhcpv6 = yes" in text and "mode" not in text
    return dirs.grnet_paths(text)


def snf_network_binding(
    vm: netns.VM, index: int, *, mac: str | None = None, extra: str | None = None
) -> str:
    """The binding file snf-network's setup_nfdhcpd writes for a routed NIC on a
    network with an IPv6 subnet but no IPv6 gateway; `extra` is gnt-networking's
    NFDHCPD_STATE_EXTRA (its first line; an empty line when unset)."""
    net = netns.network_for(index)
    prefix = IPv6Network(f"2001:db8:{index:x}::/64")
    mac = mac or vm.mac
    lines = [
        f"INDEV={vm.tap}",
        f"IP={net[10]}",
        f"MAC={mac}",
        f"HOSTNAME=instance{index}",
        f'TAGS="{TAGS}"',
        f"GATEWAY={net[1]}",
        f"SUBNET={net}",
        "GATEWAY6=",
        f"SUBNET6={prefix}",
        f"EUI64={netns.eui64(prefix, mac)}",
    ]
    head = [] if extra is None else [extra]
    return "".join(f"{line}\n" for line in [*head, *lines])


def grnet_lease(index: int, *, router: bool = True) -> Lease:
    net = netns.network_for(index)
    return Lease(
        address=IPv4Interface(f"{net[10]}/{net.prefixlen}"),
        routers=(net[1],) if router else (),
        dns=DNS,
        domain=DOMAIN,
        search=(),
        hostname=f"instance{index}",
        mtu=None,
        lease_time=LEASE_TIME,
        server_id=SERVER_ID,
    )


@pytest.fixture(scope="module")
def grnet_hv(e2e_ready: None) -> Iterator[tuple[netns.Hypervisor, netns.Daemon]]:
    with netns.hypervisor("routed", label="hv-grnet") as hv:
        hv.add_ipv6_rules("routed")
        daemon = hv.start_daemon(grnet_017_config, queues=QUEUES)
        yield hv, daemon
        log = daemon.log()
        assert daemon.stop() == 0, log[-3000:]
        assert "Traceback" not in log, log


def test_routed_vm_without_gateway6_gets_grnets_answers_and_a_default_route(
    grnet_hv: tuple[netns.Hypervisor, netns.Daemon],
) -> None:
    hv, daemon = grnet_hv
    vm = hv.add_vm("tap1", netns.mac_for(1), create_link=False)
    daemon.write_binding("tap1", snf_network_binding(vm, 1, extra=""))
    netns.wait_for(lambda: "binding tap1 loaded" in daemon.log(), timeout=5, what="binding")
    hv.create_link(vm)

    # IPv6 first: the VM's kernel solicits as its link comes up.
    prefix = IPv6Network("2001:db8:1::/64")
    vm.wait_address6(netns.eui64(prefix, vm.mac))
    routes = netns.wait_for(vm.default_routes6, timeout=5, what="an IPv6 default route")
    router = netns.link_local(hv.mac("tap1"))
    assert [(r.gateway, r.dev, r.protocol) for r in routes] == [(router, "eth0", "ra")], routes
    # The route is real: the TAP's link-local address resolves (nfdhcpd's proxy NA).
    assert vm.ndisc6(router) == hv.mac("tap1")

    expected = grnet_lease(1)
    runs = [vm.udhcpc(), vm.dhclient()]
    for run in runs:
        assert_lease(run, expected)
    assert_applied(runs[1], expected)
    env = runs[1].env
    assert env.get("new_dhcp_renewal_time") == str(RENEWAL_TIME), runs[1].describe()
    assert env.get("new_broadcast_address") == str(netns.network_for(1).broadcast_address)
    assert TAGS in daemon.log()  # the TAGS are kept and logged with the binding


def test_gnt_networking_private_flag_as_grnet_read_it(
    grnet_hv: tuple[netns.Hypervisor, netns.Daemon],
) -> None:
    """PRIVATE=1 (any non-empty value for GRNET): no router option."""
    hv, daemon = grnet_hv
    vm = hv.add_vm("tap2", netns.mac_for(2))
    daemon.write_binding("tap2", snf_network_binding(vm, 2, extra="PRIVATE=1"))
    netns.wait_for(lambda: "binding tap2 loaded" in daemon.log(), timeout=5, what="binding")
    assert_lease(vm.udhcpc(), grnet_lease(2, router=False))


def test_gnt_networking_macspoof_flag_as_grnet_read_it(
    grnet_hv: tuple[netns.Hypervisor, netns.Daemon],
) -> None:
    """MACSPOOF=enabled (GRNET: any non-empty value): a VM using another MAC is served,
    and the binding loads with one warning line saying how the value was read."""
    hv, daemon = grnet_hv
    vm = hv.add_vm("tap3", netns.mac_for(3))
    other = netns.mac_for(3, prefix="52:54:00:aa")
    daemon.write_binding("tap3", snf_network_binding(vm, 3, mac=other, extra="MACSPOOF=enabled"))
    netns.wait_for(lambda: "binding tap3 loaded" in daemon.log(), timeout=5, what="binding")
    assert_lease(vm.udhcpc(), grnet_lease(3))
    warnings = [
        line for line in daemon.log().splitlines() if " WARNING " in line and "tap3" in line
    ]
    assert len(warnings) == 1 and "MACSPOOF" in warnings[0], warnings
