"""Safe reload (issue 10): a SIGHUP that cannot be applied changes nothing.

In daemon mode (detached, logging to its file), as the init script runs it: a reload
whose datapath is missing, whose config is refused or whose queue cannot be bound
leaves the running state serving and logs one ERROR line naming the cause; a relative
`-c` keeps working after the daemon chdir'd to /; the init script's and the systemd
unit's reload test the config first and fail on a refused one without signalling the
daemon; start-up failures are one line, never a traceback.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .daemon_host import NFDHCPD, Host, alive, wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        os.geteuid() != 0 and os.environ.get("CI") != "true", reason="needs root (namespaces)"
    ),
]

REPO = Path(__file__).resolve().parents[2]
LEASED = "lease of 192.0.2.10 obtained"


def started(h: Host, *args: str, cwd: Path | None = None) -> int:
    """Start the daemon (daemon mode) and return its pid once it serves."""
    proc = subprocess.run(
        ["ip", "netns", "exec", h.hv, NFDHCPD, *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=cwd,
    )
    assert proc.returncode == 0, proc.stderr
    wait_for("pidfile", lambda: h.pidfile.exists() and h.pidfile.read_text().strip() != "")
    wait_for("serving", lambda: "serving 1 bindings" in h.log())
    return h.pid()


def errors_since(h: Host, offset: int) -> list[str]:
    return [line for line in h.log()[offset:].splitlines() if " ERROR " in line]


def hup_and_wait(h: Host, pid: int, offset: int, what: str) -> None:
    os.kill(pid, signal.SIGHUP)
    outcome = re.compile(r" (ERROR|INFO) reload")
    wait_for(what, lambda: bool(outcome.search(h.log()[offset:])) or not alive(pid), 10)
    assert alive(pid), f"nfdhcpd died on SIGHUP:\n{h.log()[offset:]}"


def test_reload_with_a_missing_datapath_keeps_serving(host: Host) -> None:
    pid = started(host, "-c", str(host.conf))
    offset = len(host.log())
    missing = host.root / "no-such-dir"
    host.conf.write_text(host.good.replace(str(host.bindings), str(missing)))

    hup_and_wait(host, pid, offset, "the reload's outcome")
    time.sleep(0.5)

    assert alive(pid), host.log()[offset:]
    [error] = errors_since(host, offset)
    assert "reload refused" in error and str(missing) in error, error
    assert "Traceback" not in host.log()
    assert LEASED in host.lease()
    # The old datapath is still watched: a new binding there is picked up.
    (host.bindings / "tap9").write_text("MAC=52:54:00:00:00:09\n")
    wait_for("the watcher", lambda: "binding tap9 loaded" in host.log(), 5)


def test_reload_whose_new_queue_is_taken_keeps_serving(host: Host) -> None:
    """Another process holds queue 50; a config moving DHCP there is refused whole."""
    holder = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            host.hv,
            sys.executable,
            "-c",
            "import netfilterqueue, sys, time\n"
            "q = netfilterqueue.NetfilterQueue()\n"
            "q.bind(50, lambda p: p.accept())\n"
            "print('bound', flush=True)\n"
            "time.sleep(120)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "bound"
        pid = started(host, "-c", str(host.conf))
        offset = len(host.log())
        host.conf.write_text(host.good.replace("[dhcp]\n", "[dhcp]\ndhcp_queue = 50\n"))

        hup_and_wait(host, pid, offset, "the reload's outcome")

        assert alive(pid)
        [error] = errors_since(host, offset)
        assert "reload refused" in error and "50" in error, error
        assert LEASED in host.lease()  # still on queue 42
    finally:
        holder.kill()
        holder.wait()


def test_relative_config_path_survives_the_chdir(host: Host) -> None:
    pid = started(host, "-c", host.conf.name, cwd=host.root)
    offset = len(host.log())
    hup_and_wait(host, pid, offset, "the reload's outcome")
    assert errors_since(host, offset) == []
    assert f"reloaded {host.conf}" in host.log()[offset:]
    assert LEASED in host.lease()


@pytest.mark.parametrize("foreground", [False, True])
def test_missing_datapath_at_start_is_one_line(host: Host, foreground: bool) -> None:
    missing = host.root / "no-such-dir"
    host.conf.write_text(host.good.replace(str(host.bindings), str(missing)))
    proc = subprocess.run(
        ["ip", "netns", "exec", host.hv, NFDHCPD, *(["-f"] if foreground else []),
         "-c", str(host.conf)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "ERROR" in line or "nfdhcpd:" in line]
    assert len(errors) == 1, proc.stderr
    assert str(missing) in errors[0], proc.stderr
    if not foreground:
        assert str(missing) in host.log() and "Traceback" not in host.log()


# --- the init script and the systemd unit ----------------------------------------------


def init_script(h: Host, action: str) -> subprocess.CompletedProcess[str]:
    """Debian's LSB init script as installed, run in the hypervisor's namespace with
    its /etc/default/nfdhcpd (DAEMON, CONFIG) in a private mount namespace: the
    machine's /etc/default stays untouched."""
    etc_default = h.root / "etc-default"
    etc_default.mkdir(exist_ok=True)
    (etc_default / "nfdhcpd").write_text(f"DAEMON={NFDHCPD}\nCONFIG={h.conf}\n")
    script = REPO / "init" / "nfdhcpd.init"
    inner = (
        f"mount --bind {shlex.quote(str(etc_default))} /etc/default && exec sh {script} {action}"
    )
    return subprocess.run(
        ["ip", "netns", "exec", h.hv, "unshare", "--mount", "--propagation", "private",
         "sh", "-c", inner],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_init_script_reload_fails_on_a_refused_config(host: Host) -> None:
    pid = started(host, "-c", str(host.conf))
    good = init_script(host, "reload")
    assert good.returncode == 0, good.stdout + good.stderr
    wait_for("the good reload", lambda: "reloaded" in host.log(), 10)

    offset = len(host.log())
    host.conf.write_text(host.good.replace("[dhcp]\n", "[dhcp]\nlease_lifetime = soon\n"))
    refused = init_script(host, "reload")
    assert refused.returncode != 0, refused.stdout + refused.stderr
    assert "lease_lifetime" in refused.stdout + refused.stderr
    time.sleep(0.5)
    assert "reload" not in host.log()[offset:], "the daemon was signalled anyway"
    assert alive(pid) and LEASED in host.lease()


def unit_reload(h: Host, pid: int) -> subprocess.CompletedProcess[str]:
    """The unit's ExecReload= lines run in order as systemd runs them: the first that
    fails ends the reload and makes `systemctl reload` fail."""
    unit = (REPO / "init" / "nfdhcpd.service").read_text()
    lines = [m.group(1) for m in re.finditer(r"(?m)^ExecReload=(.*)$", unit)]
    assert lines
    result = subprocess.CompletedProcess[str]([], 0, "", "")
    for line in lines:
        command = line.lstrip("+-!@:").replace("${CONFIG}", str(h.conf))
        command = command.replace("$MAINPID", str(pid)).replace("$DAEMON_OPTS", "")
        argv = shlex.split(command)
        if argv[0] == "/usr/sbin/nfdhcpd" or argv[0] == "/usr/bin/nfdhcpd":
            argv[0] = NFDHCPD
        result = subprocess.run(
            ["ip", "netns", "exec", h.hv, *argv], capture_output=True, text=True, timeout=30
        )
        if result.returncode != 0:
            break
    return result


def test_systemd_reload_fails_on_a_refused_config(host: Host) -> None:
    pid = started(host, "-c", str(host.conf))
    assert unit_reload(host, pid).returncode == 0
    wait_for("the good reload", lambda: "reloaded" in host.log(), 10)
    offset = len(host.log())
    host.conf.write_text(host.good.replace("[dhcp]\n", "[dhcp]\nlease_lifetime = soon\n"))
    refused = unit_reload(host, pid)
    assert refused.returncode != 0
    assert "lease_lifetime" in refused.stdout + refused.stderr
    time.sleep(0.5)
    assert "reload" not in host.log()[offset:], "the daemon was signalled anyway"
    assert alive(pid)


def test_config_the_user_cannot_read_is_reported_at_start(host: Host) -> None:
    """Issue 12 finding 10: SIGHUP re-reads the config as [general] user (nobody here),
    so a root-only 0600 config makes every reload fail: say so at start, and the
    reload test of the init script refuses it too."""
    os.chown(host.conf, 0, 0)
    host.conf.chmod(0o600)
    pid = started(host, "-c", str(host.conf))
    warnings = [line for line in host.log().splitlines() if " WARNING " in line]
    assert any(str(host.conf) in w and "nobody" in w for w in warnings), host.log()

    refused = init_script(host, "reload")
    assert refused.returncode != 0
    assert "nobody" in refused.stdout + refused.stderr

    # Readable by the user's group, as the package installs it (root:nfdhcpd 0640).
    os.chown(host.conf, 0, pwd.getpwnam("nobody").pw_gid)
    host.conf.chmod(0o640)
    offset = len(host.log())
    assert init_script(host, "reload").returncode == 0
    wait_for("the reload", lambda: "reloaded" in host.log()[offset:], 10)
    assert alive(pid)
