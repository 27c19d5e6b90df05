"""conf/ganeti/hook: the binding files it writes from Ganeti's environment, the NICs it
skips, what it refuses, and how it runs Ganeti's own setup.

The hook is run as Ganeti runs it (a process with the NIC in its environment, the
variables of Ganeti's hv_base.ConfigureNIC) but with its state directory in tmp_path
and Ganeti's TAP setup switched off or replaced by recording fakes, so no root and no
network changes are needed. Ganeti's real scripts run in tests/e2e/test_ganeti_e2e.py.
What the hook writes is compared byte for byte and parsed by `parse_binding`, the
parser of the daemon itself.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import threading
from collections.abc import Mapping
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from pathlib import Path

import pytest

from nfdhcpd.core.binding import Binding, Route, ignored_name, parse_binding

HOOKS = Path(__file__).resolve().parents[2] / "conf" / "ganeti"
HOOK = HOOKS / "hook"
ENABLE = HOOKS / "nfdhcpd-ganeti"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="Ganeti's scripts are bash")

#: A routed NIC in an opted-in network with IPv4 only, as Ganeti exports it.
ROUTED = {
    "INSTANCE": "vm1.example.org",
    "INTERFACE": "tap0",
    "INTERFACE_INDEX": "0",
    "INTERFACE_UUID": "5d0a2a4e-0d0c-4e07-9a0e-2b3c4d5e6f70",
    "MODE": "routed",
    "LINK": "100",
    "MAC": "aa:00:00:11:22:33",
    "IP": "192.0.2.10",
    "TAGS": "",
    "NETWORK_NAME": "public4",
    "NETWORK_UUID": "0c1b2a39-4857-4a6b-8c9d-0e1f2a3b4c5d",
    "NETWORK_TAGS": "nfdhcpd",
    "NETWORK_SUBNET": "192.0.2.0/24",
    "NETWORK_GATEWAY": "192.0.2.1",
}

#: A bridged NIC with IPv4 and IPv6: GRNET's README example.
BRIDGED6 = {
    "INSTANCE": "testing-vm",
    "INTERFACE": "tap10",
    "INTERFACE_INDEX": "1",
    "MODE": "bridged",
    "LINK": "br0",
    "BRIDGE": "br0",
    "MAC": "aa:6b:39:22:33:44",
    "IP": "192.0.2.100",
    "TAGS": "synnefo:network:0:protected",
    "NETWORK_NAME": "dual",
    "NETWORK_TAGS": "nfdhcpd",
    "NETWORK_SUBNET": "192.0.2.0/24",
    "NETWORK_GATEWAY": "192.0.2.1",
    "NETWORK_SUBNET6": "2001:db8:aaaa:bbbb::/64",
    "NETWORK_GATEWAY6": "2001:db8:aaaa:bbbb::1",
}


def header(instance: str, index: str) -> str:
    return f"# nfdhcpd binding of {instance} NIC {index}, written by nfdhcpd's Ganeti hook\n"


def run(
    nic: Mapping[str, str], state: Path, *args: str, hook: Path = HOOK, **extra: str
) -> subprocess.CompletedProcess[str]:
    """Run the hook with a Ganeti-like environment and nothing else from ours."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "NFDHCPD_DEFAULTS": str(state.parent / "no-such-defaults"),
        "NFDHCPD_STATE_DIR": str(state),
        "NFDHCPD_GANETI_SETUP": "no",
        "NFDHCPD_HOOK_SYSLOG": "no",
        **nic,
        **extra,
    }
    return subprocess.run(
        [str(hook), *args], env=env, capture_output=True, text=True, timeout=30, check=False
    )


def ifup(nic: Mapping[str, str], state: Path, *args: str, **extra: str) -> str:
    result = run(nic, state, *args, hook=HOOK, **extra)
    assert result.returncode == 0, result.stderr
    assert leftovers(state) == []
    return (state / nic.get("INTERFACE", args[0] if args else "")).read_text()


