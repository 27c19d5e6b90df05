"""Bad binding files and bad configs against a running daemon, end to end.

One routed hypervisor namespace runs nfdhcpd for the whole module, with a *neighbour*
VM whose good binding must keep working whatever else lands in the state directory.
A corpus of broken binding files (binary junk, missing or bad keys, bad values,
empty, huge, symlinks, directories, FIFOs, names that are no interface name) is
dropped into `datapath` one by one: each must be named in the log with its reason
(and line, where there is one), none may cause a traceback, hidden and temporary
files must be ignored without a word, and the neighbour still gets its lease from a
real udhcpc. An invalid rewrite of a live binding keeps the last good one serving,
and a SIGHUP with a broken config keeps the running config.
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from . import netns
from .leases import assert_lease, assert_nothing, expected_lease, has_address, lease_until
from .netns import BindingSpec, Daemon
from .site import Site

pytestmark = pytest.mark.e2e

LOG_TIMEOUT = 5.0


@pytest.fixture(scope="module")
def bad_site(e2e_ready: None) -> Iterator[Site]:
    with netns.hypervisor("routed", label="hv-bad") as hv:
        daemon = hv.start_daemon()
        site = Site(hv, daemon, "routed")
        yield site
        status = daemon.stop()
        log = daemon.log()
        assert status == 0, f"nfdhcpd exited {status} on SIGTERM:\n{log[-3000:]}"
        assert "Traceback" not in log, log


@dataclasses.dataclass
class Neighbour:
    vm: netns.VM
    binding: BindingSpec

    def assert_served(self, binding: BindingSpec | None = None) -> None:
        expected = expected_lease(binding or self.binding)
        assert_lease(lease_until(self.vm, has_address(expected.address)), expected)


@pytest.fixture(scope="module")
def neighbour(bad_site: Site) -> Neighbour:
    """A VM with a good binding that lives through the whole module."""
    vm = bad_site.vm()
    binding = bad_site.binding(vm)
    bad_site.daemon.write_binding(vm.tap, binding)
    bad_site.vms.remove(vm)  # kept out of per-test cleanups; the module's hv removes it
    served = Neighbour(vm, binding)
    served.assert_served()
    return served


@pytest.fixture
def site(bad_site: Site, neighbour: Neighbour) -> Iterator[Site]:
    """The module's site; this test's part of the log must hold no traceback, the
    daemon must survive, and the neighbour's binding is restored afterwards."""
    bad_site.log_offset = len(bad_site.daemon.log())
    yield bad_site
    log = bad_site.daemon.log()[bad_site.log_offset :]
    assert bad_site.daemon.alive(), f"nfdhcpd died:\n{log}"
    assert "Traceback" not in log, log
    bad_site.daemon.write_binding(neighbour.vm.tap, neighbour.binding)


def log_since(site: Site) -> str:
    return site.daemon.log()[site.log_offset :]


def wait_log(site: Site, pattern: str) -> re.Match[str]:
    """Wait for `pattern` in this test's part of the log; fail with the log if absent."""
    try:
        found = netns.wait_for(
            lambda: re.search(pattern, log_since(site)), timeout=LOG_TIMEOUT, what=pattern
        )
    except TimeoutError:
        pytest.fail(f"no log line matching {pattern!r}; log:\n{log_since(site)}")
    assert found is not None
    return found


def invalid_line(site: Site, name: str, line: int | None, reason: str) -> str:
    """The pattern of the daemon's report for datapath/name."""
    where = rf" line {line}" if line else ""
    path = re.escape(str(site.daemon.datapath / name))
    return rf"ERROR invalid binding file {path}{where}: {reason}"


# ------------------------------------------------------------------- the corpus

GOOD = "MAC=52:54:00:7e:ee:01\nIP=192.0.2.10\nSUBNET=192.0.2.0/24\nGATEWAY=192.0.2.1\n"


