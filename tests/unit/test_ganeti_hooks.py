"""conf/ganeti hooks: the binding files they write from Ganeti's environment.

The hooks are run as Ganeti runs them (a process with the NIC in its environment)
but with their state directory in tmp_path and Ganeti's own TAP setup switched off
(or replaced by a recording fake), so no root and no network changes are needed.
What they write is compared byte for byte and parsed by `parse_binding`, the parser
of the daemon itself.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Mapping
from ipaddress import IPv4Address, IPv6Address, IPv6Network
from pathlib import Path

import pytest

from nfdhcpd.core.binding import Binding, ignored_name, parse_binding

HOOKS = Path(__file__).resolve().parents[2] / "conf" / "ganeti"
IFUP = HOOKS / "kvm-ifup-custom"
IFDOWN = HOOKS / "kvm-ifdown-custom"
HEADER = "# nfdhcpd binding written by kvm-ifup-custom; removed by kvm-ifdown-custom\n"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="the hooks are bash")

#: A routed NIC with IPv4 only, as Ganeti describes it to kvm-ifup.
ROUTED = {
    "INSTANCE": "vm1.example.org",
    "INTERFACE": "tap0",
    "MODE": "routed",
    "LINK": "rt100",
    "MAC": "aa:00:00:11:22:33",
    "IP": "192.0.2.10",
    "TAGS": "",
    "NETWORK_SUBNET": "192.0.2.0/24",
    "NETWORK_GATEWAY": "192.0.2.1",
}

#: A bridged NIC with IPv4 and IPv6: GRNET's README example.
BRIDGED6 = {
    "INSTANCE": "testing-vm",
    "INTERFACE": "tap10",
    "MODE": "bridged",
    "LINK": "br0",
    "MAC": "aa:6b:39:22:33:44",
    "IP": "192.0.2.100",
    "TAGS": "synnefo:network:0:protected",
    "NETWORK_SUBNET": "192.0.2.0/24",
    "NETWORK_GATEWAY": "192.0.2.1",
    "NETWORK_SUBNET6": "2001:db8:aaaa:bbbb::/64",
    "NETWORK_GATEWAY6": "2001:db8:aaaa:bbbb::1",
}


def run(
    hook: Path, nic: Mapping[str, str], state: Path, *args: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    """Run `hook` with a Ganeti-like environment and nothing else from ours."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "NFDHCPD_DEFAULTS": str(state.parent / "no-such-defaults"),
        "NFDHCPD_STATE_DIR": str(state),
        "NFDHCPD_GANETI_SETUP": "no",
        **nic,
        **extra,
    }
    return subprocess.run(
        [str(hook), *args], env=env, capture_output=True, text=True, timeout=30, check=False
    )


def ifup(nic: Mapping[str, str], state: Path, *args: str, **extra: str) -> str:
    result = run(IFUP, nic, state, *args, **extra)
    assert result.returncode == 0, result.stderr
    assert leftovers(state) == []
    return (state / nic.get("INTERFACE", args[0] if args else "")).read_text()


def failing(hook: Path, nic: Mapping[str, str], state: Path, **extra: str) -> str:
    result = run(hook, nic, state, **extra)
    assert result.returncode != 0
    assert result.stderr.strip(), "a failure must say why"
    return result.stderr


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


