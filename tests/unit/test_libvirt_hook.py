"""conf/libvirt/qemu: the bindings it writes from libvirt's domain and network XML.

The hook runs as libvirtd runs it (argv `qemu <domain> <op> <subop> <extra>`, the
domain XML on stdin, a bare environment) with its state and network directories in
tmp_path. Input is libvirt's own test data (tests/fixtures/libvirt/README.md); what
it writes is parsed by the daemon's own `parse_binding`.
"""

from __future__ import annotations

import os
import subprocess
import xml.etree.ElementTree as ET
from ipaddress import IPv4Address, IPv4Network, IPv6Address
from pathlib import Path

import pytest

from nfdhcpd.core.binding import Binding, parse_binding

REPO = Path(__file__).resolve().parents[2]
HOOK = REPO / "conf" / "libvirt" / "qemu"
FIXTURES = REPO / "tests" / "fixtures" / "libvirt"
ROUTED = (FIXTURES / "net-eth-ifname.xml").read_text()
ON_NETWORK = (FIXTURES / "modern-network.xml").read_text()
NS = "urn:nfdhcpd:libvirt:1"


class Host:
    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path
        self.state = tmp_path / "state"
        self.run_networks = tmp_path / "run-network"
        self.etc_networks = tmp_path / "etc-networks"
        self.defaults = tmp_path / "default-nfdhcpd"
        for d in (self.run_networks, self.etc_networks):
            d.mkdir()
        self.defaults.write_text(
            f"NFDHCPD_STATE_DIR={self.state}\n"
            f"NFDHCPD_LIBVIRT_NETWORKS={self.run_networks}:{self.etc_networks}\n"
        )

    def hook(self, xml: str, *args: str) -> subprocess.CompletedProcess[str]:
        # libvirtd's environment for hooks: LC_ALL, PATH, HOME, USER, LOGNAME only.
        env = {"LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root"}
        env["NFDHCPD_DEFAULTS"] = str(self.defaults)
        return subprocess.run(
            [str(HOOK), *args], input=xml, env=env, capture_output=True, text=True, timeout=30
        )

    def ok(self, xml: str, name: str, op: str = "started") -> None:
        sub = "end" if op == "stopped" else "begin"
        result = self.hook(xml, name, op, sub, "-")
        assert result.returncode == 0, result.stderr
        assert result.stdout == ""
        assert self.leftovers() == []

    def leftovers(self) -> list[str]:
        return sorted(p.name for p in self.state.glob(".*")) if self.state.exists() else []

    def binding(self, tap: str) -> Binding:
        return parse_binding((self.state / tap).read_bytes(), tap)

    def files(self) -> list[str]:
        return sorted(p.name for p in self.state.iterdir()) if self.state.exists() else []


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return Host(tmp_path)


def test_routed_from_metadata(host: Host) -> None:
    host.ok(ROUTED, "QEMUGuest1")
    text = (host.state / "nic02").read_text()
    assert text.splitlines()[0] == (
        "# nfdhcpd binding written by the nfdhcpd libvirt hook for domain QEMUGuest1"
    )
    b = host.binding("nic02")
    assert (b.indev, b.mac.hex(":"), b.hostname) == ("nic02", "00:11:22:33:44:55", "QEMUGuest1")
    assert (b.ip, b.subnet, b.gateway) == (
        IPv4Address("198.51.100.20"),
        IPv4Network("198.51.100.0/24"),
        IPv4Address("198.51.100.1"),
    )
    assert b.dns == (IPv4Address("198.51.100.53"),)
    assert b.dns6 == (IPv6Address("2001:db8:100::53"),)
    assert b.search == ("guests.example.org", "example.org")
    assert b.mtu == 1450
    assert [(str(r.network), str(r.router)) for r in b.routes] == [
        ("10.20.0.0/16", "198.51.100.254")
    ]
    assert (b.ip6, b.gateway6) == (IPv6Address("2001:db8:100::20"), IPv6Address("2001:db8:100::1"))
    assert (host.state / "nic02").stat().st_mode & 0o777 == 0o644


def test_stopped_removes_only_its_own_bindings(host: Host) -> None:
    host.ok(ROUTED, "QEMUGuest1")
    host.ok(ROUTED, "QEMUGuest1", "stopped")
    assert host.files() == []
    # A binding someone else wrote under that name is not the hook's to remove.
    host.state.joinpath("nic02").write_text("MAC=00:11:22:33:44:55\nINDEV=nic02\n")
    host.ok(ROUTED, "QEMUGuest1", "stopped")
    assert host.files() == ["nic02"]