def _text(content: str) -> Callable[[Path], object]:
    return lambda path: path.write_text(content)


def _bytes(content: bytes) -> Callable[[Path], object]:
    return lambda path: path.write_bytes(content)


def _moved_in(make: Callable[[Path], object]) -> Callable[[Path], object]:
    """Make the entry next to datapath and rename it in, as a binding writer does.

    Creating a symlink, directory or FIFO in place raises only IN_CREATE, which the
    daemon does not watch (it waits for the file to be complete); the rename is what
    it reacts to.
    """

    def create(path: Path) -> None:
        staging = path.parent.parent / "staging"
        staging.mkdir(exist_ok=True)
        make(staging / path.name)
        (staging / path.name).rename(path)

    return create


def _symlink_out(path: Path) -> None:
    """A link to a file outside datapath: must never be read."""
    path.symlink_to("/etc/passwd")


def _directory(path: Path) -> None:
    path.mkdir()
    (path / "MAC").write_text(GOOD)


def _fifo(path: Path) -> None:
    os.mkfifo(path)  # a naive open() would block the daemon forever


#: name, how to create it, the line number in the report (None: whole file), reason regex
CORPUS: list[tuple[str, Callable[[Path], object], int | None, str]] = [
    ("tapjunk", _bytes(bytes(range(256)) + os.urandom(256)), None, r"binary content \(NUL byte\)"),
    ("tapnotutf8", _bytes(b"MAC=52:54:00:7e:ee:01\nHOSTNAME=caf\xe9\n"), None, r"not UTF-8 text"),
    ("tapnomac", _text("IP=192.0.2.10\nSUBNET=192.0.2.0/24\n"), None, r"MAC: missing"),
    ("tapbadmac", _text("IP=192.0.2.10\nSUBNET=192.0.2.0/24\nMAC=52:54:00:7e:ee\n"), 3, r"MAC: "),
    ("tapmcastmac", _text("MAC=01:00:5e:00:00:01\n"), 1, r"MAC: .*multicast"),
    (
        "tapoutside",
        _text(GOOD.replace("IP=192.0.2.10", "IP=198.51.100.10")),
        2,
        r"IP: 198\.51\.100\.10 is outside SUBNET 192\.0\.2\.0/24",
    ),
    (
        "tapprefix",
        _text(GOOD.replace("/24", "/33")),
        3,
        r"SUBNET: '192\.0\.2\.0/33' is not an IPv4 network",
    ),
    (
        "taphostbits",
        _text(GOOD.replace("192.0.2.0/24", "192.0.2.5/24")),
        3,
        r"SUBNET: '192\.0\.2\.5/24' is not an IPv4 network",
    ),
    (
        "tapsubnet6",
        _text(GOOD + "SUBNET6=2001:db8::/129\n"),
        5,
        r"SUBNET6: '2001:db8::/129' is not an IPv6 network",
    ),
    ("tapmtu0", _text(GOOD + "MTU=0\n"), 5, r"MTU: 0 is outside 68\.\.65535"),
    ("tapmtubig", _text(GOOD + "MTU=99999\n"), 5, r"MTU: 99999 is outside 68\.\.65535"),
    ("tapmtutext", _text(GOOD + "MTU=jumbo\n"), 5, r"MTU: 'jumbo' is not an integer"),
    ("tapquote", _text(GOOD + 'HOSTNAME="vm1\n'), 5, r"HOSTNAME: No closing quotation"),
    ("tapnokv", _text(GOOD + "this is not a binding\n"), 5, r"not a KEY=VALUE line"),
    ("tapempty", _text(""), None, r"MAC: missing"),
    (
        "taphuge",
        _text(GOOD + ("# padding " * 7000) + "\n"),
        None,
        r"\d+ bytes, larger than 65536",
    ),
    ("tapsymlink", _moved_in(_symlink_out), None, r"is a symbolic link, refused"),
    ("tapdir", _moved_in(_directory), None, r"is a directory, refused"),
    ("tapfifo", _moved_in(_fifo), None, r"is not a regular file, refused"),
    ("tap spaced", _text(GOOD), None, r"file name is not a valid interface name"),
    ("tapnamewaytoolong", _text(GOOD), None, r"file name is not a valid interface name"),
]