def test_routed_ipv4(state: Path) -> None:
    assert ifup(ROUTED, state) == HEADER + (
        "INSTANCE=vm1.example.org\n"
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
    assert ifup(BRIDGED6, state) == HEADER + (
        "INSTANCE=testing-vm\n"
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


def test_routed_ipv6(state: Path) -> None:
    nic = {**ROUTED, "NETWORK_SUBNET6": "2001:db8:1::/64", "NETWORK_GATEWAY6": "fe80::1"}
    text = ifup(nic, state)
    assert "INDEV=tap0\n" in text
    # U/L bit of aa (1010 1010) flipped: a8; ff:fe in the middle.
    assert "EUI64=2001:db8:1:0:a800:ff:fe11:2233\n" in text
    assert parsed(state, "tap0").eui64 == IPv6Address("2001:db8:1:0:a800:ff:fe11:2233")


@pytest.mark.parametrize(
    ("mac", "eui64"),
    [
        ("00:00:00:00:00:00", "2001:db8::200:ff:fe00:0"),  # global: U/L bit set
        ("02:00:00:00:00:01", "2001:db8::ff:fe00:1"),  # local: U/L bit cleared
        ("AA:BB:CC:DD:EE:FF", "2001:db8::a8bb:ccff:fedd:eeff"),
    ],
)
def test_eui64(state: Path, mac: str, eui64: str) -> None:
    nic = {**ROUTED, "MAC": mac, "NETWORK_SUBNET6": "2001:db8::/64"}
    ifup(nic, state)
    assert parsed(state, "tap0").eui64 == IPv6Address(eui64)


def test_openvswitch_has_no_indev(state: Path) -> None:
    text = ifup({**BRIDGED6, "MODE": "openvswitch", "LINK": "ovs0"}, state)
    assert "INDEV=\n" in text
    assert parsed(state, "tap10").indev is None


def test_interface_from_argument(state: Path) -> None:
    nic = {k: v for k, v in ROUTED.items() if k not in ("INTERFACE", "MODE")}
    ifup({**nic, "MODE": "routed"}, state, "tap7")
    assert parsed(state, "tap7").indev == "tap7"


def test_ipv6_only_nic(state: Path) -> None:
    nic = {k: v for k, v in BRIDGED6.items() if k not in ("IP", "NETWORK_SUBNET")}
    text = ifup(nic, state)
    assert "IP=\n" in text and "SUBNET=\n" in text
    b = parsed(state, "tap10")
    assert b.ip is None and b.eui64 == IPv6Address("2001:db8:aaaa:bbbb:a86b:39ff:fe22:3344")


def test_subnet6_not_a_64_leaves_eui64_empty(state: Path) -> None:
    result = run(IFUP, {**ROUTED, "NETWORK_SUBNET6": "2001:db8::/48"}, state)
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


def test_missing_mac(state: Path) -> None:
    nic = {k: v for k, v in ROUTED.items() if k != "MAC"}
    assert "MAC is not set" in failing(IFUP, nic, state)
    assert not (state / "tap0").exists()


@pytest.mark.parametrize("mac", ["aa:00:00:11:22", "aa-00-00-11-22-33", "zz:00:00:11:22:33"])
def test_bad_mac(state: Path, mac: str) -> None:
    assert "not a MAC address" in failing(IFUP, {**ROUTED, "MAC": mac}, state)


def test_missing_ip(state: Path) -> None:
    nic = {k: v for k, v in ROUTED.items() if k != "IP"}
    assert "IP is not set" in failing(IFUP, nic, state)
    assert not (state / "tap0").exists()


def test_missing_ip_skipped_removes_old_binding(state: Path) -> None:
    ifup(ROUTED, state)
    nic = {k: v for k, v in ROUTED.items() if k != "IP"}
    result = run(IFUP, nic, state, NFDHCPD_NO_IP="skip")
    assert result.returncode == 0, result.stderr
    assert not (state / "tap0").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"INTERFACE": ""}, "INTERFACE is not set"),
        ({"INTERFACE": "../etc/passwd"}, "not an interface name"),
        ({"INTERFACE": ".tap0"}, "not an interface name"),
        ({"INTERFACE": "tap0123456789abcd"}, "not an interface name"),
        ({"MODE": ""}, "MODE is not set"),
        ({"MODE": "macvtap"}, "unknown MODE"),
        ({"MODE": "bridged", "LINK": ""}, "without LINK"),
        ({"NETWORK_SUBNET": ""}, "without NETWORK_SUBNET"),
        ({"NETWORK_SUBNET6": "2001:db8::1/64"}, "host bits"),
        ({"NETWORK_SUBNET6": "nonsense"}, "NETWORK_SUBNET6"),
        ({"INSTANCE": "two\nlines"}, "INSTANCE contains a line break"),
        ({"TAGS": "a\rb"}, "TAGS contains a line break"),
    ],
)
def test_refused(state: Path, change: dict[str, str], message: str) -> None:
    assert message in failing(IFUP, {**ROUTED, **change}, state)
    assert not (state / "tap0").exists()
    assert leftovers(state) == []


