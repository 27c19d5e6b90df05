"""A hypervisor namespace and a VM joined by a veth, for running nfdhcpd detached as the
init script does (the `host` fixture of tests/e2e/conftest.py builds one), with the
helpers the daemon-mode tests share."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

NFDHCPD = str(Path(sys.executable).with_name("nfdhcpd"))
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