def failing(nic: Mapping[str, str], state: Path, **extra: str) -> str:
    """Run a NIC the hook must refuse: exit 1 and one line on stderr saying why."""
    result = run(nic, state, hook=HOOK, **extra)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def skipped(nic: Mapping[str, str], state: Path, **extra: str) -> str:
    """Run a NIC nfdhcpd does not serve: exit 0, one log line, no binding."""
    result = run(nic, state, hook=HOOK, **extra)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert not (state / nic["INTERFACE"]).exists()
    return lines[0]


def leftovers(state: Path) -> list[str]:
    """Temporary files a hook left behind: anything hidden in the state directory."""
    if not state.exists():
        return []
    return sorted(p.name for p in state.iterdir() if p.name.startswith("."))


def parsed(state: Path, name: str) -> Binding:
    return parse_binding((state / name).read_bytes(), name)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


# --------------------------------------------------------------------------- bindings


def test_routed_ipv4(state: Path) -> None:
    assert ifup(ROUTED, state) == header("vm1.example.org", "0") + (
        "INDEV=tap0\n"
        "IP=192.0.2.10\n"
        "MAC=aa:00:00:11:22:33\n"
        "HOSTNAME=vm1.example.org\n"
        'TAGS=""\n'
        "GATEWAY=192.0.2.1\n"
        "SUBNET=192.0.2.0/24\n"
        "GATEWAY6=\n"
        "SUBNET6=\n"
        "EUI64=\n"
    )
    b = parsed(state, "tap0")
    assert (b.indev, b.ip, b.mac.hex(":"), b.hostname) == (
        "tap0",
        IPv4Address("192.0.2.10"),
        "aa:00:00:11:22:33",
        "vm1.example.org",
    )
    assert b.subnet6 is None and b.eui64 is None and b.tags is None
    assert (state / "tap0").stat().st_mode & 0o777 == 0o644


def test_bridged_ipv6_is_grnet_example(state: Path) -> None:
    """The keys and values of GRNET's README binding, in snf-network's order."""
    assert ifup(BRIDGED6, state) == header("testing-vm", "1") + (
        "INDEV=br0\n"
        "IP=192.0.2.100\n"
        "MAC=aa:6b:39:22:33:44\n"
        "HOSTNAME=testing-vm\n"
        'TAGS="synnefo:network:0:protected"\n'
        "GATEWAY=192.0.2.1\n"
        "SUBNET=192.0.2.0/24\n"
        "GATEWAY6=2001:db8:aaaa:bbbb::1\n"
        "SUBNET6=2001:db8:aaaa:bbbb::/64\n"
        "EUI64=2001:db8:aaaa:bbbb:a86b:39ff:fe22:3344\n"
    )
    b = parsed(state, "tap10")
    assert b.indev == "br0"
    assert b.subnet6 == IPv6Network("2001:db8:aaaa:bbbb::/64")
    assert b.gateway6 == IPv6Address("2001:db8:aaaa:bbbb::1")
    assert b.eui64 == IPv6Address("2001:db8:aaaa:bbbb:a86b:39ff:fe22:3344")
    assert b.tags == "synnefo:network:0:protected"


@pytest.mark.parametrize(
    ("mac", "eui64"),
    [
        ("00:00:00:00:00:00", "2001:db8::200:ff:fe00:0"),  # global: U/L bit set
        ("02:00:00:00:00:01", "2001:db8::ff:fe00:1"),  # local: U/L bit cleared
        ("AA:BB:CC:DD:EE:FF", "2001:db8::a8bb:ccff:fedd:eeff"),
    ],
)
def test_eui64(state: Path, mac: str, eui64: str) -> None:
    ifup({**ROUTED, "MAC": mac, "NETWORK_SUBNET6": "2001:db8::/64"}, state)
    assert parsed(state, "tap0").eui64 == IPv6Address(eui64)


def test_interface_from_argument(state: Path) -> None:
    nic = {k: v for k, v in ROUTED.items() if k != "INTERFACE"}
    ifup(nic, state, "tap7")
    assert parsed(state, "tap7").indev == "tap7"


