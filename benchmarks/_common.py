"""Shared helpers of the benchmarks: the e2e testbed, /proc readings, results files.

The benchmarks reuse the end-to-end testbed (`tests/e2e/netns.py`): everything they
create lives in `nfdt-` namespaces that `Hypervisor.close()` removes, also when a
benchmark fails or is stopped by SIGINT, SIGTERM or SIGHUP (see `install_signal_handlers`).
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "benchmarks" / "results"
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.e2e import netns  # noqa: E402

__all__ = ["REPO_ROOT", "RESULTS", "netns"]

CLK_TCK = os.sysconf("SC_CLK_TCK")


def install_signal_handlers() -> None:
    """Turn SIGTERM and SIGHUP into SystemExit so `finally` and `with` blocks clean up."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)


def require_root() -> None:
    if os.geteuid() != 0:
        sys.exit("benchmarks need root (network namespaces, iptables)")
    missing = [t for t in netns.missing_tools() if t not in ("dhclient", "dhcpcd")]
    if missing:
        sys.exit(f"missing tools: {', '.join(missing)} (run scripts/setup)")
    if netns.nfdhcpd_executable() is None:
        sys.exit("nfdhcpd is not installed (run scripts/setup)")


#: [general] keys the benchmarks set: a single client at thousands of packets a second
#: is the load here, not an abuse for the per-interface rate limiter to stop. A daemon
#: without the key logs it as unknown and goes on.
GENERAL_OVERRIDES = {"rate_limit": "0"}


def daemon_config(dirs: netns.DaemonDirs) -> str:
    """The e2e testbed's config (IPv6 off, INFO logging) plus GENERAL_OVERRIDES."""
    extra = "".join(f"{key} = {value}\n" for key, value in GENERAL_OVERRIDES.items())
    return netns.render_config(dirs).replace("[general]\n", "[general]\n" + extra, 1)


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` from /proc/PID/stat, in seconds."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()  # fields[0] is field 3 (state)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def open_fds(pid: int) -> list[str]:
    """What each open fd of `pid` points to, sorted (for comparing two runs)."""
    fd_dir = Path(f"/proc/{pid}/fd")
    targets = []
    for fd in fd_dir.iterdir():
        try:
            targets.append(os.readlink(fd))
        except OSError:
            continue
    return sorted(targets)


def machine() -> dict[str, Any]:
    """The machine the numbers come from."""
    model = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    load = os.getloadavg()
    return {
        "cpu_model": model,
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_at_start": [round(x, 2) for x in load],
        "git_commit": git_commit(),
        "packet_path": packet_path(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def packet_path() -> str:
    """How the installed nfdhcpd runs its packet path: mypyc-compiled or interpreted."""
    from nfdhcpd.core import responder

    return "interpreted" if responder.__file__.endswith(".py") else "compiled (mypyc)"


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
    except OSError:
        return ""
    return out.strip()


def write_json(name: str, data: dict[str, Any], path: Path | None = None) -> Path:
    target = path or RESULTS / name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    tmp.rename(target)
    return target


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]
