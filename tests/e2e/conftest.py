"""Fixtures for the end-to-end tests: one hypervisor namespace and one nfdhcpd per
topology (routed, bridged) per module, and fresh VMs per test, removed afterwards;
for the daemon-mode tests, a `host` with the daemon detached as the init script runs it."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import netns
from .daemon_host import MAC, Host, sh
from .netns import Mode
from .site import (
    NO_RATE_LIMIT,
    Site,
    e2e_ready,
    pytest_runtest_makereport,
    serve_test,
    stop_site,
)

__all__ = ["e2e_ready", "pytest_runtest_makereport"]  # registered here by importing them


@pytest.fixture(scope="module", params=["routed", "bridged"])
def site_module(request: pytest.FixtureRequest, e2e_ready: None) -> Iterator[Site]:
    mode: Mode = request.param
    with netns.hypervisor(mode, label=f"hv-{mode[0]}") as hv:
        if mode == "bridged":
            hv.add_address("br0", netns.PASSTHROUGH_NET)
        # No per-interface rate limit: the perfdhcp test offers 1,000 exchanges a second
        # from one VM on purpose; the limit has its own tests.
        daemon = hv.start_daemon(functools.partial(netns.render_config, general=NO_RATE_LIMIT))
        site = Site(hv, daemon, mode)
        yield site
        stop_site(site)


@pytest.fixture
def site(site_module: Site) -> Iterator[Site]:
    """The module's site, cleaned and checked after this test (`serve_test`)."""
    yield from serve_test(site_module)


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
