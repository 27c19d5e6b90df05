"""IPv6 end to end: the VMs' own kernels and real clients against nfdhcpd's RAs, proxy
NAs and DHCPv6, with the ip6tables rules of README "iptables rules".

Most tests run twice: on a routed TAP (`-i tap+`, INDEV = the TAP) and a bridged one
(`-m physdev --physdev-in tap+`, INDEV = br0). nfdhcpd answers from the link-local
address formed from the TAP's MAC (the bridge's when bridged): the hypervisor side has
no IPv6 address at all (`addrgenmode none`), so nothing else could answer.

The daemon of `site6` sends periodic RAs only every 300 s, so what configures a VM
there is its own Router Solicitation; `periodic6` has a 4 s period for a VM that never
solicits. Leases are 30 s with T1 = 4 s, so a stateful client renews within the test.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import time
from collections.abc import Iterator
from ipaddress import IPv6Address, IPv6Interface, IPv6Network
from pathlib import Path

import pytest

from . import netns
from .leases import resolv_conf
from .netns import BindingSpec, Mode, PrefixInfo, Route6, RouterAdvert
from .site import Site, serve_test, stop_site, unavailable

pytestmark = pytest.mark.e2e

RS_QUEUE, NS_QUEUE, DHCPV6_QUEUE = netns.QUEUES6
QUEUES = (42, *netns.QUEUES6)
DNS6 = (IPv6Address("2001:db8:53::1"), IPv6Address("2001:db8:53::2"))
DOMAINS6 = ("example.com", "example.org")
RA_PERIOD = 300
PERIODIC_RA_PERIOD = 4  # the smallest ra_period the config accepts
LEASE_LIFETIME = 30
LEASE_RENEWAL = 4
REBINDING_TIME = LEASE_LIFETIME * 7 // 8  # T2, README "IPv6"
#: RFC 4861 6.2.1 defaults the daemon puts in its Prefix Information option.
VALID_LIFETIME = 2592000
PREFERRED_LIFETIME = 604800
#: RDNSS/DNSSL lifetime of 3 x ra_period (RFC 8106 5.1).
LIFETIME = 3 * RA_PERIOD
#: RFC 4861 6.2.1's maximum AdvDefaultLifetime: the default route outlives 2.5 hours.
ROUTER_LIFETIME = 9000


# ----------------------------------------------------------------------------- helpers


@dataclasses.dataclass(frozen=True)
class Plan6:
    """A VM's IPv6 binding and what the VM should end up with."""

    binding: BindingSpec
    prefix: IPv6Network
    gateway: IPv6Address
    address: IPv6Address  # EUI64, or IP6 when stateful
    mtu: int
    hv: netns.Hypervisor
    router_dev: str  # the TAP, the bridge when bridged

    @property
    def router_mac(self) -> str:
        """The MAC nfdhcpd answers from (read when needed: the TAP may not exist yet)."""
        return self.hv.mac(self.router_dev)

    @property
    def router(self) -> IPv6Address:
        """The link-local address RAs come from and the default route points to."""
        return netns.link_local(self.router_mac)


def plan6(site: Site, vm: netns.VM, *, stateful: bool = False) -> Plan6:
    """GRNET's binding keys for `vm`: SUBNET6, GATEWAY6 and EUI64 (SLAAC), or IP6 for
    an address SLAAC cannot form (mode auto then advertises stateful DHCPv6)."""
    index = int(vm.tap.removeprefix("tap"))
    prefix = IPv6Network(f"2001:db8:{index:x}::/64")
    gateway = prefix[1]
    address = prefix[0x1000 + index] if stateful else netns.eui64(prefix, vm.mac)
    v6 = {"SUBNET6": str(prefix), "GATEWAY6": str(gateway)}
    v6["IP6" if stateful else "EUI64"] = str(address)
    binding = site.binding(vm, extra=v6)
    assert binding.mtu is not None
    router_dev = site.hv.bridge if site.bridged and site.hv.bridge else vm.tap
    return Plan6(binding, prefix, gateway, address, binding.mtu, site.hv, router_dev)


