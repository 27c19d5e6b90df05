"""Open vSwitch: a VM switched by OVS gets its lease through the hybrid plug.

README "Open vSwitch": a TAP plugged straight into an OVS bridge is not served (the
kernel datapath takes its frames before netfilter); the TAP goes into a Linux bridge
`qbr<N>` whose veth `qvb<N>`/`qvo<N>` is the OVS port, as OpenStack's hybrid plug
and Proxmox's firewall bridge do. br_netfilter then queues the VM's request with
physindev = the TAP and indev = qbr<N> (the binding's INDEV), nfdhcpd answers on the
TAP, and everything else the VM sends crosses OVS.

Open vSwitch runs here in the hypervisor namespace, from a database and run
directory of its own in the test's work directory: ovsdb-server and ovs-vswitchd
with the userspace datapath (`datapath_type=netdev`), since this machine's kernel has
no `openvswitch` module. The part nfdhcpd depends on, the Linux bridge in front of
OVS, is the same with the kernel datapath.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path

import pytest

from . import netns
from .netns import BindingSpec, Hypervisor

pytestmark = pytest.mark.e2e

OVS_TOOLS = ("ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl")
SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")
GATEWAY = IPv4Interface("10.77.0.1/24")
VM_IP = IPv4Address("10.77.0.10")


class OpenVSwitch:
    """ovsdb-server and ovs-vswitchd in `hv`'s namespace, all files in `root`."""

    def __init__(self, hv: Hypervisor) -> None:
        self.hv = hv
        self.root = hv.workdir / "ovs"
        self.root.mkdir()
        self.db = f"unix:{self.root}/db.sock"
        netns.run(["ovsdb-tool", "create", str(self.root / "conf.db"), str(SCHEMA)])
        # Log, pid and control files of each daemon in root, named after it ({}).
        common = [f"--log-file={self.root}/{{}}.log", f"--pidfile={self.root}/{{}}.pid",
                  f"--unixctl={self.root}/{{}}.ctl", "--no-chdir"]  # fmt: skip
        self.hv.spawn(
            "ovsdb-server",
            ["env", f"OVS_RUNDIR={self.root}", "ovsdb-server", str(self.root / "conf.db"),
             f"--remote=punix:{self.root}/db.sock",
             *(a.format("ovsdb-server") for a in common)],
        )  # fmt: skip
        netns.wait_for(
            lambda: (self.root / "db.sock").exists(), timeout=10, what="ovsdb-server socket"
        )
        self.vsctl("--no-wait", "init")
        self.hv.spawn(
            "ovs-vswitchd",
            ["env", f"OVS_RUNDIR={self.root}", "ovs-vswitchd", self.db,
             *(a.format("ovs-vswitchd") for a in common)],
        )  # fmt: skip

    def vsctl(self, *args: str) -> str:
        return self.hv.exec("ovs-vsctl", f"--db={self.db}", "--timeout=10", *args).stdout


@pytest.fixture
def hv(e2e_ready: None) -> Iterator[Hypervisor]:
    missing = [tool for tool in OVS_TOOLS if shutil.which(tool) is None]
    if missing or not SCHEMA.exists():
        pytest.fail(f"Open vSwitch missing ({', '.join(missing) or SCHEMA}): run scripts/setup")
    with Hypervisor("ovs") as hv:
        yield hv


def test_vm_behind_hybrid_plug_gets_lease_and_reaches_ovs(hv: Hypervisor) -> None:
    ovs = OpenVSwitch(hv)
    # The OVS bridge, with the network's gateway on its internal port.
    ovs.vsctl("add-br", "obr0", "--", "set", "bridge", "obr0", "datapath_type=netdev")
    netns.wait_for(lambda: hv.ip("link", "show", "obr0", check=False).returncode == 0,
                   timeout=10, what="OVS internal port obr0")  # fmt: skip
    hv.ip("addr", "add", str(GATEWAY), "dev", "obr0")
    hv.ip("link", "set", "obr0", "up")
    # The hybrid plug: TAP -> Linux bridge qbr1 -> veth qvb1/qvo1 -> OVS.
    hv.add_bridge("qbr1")
    hv.ip("link", "add", "qvb1", "type", "veth", "peer", "name", "qvo1")
    hv.ip("link", "set", "qvb1", "master", "qbr1", "up")
    hv.ip("link", "set", "qvo1", "up")
    hv.add_dhcp_rule("bridged")
    daemon = hv.start_daemon(functools.partial(netns.render_config, general={"rate_limit": "0"}))
    vm = hv.add_vm("tap1", "52:54:00:7e:0b:01", bridged=True)
    daemon.write_binding(
        "tap1",
        BindingSpec(mac=vm.mac, ip=str(VM_IP), subnet=str(GATEWAY.network),
                    gateway=str(GATEWAY.ip), indev="qbr1", hostname="ovs-vm"),
    )  # fmt: skip

    run = vm.dhclient()

    assert run.lease is not None, run.describe() + daemon.log()
    assert run.lease.address == IPv4Interface(f"{VM_IP}/24")
    assert run.lease.routers == (GATEWAY.ip,)
    assert "indev-mismatch" not in daemon.log()

    # The VM's other traffic is switched by OVS: it reaches the gateway on obr0 once
    # qvo1 is an OVS port, and not before.
    def ping() -> bool:
        args = ("busybox", "ping", "-c", "2", "-W", "2", str(GATEWAY.ip))
        return vm.exec(*args, check=False).returncode == 0

    assert not ping()
    ovs.vsctl("add-port", "obr0", "qvo1")
    assert ping(), ovs.vsctl("show")
