"""Daemon mode end to end: detaching, pidfile, log file and logrotate, signals.

Runs in a throwaway network namespace of its own (the queue is bound there), with one
veth "TAP" and busybox udhcpc as the VM, so serving is checked in daemon mode too.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
from pathlib import Path

import pytest

from .daemon_host import Host, alive, wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        os.geteuid() != 0 and os.environ.get("CI") != "true", reason="needs root (namespaces)"
    ),
]

REPO = Path(__file__).resolve().parents[2]


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