def wait_for_log(site: Site, pattern: str, *, timeout: float = 5.0) -> None:
    """Wait until this test's part of the daemon log matches; fail if it never does."""
    netns.wait_for(
        lambda: re.search(pattern, site.daemon.log()[site.log_offset :]),
        timeout=timeout,
        what=f"nfdhcpd to log {pattern!r}",
    )


def logged(site: Site, text: str) -> bool:
    """Whether this test's part of the daemon log has `text` (repeats of an event are
    logged at debug level only, so only the first of each kind is looked for)."""
    return text in site.daemon.log()[site.log_offset :]


def dhcpv6_queued(site: Site) -> int:
    """DHCPv6 packets the kernel has handed to the daemon's queue so far."""
    return site.hv.queue_stats()[DHCPV6_QUEUE].id_sequence


def bind_then_link(site: Site, vm: netns.VM, plan: Plan6) -> None:
    """Write the binding while the TAP is absent (so the RA sent when a binding appears
    cannot reach the VM), then create the link: what configures the VM afterwards is
    its own solicitation or a periodic RA."""
    site.daemon.write_binding(vm.tap, plan.binding)
    wait_for_log(site, rf"binding {vm.tap} loaded")
    site.hv.create_link(vm)


def assert_slaac(vm: netns.VM, plan: Plan6) -> None:
    """The kernel formed exactly the binding's EUI-64 address, DAD passed, and the
    default route points at the router's link-local address with the RA's MTU."""
    got = vm.wait_address6(plan.address)
    assert "dadfailed" not in got.flags and "tentative" not in got.flags, got
    assert got.interface == IPv6Interface(f"{plan.address}/64"), got
    globals_ = [a.interface for a in vm.addresses6() if a.scope == "global"]
    assert globals_ == [IPv6Interface(f"{plan.address}/64")], globals_
    routes = netns.wait_for(vm.default_routes6, timeout=5, what="an IPv6 default route")
    assert routes == (Route6("default", plan.router, vm.ifname, "ra", plan.mtu),)


def expected_ra(plan: Plan6, *, managed: bool) -> RouterAdvert:
    return RouterAdvert(
        managed=managed,
        other=True,  # mode auto: slaac+dhcpv6 (O) for an EUI-64, dhcpv6 (M, O) for IP6
        router_lifetime=ROUTER_LIFETIME,
        source_mac=plan.router_mac,
        mtu=plan.mtu,
        # With GATEWAY6 the prefix option carries the router's address and the R flag.
        prefixes=(
            PrefixInfo(
                IPv6Interface(f"{plan.gateway}/{plan.prefix.prefixlen}"),
                on_link=True,
                autonomous=not managed,
                valid=VALID_LIFETIME,
                preferred=PREFERRED_LIFETIME,
            ),
        ),
        rdnss=DNS6,
        rdnss_lifetime=LIFETIME,
        dnssl=DOMAINS6,
        dnssl_lifetime=LIFETIME,
        source=plan.router,
    )


def lease6_blocks(path: Path) -> list[str]:
    """The `lease6 { ... }` blocks of a dhclient lease file, oldest first."""
    return re.findall(r"(?ms)^lease6 \{$.*?^\}$", path.read_text())


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def e2e6_ready(e2e_ready: None) -> None:
    missing = netns.missing_tools(netns.TOOLS6)
    if missing:
        unavailable(f"missing tools: {', '.join(missing)} (run scripts/setup)")


def start_site6(hv: netns.Hypervisor, mode: Mode, *, ra_period: int) -> Site:
    hv.add_ipv6_rules(mode)
    config = functools.partial(
        netns.render_config,
        lease_lifetime=LEASE_LIFETIME,
        lease_renewal=LEASE_RENEWAL,
        ipv6={
            "mode": "auto",
            "ra_period": str(ra_period),
            "nameservers": ", ".join(map(str, DNS6)),
            "domains": " ".join(DOMAINS6),
        },
    )
    return Site(hv, hv.start_daemon(config, queues=QUEUES), mode)