@pytest.mark.parametrize(
    ("name", "create", "line", "reason"), CORPUS, ids=[entry[0] for entry in CORPUS]
)
def test_bad_file_is_reported_and_the_neighbour_served(
    site: Site,
    neighbour: Neighbour,
    name: str,
    create: Callable[[Path], object],
    line: int | None,
    reason: str,
) -> None:
    path = site.daemon.datapath / name
    try:
        create(path)
        wait_log(site, invalid_line(site, name, line, reason))

        neighbour.assert_served()
    finally:
        _remove(path)


def test_non_utf8_file_name_is_reported(site: Site, neighbour: Neighbour) -> None:
    raw = os.fsencode(site.daemon.datapath) + b"/tap\xff\xfe"
    fd = os.open(raw, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.write(fd, GOOD.encode())
        os.close(fd)
        # The name cannot be printed as it is; it must be named somehow, with the reason.
        wait_log(site, r"ERROR invalid binding file \S*tap\S*: file name is not a valid")

        neighbour.assert_served()
    finally:
        os.unlink(raw)


def test_newline_in_a_file_name_cannot_forge_log_lines(site: Site, neighbour: Neighbour) -> None:
    name = "tap9\n2024-01-01 00:00:00,000 INFO forged"
    path = site.daemon.datapath / name
    try:
        path.write_text(GOOD)
        wait_log(site, r"file name is not a valid interface name")

        assert not re.search(r"(?m)^2024-01-01 00:00:00,000 INFO forged", log_since(site)), (
            log_since(site)
        )
        neighbour.assert_served()
    finally:
        path.unlink()


@pytest.mark.parametrize("name", [".tap7", ".tap7.tmp", "tap7.tmp", "tap7~", "tap7.swp"])
def test_hidden_and_temporary_files_are_silently_ignored(
    site: Site, neighbour: Neighbour, name: str
) -> None:
    path = site.daemon.datapath / name
    try:
        path.write_bytes(b"\0junk that would be an error anywhere else\xff\n")
        marker = site.daemon.datapath / "tapmarker"
        marker.write_text("")  # an error we expect, logged after the ignored file's events
        wait_log(site, invalid_line(site, "tapmarker", None, "MAC: missing"))

        assert "tap7" not in log_since(site), log_since(site)
        neighbour.assert_served()
    finally:
        _remove(path)
        _remove(site.daemon.datapath / "tapmarker")


def test_invalid_binding_gives_its_vm_nothing(site: Site) -> None:
    """A VM whose only binding is invalid is not served a half-parsed binding."""
    vm = site.vm()
    binding = site.binding(vm, subnet="198.51.100.0/24")  # its IP lies outside
    try:
        site.daemon.write_binding(vm.tap, binding)
        wait_log(site, invalid_line(site, vm.tap, 3, r"IP: .* is outside SUBNET"))

        assert_nothing(vm.udhcpc(tries=2, interval=1))
    finally:
        site.cleanup_test()


# ----------------------------------------------------- invalid update of a live binding


BAD_UPDATES: list[tuple[str, Callable[[Daemon, str, BindingSpec], object], str]] = [
    (
        "renamed-missing-mac",
        lambda d, tap, b: d.write_binding(tap, dataclasses.replace(b, mac="")),
        r"MAC: missing",
    ),
    (
        "in-place-ip-outside",
        lambda d, tap, b: d.write_binding(
            tap, dataclasses.replace(b, ip="198.51.100.7"), atomic=False
        ),
        r"IP: 198\.51\.100\.7 is outside SUBNET",
    ),
    (
        "in-place-bad-mtu",
        lambda d, tap, b: d.write_binding(tap, dataclasses.replace(b, mtu=99999), atomic=False),
        r"MTU: 99999 is outside",
    ),
    (
        "in-place-junk",
        lambda d, tap, b: d.binding_path(tap).write_bytes(os.urandom(64) + b"\0"),
        r"binary content",
    ),
    (
        "renamed-symlink",
        lambda d, tap, b: _rename_symlink_over(d.binding_path(tap)),
        r"is a symbolic link, refused",
    ),
]


def _rename_symlink_over(path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.symlink_to("/etc/passwd")
    tmp.rename(path)


@pytest.mark.parametrize(
    ("how", "update", "reason"), BAD_UPDATES, ids=[entry[0] for entry in BAD_UPDATES]
)
def test_invalid_update_keeps_the_last_good_binding(
    site: Site,
    neighbour: Neighbour,
    how: str,
    update: Callable[[Daemon, str, BindingSpec], object],
    reason: str,
) -> None:
    tap = neighbour.vm.tap
    net = IPv4Network(neighbour.binding.subnet or "")
    # A fresh good version first, so the test tells "last good" from "first ever".
    last_good = dataclasses.replace(neighbour.binding, ip=str(net[300]), mtu=1380)
    site.daemon.write_binding(tap, last_good)
    neighbour.assert_served(last_good)
    site.log_offset = len(site.daemon.log())

    update(site.daemon, tap, last_good)
    path = re.escape(str(site.daemon.binding_path(tap)))
    found = wait_log(site, rf"ERROR invalid binding file {path}( line \d+)?: .*")
    assert re.search(reason, found.group(0)), found.group(0)
    assert "keeping the last good binding" in found.group(0), found.group(0)

    neighbour.assert_served(last_good)
    # And the watcher still takes good updates afterwards.
    site.daemon.binding_path(tap).unlink()
    site.daemon.write_binding(tap, neighbour.binding)
    neighbour.assert_served()


# ----------------------------------------------------------------- SIGHUP, bad config


def test_sighup_with_a_bad_config_keeps_the_running_one(site: Site, neighbour: Neighbour) -> None:
    conf = site.daemon.dirs.config
    good = conf.read_text()
    assert "nameservers = 192.0.2.2, 192.0.2.3" in good
    changed = good.replace("nameservers = 192.0.2.2, 192.0.2.3", "nameservers = 192.0.2.9")
    broken = changed.replace("lease_renewal = 3600", "lease_renewal = soon")
    assert broken != changed != good
    try:
        conf.write_text(broken)
        site.daemon.process.signal(signal.SIGHUP)
        found = wait_log(site, r"ERROR reload refused, keeping the running configuration: .*")
        line = found.group(0)
        assert f"{conf}: [dhcp] lease_renewal = 'soon'" in line, line

        # The old config serves: the old DNS servers, not the half-read new one.
        neighbour.assert_served()

        # The same SIGHUP with a good config does apply: the check above can fail.
        site.log_offset = len(site.daemon.log())
        conf.write_text(changed)
        site.daemon.process.signal(signal.SIGHUP)
        wait_log(site, rf"INFO reloaded {re.escape(str(conf))}")
        new_dns = (IPv4Address("192.0.2.9"),)
        lease = lease_until(neighbour.vm, lambda got: got is not None and got.dns == new_dns)
        assert lease.lease is not None, lease.describe()
        assert lease.lease.dns == new_dns, lease.describe()
    finally:
        conf.write_text(good)
        site.log_offset = len(site.daemon.log())
        site.daemon.process.signal(signal.SIGHUP)
        wait_log(site, rf"INFO reloaded {re.escape(str(conf))}")


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file() or path.is_fifo():
        path.unlink()
    elif path.is_dir():
        for child in path.iterdir():
            child.unlink()
        path.rmdir()