def test_ipv6_only_network(state: Path) -> None:
    nic = {k: v for k, v in BRIDGED6.items() if k not in ("IP", "NETWORK_SUBNET")}
    text = ifup(nic, state)
    assert "IP=\n" in text and "SUBNET=\n" in text and "GATEWAY=\n" in text
    b = parsed(state, "tap10")
    assert b.ip is None and b.eui64 == IPv6Address("2001:db8:aaaa:bbbb:a86b:39ff:fe22:3344")


def test_subnet6_not_a_64_leaves_eui64_empty(state: Path) -> None:
    result = run({**ROUTED, "NETWORK_SUBNET6": "2001:db8::/48"}, state)
    assert result.returncode == 0
    assert "not a /64" in result.stderr
    assert "EUI64=\n" in (state / "tap0").read_text()
    assert parsed(state, "tap0").subnet6 == IPv6Network("2001:db8::/48")


@pytest.mark.parametrize(
    "tags",
    [
        "a b c",
        "synnefo:network:0:protected synnefo:network:1:limited",
        "it's",
        'say "hi" $HOME `id` \\n # not a comment',
        "  spaced  out  ",
        "ünïcödé:tag",
    ],
)
def test_tags_read_back_unchanged(state: Path, tags: str) -> None:
    ifup({**ROUTED, "TAGS": tags}, state)
    assert parsed(state, "tap0").tags == tags
    # ... and a shell sourcing the file (as GRNET's tools did) reads the same.
    shell = subprocess.run(
        ["bash", "-c", '. "$1"; printf %s "$TAGS"', "_", str(state / "tap0")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shell.stdout == tags


# ------------------------------------------------------------------------------- tags


def test_network_tags_set_binding_keys(state: Path) -> None:
    """Every binding key a tag can set, from the network's tags (docs/ganeti.md)."""
    nic = {
        **BRIDGED6,
        "NETWORK_TAGS": " ".join(
            [
                "nfdhcpd",
                "nfdhcpd:dns:192.0.2.53+192.0.2.54",
                "nfdhcpd:dns6:2001:db8::53",
                "nfdhcpd:domain:example.org",
                "nfdhcpd:search:example.org+example.net",
                "nfdhcpd:ntp:192.0.2.123",
                "nfdhcpd:routes:10.1.0.0/16@192.0.2.254+10.2.0.0/16@192.0.2.253",
                "nfdhcpd:mtu:1450",
                "nfdhcpd:private",
                "nfdhcpd:macspoof:yes",
                "other:tag",
            ]
        ),
    }
    text = ifup(nic, state)
    assert text.endswith(
        'DNS="192.0.2.53 192.0.2.54"\n'
        "DNS6=2001:db8::53\n"
        "DOMAIN=example.org\n"
        'SEARCH="example.org example.net"\n'
        "NTP=192.0.2.123\n"
        'ROUTES="10.1.0.0/16 via 192.0.2.254, 10.2.0.0/16 via 192.0.2.253"\n'
        "MTU=1450\n"
        "PRIVATE=yes\n"
        "MACSPOOF=yes\n"
    )
    b = parsed(state, "tap10")
    assert b.dns == (IPv4Address("192.0.2.53"), IPv4Address("192.0.2.54"))
    assert b.dns6 == (IPv6Address("2001:db8::53"),)
    assert b.domain == "example.org"
    assert b.search == ("example.org", "example.net")
    assert b.ntp == (IPv4Address("192.0.2.123"),)
    assert b.routes == (
        Route(IPv4Network("10.1.0.0/16"), IPv4Address("192.0.2.254")),
        Route(IPv4Network("10.2.0.0/16"), IPv4Address("192.0.2.253")),
    )
    assert (b.mtu, b.private, b.macspoof) == (1450, True, True)


def test_instance_tags_override_network_tags(state: Path) -> None:
    """The NIC's instance tags (by index, name or UUID) beat the instance's, which beat
    the network's; another NIC's tags do not apply."""
    nic = {
        **BRIDGED6,
        "INTERFACE_NAME": "frontend",
        "NETWORK_TAGS": "nfdhcpd nfdhcpd:dns:192.0.2.1 nfdhcpd:mtu:1400 nfdhcpd:private",
        "TAGS": " ".join(
            [
                "nfdhcpd:mtu:1300",  # the instance's
                "nfdhcpd:nic:frontend:dns:192.0.2.2",  # this NIC, by name
                "nfdhcpd:nic:1:private:no",  # this NIC, by index
                "nfdhcpd:nic:1:ip6:2001:db8:aaaa:bbbb::42",
                "nfdhcpd:nic:0:mtu:9000",  # NIC 0's
            ]
        ),
    }
    ifup(nic, state)
    b = parsed(state, "tap10")
    assert b.dns == (IPv4Address("192.0.2.2"),)
    assert b.mtu == 1300
    assert b.private is False
    assert b.ip6 == IPv6Address("2001:db8:aaaa:bbbb::42")


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ("nfdhcpd:dns:192.0.2.300", "nfdhcpd:dns:192.0.2.300"),
        ("nfdhcpd:dns:", "no value"),
        ("nfdhcpd:dns6:192.0.2.1", "dns6"),
        ("nfdhcpd:mtu:20", "outside 68..65535"),
        ("nfdhcpd:mtu:big", "nfdhcpd:mtu:big"),
        ("nfdhcpd:private:maybe", "not yes/no"),
        ("nfdhcpd:routes:10.1.0.0/16", "NETWORK/LEN@ROUTER"),
        ("nfdhcpd:search:-bad-", "not a domain name"),
        ("nfdhcpd:domain:a.org+b.org", "one domain"),
        ("nfdhcpd:dsn:192.0.2.1", "unknown key 'dsn'"),
        ("nfdhcpd:ip6:2001:db8::1", "ip6 is one NIC's"),
        ("nfdhcpd:dns:192.0.2.1 nfdhcpd:dns:192.0.2.2", "twice"),
    ],
)
def test_bad_network_tags_refused(state: Path, tags: str, message: str) -> None:
    line = failing({**BRIDGED6, "NETWORK_TAGS": f"nfdhcpd {tags}"}, state)
    assert message in line
    assert not (state / "tap10").exists()