def module_site6(mode: Mode, label: str, ra_period: int) -> Iterator[Site]:
    """A module's hypervisor and daemon in `mode`, stopped (and checked) afterwards."""
    with netns.hypervisor(mode, label=f"{label}-{mode[0]}") as hv:
        site = start_site6(hv, mode, ra_period=ra_period)
        yield site
        stop_site(site)


@pytest.fixture(scope="module", params=["routed", "bridged"])
def site6_module(request: pytest.FixtureRequest, e2e6_ready: None) -> Iterator[Site]:
    yield from module_site6(request.param, "hv6", RA_PERIOD)


@pytest.fixture
def site6(site6_module: Site) -> Iterator[Site]:
    yield from serve_test(site6_module)


@pytest.fixture(scope="module", params=["routed", "bridged"])
def periodic6_module(request: pytest.FixtureRequest, e2e6_ready: None) -> Iterator[Site]:
    yield from module_site6(request.param, "hv6p", PERIODIC_RA_PERIOD)


@pytest.fixture
def periodic6(periodic6_module: Site) -> Iterator[Site]:
    yield from serve_test(periodic6_module)


@dataclasses.dataclass(frozen=True)
class SlaacVM:
    site: Site
    vm: netns.VM
    plan: Plan6
    solicitations: int  # RS packets the rule queued while the VM came up


@pytest.fixture(scope="module")
def slaac_vm(site6_module: Site) -> Iterator[SlaacVM]:
    """One VM per topology configured by SLAAC, shared by the tests that only look.

    Its link comes up after its binding is loaded; with a 300 s RA period, what
    configures it is the RA answering its own Router Solicitation."""
    site = site6_module
    index, tap = site.next_tap()
    vm = site.hv.add_vm(tap, netns.mac_for(index), bridged=site.bridged, create_link=False)
    try:
        plan = plan6(site, vm)
        site.log_offset = len(site.daemon.log())
        rs_before = site.hv.rule6_packets(RS_QUEUE)
        bind_then_link(site, vm, plan)
        vm.wait_address6(plan.address)
        yield SlaacVM(site, vm, plan, site.hv.rule6_packets(RS_QUEUE) - rs_before)
    finally:
        site.daemon.remove_binding(vm.tap)
        site.hv.remove_vm(vm)


# ------------------------------------------------------------------- SLAAC (the kernel)


def test_slaac_address_and_default_route(slaac_vm: SlaacVM, site6: Site) -> None:
    """The VM's kernel forms the binding's EUI-64 address in SUBNET6, its DAD succeeds
    (nfdhcpd never answers for the VM's own address), and it routes by default via the
    link-local address of the TAP's (bridge's) MAC."""
    vm, plan = slaac_vm.vm, slaac_vm.plan
    assert plan.binding.extra["EUI64"] == str(plan.address)

    assert_slaac(vm, plan)
    assert slaac_vm.solicitations >= 1, "the VM's Router Solicitation never hit the rule"
    # Settled: a second look a DAD interval later shows the same, still no conflict.
    time.sleep(1.0)
    assert_slaac(vm, plan)


@pytest.mark.parametrize("site6_module", ["routed"], indirect=True)
def test_slaac_stable_privacy_address_passes_dad(site6: Site) -> None:
    """A VM using RFC 7217 stable privacy addresses (addr_gen_mode 3) forms an address
    nfdhcpd cannot predict; its DAD probe must not be answered by the routed TAP's
    proxy either."""
    site = site6
    vm = site.vm(link=False, sysctls6={"addr_gen_mode": "3"})
    plan = plan6(site, vm)

    bind_then_link(site, vm, plan)

    def formed() -> list[netns.Address6]:
        return [a for a in vm.addresses6() if a.scope == "global"]

    found = netns.wait_for(formed, timeout=10, what="a SLAAC address", interval=0.1)
    assert len(found) == 1 and found[0].interface.network == plan.prefix, found
    address = found[0].interface.ip
    assert address != plan.address  # not the EUI-64: nfdhcpd cannot know it
    settled = vm.wait_address6(address)
    assert "dadfailed" not in settled.flags and "tentative" not in settled.flags, settled
    routes = netns.wait_for(vm.default_routes6, timeout=5, what="an IPv6 default route")
    assert routes == (Route6("default", plan.router, vm.ifname, "ra", plan.mtu),)


