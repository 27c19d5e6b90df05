"""conf/proxmox/nfdhcpd-hookscript: bindings from a Proxmox VE VM config.

Run as Proxmox runs a hookscript (`<script> <vmid> <phase>`), with the config
directory, sysfs and state directory in tmp_path. The config is qemu-server's own
test data (tests/fixtures/proxmox/README.md); the bindings are parsed by the daemon's
`parse_binding`.
"""

from __future__ import annotations

import os
import subprocess
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from pathlib import Path

import pytest

from nfdhcpd.core.binding import Binding, parse_binding

REPO = Path(__file__).resolve().parents[2]
HOOK = REPO / "conf" / "proxmox" / "nfdhcpd-hookscript"
CONFIG = (REPO / "tests" / "fixtures" / "proxmox" / "120.conf").read_text()


class Node:
    """A Proxmox node's files: /etc/pve/qemu-server, /sys/class/net, the state dir."""

    def __init__(self, tmp_path: Path) -> None:
        self.state = tmp_path / "state"
        self.configs = tmp_path / "qemu-server"
        self.sysfs = tmp_path / "sys-class-net"
        self.configs.mkdir()
        self.sysfs.mkdir()
        self.env = {
            "PATH": os.environ["PATH"],
            "NFDHCPD_DEFAULTS": str(tmp_path / "none"),
            "NFDHCPD_STATE_DIR": str(self.state),
            "NFDHCPD_PVE_CONFIG_DIR": str(self.configs),
            "NFDHCPD_SYSFS_NET": str(self.sysfs),
        }

    def config(self, vmid: int, text: str) -> None:
        (self.configs / f"{vmid}.conf").write_text(text)

    def link(self, name: str, master: str | None = None) -> None:
        """A network device as sysfs shows it, a port of `master` if given."""
        (self.sysfs / name).mkdir()
        if master is not None:
            (self.sysfs / name / "master").symlink_to(f"../{master}")

    def hook(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(HOOK), *args], env=self.env, capture_output=True, text=True, timeout=30
        )

    def ok(self, vmid: int, phase: str) -> None:
        result = self.hook(str(vmid), phase)
        assert result.returncode == 0, result.stderr
        assert not any(p.name.startswith(".") for p in self.files_paths())

    def files_paths(self) -> list[Path]:
        return sorted(self.state.iterdir()) if self.state.exists() else []

    def files(self) -> list[str]:
        return [p.name for p in self.files_paths()]

    def binding(self, tap: str) -> Binding:
        return parse_binding((self.state / tap).read_bytes(), tap)


@pytest.fixture
def node(tmp_path: Path) -> Node:
    n = Node(tmp_path)
    n.config(120, CONFIG)
    return n


def test_post_start_firewall_bridge_and_plain_bridge(node: Node) -> None:
    """net0 has firewall=1: its TAP is a port of fwbr120i0 (INDEV), not of vnet0."""
    for bridge in ("vnet0", "fwbr120i0", "vmbr1"):
        node.link(bridge)
    node.link("tap120i0", "fwbr120i0")
    node.link("tap120i1", "vmbr1")
    node.ok(120, "post-start")
    assert node.files() == ["tap120i0", "tap120i1"]
    b0 = node.binding("tap120i0")
    assert (b0.indev, b0.mac.hex(":"), b0.hostname) == ("fwbr120i0", "bc:24:11:2c:69:ec", "deb1223")
    assert (b0.ip, b0.subnet, b0.gateway) == (
        IPv4Address("103.214.69.10"),
        IPv4Network("103.214.69.0/25"),
        IPv4Address("103.214.69.1"),
    )
    assert b0.dns == (IPv4Address("103.214.69.53"),)
    assert b0.dns6 == (IPv6Address("2001:db8:69::53"),)
    assert b0.search == ("example.org",)
    assert b0.subnet6 is None  # ip6 of ipconfig0 is not set: nothing to hand out
    b1 = node.binding("tap120i1")
    assert (b1.indev, b1.mac.hex(":"), b1.ip, b1.mtu) == ("vmbr1", "bc:24:11:2c:69:ed", None, 1450)
    assert (b1.subnet6, b1.gateway6, b1.ip6) == (
        IPv6Network("2001:db8:69:1::/64"),
        IPv6Address("2001:db8:69:1::1"),
        IPv6Address("2001:db8:69:1::10"),
    )


def test_tap_not_visible_falls_back_to_the_config(node: Node) -> None:
    node.ok(120, "post-start")
    assert node.binding("tap120i0").indev == "vnet0"  # no fwbr120i0 on this node
    assert node.binding("tap120i1").indev == "vmbr1"
    node.link("fwbr120i0")
    node.ok(120, "post-start")
    assert node.binding("tap120i0").indev == "fwbr120i0"


def test_open_vswitch_port_has_no_indev(node: Node) -> None:
    node.link("ovs-system")
    node.link("tap120i1", "ovs-system")
    node.ok(120, "post-start")
    assert node.binding("tap120i1").indev is None


def test_post_stop_removes_only_its_own(node: Node) -> None:
    node.ok(120, "post-start")
    node.state.joinpath("tap120i7").write_text("MAC=bc:24:11:00:00:07\n")  # by hand
    node.state.joinpath("tap1200i0").write_text(
        "# nfdhcpd binding written by the nfdhcpd Proxmox VE hookscript for VM 1200\n"
        "MAC=bc:24:11:00:00:08\nIP=192.0.2.8\nSUBNET=192.0.2.0/24\n"
    )
    node.ok(120, "post-stop")
    assert node.files() == ["tap1200i0", "tap120i7"]


@pytest.mark.parametrize("phase", ["pre-start", "pre-stop"])
def test_other_phases_do_nothing(node: Node, phase: str) -> None:
    node.ok(120, phase)
    assert node.files() == []


def test_pending_and_snapshot_sections_are_not_read(node: Node) -> None:
    """[special:cloudinit] and the snapshot [cloudinit] have ipconfig0 ip=dhcp: had
    they been read, net0 would get no binding."""
    node.ok(120, "post-start")
    assert node.binding("tap120i0").ip == IPv4Address("103.214.69.10")


def test_dhcp_only_nic_gets_no_binding_and_loses_a_stale_one(node: Node) -> None:
    node.ok(120, "post-start")
    node.config(120, CONFIG.replace("ipconfig0: ip=103.214.69.10/25,gw=103.214.69.1\n", ""))
    node.ok(120, "post-start")
    assert node.files() == ["tap120i1"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("ip=103.214.69.10/25", "ip=103.214.69.300/25"),
         "ipconfig0 ip='103.214.69.300/25' is not IPv4/CIDR"),
        (("nameserver: 103.214.69.53", "nameserver: dns.example"),
         "name server 'dns.example' is not an IP address"),
        (("vmxnet3=BC:24:11:2C:69:EC", "vmxnet3=BC:24:11"), "MAC 'BC:24:11': not a MAC address"),
        (("bridge=vmbr1,mtu=1450", "mtu=40"), "MTU '40'"),
    ],
)  # fmt: skip
def test_bad_config_fails_naming_vm_and_nic(
    node: Node, change: tuple[str, str], message: str
) -> None:
    text = CONFIG.replace(*change, 1)
    assert text != CONFIG
    node.config(120, text)
    result = node.hook("120", "post-start")
    assert result.returncode == 1
    assert "VM 120, net" in result.stderr and message in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_config_and_bad_arguments(node: Node) -> None:
    result = node.hook("121", "post-start")
    assert result.returncode == 1 and "121.conf" in result.stderr
    assert node.hook("abc", "post-start").returncode == 2
    assert node.hook("120").returncode == 2