def test_ip6_outside_subnet6_refused(state: Path) -> None:
    line = failing({**BRIDGED6, "TAGS": "nfdhcpd:nic:1:ip6:2001:db8:ffff::1"}, state)
    assert "outside the network's IPv6 subnet" in line


def test_opt_in_tag_is_configurable(tmp_path: Path, state: Path) -> None:
    defaults = tmp_path / "default"
    defaults.write_text("NFDHCPD_TAG=dhcp-by-host\n")
    nic = {**ROUTED, "NETWORK_TAGS": "dhcp-by-host dhcp-by-host:dns:192.0.2.9"}
    ifup(nic, state, NFDHCPD_DEFAULTS=str(defaults))
    assert parsed(state, "tap0").dns == (IPv4Address("192.0.2.9"),)
    # The default tag no longer opts in.
    line = skipped({**ROUTED, "NETWORK_TAGS": "nfdhcpd"}, state, NFDHCPD_DEFAULTS=str(defaults))
    assert "has no tag 'dhcp-by-host'" in line


def test_empty_tag_setting_serves_every_network(state: Path) -> None:
    ifup({**ROUTED, "NETWORK_TAGS": ""}, state, NFDHCPD_TAG="")
    assert parsed(state, "tap0").ip == IPv4Address("192.0.2.10")