def test_ra_mtu_applied(slaac_vm: SlaacVM, site6: Site) -> None:
    vm, plan = slaac_vm.vm, slaac_vm.plan
    assert vm.sysctl(f"net.ipv6.conf.{vm.ifname}.mtu") == str(plan.mtu)
    assert plan.mtu != 1500  # the link's: the RA's MTU option is what changed it
    assert vm.sysctl(f"net.ipv6.conf.{vm.ifname}.accept_ra") in ("1", "2")


def test_rdisc6_shows_prefix_rdnss_dnssl(slaac_vm: SlaacVM, site6: Site) -> None:
    ra, output = slaac_vm.vm.rdisc6()
    assert ra == expected_ra(slaac_vm.plan, managed=False), output


def test_ndisc6_resolves_gateway_to_tap_mac(slaac_vm: SlaacVM, site6: Site) -> None:
    vm, plan = slaac_vm.vm, slaac_vm.plan
    assert vm.ndisc6(plan.gateway) == plan.router_mac
    assert vm.ndisc6(plan.router) == plan.router_mac


def test_ndisc6_other_subnet_address(slaac_vm: SlaacVM, site6: Site) -> None:
    """Routed: nfdhcpd proxies the rest of SUBNET6 (the TAP is the VM's only neighbour).
    Bridged: it must not, the other VMs on the bridge answer for themselves."""
    vm, plan = slaac_vm.vm, slaac_vm.plan
    other = plan.prefix[0x77]
    if slaac_vm.site.bridged:
        assert vm.ndisc6(other, tries=2, wait_ms=500) is None
    else:
        assert vm.ndisc6(other) == plan.router_mac


def test_dhclient6_stateless_gets_dns_and_search(slaac_vm: SlaacVM, site6: Site) -> None:
    """`dhclient -6 -S`: Information-Request, Reply with DNS servers and search list."""
    site, vm = site6, slaac_vm.vm

    run = vm.dhclient6(stateless=True)

    assert run.returncode == 0, run.describe()
    env = run.events().get("RENEW6")  # dhclient's event for a stateless Reply
    assert env is not None, run.describe()
    assert env["new_dhcp6_name_servers"] == " ".join(map(str, DNS6))
    assert env["new_dhcp6_domain_search"] == " ".join(f"{d}." for d in DOMAINS6)
    assert "new_ip6_address" not in env, env
    assert resolv_conf(run) == ([str(a) for a in DNS6], list(DOMAINS6))
    link_local = netns.link_local(vm.mac)
    assert logged(site, f"{vm.tap}: INFORMATION_REQUEST from {link_local}: REPLY DNS only")


# ------------------------------------------------------------------- periodic RAs


def test_periodic_ra_configures_vm_that_never_solicits(periodic6: Site) -> None:
    site = periodic6
    vm = site.vm(link=False, sysctls6={"router_solicitations": "0"})
    plan = plan6(site, vm)
    rs_before = site.hv.rule6_packets(RS_QUEUE)

    bind_then_link(site, vm, plan)
    started = time.monotonic()
    # The next round comes within a period (0.75 to 1 x ra_period, RFC 4861 6.2.1: the
    # schedule is tested with the time passed in, test_ra_schedule.py), then 1 s of
    # duplicate address detection. Waited for up to three periods: on a loaded machine
    # the daemon and the VM's kernel may be late, and a timing bound is a benchmark's.
    vm.wait_address6(plan.address, timeout=3 * PERIODIC_RA_PERIOD + 3)
    took = time.monotonic() - started

    assert_slaac(vm, plan)
    assert vm.sysctl(f"net.ipv6.conf.{vm.ifname}.mtu") == str(plan.mtu)
    assert site.hv.rule6_packets(RS_QUEUE) == rs_before, "the VM solicited after all"
    print(f"periodic RA ({site.mode}): configured {took:.1f}s after link up")


