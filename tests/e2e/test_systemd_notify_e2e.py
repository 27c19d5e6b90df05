"""systemd readiness, reload and watchdog with the real daemon, and the unit files.

nfdhcpd runs in a hypervisor namespace with $NOTIFY_SOCKET naming a real AF_UNIX
datagram socket that a receiver, standing in for systemd, has bound in the same
namespace (abstract names are per network namespace); the receiver prints each
datagram with its CLOCK_MONOTONIC arrival time. systemd itself is not PID 1 here, so
the unit files are checked with `systemd-analyze verify` against a scratch root.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import netns
from .netns import BindingSpec, Daemon, Hypervisor, Process

pytestmark = pytest.mark.e2e

UNITS = (
    netns.REPO_ROOT / "init" / "nfdhcpd.service",
    netns.REPO_ROOT / "debian" / "nfdhcpd.service",
)

BINDING = BindingSpec(mac="52:54:00:7e:00:01", ip="10.0.0.5", subnet="10.0.0.0/24")

RECEIVER = """
import json, signal, socket, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
address = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\\0" + address[1:] if address.startswith("@") else address)
print(json.dumps({"ready": True}), flush=True)
while True:
    data = s.recv(4096).decode()
    fields = dict(line.split("=", 1) for line in data.split("\\n"))
    print(json.dumps({"t": time.monotonic(), **fields}), flush=True)
"""


class FakeSystemd:
    def __init__(self, hv: Hypervisor, address: str) -> None:
        self.address = address
        self.proc: Process = hv.spawn("notify-receiver", [sys.executable, "-c", RECEIVER, address])
        netns.wait_for(lambda: '"ready"' in self.proc.log(), timeout=10, what="the receiver")

    def messages(self) -> list[dict[str, str | float]]:
        lines = self.proc.log().splitlines()
        return [json.loads(x) for x in lines if x.startswith("{") and '"ready"' not in x]

    def wait(self, key: str, count: int = 1, timeout: float = 10.0) -> list[dict[str, str | float]]:
        def enough() -> list[dict[str, str | float]]:
            found = [m for m in self.messages() if key in m]
            return found if len(found) >= count else []

        return netns.wait_for(enough, timeout=timeout, what=f"{count} x {key} from nfdhcpd")


def start(hv: Hypervisor, address: str, **env: str) -> tuple[FakeSystemd, Daemon]:
    systemd = FakeSystemd(hv, address)
    daemon = hv.start_daemon(env={"NOTIFY_SOCKET": address, **env})
    return systemd, daemon


@pytest.fixture
def hv(e2e_ready: None) -> Iterator[Hypervisor]:
    with Hypervisor("notify") as hv:
        yield hv


def test_ready_once_bound_reload_status_and_stopping(hv: Hypervisor) -> None:
    systemd = FakeSystemd(hv, str(hv.workdir / "notify.sock"))

    def config(dirs: netns.DaemonDirs) -> str:
        # A binding there before the start: READY comes once it is loaded.
        netns.write_file_atomically(dirs.datapath / "tap1", BINDING.render())
        return netns.render_config(dirs)

    daemon = hv.start_daemon(config, env={"NOTIFY_SOCKET": systemd.address})
    [ready] = systemd.wait("READY")
    assert 42 in hv.queue_stats()  # bound when READY came
    assert ready["MAINPID"] == str(daemon.process.pid)
    assert ready["STATUS"] == "serving 1 bindings on NFQUEUE 42"

    daemon.write_binding("tap2", dataclasses.replace(BINDING, mac="52:54:00:7e:00:02"))
    netns.wait_for(
        lambda: any(
            m.get("STATUS") == "serving 2 bindings on NFQUEUE 42" for m in systemd.messages()
        ),
        timeout=10,
        what="STATUS with the new binding",
    )

    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    daemon.process.signal(signal.SIGHUP)
    [reloading] = systemd.wait("RELOADING")
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert before <= int(reloading["MONOTONIC_USEC"]) <= after
    second = systemd.wait("READY", 2)[1]
    assert float(second["t"]) >= float(reloading["t"])
    assert second["STATUS"] == "serving 2 bindings on NFQUEUE 42"

    assert daemon.stop() == 0
    assert [m["STATUS"] for m in systemd.messages() if "STOPPING" in m] == ["stopping"]
    assert not any("WATCHDOG" in m for m in systemd.messages())  # none asked for


def test_watchdog_pings_from_the_loop_within_the_interval(hv: Hypervisor) -> None:
    """WATCHDOG_USEC=1 s: a ping every half second, the loop otherwise idle."""
    address = f"@nfdt-notify-{secrets.token_hex(4)}"  # an abstract socket
    systemd, daemon = start(hv, address, WATCHDOG_USEC="1000000")
    pings = systemd.wait("WATCHDOG", 6, timeout=15)
    times = [float(p["t"]) for p in pings]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) < 1.0, gaps  # systemd would kill it past WATCHDOG_USEC
    assert min(gaps) > 0.3, gaps  # half the interval, not a busy loop
    systemd.wait("READY")
    # A stopped loop stops the pings (what systemd's watchdog exists to notice).
    daemon.process.signal(signal.SIGSTOP)
    try:
        count = len(systemd.messages())
        time.sleep(1.5)
        assert len(systemd.messages()) == count
    finally:
        daemon.process.signal(signal.SIGCONT)
    systemd.wait("WATCHDOG", len(pings) + 1)


def test_unit_files_are_type_notify_and_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze missing (Debian package systemd)")
    root = tmp_path / "root"
    (root / "lib" / "systemd").mkdir(parents=True)
    shutil.copytree("/lib/systemd/system", root / "lib" / "systemd" / "system", symlinks=True)
    text = UNITS[0].read_text()
    # verify checks that the Exec*= commands exist: stand-ins at their paths.
    for command in re.findall(r"(?m)^Exec\w+=[-+!@:]*(\S+)", text):
        (root / command.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy("/bin/true", root / command.lstrip("/"))
    (root / "etc" / "systemd" / "system").mkdir(parents=True)

    def verify(text: str) -> str:
        unit = root / "etc" / "systemd" / "system" / "nfdhcpd.service"
        unit.write_text(text)
        result = subprocess.run([analyze, "verify", f"--root={root}", str(unit)],
                                capture_output=True, text=True, timeout=60)  # fmt: skip
        return result.stderr + (f"exit {result.returncode}" if result.returncode else "")

    assert UNITS[0].read_text() == UNITS[1].read_text()
    assert "\nType=notify\n" in text and "\nWatchdogSec=" in text
    assert verify(text) == ""
    assert "notfy" in verify(text.replace("Type=notify", "Type=notfy"))  # the control
