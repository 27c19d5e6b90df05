"""Daemon mode end to end: detaching, pidfile, log file and logrotate, signals.

Runs in a throwaway network namespace of its own (the queue is bound there), with one
veth "TAP" and busybox udhcpc as the VM, so serving is checked in daemon mode too.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        os.geteuid() != 0 and os.environ.get("CI") != "true", reason="needs root (namespaces)"
    ),
]

NFDHCPD = str(Path(sys.executable).with_name("nfdhcpd"))
REPO = Path(__file__).resolve().parents[2]
MAC = "52:54:00:12:34:56"


def sh(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=30).stdout


def wait_for(what: str, check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Host:
    def __init__(self, root: Path) -> None:
        suffix = secrets.token_hex(3)
        self.hv, self.vm = f"nfdt-dhv-{suffix}", f"nfdt-dvm-{suffix}"
        self.root = root
        self.bindings = root / "bindings"
        self.logdir = root / "log"
        self.pidfile = root / "run" / "nfdhcpd.pid"
        self.conf = root / "nfdhcpd.conf"
        self.bindings.mkdir()
        self.good = (
            f"[general]\npidfile = {self.pidfile}\ndatapath = {self.bindings}\n"
            f"logdir = {self.logdir}\nuser = nobody\n[dhcp]\nserver_ip = 192.0.2.1\n"
            "[ipv6]\nenable_ipv6 = no\n"
        )
        self.conf.write_text(self.good)

    def start(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.hv, NFDHCPD, "-c", str(self.conf)],
            capture_output=True,
            text=True,
            timeout=30,
        )

    def pid(self) -> int:
        return int(self.pidfile.read_text())

    def log(self) -> str:
        path = self.logdir / "nfdhcpd.log"
        return path.read_text() if path.exists() else ""

    def lease(self) -> str:
        """Run udhcpc in the VM; return the address it was offered and acknowledged."""
        result = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                self.vm,
                "udhcpc",
                "-i",
                "eth0",
                "-n",
                "-q",
                "-f",
                "-t",
                "3",
                "-T",
                "1",
                "-s",
                "/bin/true",
            ],
            capture_output=True,
            text=True,
            timeout=20,
        )
        return result.stdout + result.stderr


@pytest.fixture
def host() -> Iterator[Host]:
    # Not tmp_path: pytest's base directory is private to root, and the daemon reads its
    # bindings and writes its log as the unprivileged [general] user (nobody).
    root = Path(tempfile.mkdtemp(prefix="nfdt-daemon-"))
    root.chmod(0o755)
    h = Host(root)
    try:
        sh("ip", "netns", "add", h.hv)
        sh("ip", "netns", "add", h.vm)
        sh(
            "ip",
            "-n",
            h.hv,
            "link",
            "add",
            "tap1",
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            h.vm,
        )
        sh("ip", "-n", h.vm, "link", "set", "eth0", "address", MAC)
        sh("ip", "-n", h.hv, "link", "set", "tap1", "up")
        sh("ip", "-n", h.vm, "link", "set", "eth0", "up")
        sh(
            "ip",
            "netns",
            "exec",
            h.hv,
            "iptables",
            "-t",
            "mangle",
            "-A",
            "PREROUTING",
            "-i",
            "tap+",
            "-p",
            "udp",
            "--dport",
            "67",
            "-j",
            "NFQUEUE",
            "--queue-num",
            "42",
            "--queue-bypass",
        )
        (h.bindings / "tap1").write_text(
            f"INDEV=tap1\nMAC={MAC}\nIP=192.0.2.10\nSUBNET=192.0.2.0/24\n"
        )
        yield h
    finally:
        text = h.pidfile.read_text().strip() if h.pidfile.exists() else ""
        if text.isdigit() and int(text) > 0:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(text), signal.SIGKILL)
        for ns in (h.hv, h.vm):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
        shutil.rmtree(root, ignore_errors=True)


def test_daemon_mode_lifecycle(host: Host) -> None:
    started = host.start()
    assert started.returncode == 0, started.stderr
    # Start-up lines go to the log, not the init script's output; warnings go to both
    # (here the one for user = nobody: this machine has no dedicated nfdhcpd user).
    assert [line for line in started.stderr.splitlines() if "user = nobody" not in line] == []
    wait_for("pidfile", lambda: host.pidfile.exists() and host.pidfile.read_text().strip() != "")
    pid = host.pid()
    assert alive(pid)
    assert "listening on NFQUEUE" in host.log()
    wait_for("serving", lambda: "serving 1 bindings" in host.log())
    assert "lease of 192.0.2.10 obtained" in host.lease(), host.log()

    # A second instance is refused while the first holds the pidfile.
    second = host.start()
    assert second.returncode == 1
    assert f"already running (pid {pid})" in second.stderr

    # SIGUSR1 dumps the table and the counters into the log.
    os.kill(pid, signal.SIGUSR1)
    wait_for("dump", lambda: "binding table: 1 bindings" in host.log())
    assert "ack=1" in host.log()

    # An invalid config on SIGHUP is refused loudly and the daemon keeps serving.
    host.conf.write_text(host.good.replace("[dhcp]\n", "[dhcp]\nlease_lifetime = soon\n"))
    os.kill(pid, signal.SIGHUP)
    wait_for("refusal", lambda: "reload refused" in host.log())
    assert "lease_lifetime = 'soon'" in host.log()
    assert "lease of 192.0.2.10 obtained" in host.lease(), host.log()

    # The shipped logrotate config (for this log directory and user) moves the log
    # away and creates the new one for the daemon, which, no longer root, cannot
    # create files in the root-owned directory: the next lines go to the new file.
    shipped = (REPO / "conf" / "logrotate").read_text()
    rotation = host.root / "logrotate.conf"
    rotation.write_text(
        shipped.replace("/var/log/nfdhcpd/", f"{host.logdir}/").replace(
            " nfdhcpd adm", " nobody adm"
        )
    )
    subprocess.run(
        ["logrotate", "-f", "-s", str(host.root / "logrotate.state"), str(rotation)],
        check=True,
        timeout=30,
    )
    rotated = host.logdir / "nfdhcpd.log.1"
    assert "reload refused" in rotated.read_text()
    host.conf.write_text(host.good)
    os.kill(pid, signal.SIGHUP)
    wait_for("reload in the new log", lambda: "reloaded" in host.log())
    assert "reloaded" not in rotated.read_text()

    # SIGTERM: clean exit. The pidfile and its directory are root's: the daemon, no
    # longer root, empties the file (the init script removes it after the stop).
    os.kill(pid, signal.SIGTERM)
    wait_for("exit", lambda: not alive(pid))
    assert host.pidfile.read_text() == ""
    for path in (host.pidfile, host.pidfile.parent, host.logdir):
        assert path.stat().st_uid == 0, path
    assert (host.logdir / "nfdhcpd.log").stat().st_uid == pwd.getpwnam("nobody").pw_uid
    assert "stopped" in host.log()


def test_restart_over_stale_pidfile(host: Host) -> None:
    assert host.start().returncode == 0
    wait_for("pidfile", lambda: host.pidfile.exists() and host.pidfile.read_text().strip() != "")
    pid = host.pid()
    os.kill(pid, signal.SIGKILL)
    wait_for("death", lambda: not alive(pid))
    assert host.pidfile.exists()  # stale: its owner died without removing it

    restarted = host.start()
    assert restarted.returncode == 0, restarted.stderr
    wait_for("new pid", lambda: host.pidfile.read_text().strip() not in ("", str(pid)))
    assert alive(host.pid())
    assert "lease of 192.0.2.10 obtained" in host.lease(), host.log()