def test_network_dhcp_host_from_etc(host: Host) -> None:
    (host.etc_networks / "default.xml").write_bytes((FIXTURES / "nat-network.xml").read_bytes())
    host.ok(ON_NETWORK, "upstream")
    b = host.binding("vnet0")
    assert (b.indev, b.mac.hex(":"), b.hostname) == ("virbr0", "00:16:3e:77:e2:ed", "a.example.com")
    assert (b.ip, b.subnet, b.gateway) == (
        IPv4Address("192.168.122.10"),
        IPv4Network("192.168.122.0/24"),
        IPv4Address("192.168.122.1"),
    )
    assert b.dns == (IPv4Address("192.168.122.1"),)  # libvirt's dnsmasq on the bridge
    assert not b.private and b.subnet6 is None


def test_network_status_file_wins_over_definition(host: Host) -> None:
    """/run/libvirt/network/<name>.xml (a running network, wrapped in <networkstatus>)
    is read before /etc/libvirt/qemu/networks/<name>.xml."""
    network = (FIXTURES / "nat-network.xml").read_text()
    (host.etc_networks / "default.xml").write_text(network)
    live = network.replace("192.168.122.10", "192.168.122.99")
    (host.run_networks / "default.xml").write_text(
        f"<networkstatus>\n  <class_id bitmap='0-2'/>\n  <floor sum='0'/>\n{live}</networkstatus>\n"
    )
    host.ok(ON_NETWORK, "upstream")
    assert host.binding("vnet0").ip == IPv4Address("192.168.122.99")


def test_isolated_network_sends_no_router(host: Host) -> None:
    root = ET.fromstring((FIXTURES / "nat-network.xml").read_text())
    forward = root.find("forward")
    assert forward is not None
    root.remove(forward)
    (host.etc_networks / "default.xml").write_bytes(ET.tostring(root))
    host.ok(ON_NETWORK, "upstream")
    b = host.binding("vnet0")
    assert b.private and b.gateway is None


def test_ipv6_dhcp_host_by_duid_holding_the_mac(host: Host) -> None:
    """dhcp6host-routed-network.xml: `0:3:0:1:0:16:3e:11:22:33` is a DUID-LL of MAC
    00:16:3e:11:22:33 (RFC 8415 section 11.4); IPv6 hosts carry no MAC of their own."""
    (host.etc_networks / "default.xml").write_bytes(
        (FIXTURES / "dhcp6host-routed-network.xml").read_bytes()
    )
    xml = ON_NETWORK.replace("00:16:3e:77:e2:ed", "00:16:3e:11:22:33")
    host.ok(xml, "upstream")
    b = host.binding("vnet0")
    assert b.ip is None  # no IPv4 <host> for that MAC
    assert (b.ip6, str(b.subnet6), b.gateway6) == (
        IPv6Address("2001:db8:ac10:fd01::1:22"),
        "2001:db8:ac10:fd01::/64",
        IPv6Address("2001:db8:ac10:fd01::1"),
    )


def test_ipv6_dhcp_host_by_name_of_the_ipv4_host(host: Host) -> None:
    network = (FIXTURES / "dhcp6host-routed-network.xml").read_text()
    (host.etc_networks / "default.xml").write_text(network.replace("'paul'", "'a.example.com'"))
    host.ok(ON_NETWORK, "upstream")  # MAC 00:16:3e:77:e2:ed is host a.example.com
    b = host.binding("vnet0")
    assert (b.ip, b.ip6) == (IPv4Address("192.168.122.10"), IPv6Address("2001:db8:ac10:fd01::1:21"))


def test_metadata_overrides_the_network_key_by_key(host: Host) -> None:
    (host.etc_networks / "default.xml").write_bytes((FIXTURES / "nat-network.xml").read_bytes())
    metadata = (
        f'<metadata><n:nfdhcpd xmlns:n="{NS}"><n:interface mac="00:16:3E:77:E2:ED">'
        "<n:dns>192.0.2.53</n:dns><n:mtu>9000</n:mtu></n:interface></n:nfdhcpd></metadata>"
    )
    host.ok(ON_NETWORK.replace("<memory ", metadata + "<memory ", 1), "upstream")
    b = host.binding("vnet0")
    assert (b.ip, b.dns, b.mtu) == (
        IPv4Address("192.168.122.10"),
        (IPv4Address("192.0.2.53"),),
        9000,
    )


def test_eui64_address_goes_to_eui64(host: Host) -> None:
    xml = ROUTED.replace("2001:db8:100::20", "2001:db8:100::211:22ff:fe33:4455")
    host.ok(xml, "QEMUGuest1")
    b = host.binding("nic02")
    assert (b.eui64, b.ip6) == (IPv6Address("2001:db8:100::211:22ff:fe33:4455"), None)


def test_bridge_and_openvswitch_indev(host: Host) -> None:
    bridged = ROUTED.replace("<interface type='ethernet'>", "<interface type='bridge'>").replace(
        "<script path='/etc/qemu-ifup'/>", "<source bridge='br0'/>"
    )
    host.ok(bridged, "QEMUGuest1")
    assert host.binding("nic02").indev == "br0"
    ovs = bridged.replace("<source bridge='br0'/>", "<source bridge='ovsbr0'/>"
                          "<virtualport type='openvswitch'/>")  # fmt: skip
    host.ok(ovs, "QEMUGuest1")
    assert host.binding("nic02").indev is None