# ---------------------------------------------------------------- NICs not served


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"NETWORK_TAGS": "other"}, "network public4 has no tag 'nfdhcpd'"),
        ({"NETWORK_NAME": "", "NETWORK_UUID": "", "NETWORK_TAGS": ""}, "not in a Ganeti network"),
        ({"IP": ""}, "no IPv4 address"),
        ({"NETWORK_SUBNET": ""}, "no IPv4 address"),
        ({"MODE": "openvswitch", "LINK": "ovs0"}, "Open vSwitch"),
        ({"MODE": "ext"}, "MODE ext"),
        ({"INTERFACE": "gnt.com.0"}, "instance-communication"),
    ],
)
def test_not_served_nics_start_fine(state: Path, change: dict[str, str], reason: str) -> None:
    nic = {**ROUTED, **change}
    line = skipped(nic, state)
    assert reason in line and "not served" in line
    assert not state.exists() or sorted(state.iterdir()) == []


def test_bridged_nic_without_ip_or_network(state: Path) -> None:
    """The two ordinary NICs the old hook failed: no IP; an IP but no gnt-network."""
    no_ip = {k: v for k, v in BRIDGED6.items() if not k.startswith(("IP", "NETWORK_"))}
    assert "not in a Ganeti network" in skipped(no_ip, state)
    no_network = {k: v for k, v in BRIDGED6.items() if not k.startswith("NETWORK_")}
    assert "not in a Ganeti network" in skipped(no_network, state)


def test_skipped_nic_removes_old_binding(state: Path) -> None:
    """A TAP name reused by a NIC nfdhcpd does not serve keeps no stale binding."""
    ifup(ROUTED, state)
    line = skipped({**ROUTED, "NETWORK_TAGS": ""}, state)
    assert "its old binding removed" in line


# -------------------------------------------------------------------------- refused


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"INTERFACE": ""}, "INTERFACE is not set"),
        ({"INTERFACE": "../etc/passwd"}, "not an interface name"),
        ({"INTERFACE": ".tap0"}, "not an interface name"),
        ({"INTERFACE": "tap0123456789abcd"}, "not an interface name"),
        ({"MODE": ""}, "MODE is not set"),
        ({"MODE": "bridged", "LINK": ""}, "without LINK"),
        ({"MAC": ""}, "is not a MAC address"),
        ({"MAC": "aa:00:00:11:22"}, "is not a MAC address"),
        ({"MAC": "aa-00-00-11-22-33"}, "is not a MAC address"),
        ({"IP": "192.0.3.10"}, "outside NETWORK_SUBNET"),
        ({"NETWORK_SUBNET6": "2001:db8::1/64"}, "host bits"),
        ({"NETWORK_SUBNET6": "nonsense"}, "NETWORK_SUBNET6"),
    ],
)
def test_refused(state: Path, change: dict[str, str], message: str) -> None:
    assert message in failing({**ROUTED, **change}, state)
    assert not (state / "tap0").exists()
    assert leftovers(state) == []


