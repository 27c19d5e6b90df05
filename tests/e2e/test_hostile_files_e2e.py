"""A compromised service account against root (issue 12, findings 1 and 2), daemon mode.

The run and log directories are the service user's here, as the package and the init
script used to make them: the user (a real unprivileged one, `nobody`) plants a link
to a root-only file where root will open the pidfile, the log or the trace. Root must
refuse, and the victim stay as it was: root's, mode 0600, its content unchanged.
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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        os.geteuid() != 0 and os.environ.get("CI") != "true", reason="needs root (namespaces)"
    ),
]

NFDHCPD = str(Path(sys.executable).with_name("nfdhcpd"))
USER = "nobody"
SECRET = "root's secret\n"


def as_user(*argv: str) -> None:
    """Run `argv` as the service user, with no groups: what a compromised account can do."""
    pw = pwd.getpwnam(USER)
    subprocess.run(
        ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups", *argv],
        check=True,
        timeout=30,
    )


@dataclass
class Site:
    root: Path
    ns: str

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def log(self) -> Path:
        return self.root / "log"

    @property
    def scratch(self) -> Path:
        """A directory of the user's, where an admin might point --trace."""
        return self.root / "scratch"

    @property
    def victims(self) -> Path:
        return self.root / "victims"

    def victim(self, name: str) -> Path:
        path = self.victims / name
        path.write_text(SECRET)
        path.chmod(0o600)
        return path

    def start(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                self.ns,
                NFDHCPD,
                "-c",
                str(self.root / "nfdhcpd.conf"),
                *extra,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )


@pytest.fixture
def site() -> Iterator[Site]:
    root = Path(tempfile.mkdtemp(prefix="nfdt-files-"))
    root.chmod(0o755)
    s = Site(root, f"nfdt-files-{secrets.token_hex(3)}")
    pw = pwd.getpwnam(USER)
    (root / "bindings").mkdir()
    for path in (s.run, s.log, s.scratch):
        path.mkdir()
        os.chown(path, pw.pw_uid, pw.pw_gid)
    s.victims.mkdir(mode=0o700)
    (root / "nfdhcpd.conf").write_text(
        f"[general]\npidfile = {s.run}/nfdhcpd.pid\ndatapath = {root}/bindings\n"
        f"logdir = {s.log}\nuser = {USER}\n[dhcp]\nserver_ip = 192.0.2.1\n"
        "[ipv6]\nenable_ipv6 = no\n"
    )
    subprocess.run(["ip", "netns", "add", s.ns], check=True, timeout=30)
    try:
        yield s
    finally:
        pids = subprocess.run(
            ["ip", "netns", "pids", s.ns], capture_output=True, text=True, timeout=30
        ).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        subprocess.run(["ip", "netns", "del", s.ns], capture_output=True, timeout=30)
        shutil.rmtree(root, ignore_errors=True)


def assert_untouched(victim: Path) -> None:
    info = victim.stat()
    assert (info.st_uid, info.st_gid) == (0, 0), f"{victim} was handed to uid {info.st_uid}"
    assert info.st_mode & 0o7777 == 0o600, oct(info.st_mode)
    assert victim.read_text() == SECRET


ATTACKS = {
    # what the user plants -> (its path in the site, daemon options)
    "pidfile": ("run/nfdhcpd.pid", ()),
    "log": ("log/nfdhcpd.log", ()),
    "trace": ("scratch/trace.pcap", ("--trace", "{root}/scratch/trace.pcap")),
    "control socket": ("run/nfdhcpd.sock", ()),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_planted_symlink_leaves_the_victim_untouched(site: Site, attack: str) -> None:
    planted, options = ATTACKS[attack]
    victim = site.victim(f"{attack}-victim")
    as_user("ln", "-s", str(victim), str(site.root / planted))
    started = site.start(*(o.replace("{root}", str(site.root)) for o in options))
    assert_untouched(victim)
    # Refused, with a line that names the file.
    assert started.returncode == 1, started.stderr
    assert planted.split("/")[-1] in started.stderr


def test_a_trace_file_another_user_made_is_refused(site: Site) -> None:
    """Finding 2: root trusted (truncated, re-moded, wrote) a trace file the user made."""
    trace = site.scratch / "trace.pcap"
    as_user("sh", "-c", f"echo mine > {trace}")
    started = site.start("--trace", str(trace))
    assert started.returncode == 1, started.stderr
    assert "trace.pcap" in started.stderr
    assert trace.read_text() == "mine\n"
    assert trace.stat().st_uid == pwd.getpwnam(USER).pw_uid
