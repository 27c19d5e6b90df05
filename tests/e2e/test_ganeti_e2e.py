"""Ganeti's own NIC scripts call nfdhcpd's hook, and a real DHCP client gets the lease.

Debian 12's `kvm-ifup` and `net-common` come from the ganeti-3.0 package, which
scripts/setup downloads and unpacks into .cache/ganeti (not committed, not installed).
They run inside the testbed's hypervisor namespace with the environment Ganeti's
hv_base.ConfigureNIC exports for a NIC (read from Ganeti 3.0.2's lib/hypervisor/),
on a TAP that is down and in no bridge, as Ganeti leaves it before `kvm-ifup`. The
hook is enabled as docs/ganeti.md says (`nfdhcpd-ganeti enable`), into a temporary
CONF_DIR: net-common derives CONF_DIR from GANETI_ROOTDIR ("Allow overriding for
tests"), but `kvm-ifup` sources /usr/lib/ganeti/net-common by a hard-coded path, so
that one line is patched in a temporary copy. Two more variables reach the hook as
the node daemon's environment would carry them: NFDHCPD_DEFAULTS names the hook's
defaults file (the testbed's state directory and Ganeti's temporary PKGLIBDIR).

The per-mode layout (kvm-nic-setup, network/<mode>/up|down) exists only in Ganeti's
master branch, not in any release or Debian package: its scripts are built from the
.in templates of a Ganeti git clone named by NFDHCPD_GANETI_GIT, substituted as
Ganeti's Makefile.am does, or that test is skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path
from typing import Any

import pytest

from nfdhcpd.core.binding import parse_binding

from . import netns
from .site import Site

pytestmark = pytest.mark.e2e

REPO = netns.REPO_ROOT
DEBIAN_GANETI = REPO / ".cache/ganeti/ganeti-3.0/usr/lib/ganeti/3.0/usr/lib/ganeti"
HOOK = REPO / "conf/ganeti/hook"
ENABLE = REPO / "conf/ganeti/nfdhcpd-ganeti"
#: The routing table of routed NICs: Ganeti's LINK for MODE=routed.
TABLE = "100"


@dataclass
class Ganeti:
    """One node's Ganeti scripts and CONF_DIR, in a temporary directory."""

    root: Path  # GANETI_ROOTDIR: CONF_DIR is root/etc/ganeti
    pkglibdir: Path
    defaults: Path
    entry: str  # the script Ganeti's hypervisor code runs for a NIC
    per_mode: bool = False

    @property
    def conf_dir(self) -> Path:
        return self.root / "etc" / "ganeti"

    def enable(self) -> str:
        args = ["--conf-dir", str(self.conf_dir), "--pkglibdir", str(self.pkglibdir)]
        result = subprocess.run(
            [str(ENABLE), "enable", *args],
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout

    def nic_env(self, site: Site, vm: netns.VM, index: int, **nic: str) -> dict[str, str]:
        """What hv_base.ConfigureNIC exports (Ganeti 3.0.2): the NIC, its network's
        HooksDict, BRIDGE when bridged; VLAN is in the cluster's NIC defaults ("")."""
        env = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin:/sbin:/usr/sbin",
            "INSTANCE": f"vm{index}.example.org",
            "MAC": vm.mac,
            "MODE": site.mode,
            "INTERFACE": vm.tap,
            "INTERFACE_INDEX": "0",
            "INTERFACE_UUID": f"6c1f0e2a-0000-4000-8000-{index:012d}",
            "TAGS": "",
            "LINK": "br0" if site.bridged else TABLE,
            "VLAN": "",
            # the node daemon's environment, which RunCmd passes on
            "GANETI_ROOTDIR": str(self.root),
            "NFDHCPD_DEFAULTS": str(self.defaults),
        }
        if site.bridged:
            env["BRIDGE"] = env["LINK"]
        if self.per_mode:
            env["ACTION"] = "up"
        env.update(nic)
        return {k: v for k, v in env.items() if v is not None}

    def run(self, site: Site, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
        """Run Ganeti's NIC script in the hypervisor namespace, as noded would."""
        return site.hv.exec(
            "env", "-i", *(f"{k}={v}" for k, v in env.items()),
            str(self.pkglibdir / self.entry), env["INTERFACE"], check=False,
        )  # fmt: skip


def network(index: int, *, tags: str = "nfdhcpd") -> dict[str, str]:
    """A Ganeti network's HooksDict (objects.Network): a /24 per index."""
    net = netns.network_for(index)
    return {
        "NETWORK_NAME": f"net{index}",
        "NETWORK_UUID": f"9a7c0b1d-0000-4000-8000-{index:012d}",
        "NETWORK_TAGS": tags,
        "NETWORK_SUBNET": str(net),
        "NETWORK_GATEWAY": str(net[1]),
    }


def defaults_file(path: Path, site: Site, pkglibdir: Path) -> Path:
    path.write_text(
        f"NFDHCPD_STATE_DIR={site.daemon.datapath}\n"
        f"GANETI_PKGLIBDIR={pkglibdir}\n"
        "NFDHCPD_HOOK_SYSLOG=no\n"  # the machine's syslog is not the testbed's
    )
    return path


@pytest.fixture
def debian_ganeti(site: Site, tmp_path: Path) -> Ganeti:
    """Debian 12's kvm-ifup and net-common, with nfdhcpd's hook enabled."""
    if not (DEBIAN_GANETI / "kvm-ifup").exists():
        pytest.fail("Debian's ganeti-3.0 is not unpacked in .cache/ganeti: run scripts/setup")
    pkglibdir = tmp_path / "usr-lib-ganeti"
    pkglibdir.mkdir()
    for name in ("kvm-ifup", "net-common"):
        shutil.copy2(DEBIAN_GANETI / name, pkglibdir / name)
    kvm_ifup = pkglibdir / "kvm-ifup"
    text, count = re.subn(
        r"^source /usr/lib/ganeti/net-common$",
        f"source {pkglibdir}/net-common",
        kvm_ifup.read_text(),
        flags=re.MULTILINE,
    )
    assert count == 1, "Debian's kvm-ifup no longer sources /usr/lib/ganeti/net-common"
    kvm_ifup.write_text(text)
    ganeti = Ganeti(
        tmp_path / "root",
        pkglibdir,
        defaults_file(tmp_path / "default-nfdhcpd", site, pkglibdir),
        "kvm-ifup",
    )
    ganeti.conf_dir.mkdir(parents=True)
    assert "kvm-vif-bridge layout" in ganeti.enable()
    assert (ganeti.conf_dir / "kvm-vif-bridge").resolve() == HOOK.resolve()
    return ganeti


def ganeti_tap(site: Site) -> netns.VM:
    """A VM whose TAP is as Ganeti has it when it runs the NIC script: down, no master."""
    vm = site.vm(link=False)
    site.hv.ip("link", "add", vm.tap, "type", "veth", "peer", "name", vm.ifname, "netns", vm.ns)
    vm.ip("link", "set", vm.ifname, "address", vm.mac)
    vm.ip("link", "set", vm.ifname, "up")
    return vm


def link(site: Site, dev: str) -> dict[str, Any]:
    info: list[dict[str, Any]] = json.loads(site.hv.ip("-j", "-d", "link", "show", dev).stdout)
    return info[0]


def assert_set_up_as_ganeti_does(site: Site, vm: netns.VM, ip: str | None) -> None:
    """net-common's setup_bridge / setup_route, observed in the hypervisor namespace."""
    tap = link(site, vm.tap)
    assert "UP" in tap["flags"], tap
    if site.bridged:
        assert tap.get("master") == "br0"
        assert tap["address"].startswith("fe:")  # fix_mac
        assert tap["mtu"] == link(site, "br0")["mtu"]
    else:
        rules = site.hv.ip("rule", "show").stdout
        assert re.search(rf"iif {vm.tap} lookup {TABLE}\b", rules), rules
        routes = site.hv.ip("route", "show", "table", TABLE).stdout
        assert f"{ip} dev {vm.tap} proto static" in routes, routes
        for sysctl in (f"ipv4.conf.{vm.tap}.proxy_arp", f"ipv4.conf.{vm.tap}.forwarding"):
            assert site.hv.exec("sysctl", "-n", f"net.{sysctl}").stdout.strip() == "1"


def test_debian_kvm_ifup_serves_the_nic(site: Site, debian_ganeti: Ganeti) -> None:
    """Ganeti 3.0's kvm-ifup execs kvm-vif-bridge: TAP set up, binding written, lease."""
    vm = ganeti_tap(site)
    index = int(vm.tap.removeprefix("tap"))
    net = network(index)
    ip = str(netns.network_for(index)[10 + index])
    env = debian_ganeti.nic_env(site, vm, index, IP=ip, **net)
    result = debian_ganeti.run(site, env)
    assert result.returncode == 0, result.stderr
    assert_set_up_as_ganeti_does(site, vm, ip)
    binding = parse_binding((site.daemon.datapath / vm.tap).read_bytes(), vm.tap)
    assert binding.ip == IPv4Address(ip)
    assert binding.indev == ("br0" if site.bridged else vm.tap)

    run = vm.dhclient()
    assert run.lease is not None, run.describe()
    assert run.lease.address == IPv4Interface(f"{ip}/{netns.network_for(index).prefixlen}")
    assert run.lease.routers == (IPv4Address(net["NETWORK_GATEWAY"]),)
    assert run.lease.hostname == f"vm{index}.example.org"


def test_binding_of_a_stopped_nic_is_pruned(site: Site, debian_ganeti: Ganeti) -> None:
    """kvm-vif-bridge gets no down: once the TAP is gone, `status` counts how long and
    `prune` (in the hypervisor namespace, where the TAPs are) removes the binding."""
    vm = ganeti_tap(site)
    index = int(vm.tap.removeprefix("tap"))
    ip = str(netns.network_for(index)[10 + index])
    env = debian_ganeti.nic_env(site, vm, index, IP=ip, **network(index))
    assert debian_ganeti.run(site, env).returncode == 0
    binding = site.daemon.datapath / vm.tap
    exe = str(netns.nfdhcpd_executable())
    config = str(site.daemon.dirs.config)

    def prune(*args: str) -> str:
        return site.hv.exec(exe, "prune", "-c", config, *args).stdout

    assert prune("--stale-after", "0") == ""  # its TAP is there
    site.hv.delete_link(vm)  # the VM stopped: Ganeti closed the TAP
    status = json.loads(site.hv.exec(exe, "status", "-c", config, "--json").stdout)
    row = next(r for r in status["bindings"] if r["tap"] == vm.tap)
    assert row["tap_present"] is False and row["tap_gone_since"] > 0
    assert prune() == "" and binding.exists()  # not gone for an hour yet
    assert f"removed {binding}: TAP gone since" in prune("--stale-after", "0")
    assert not binding.exists()
    netns.wait_for(
        lambda: f"binding {vm.tap} removed" in site.daemon.log(),
        timeout=5,
        what="the daemon to drop the binding",
    )


def test_debian_kvm_ifup_nic_without_ip_or_network_starts(
    site: Site, debian_ganeti: Ganeti
) -> None:
    """NICs nfdhcpd does not serve: set up by Ganeti, skipped in one line, exit 0."""
    vm = ganeti_tap(site)
    index = int(vm.tap.removeprefix("tap"))
    ip = str(netns.network_for(index)[10 + index])
    nics = [
        ({"IP": ip}, "not in a Ganeti network"),  # an IP, no gnt-network
        ({"IP": ip, **network(index, tags="")}, "has no tag 'nfdhcpd'"),  # not opted in
    ]
    if site.bridged:  # a routed NIC without IP is refused by Ganeti's own setup_route
        nics.append(({}, "not in a Ganeti network"))
    for nic, reason in nics:
        result = debian_ganeti.run(site, debian_ganeti.nic_env(site, vm, index, **nic))
        assert result.returncode == 0, result.stderr
        # Ganeti's own output ("RTNETLINK answers: ..." ending its `ip rule del` loop)
        # and one line of the hook's.
        ours = [line for line in result.stderr.splitlines() if line.startswith("nfdhcpd")]
        assert len(ours) == 1 and reason in ours[0], result.stderr
        assert_set_up_as_ganeti_does(site, vm, ip)
        assert not (site.daemon.datapath / vm.tap).exists()


def test_debian_kvm_ifup_failed_setup_fails_loudly(site: Site, debian_ganeti: Ganeti) -> None:
    """Ganeti's setup ignores its own errors (exit 0 with the TAP outside any bridge, or
    unrouted): the hook checks and fails the NIC, writing no binding."""
    vm = ganeti_tap(site)
    index = int(vm.tap.removeprefix("tap"))
    ip = str(netns.network_for(index)[10 + index])
    broken = {"LINK": "nfdt-nobr"} if site.bridged else {"LINK": "no-such-table"}
    env = debian_ganeti.nic_env(site, vm, index, IP=ip, **network(index), **broken)
    result = debian_ganeti.run(site, env)
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    expected = "did not put" if site.bridged else "routed no"
    assert last.startswith(f"nfdhcpd hook: {vm.tap}: ") and expected in last, result.stderr
    assert not (site.daemon.datapath / vm.tap).exists()


# --------------------------------------------------------------- the per-mode layout


def build_upstream(git: Path, ref: str, pkglibdir: Path) -> None:
    """Ganeti's Makefile.am for the NIC scripts: REPLACE_VARS_SED's @PKGLIBDIR@ and the
    @SHELL_ENV_INIT@ block, then install-exec-hook's network/<mode>/<action> layout."""

    def template(name: str) -> str:
        return subprocess.run(
            ["git", "--git-dir", str(git), "show", f"{ref}:tools/{name}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    shell_env_init = (
        "# Allow overriding for tests\n"
        "readonly LOCALSTATEDIR=${LOCALSTATEDIR:-${GANETI_ROOTDIR:-}/var}\n"
        "readonly SYSCONFDIR=${SYSCONFDIR:-${GANETI_ROOTDIR:-}/etc}\n\n"
        f"readonly PKGLIBDIR={pkglibdir}\n"
        'readonly LOG_DIR="$LOCALSTATEDIR/log/ganeti"\n'
        'readonly RUN_DIR="$LOCALSTATEDIR/run/ganeti"\n'
        'readonly DATA_DIR="$LOCALSTATEDIR/lib/ganeti"\n'
        'readonly CONF_DIR="$SYSCONFDIR/ganeti"\n'
    )

    def install(name: str, target: Path) -> None:
        text = template(name).replace("@PKGLIBDIR@", str(pkglibdir))
        text = re.sub(r"^@SHELL_ENV_INIT@$", lambda _: shell_env_init, text, flags=re.M)
        assert not re.search(r"@[A-Z_]+@", text), f"{name}: a placeholder is left"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        target.chmod(0o755)

    install("kvm-nic-setup.in", pkglibdir / "kvm-nic-setup")
    install("net-common.in", pkglibdir / "net-common")
    for mode in ("routed", "bridged"):
        for action in ("up", "down"):
            install(f"net-{mode}-{action}.in", pkglibdir / "network" / mode / action)


@pytest.fixture
def upstream_ganeti(site: Site, tmp_path: Path) -> Iterator[Ganeti]:
    git = os.environ.get("NFDHCPD_GANETI_GIT")
    if not git:
        pytest.skip("NFDHCPD_GANETI_GIT is not set (a clone of github.com/ganeti/ganeti)")
    ref = os.environ.get("NFDHCPD_GANETI_REF", "master")
    pkglibdir = tmp_path / "usr-lib-ganeti"
    build_upstream(Path(git), ref, pkglibdir)
    ganeti = Ganeti(
        tmp_path / "root",
        pkglibdir,
        defaults_file(tmp_path / "default-nfdhcpd", site, pkglibdir),
        "kvm-nic-setup",
        per_mode=True,
    )
    ganeti.conf_dir.mkdir(parents=True)
    assert "per-mode layout" in ganeti.enable()
    yield ganeti


def test_per_mode_layout_serves_and_removes(site: Site, upstream_ganeti: Ganeti) -> None:
    """kvm-nic-setup execs CONF_DIR/network/<mode>/up (the hook), which runs the
    built-in it overrides; ACTION=down runs the built-in down and removes the binding."""
    vm = ganeti_tap(site)
    index = int(vm.tap.removeprefix("tap"))
    ip = str(netns.network_for(index)[10 + index])
    env = upstream_ganeti.nic_env(site, vm, index, IP=ip, **network(index))
    result = upstream_ganeti.run(site, env)
    assert result.returncode == 0, result.stderr
    assert_set_up_as_ganeti_does(site, vm, ip)
    run = vm.dhclient()
    assert run.lease is not None, run.describe()
    assert run.lease.address.ip == IPv4Address(ip)

    result = upstream_ganeti.run(site, {**env, "ACTION": "down"})
    assert result.returncode == 0, result.stderr
    assert not (site.daemon.datapath / vm.tap).exists()