#: Every line break the binding parser ever split on (str.splitlines), the other C0
#: and C1 controls and DEL: none may reach a KEY=VALUE line (issue 12, finding 9).
CONTROLS = ["\n", "\r", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
CONTROLS += ["\t", "\x01", "\x1b", "\x7f", "\x9b"]


@pytest.mark.parametrize("char", CONTROLS, ids=[f"U+{ord(c):04X}" for c in CONTROLS])
@pytest.mark.parametrize("var", ["TAGS", "INSTANCE", "NETWORK_TAGS", "NETWORK_NAME"])
def test_control_characters_refused(state: Path, var: str, char: str) -> None:
    line = failing({**ROUTED, var: f"a{char}b"}, state)
    assert f"{var} contains control character U+{ord(char):04X}" in line
    assert not state.exists()


def test_umask_set_before_anything_is_created(state: Path) -> None:
    """A restrictive umask of the caller makes neither the directory nor the file private."""
    result = subprocess.run(
        ["bash", "-c", 'umask 077; exec "$@"', "_", str(HOOK)],
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "NFDHCPD_DEFAULTS": "/nonexistent",
            "NFDHCPD_STATE_DIR": str(state / "sub"),
            "NFDHCPD_GANETI_SETUP": "no",
            "NFDHCPD_HOOK_SYSLOG": "no",
            **ROUTED,
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(state.stat().st_mode) == 0o755
    assert stat.S_IMODE((state / "sub").stat().st_mode) == 0o755
    assert stat.S_IMODE((state / "sub" / "tap0").stat().st_mode) == 0o644


def test_defaults_file_is_read(tmp_path: Path) -> None:
    defaults = tmp_path / "default"
    elsewhere = tmp_path / "elsewhere"
    defaults.write_text(f"# comment\nNFDHCPD_STATE_DIR={elsewhere}  # trailing\n")
    result = run(ROUTED, tmp_path / "unused", NFDHCPD_DEFAULTS=str(defaults))
    assert result.returncode == 0, result.stderr
    assert parse_binding((elsewhere / "tap0").read_bytes(), "tap0").ip == IPv4Address("192.0.2.10")


# ------------------------------------------------------------------- Ganeti's setup


def fake_net_common(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "net-common"
    path.write_text(body)
    return path


def test_kvm_vif_bridge_runs_net_common_setup_then_checks_it(tmp_path: Path, state: Path) -> None:
    """kvm-ifup execs kvm-vif-bridge *instead of* its setup_bridge, setup_ovs and
    setup_route: the hook runs them in that order, then checks the TAP is there and up
    (it is not, here: no root, no TAP), and refuses rather than write a binding."""
    calls = tmp_path / "calls"
    net_common = fake_net_common(
        tmp_path,
        f"function setup_bridge {{ echo \"bridge $MODE $INTERFACE $LINK\" >> '{calls}'; }}\n"
        f"function setup_ovs {{ echo ovs >> '{calls}'; }}\n"
        f"function setup_route {{ echo route >> '{calls}'; }}\n",
    )
    line = failing(BRIDGED6, state, NFDHCPD_GANETI_SETUP="yes", GANETI_NET_COMMON=str(net_common))
    assert calls.read_text() == "bridge bridged tap10 br0\novs\nroute\n"
    assert "TAP tap10 does not exist" in line
    assert not (state / "tap10").exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("function setup_bridge { exit 1; }\nfunction setup_ovs { :; }\n"
         "function setup_route { :; }\n", "failed (exit 1)"),
        ("# the per-mode layout's net-common: helpers only\nfunction check { :; }\n",
         "defines no setup_bridge: this Ganeti has the per-mode layout"),
    ],
)  # fmt: skip
def test_ganeti_setup_failure_fails_loudly(
    tmp_path: Path, state: Path, body: str, message: str
) -> None:
    net_common = fake_net_common(tmp_path, body)
    line = failing(BRIDGED6, state, NFDHCPD_GANETI_SETUP="yes", GANETI_NET_COMMON=str(net_common))
    assert message in line
    assert not (state / "tap10").exists()


def test_missing_net_common_fails(tmp_path: Path, state: Path) -> None:
    line = failing(BRIDGED6, state, NFDHCPD_GANETI_SETUP="yes", GANETI_PKGLIBDIR=str(tmp_path))
    assert f"cannot read Ganeti's {tmp_path}/net-common" in line


def per_mode_pkglibdir(tmp_path: Path, calls: Path, status: int = 0) -> Path:
    """A fake Ganeti PKGLIBDIR with built-in network/<mode>/{up,down} scripts."""
    pkglibdir = tmp_path / "pkglib"
    for mode in ("routed", "bridged"):
        for action in ("up", "down"):
            script = pkglibdir / "network" / mode / action
            script.parent.mkdir(parents=True, exist_ok=True)
            script.write_text(
                f"#!/bin/bash\necho \"{mode}/{action} $INTERFACE $ACTION\" >> '{calls}'\n"
                f"exit {status}\n"
            )
            script.chmod(0o755)
    return pkglibdir


def test_per_mode_up_runs_the_builtin_it_replaces(tmp_path: Path, state: Path) -> None:
    calls = tmp_path / "calls"
    pkglibdir = per_mode_pkglibdir(tmp_path, calls)
    line = failing(
        {**ROUTED, "ACTION": "up"},
        state,
        NFDHCPD_GANETI_SETUP="yes",
        GANETI_PKGLIBDIR=str(pkglibdir),
    )
    assert calls.read_text() == "routed/up tap0 up\n"
    assert "TAP tap0 does not exist" in line  # then checked, as for kvm-vif-bridge


def test_per_mode_down_runs_builtin_and_removes_binding(tmp_path: Path, state: Path) -> None:
    ifup(ROUTED, state)
    (state / ".tap0.Ab12Cd").write_text("left by an interrupted hook")
    calls = tmp_path / "calls"
    pkglibdir = per_mode_pkglibdir(tmp_path, calls)
    result = run(
        {**ROUTED, "ACTION": "down"},
        state,
        NFDHCPD_GANETI_SETUP="yes",
        GANETI_PKGLIBDIR=str(pkglibdir),
    )
    assert result.returncode == 0, result.stderr
    assert calls.read_text() == "routed/down tap0 down\n"
    assert sorted(state.iterdir()) == []


def test_per_mode_failing_builtin_fails(tmp_path: Path, state: Path) -> None:
    pkglibdir = per_mode_pkglibdir(tmp_path, tmp_path / "calls", status=3)
    line = failing(
        {**BRIDGED6, "ACTION": "up"},
        state,
        NFDHCPD_GANETI_SETUP="yes",
        GANETI_PKGLIBDIR=str(pkglibdir),
    )
    assert f"Ganeti's {pkglibdir}/network/bridged/up failed (exit 3)" in line


# ------------------------------------------------------------------ atomic writing


def test_replaces_whole_file_by_rename(state: Path) -> None:
    """Written to a hidden temporary file in the same directory, renamed into place."""
    ifup(ROUTED, state)
    old_inode = (state / "tap0").stat().st_ino
    ifup({**ROUTED, "IP": "192.0.2.11"}, state)
    assert (state / "tap0").stat().st_ino != old_inode  # a new file, not rewritten
    assert parsed(state, "tap0").ip == IPv4Address("192.0.2.11")


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_only_rename_touches_the_binding(tmp_path: Path, state: Path) -> None:
    trace = tmp_path / "trace"
    state.mkdir()
    result = subprocess.run(
        ["strace", "-f", "-qq", "-o", str(trace), "-e", "trace=%file", str(HOOK)],
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "NFDHCPD_DEFAULTS": "/nonexistent",
            "NFDHCPD_STATE_DIR": str(state),
            "NFDHCPD_GANETI_SETUP": "no",
            "NFDHCPD_HOOK_SYSLOG": "no",
            **ROUTED,
        },
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 and "ptrace" in result.stderr:
        pytest.skip(f"strace cannot trace here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    final = f'"{state}/tap0"'
    touching = [line for line in trace.read_text().splitlines() if final in line]
    renames = [line for line in touching if "rename" in line]
    assert len(renames) == 1, touching
    temp = renames[0].split('"')[1]
    assert Path(temp).parent == state and ignored_name(Path(temp).name)
    # Nothing opened, wrote or truncated the final path itself.
    assert not [line for line in touching if "open" in line and "O_WRONLY" in line]
    assert not [line for line in touching if "O_RDWR" in line or "truncate" in line]


def test_readers_never_see_part_of_a_binding(state: Path) -> None:
    versions = [{**ROUTED, "IP": f"192.0.2.{n}", "TAGS": "x" * 3000} for n in (10, 11)]
    ifup(versions[0], state)
    expected = {ifup(v, state) for v in versions}
    seen: set[str] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                seen.add((state / "tap0").read_text())
            except FileNotFoundError:  # never: the rename replaces the file in one step
                seen.add("<missing>")

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for n in range(20):
            ifup(versions[n % 2], state)
    finally:
        stop.set()
        thread.join()
    assert seen <= expected, seen - expected
    assert leftovers(state) == []


def test_failed_rename_leaves_no_temporary_file(state: Path) -> None:
    (state / "tap0").mkdir(parents=True)  # the rename cannot replace a directory
    result = run(ROUTED, state)
    assert result.returncode == 1
    assert leftovers(state) == []


# -------------------------------------------------------------------- down (GRNET)


def test_kvm_ifdown_custom_removes_binding(tmp_path: Path, state: Path) -> None:
    """Linked as GRNET Ganeti's kvm-ifdown-custom (no ACTION): the hook removes."""
    ifdown = tmp_path / "kvm-ifdown-custom"
    ifdown.symlink_to(HOOK)
    ifup(ROUTED, state)
    ifup(BRIDGED6, state)
    (state / ".tap0.Ab12Cd").write_text("left by an interrupted hook")
    result = run(ROUTED, state, hook=ifdown)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in state.iterdir()) == ["tap10"]  # the other TAP's stays
    # Again, with nothing left to remove: still fine.
    assert run(ROUTED, state, hook=ifdown).returncode == 0


@pytest.mark.parametrize("interface", ["", "../x", ".hidden"])
def test_down_refuses_bad_interface(state: Path, interface: str) -> None:
    state.mkdir()
    (state / "x").write_text("not touched")
    failing({**ROUTED, "INTERFACE": interface, "ACTION": "down"}, state)
    assert (state / "x").exists()


# ---------------------------------------------------------------- nfdhcpd-ganeti


def enable(command: str, conf: Path, pkglib: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ENABLE), command, "--conf-dir", str(conf), "--pkglibdir", str(pkglib)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_enable_kvm_vif_bridge(tmp_path: Path) -> None:
    conf, pkglib = tmp_path / "etc", tmp_path / "lib"
    conf.mkdir()
    pkglib.mkdir()
    (pkglib / "kvm-ifup").touch()
    assert enable("status", conf, pkglib).returncode == 1
    result = enable("enable", conf, pkglib)
    assert result.returncode == 0, result.stderr
    assert (conf / "kvm-vif-bridge").resolve() == HOOK.resolve()
    assert enable("enable", conf, pkglib).returncode == 0  # twice is fine
    assert "enabled:" in enable("status", conf, pkglib).stdout
    assert enable("disable", conf, pkglib).returncode == 0
    assert not (conf / "kvm-vif-bridge").exists()


def test_enable_per_mode_layout(tmp_path: Path) -> None:
    conf, pkglib = tmp_path / "etc", tmp_path / "lib"
    conf.mkdir()
    pkglib.mkdir()
    (pkglib / "kvm-nic-setup").touch()
    result = enable("enable", conf, pkglib)
    assert result.returncode == 0, result.stderr
    links = sorted(str(p.relative_to(conf)) for p in conf.rglob("*") if p.is_symlink())
    assert links == [f"network/{m}/{a}" for m in ("bridged", "routed") for a in ("down", "up")]
    assert enable("status", conf, pkglib).returncode == 0
    enable("disable", conf, pkglib)
    assert not [p for p in conf.rglob("*") if p.is_symlink()]


def test_enable_never_replaces_another_script(tmp_path: Path) -> None:
    conf, pkglib = tmp_path / "etc", tmp_path / "lib"
    conf.mkdir()
    pkglib.mkdir()
    (pkglib / "kvm-ifup").touch()
    (conf / "kvm-vif-bridge").write_text("#!/bin/sh\n# the admin's own\n")
    result = enable("enable", conf, pkglib)
    assert result.returncode == 1
    assert "is not nfdhcpd's hook" in result.stderr
    enable("disable", conf, pkglib)
    assert (conf / "kvm-vif-bridge").read_text().endswith("the admin's own\n")


def test_enable_without_ganeti(tmp_path: Path) -> None:
    result = enable("enable", tmp_path, tmp_path)
    assert result.returncode == 1 and "no Ganeti KVM scripts" in result.stderr