# ------------------------------------------------------------------ stateful DHCPv6


def test_dhclient6_stateful_leases_and_renews(site6: Site) -> None:
    site = site6
    vm = site.vm()
    plan = plan6(site, vm, stateful=True)
    site.daemon.write_binding(vm.tap, plan.binding)
    vm.wait_link_local()
    queued_before = dhcpv6_queued(site)

    run = vm.dhclient6(stateless=False, timeout=LEASE_RENEWAL + 12)

    events = run.events()
    assert {"PREINIT6", "BOUND6", "RENEW6"} <= events.keys(), run.describe()
    lease = {
        "new_ip6_address": str(plan.address),
        "new_ip6_prefixlen": "128",
        "new_preferred_life": str(LEASE_LIFETIME),
        "new_max_life": str(LEASE_LIFETIME),
        "new_renew": str(LEASE_RENEWAL),
        "new_rebind": str(REBINDING_TIME),
        "new_dhcp6_name_servers": " ".join(map(str, DNS6)),
        "new_dhcp6_domain_search": " ".join(f"{d}." for d in DOMAINS6),
    }
    for reason in ("BOUND6", "RENEW6"):
        got = {key: events[reason].get(key) for key in lease}
        assert got == lease, f"{reason}: {got}"
    renewed_after = int(events["RENEW6"]["new_starts"]) - int(events["BOUND6"]["new_starts"])
    assert LEASE_RENEWAL <= renewed_after <= LEASE_RENEWAL + 2, renewed_after
    # The lease file: the first lease and the renewed one, both for the same address.
    assert run.rundir is not None
    blocks = lease6_blocks(run.rundir / "leases")
    assert len(blocks) == 2, blocks
    for block in blocks:
        assert f"iaaddr {plan.address} {{" in block and "max-life 30;" in block, block
    # dhclient-script put the address on eth0 and it passed DAD.
    configured = vm.wait_address6(plan.address)
    assert configured.interface == IPv6Interface(f"{plan.address}/128"), configured
    assert "dadfailed" not in configured.flags, configured
    link_local = netns.link_local(vm.mac)
    assert logged(site, f"{vm.tap}: SOLICIT from {link_local}: ADVERTISE {plan.address}")
    assert logged(site, f"{vm.tap}: REQUEST from {link_local}: REPLY {plan.address}")
    assert dhcpv6_queued(site) - queued_before == 3  # Solicit, Request, Renew


def test_stateful_binding_advertises_managed(site6: Site) -> None:
    """IP6 that is not the EUI-64: mode auto sets M and clears A, so the kernel forms
    no address of its own but still takes the default route."""
    site = site6
    vm = site.vm(link=False)
    plan = plan6(site, vm, stateful=True)
    bind_then_link(site, vm, plan)
    vm.wait_link_local()

    ra, output = vm.rdisc6()

    assert ra == expected_ra(plan, managed=True), output
    routes = netns.wait_for(vm.default_routes6, timeout=5, what="an IPv6 default route")
    assert routes == (Route6("default", plan.router, vm.ifname, "ra", plan.mtu),)
    assert [a for a in vm.addresses6() if a.scope == "global"] == []


