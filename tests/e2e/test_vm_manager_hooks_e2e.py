"""The libvirt hook and the Proxmox VE hookscript, end to end.

Each hook runs in a hypervisor namespace as its manager runs it: libvirt's qemu hook
with the domain XML on stdin and libvirtd's bare environment, the Proxmox hookscript
as `<script> <vmid> post-start`. Their input is the managers' own test data
(tests/fixtures/libvirt, tests/fixtures/proxmox), their settings come from a
/etc/default/nfdhcpd stand-in, and the iptables rules are the ones `nfdhcpd rules`
prints for the managers' TAP names (libvirt: `vnet+`, or the domain's own target
name; Proxmox: `tap+`). A real DHCP client in the VM namespace then gets exactly
what the domain or VM config says, and after `stopped` / `post-stop` the binding is
gone.
"""

from __future__ import annotations

import functools
import shlex
import subprocess
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Interface, IPv6Address
from pathlib import Path

import pytest

from . import netns
from .netns import Daemon, Hypervisor

pytestmark = pytest.mark.e2e

REPO = netns.REPO_ROOT
LIBVIRT_HOOK = REPO / "conf" / "libvirt" / "qemu"
PROXMOX_HOOK = REPO / "conf" / "proxmox" / "nfdhcpd-hookscript"
FIXTURES = REPO / "tests" / "fixtures"
#: What libvirtd leaves in a hook's environment (docs/hooks.rst), plus the defaults file.
LIBVIRT_ENV = ("LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root")


def load_rules(hv: Hypervisor, daemon: Daemon, mode: str, interfaces: str) -> None:
    """Run what `nfdhcpd rules` prints for this daemon's config, in the namespace."""
    exe = netns.nfdhcpd_executable()
    assert exe is not None
    script = netns.run(
        [str(exe), "-c", str(daemon.dirs.config), "rules", "--mode", mode,
         "--interfaces", interfaces]
    ).stdout  # fmt: skip
    hv.exec("sh", "-e", "-c", script)  # a shell script since issue 12 (`nfdhcpd rules | sh`)


def defaults_file(hv: Hypervisor, daemon: Daemon, **extra: str) -> Path:
    path = hv.workdir / "default-nfdhcpd"
    settings = {"NFDHCPD_STATE_DIR": str(daemon.datapath), **extra}
    path.write_text("".join(f"{key}={shlex.quote(v)}\n" for key, v in settings.items()))
    return path


def run_hook(hv: Hypervisor, defaults: Path, argv: list[str], stdin: str = "") -> None:
    args = ["ip", "netns", "exec", hv.name, "env", "-i", *LIBVIRT_ENV,
            f"NFDHCPD_DEFAULTS={defaults}", *argv]  # fmt: skip
    proc = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=30)
    assert (proc.returncode, proc.stdout) == (0, ""), proc.stderr


def gets_nothing(vm: netns.VM) -> bool:
    run = vm.udhcpc(tries=2, interval=1)
    return run.lease is None


# ------------------------------------------------------------------------------ libvirt


@pytest.fixture
def hv(e2e_ready: None) -> Iterator[Hypervisor]:
    with Hypervisor("hooks") as hv:
        yield hv


def start(hv: Hypervisor, *, ipv6: bool = False) -> Daemon:
    config = functools.partial(
        netns.render_config, general={"rate_limit": "0"}, ipv6={} if ipv6 else None
    )
    return hv.start_daemon(config, queues=(42, 43, 44, 45) if ipv6 else (42,))


def test_libvirt_routed_domain_from_metadata(hv: Hypervisor) -> None:
    """<interface type='ethernet'> with <target dev='nic02'/>: INDEV is the TAP."""
    daemon = start(hv)
    load_rules(hv, daemon, "routed", "nic+")
    defaults = defaults_file(hv, daemon)
    vm = hv.add_vm("nic02", "00:11:22:33:44:55")
    xml = (FIXTURES / "libvirt" / "net-eth-ifname.xml").read_text()

    run_hook(hv, defaults, [str(LIBVIRT_HOOK), "QEMUGuest1", "started", "begin", "-"], xml)
    run = vm.dhclient()

    assert run.lease is not None, run.describe()
    assert run.lease.address == IPv4Interface("198.51.100.20/24")
    assert run.lease.routers == (IPv4Address("198.51.100.1"),)
    assert run.lease.dns == (IPv4Address("198.51.100.53"),)
    # dhclient prints option 119's names fully qualified, with the root's dot.
    assert [n.rstrip(".") for n in run.lease.search] == ["guests.example.org", "example.org"]
    assert (run.lease.mtu, run.lease.hostname) == (1450, "QEMUGuest1")
    assert run.applied is not None
    assert run.applied.addresses == (IPv4Interface("198.51.100.20/24"),)
    assert run.applied.default_gateway == IPv4Address("198.51.100.1")
    assert run.applied.link_mtu == 1450
    assert "10.20.0.0/16 via 198.51.100.254" in vm.ip("route", "show").stdout

    run_hook(hv, defaults, [str(LIBVIRT_HOOK), "QEMUGuest1", "stopped", "end", "-"], xml)
    assert not daemon.binding_path("nic02").exists()
    assert gets_nothing(vm)