def test_defaults_file_is_read(tmp_path: Path) -> None:
    defaults = tmp_path / "default"
    elsewhere = tmp_path / "elsewhere"
    defaults.write_text(f"NFDHCPD_STATE_DIR={elsewhere}\n")
    result = run(IFUP, ROUTED, tmp_path / "unused", NFDHCPD_DEFAULTS=str(defaults))
    assert result.returncode == 0, result.stderr
    assert parse_binding((elsewhere / "tap0").read_bytes(), "tap0").ip == IPv4Address("192.0.2.10")


def test_ganeti_setup_runs_first(tmp_path: Path, state: Path) -> None:
    """kvm-ifup runs the hook instead of its own setup: the hook must do it."""
    calls = tmp_path / "calls"
    net_common = tmp_path / "net-common"
    net_common.write_text(
        "function setup_bridge { echo \"bridge $MODE $INTERFACE $LINK\" >> '%s'; }\n"
        "function setup_ovs { echo ovs >> '%s'; }\n"
        "function setup_route { echo route >> '%s'; }\n" % ((calls,) * 3)
    )
    result = run(
        IFUP, BRIDGED6, state, NFDHCPD_GANETI_SETUP="yes", GANETI_NET_COMMON=str(net_common)
    )
    assert result.returncode == 0, result.stderr
    assert calls.read_text() == "bridge bridged tap10 br0\novs\nroute\n"
    assert parsed(state, "tap10").indev == "br0"


def test_ganeti_setup_failure_or_absence_fails(tmp_path: Path, state: Path) -> None:
    net_common = tmp_path / "net-common"
    net_common.write_text("function setup_bridge { exit 1; }\n")
    for path in (net_common, tmp_path / "missing"):
        result = run(IFUP, BRIDGED6, state, NFDHCPD_GANETI_SETUP="yes", GANETI_NET_COMMON=str(path))
        assert result.returncode != 0
        assert "Ganeti" in result.stderr
        assert not (state / "tap10").exists()


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
        ["strace", "-f", "-qq", "-o", str(trace), "-e", "trace=%file", str(IFUP)],
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "NFDHCPD_DEFAULTS": "/nonexistent",
            "NFDHCPD_STATE_DIR": str(state),
            "NFDHCPD_GANETI_SETUP": "no",
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
    result = run(IFUP, ROUTED, state)
    assert result.returncode != 0
    assert leftovers(state) == []


def test_ifdown_removes_binding(state: Path) -> None:
    ifup(ROUTED, state)
    ifup(BRIDGED6, state)
    (state / ".tap0.Ab12Cd").write_text("left by an interrupted ifup")
    result = run(IFDOWN, ROUTED, state)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in state.iterdir()) == ["tap10"]  # the other TAP's stays
    # Again, with nothing left to remove: still fine.
    assert run(IFDOWN, ROUTED, state).returncode == 0


def test_ifdown_interface_from_argument(state: Path) -> None:
    ifup(ROUTED, state)
    result = run(IFDOWN, {}, state, "tap0")
    assert result.returncode == 0, result.stderr
    assert not (state / "tap0").exists()


@pytest.mark.parametrize("interface", ["", "../x", ".hidden"])
def test_ifdown_refuses_bad_interface(state: Path, interface: str) -> None:
    state.mkdir()
    (state / "x").write_text("not touched")
    failing(IFDOWN, {"INTERFACE": interface}, state)
    assert (state / "x").exists()
