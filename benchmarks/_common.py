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
from ipaddress import IPv4Interface, IPv4Network
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


# -- the one-VM topology on which throughput.py and paced.py compare the two servers

SUBNET = IPv4Network("10.50.0.0/24")
TAP_ADDRESS = IPv4Interface("10.50.0.1/24")  # dnsmasq's address on the VM's link
VM_IP = SUBNET[100]
QUEUE = 42


class ServerBench:
    """A routed VM (`tap1`), nfdhcpd with its binding, and the NFQUEUE rule that decides
    which server answers: present, nfdhcpd; absent, a dnsmasq on the TAP, whose address
    in the VM's subnet is what lets dnsmasq serve it (nfdhcpd ignores it)."""

    def __init__(self, hv: netns.Hypervisor) -> None:
        self.hv = hv
        self.vm = hv.add_vm("tap1", netns.mac_for(1))
        hv.add_address(self.vm.tap, TAP_ADDRESS)
        self.daemon = hv.start_daemon(daemon_config)
        binding = netns.BindingSpec(
            mac=self.vm.mac,
            ip=str(VM_IP),
            subnet=str(SUBNET),
            gateway=str(TAP_ADDRESS.ip),
            hostname="bench-vm",
            indev=self.vm.tap,
        )
        self.daemon.write_binding(self.vm.tap, binding)
        self.rule_present = False

    def set_rule(self, present: bool) -> None:
        if present != self.rule_present:
            self.hv.iptables(
                "-t", "mangle", "-A" if present else "-D", "PREROUTING", "-i", "tap+",
                "-p", "udp", "--dport", "67",
                "-j", "NFQUEUE", "--queue-num", str(QUEUE), "--queue-bypass",
            )  # fmt: skip
            self.rule_present = present

    def start_dnsmasq(self, *, quiet: bool) -> netns.Process:
        """dnsmasq on the TAP with a static host for the VM, once it listens on port 67;
        `quiet`: --quiet-dhcp (no log line per exchange)."""
        workdir = self.hv.workdir / "dnsmasq"
        workdir.mkdir(exist_ok=True)
        args = [
            "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0",
            "--bind-interfaces", f"--interface={self.vm.tap}",
            f"--dhcp-range={SUBNET.network_address},static,{SUBNET.netmask},1h",
            f"--dhcp-host={self.vm.mac},{VM_IP}",
            f"--dhcp-leasefile={workdir / 'leases'}",
            f"--log-facility={workdir / 'dnsmasq.log'}",
            *(["--quiet-dhcp"] if quiet else []),
        ]  # fmt: skip
        before = self._port67_listeners()
        proc = self.hv.spawn(netns.unique_name("dnsmasq"), args)

        def ready() -> bool:
            if not proc.alive():
                raise netns.TestbedError(f"dnsmasq exited during start-up:\n{proc.log()}")
            return self._port67_listeners() > before

        netns.wait_for(ready, timeout=10, what="dnsmasq to bind port 67")
        return proc

    def _port67_listeners(self) -> int:
        text = self.hv.exec("cat", "/proc/net/udp").stdout
        return sum(1 for line in text.splitlines()[1:] if line.split()[1].endswith(":0043"))


def busy_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat (idle and iowait idle)."""
    with open("/proc/stat", encoding="ascii") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)


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


def save_plot(fig: Any, axes: tuple[Any, ...], path: Path) -> None:
    """Grid and legend on each panel, then the figure written to `path` and closed."""
    import matplotlib.pyplot as plt

    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