def test_nic_without_addresses_is_skipped_and_its_stale_binding_removed(host: Host) -> None:
    host.ok(ROUTED, "QEMUGuest1")
    # The same TAP name, later used by a domain nfdhcpd does not serve.
    host.ok(ROUTED.replace('mac="00:11:22:33:44:55"', 'mac="00:11:22:33:44:66"'), "other")
    assert host.files() == []


def test_reconnect_writes_like_started(host: Host) -> None:
    host.ok(ROUTED, "QEMUGuest1", "reconnect")
    assert host.binding("nic02").ip == IPv4Address("198.51.100.20")


@pytest.mark.parametrize("op", ["prepare", "start", "release", "migrate", "restore", "attach"])
def test_other_operations_write_nothing_and_print_nothing(host: Host, op: str) -> None:
    result = host.hook(ROUTED, "QEMUGuest1", op, "begin", "-")
    assert (result.returncode, result.stdout, host.files()) == (0, "", [])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("198.51.100.20<", "203.0.113.5<"), "IP '203.0.113.5': outside SUBNET 198.51.100.0/24"),
        (("<nfdhcpd:mtu>1450", "<nfdhcpd:mtu>40"), "MTU '40': not an integer in 68..65535"),
        (("198.51.100.53 ", "ns1.example "), "name server 'ns1.example' is not an IP address"),
        (("<nfdhcpd:mtu>1450</nfdhcpd:mtu>", "<nfdhcpd:vlan>4</nfdhcpd:vlan>"),
         "unknown metadata element <vlan>"),
        (("<interface type='ethernet'>", "<interface type='direct'>"), "does not pass a TAP"),
    ],
)  # fmt: skip
def test_bad_metadata_fails_started_naming_it(
    host: Host, change: tuple[str, str], message: str
) -> None:
    xml = ROUTED.replace(*change)
    assert xml != ROUTED
    result = host.hook(xml, "QEMUGuest1", "started", "begin", "-")
    assert result.returncode == 1
    assert "domain QEMUGuest1, interface nic02 (00:11:22:33:44:55)" in result.stderr
    assert message in result.stderr
    assert host.files() == []


def test_bad_metadata_never_fails_reconnect(host: Host) -> None:
    """libvirtd kills a running domain whose reconnect hook fails: log, exit 0."""
    result = host.hook(ROUTED.replace("<nfdhcpd:mtu>1450", "<nfdhcpd:mtu>40"),
                       "QEMUGuest1", "reconnect", "begin", "-")  # fmt: skip
    assert result.returncode == 0 and "MTU '40'" in result.stderr


def test_not_xml_fails_started_cleanly(host: Host) -> None:
    result = host.hook("<domain><name>x</na", "x", "started", "begin", "-")
    assert result.returncode == 1 and "domain x:" in result.stderr
    assert "Traceback" not in result.stderr


def test_state_dir_from_environment_without_defaults_file(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "NFDHCPD_DEFAULTS": str(tmp_path / "none"),
           "NFDHCPD_STATE_DIR": str(tmp_path / "s")}  # fmt: skip
    result = subprocess.run([str(HOOK), "QEMUGuest1", "started", "begin", "-"], input=ROUTED,
                            env=env, capture_output=True, text=True, timeout=30)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "s" / "nic02").exists()


def test_works_through_a_symlink(host: Host, tmp_path: Path) -> None:
    """Enabled as /etc/libvirt/hooks/qemu.d/nfdhcpd -> /usr/lib/nfdhcpd/libvirt/qemu."""
    link = tmp_path / "qemu.d" / "nfdhcpd"
    link.parent.mkdir()
    link.symlink_to(HOOK)
    env = {"PATH": os.environ["PATH"], "NFDHCPD_DEFAULTS": str(host.defaults)}
    result = subprocess.run([str(link), "QEMUGuest1", "started", "begin", "-"], input=ROUTED,
                            env=env, capture_output=True, text=True, timeout=30)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert host.files() == ["nic02"]


def test_metadata_children_without_namespace_prefix(host: Host) -> None:
    """`virsh metadata --set` puts only the root element in the namespace."""
    xml = ROUTED.replace("<nfdhcpd:interface", "<interface").replace(
        "</nfdhcpd:interface", "</interface"
    )
    xml = xml.replace("<nfdhcpd:ip>", "<ip>").replace("</nfdhcpd:ip>", "</ip>")
    assert xml.count("<ip>") == 1
    host.ok(xml, "QEMUGuest1")
    assert host.binding("nic02").ip == IPv4Address("198.51.100.20")