def test_dhcpcd6_configures_address_and_dns(site6: Site) -> None:
    site = site6
    vm = site.vm()
    plan = plan6(site, vm, stateful=True)
    site.daemon.write_binding(vm.tap, plan.binding)
    vm.wait_link_local()

    run = vm.dhcpcd6()

    assert run.returncode == 0, run.describe()
    bound = run.events().get("BOUND6")
    assert bound is not None, run.describe()
    got = {
        key: bound.get(key)
        for key in (
            "new_dhcp6_ia_na1_ia_addr1",
            "new_dhcp6_ia_na1_ia_addr1_pltime",
            "new_dhcp6_ia_na1_ia_addr1_vltime",
            "new_dhcp6_ia_na1_t1",
            "new_dhcp6_ia_na1_t2",
            "new_dhcp6_name_servers",
            "new_dhcp6_domain_search",
        )
    }
    assert got == {
        "new_dhcp6_ia_na1_ia_addr1": str(plan.address),
        "new_dhcp6_ia_na1_ia_addr1_pltime": str(LEASE_LIFETIME),
        "new_dhcp6_ia_na1_ia_addr1_vltime": str(LEASE_LIFETIME),
        "new_dhcp6_ia_na1_t1": str(LEASE_RENEWAL),
        "new_dhcp6_ia_na1_t2": str(REBINDING_TIME),
        "new_dhcp6_name_servers": " ".join(map(str, DNS6)),
        "new_dhcp6_domain_search": " ".join(DOMAINS6),
    }
    advert = run.events().get("ROUTERADVERT", {})
    assert (advert.get("nd1_flags"), advert.get("nd1_mtu")) == ("MO", str(plan.mtu)), advert
    assert resolv_conf(run) == ([str(a) for a in DNS6], list(DOMAINS6))
    assert run.rundir is not None
    links = json.loads((run.rundir / "addr.json").read_text())
    globals_ = [a.interface for a in netns.parse_addresses6(links) if a.scope == "global"]
    assert globals_ == [IPv6Interface(f"{plan.address}/128")]
    routes6 = netns.parse_routes6(json.loads((run.rundir / "route6.json").read_text()))
    assert [r.gateway for r in routes6 if r.dst == "default"] == [plan.router]
    # dhcpcd asks with Rapid Commit (Debian's dhcpcd.conf): one Solicit, one Reply.
    link_local = netns.link_local(vm.mac)
    assert logged(site, f"{vm.tap}: SOLICIT from {link_local}: REPLY {plan.address} (rapid)")


# ---------------------------------------------------------------- no binding: ACCEPT


@pytest.mark.parametrize("site6_module", ["routed"], indirect=True)
def test_unbound_tap_passes_ns_and_rs_through(site6: Site) -> None:
    """No binding: RS and NS are ACCEPTed and reach the hypervisor's own stack, which
    answers an NS for an address it has on the TAP, as if nfdhcpd did not exist."""
    site = site6
    vm = site.vm()
    host = IPv6Interface("2001:db8:ffff::1/64")
    site.hv.ip("-6", "addr", "add", str(host), "dev", vm.tap, "nodad")
    # A forwarding interface joins ff02::2, so an accepted RS is delivered to INPUT,
    # where this rule (no target) counts it.
    site.hv.exec("sysctl", "-q", "-w", f"net.ipv6.conf.{vm.tap}.forwarding=1")
    site.hv.ip6tables("-A", "INPUT", "-i", vm.tap, "-p", "ipv6-icmp", "--icmpv6-type", "133")
    try:
        vm.wait_link_local()
        queued = {q: s.id_sequence for q, s in site.hv.queue_stats().items()}

        resolved = vm.ndisc6(host.ip)
        ra, output = vm.rdisc6(tries=2, wait_ms=500)

        listing = site.hv.ip6tables("-L", "INPUT", "-n", "-v", "-x").stdout
    finally:
        site.hv.ip6tables("-D", "INPUT", "-i", vm.tap, "-p", "ipv6-icmp", "--icmpv6-type", "133")
    assert resolved == site.hv.mac(vm.tap)
    assert ra is None, output  # nobody is a router here
    stats = site.hv.queue_stats()
    assert stats[NS_QUEUE].id_sequence > queued[NS_QUEUE], "the NS never reached the daemon"
    assert stats[RS_QUEUE].id_sequence >= queued[RS_QUEUE] + 2, "the RSs never reached it"
    rs_input = [line for line in listing.splitlines() if "ipv6-icmptype 133" in line]
    assert len(rs_input) == 1 and int(rs_input[0].split()[0]) >= 2, listing