def test_libvirt_domain_on_a_libvirt_network(hv: Hypervisor) -> None:
    """<interface type='network'> on network `default` (bridge virbr0): the address is
    the network's <dhcp><host> for the domain's MAC, read from the network's XML file."""
    hv.add_bridge("virbr0")
    daemon = start(hv)
    load_rules(hv, daemon, "bridged", "vnet+")
    networks = hv.workdir / "etc-libvirt-qemu-networks"
    networks.mkdir()
    (networks / "default.xml").write_bytes((FIXTURES / "libvirt" / "nat-network.xml").read_bytes())
    defaults = defaults_file(hv, daemon, NFDHCPD_LIBVIRT_NETWORKS=str(networks))
    vm = hv.add_vm("vnet0", "00:16:3e:77:e2:ed", bridged=True)
    xml = (FIXTURES / "libvirt" / "modern-network.xml").read_text()

    run_hook(hv, defaults, [str(LIBVIRT_HOOK), "upstream", "started", "begin", "-"], xml)
    run = vm.dhcpcd()

    assert run.lease is not None, run.describe()
    assert run.lease.address == IPv4Interface("192.168.122.10/24")
    assert run.lease.routers == (IPv4Address("192.168.122.1"),)
    assert run.lease.dns == (IPv4Address("192.168.122.1"),)
    assert run.lease.hostname == "a.example.com"
    assert run.applied is not None and run.applied.hostname == "a.example.com"
    assert "indev-mismatch" not in daemon.log()

    # libvirtd restarted: `reconnect` rewrites the binding of the running domain.
    daemon.remove_binding("vnet0")
    run_hook(hv, defaults, [str(LIBVIRT_HOOK), "upstream", "reconnect", "begin", "-"], xml)
    assert vm.udhcpc().lease is not None

    run_hook(hv, defaults, [str(LIBVIRT_HOOK), "upstream", "stopped", "end", "-"], xml)
    assert not daemon.binding_path("vnet0").exists()


# ------------------------------------------------------------------------------ Proxmox


def add_bridge(hv: Hypervisor, name: str) -> None:
    hv.ip("link", "add", name, "type", "bridge")
    hv.ip("link", "set", name, "addrgenmode", "none")
    hv.ip("link", "set", name, "up")


def test_proxmox_vm_behind_firewall_bridge_and_on_plain_bridge(hv: Hypervisor) -> None:
    """VM 120: net0 (firewall=1) is tap120i0 in fwbr120i0, linked to vnet0 by the veth
    pair fwln120i0/fwpr120p0 as qemu-server plugs it; net1 is tap120i1 in vmbr1,
    IPv6 only. The requests of net0 arrive with indev fwbr120i0: its INDEV."""
    hv.add_bridge("vnet0")
    add_bridge(hv, "vmbr1")
    add_bridge(hv, "fwbr120i0")
    hv.ip("link", "add", "fwpr120p0", "type", "veth", "peer", "name", "fwln120i0")
    hv.ip("link", "set", "fwpr120p0", "master", "vnet0", "up")
    hv.ip("link", "set", "fwln120i0", "master", "fwbr120i0", "up")
    daemon = start(hv, ipv6=True)
    load_rules(hv, daemon, "bridged", "tap+")
    defaults = defaults_file(hv, daemon, NFDHCPD_PVE_CONFIG_DIR=str(FIXTURES / "proxmox"))
    vm0 = hv.add_vm("tap120i0", "bc:24:11:2c:69:ec")
    hv.ip("link", "set", "tap120i0", "master", "fwbr120i0")
    vm1 = hv.add_vm("tap120i1", "bc:24:11:2c:69:ed")
    hv.ip("link", "set", "tap120i1", "master", "vmbr1")

    run_hook(hv, defaults, [str(PROXMOX_HOOK), "120", "post-start"])
    text = daemon.binding_path("tap120i0").read_text()
    assert "INDEV=fwbr120i0\n" in text
    run = vm0.dhclient()

    assert run.lease is not None, run.describe() + daemon.log()
    assert run.lease.address == IPv4Interface("103.214.69.10/25")
    assert run.lease.routers == (IPv4Address("103.214.69.1"),)
    assert run.lease.dns == (IPv4Address("103.214.69.53"),)
    assert [n.rstrip(".") for n in run.lease.search] == ["example.org"]
    assert run.lease.hostname == "deb1223"

    vm1.wait_link_local()
    run6 = vm1.dhclient6(stateless=False, timeout=8)
    bound = run6.events().get("BOUND6", {})
    assert bound.get("new_ip6_address") == "2001:db8:69:1::10", run6.describe()
    assert IPv6Address("2001:db8:69::53") in map(
        IPv6Address, bound.get("new_dhcp6_name_servers", "").split()
    )

    run_hook(hv, defaults, [str(PROXMOX_HOOK), "120", "post-stop"])
    assert sorted(p.name for p in daemon.datapath.iterdir()) == []
    assert gets_nothing(vm0)
