"""nfdhcpd demo: a throwaway hypervisor with a routed and a bridged VM, real DHCP clients.

Builds network namespaces (hypervisor `nfdt-demo-…`, one per VM), writes the two
binding files, adds the admin's iptables rules inside the hypervisor namespace, runs
`nfdhcpd -f`, then ISC dhclient in the routed VM and dhcpcd in the bridged one, and
prints what each VM ended up configured with; the routed VM's own kernel also
configures IPv6 by SLAAC from nfdhcpd's Router Advertisement. Everything is removed at the end, also
on Ctrl-C or failure. Exit status 0 only if both VMs got exactly their binding.

Run it through `scripts/demo` (sets up the venv first). Needs root.
"""

from __future__ import annotations

import argparse
import functools
import os
import signal
import sys
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Interface
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e import netns
from tests.e2e.netns import BindingSpec, ClientRun

NAMESERVERS = ("192.0.2.2", "192.0.2.3")
DOMAIN = "example.com"
SUBNET6 = "2001:db8:10::/64"
GATEWAY6 = "2001:db8:10::1"


def check(label: str, got: object, want: object) -> tuple[str, bool]:
    ok = got == want
    mark = "ok" if ok else f"MISMATCH (binding says {want})"
    return f"    {label:<10}{got!s:<34}{mark}", ok


def report(title: str, run: ClientRun, binding: BindingSpec) -> bool:
    """Print what the client configured next to what the binding asked for."""
    print(f"\n{title}: {run.client} exited {run.returncode} after {run.elapsed:.2f}s")
    if run.lease is None or run.applied is None:
        print("    NO LEASE. Client output:")
        print("\n".join(f"      {line}" for line in run.output.splitlines()))
        return False
    applied = run.applied
    assert binding.ip and binding.subnet
    want_addr = IPv4Interface(f"{binding.ip}/{IPv4Network(binding.subnet).prefixlen}")
    # dhclient-script sets the link MTU; dhcpcd sets it on the routes it adds.
    mtu = applied.link_mtu if applied.link_mtu != 1500 else applied.route_mtu
    hostname = applied.hostname.removesuffix(f".{DOMAIN}")
    rows = [
        check("address", ", ".join(map(str, applied.addresses)), str(want_addr)),
        check("gateway", applied.default_gateway, IPv4Address(binding.gateway or "")),
        check("DNS", " ".join(map(str, applied.nameservers)), " ".join(NAMESERVERS)),
        check("hostname", hostname, binding.hostname),
        check("domain", run.lease.domain, DOMAIN),
        check("MTU", mtu, binding.mtu),
    ]
    for line, _ in rows:
        print(line)
    print(f"    (lease {run.lease.lease_time}s from server {run.lease.server_id};")
    print(f"     VM hostname now {applied.hostname!r}, resolv.conf search {applied.search})")
    return all(ok for _, ok in rows)


def report_ipv6(vm: netns.VM, router_mac: str) -> bool:
    """Wait for the VM kernel's SLAAC address and default route; print them."""
    want_addr = netns.eui64(SUBNET6, vm.mac)
    want_gateway = netns.link_local(router_mac)
    print(f"\nVM {vm.ns} IPv6, configured by its own kernel (SLAAC) from nfdhcpd's RA:")
    try:
        address = vm.wait_address6(want_addr, timeout=10).interface
        routes = netns.wait_for(vm.default_routes6, timeout=5, what="an IPv6 default route")
    except TimeoutError as exc:
        print(f"    NO IPv6: {exc}")
        return False
    gateway = routes[0].gateway
    rows = [
        check("address", address, IPv6Interface(f"{want_addr}/64")),
        check("gateway", gateway, want_gateway),
    ]
    for line, _ in rows:
        print(line)
    print(f"    (the gateway is the link-local address of {vm.tap}'s MAC {router_mac};")
    print(f"     IPv6 MTU {vm.sysctl(f'net.ipv6.conf.{vm.ifname}.mtu')} from the RA)")
    return all(ok for _, ok in rows)


def demo(name: str | None) -> bool:
    with netns.Hypervisor("demo", name=name) as hv:
        print(f"hypervisor namespace {hv.name}, work directory {hv.workdir}")
        hv.add_bridge("br0")
        hv.add_dhcp_rule("routed")
        hv.add_dhcp_rule("bridged")
        hv.add_ipv6_rules("routed")
        routed = hv.add_vm("tap1", "52:54:00:de:00:01")
        bridged = hv.add_vm("tap2", "52:54:00:de:00:02", bridged=True)
        print(f"VM {routed.ns}: eth0 {routed.mac} <-> tap1 (routed)")
        print(f"VM {bridged.ns}: eth0 {bridged.mac} <-> tap2, enslaved to br0 (bridged)")
        print("\niptables and ip6tables -t mangle -S PREROUTING (hypervisor namespace only):")
        for tool in (hv.iptables, hv.ip6tables):
            for line in tool("-t", "mangle", "-S", "PREROUTING").stdout.splitlines()[1:]:
                print(f"    {line}")

        config = functools.partial(netns.render_config, ipv6={"mode": "slaac"})
        daemon = hv.start_daemon(config, queues=(42, *netns.QUEUES6))
        print(f"\nnfdhcpd running (pid {daemon.process.pid}), NFQUEUE 42 to 45 bound")
        plan = [
            (routed, BindingSpec(
                mac=routed.mac, indev="tap1", ip="10.10.1.10", subnet="10.10.0.0/22",
                gateway="10.10.0.1", hostname="web1", mtu=1450,
                extra={"SUBNET6": SUBNET6, "GATEWAY6": GATEWAY6,
                       "EUI64": str(netns.eui64(SUBNET6, routed.mac))},
            )),
            (bridged, BindingSpec(
                mac=bridged.mac, indev="br0", ip="10.20.0.20", subnet="10.20.0.0/24",
                gateway="10.20.0.1", hostname="db1", mtu=1400,
            )),
        ]  # fmt: skip
        for vm, binding in plan:
            path = daemon.write_binding(vm.tap, binding)
            print(f"\n{path}:")
            print("".join(f"    {line}\n" for line in binding.render().splitlines()), end="")

        # dhclient and dhcpcd both configure the VM for real (address, routes, MTU,
        # resolv.conf, hostname); the report reads that back from the VM's kernel.
        runs = [routed.dhclient(), bridged.dhcpcd()]
        ok = True
        for (vm, binding), run in zip(plan, runs, strict=True):
            kind = "bridged" if vm.bridged else "routed"
            ok &= report(f"VM {vm.ns} ({kind}, {vm.tap})", run, binding)
        ok &= report_ipv6(routed, hv.mac(routed.tap))

        status = daemon.stop()
        print("\nnfdhcpd log:")
        print("".join(f"    {line}\n" for line in daemon.log().splitlines()), end="")
        print(f"nfdhcpd exited {status} on SIGTERM; cleaning up {hv.name}")
    return ok and status == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--name", help="hypervisor namespace name (default: random nfdt-demo-…)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("demo: needs root (network namespaces, iptables)", file=sys.stderr)
        return 2
    missing = netns.missing_tools()
    if missing:
        print(f"demo: missing tools: {', '.join(missing)}; run scripts/setup", file=sys.stderr)
        return 2

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)  # unwinds through the cleanup like Ctrl-C does

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    try:
        ok = demo(args.name)
    except netns.TestbedError as exc:
        print(f"\ndemo failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted; cleaned up", file=sys.stderr)
        return 130
    print("\nboth VMs got their binding" if ok else "\nFAILED: a VM did not get its binding")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
