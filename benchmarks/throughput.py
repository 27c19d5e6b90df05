#!/usr/bin/env python3
"""perfdhcp against nfdhcpd and against dnsmasq on the same netns topology.

Topology (built with tests/e2e/netns.py): a hypervisor namespace with one routed VM
whose TAP is `tap1`. The hypervisor side of the TAP has an address in the VM's subnet
so that dnsmasq serves it; nfdhcpd ignores it. perfdhcp runs in the VM as a one-client
relay (`-R 1 -b mac=<VM MAC>`, giaddr = the binding's IP on eth0), so every 4-way
exchange matches the binding (nfdhcpd) or the static reservation (dnsmasq).

At each offered rate the servers take turns: nfdhcpd (NFQUEUE rule present), then
dnsmasq with its default DHCP logging to a file, then dnsmasq with --quiet-dhcp (no
NFQUEUE rule for either). Server CPU is utime+stime from /proc/PID/stat over the run.

Writes benchmarks/results/throughput.json and docs/benchmarks-throughput.png.
"""

from __future__ import annotations

import argparse
import re
import resource
import time
from collections.abc import Sequence
from ipaddress import IPv4Interface
from pathlib import Path
from typing import Any

from _common import (
    GENERAL_OVERRIDES,
    QUEUE,
    REPO_ROOT,
    RESULTS,
    SUBNET,
    VM_IP,
    ServerBench,
    busy_ticks,
    cpu_seconds,
    install_signal_handlers,
    machine,
    netns,
    require_root,
    save_plot,
    write_json,
)

DEFAULT_RATES = (500, 1000, 2000, 3000, 4000, 5000, 6000, 8000, 10000, 12000, 15000, 18000)
DROP_LIMIT_PCT = 0.1
PACED_FRACTION = 0.9  # a run counts only if perfdhcp really offered >= 90 % of the rate
CPU_RATE = 2000
SERVERS = ("nfdhcpd", "dnsmasq-log", "dnsmasq-quiet")
EXCHANGES = ("DISCOVER-OFFER", "REQUEST-ACK")
PLOT = REPO_ROOT / "docs" / "benchmarks-throughput.png"

_SECTION = re.compile(r"\*\*\*Statistics for: (\S+)\*\*\*")
_DELAY = re.compile(r"^(min|avg|max) delay: ([\d.]+) ms")


def parse_delays(output: str) -> dict[str, dict[str, float]]:
    """{exchange: {"min": ms, "avg": ms, "max": ms}} from perfdhcp's statistics."""
    delays: dict[str, dict[str, float]] = {}
    section: str | None = None
    for line in output.splitlines():
        if m := _SECTION.search(line):
            section = m.group(1)
        elif (m := _DELAY.match(line.strip())) and section:
            delays.setdefault(section, {})[m.group(1)] = float(m.group(2))
    return delays


class Bench(ServerBench):
    """The topology plus the two servers; `run()` does one perfdhcp run."""

    def __init__(self, hv: netns.Hypervisor, duration: int) -> None:
        super().__init__(hv)
        self.duration = duration
        # perfdhcp relays: giaddr is the binding's IP on eth0 (dnsmasq ARPs for it)
        self.vm.add_address(IPv4Interface(f"{VM_IP}/{SUBNET.prefixlen}"))

    # -- one measurement

    def run(self, server: str, rate: int) -> dict[str, Any]:
        dnsmasq: netns.Process | None = None
        if server == "nfdhcpd":
            self.set_rule(True)
            pid = self.daemon.process.pid
        else:
            self.set_rule(False)
            dnsmasq = self.start_dnsmasq(quiet=server == "dnsmasq-quiet")
            pid = dnsmasq.pid
        queue_before = self.hv.queue_stats().get(QUEUE)
        rcvbuf_before = self._client_rcvbuf_errors()
        try:
            cpu_before, busy_before = cpu_seconds(pid), busy_ticks()
            client_before = children_cpu_seconds()
            started = time.monotonic()
            report = self.vm.perfdhcp(rate=rate, seconds=self.duration)
            elapsed = time.monotonic() - started
            cpu = cpu_seconds(pid) - cpu_before
            client = children_cpu_seconds() - client_before
            busy, total = (a - b for a, b in zip(busy_ticks(), busy_before, strict=True))
        finally:
            if dnsmasq is not None:
                dnsmasq.stop()
        queue_after = self.hv.queue_stats().get(QUEUE)
        result = summarize(server, rate, self.duration, report, cpu, queue_before, queue_after)
        # Where the load generator stands: a saturated machine, or replies perfdhcp's
        # socket had no room for, limit the rate as much as the server does.
        result["machine_busy_pct"] = round(100 * busy / total, 1) if total else None
        result["client_cpu_pct"] = round(100 * client / elapsed, 1)
        result["client_rcvbuf_errors"] = self._client_rcvbuf_errors() - rcvbuf_before
        return result

    def _client_rcvbuf_errors(self) -> int:
        """UDP RcvbufErrors in the VM namespace: replies dropped at perfdhcp's socket."""
        lines = [
            line.split()
            for line in self.vm.exec("cat", "/proc/net/snmp").stdout.splitlines()
            if line.startswith("Udp:")
        ]
        return int(lines[1][lines[0].index("RcvbufErrors")])


def children_cpu_seconds() -> float:
    """CPU of waited-for children: perfdhcp (`ip netns exec` execs it), all threads."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def summarize(
    server: str,
    rate: int,
    duration: int,
    report: netns.PerfdhcpReport,
    cpu: float,
    queue_before: netns.QueueStats | None,
    queue_after: netns.QueueStats | None,
) -> dict[str, Any]:
    result: dict[str, Any] = {"server": server, "offered_rate": rate, "duration_s": duration}
    delays = parse_delays(report.output)
    if not set(EXCHANGES) <= report.exchanges.keys():
        result["error"] = f"perfdhcp rc={report.returncode}: {report.output[-2000:]}"
        return result
    for name in EXCHANGES:
        stats = report.exchanges[name]
        key = "do" if name == "DISCOVER-OFFER" else "ra"
        result[f"{key}_sent"] = stats.sent
        result[f"{key}_received"] = stats.received
        result[f"{key}_drops"] = stats.drops
        result[f"{key}_drops_pct"] = round(100 * stats.drops / stats.sent, 4) if stats.sent else 0
        result[f"{key}_avg_delay_ms"] = delays.get(name, {}).get("avg")
    completed = report.exchanges["REQUEST-ACK"].received
    result["achieved_rate"] = round(completed / duration, 1)
    result["perfdhcp_rate"] = report.rate
    result["drops_pct"] = max(result["do_drops_pct"], result["ra_drops_pct"])
    result["paced"] = result["do_sent"] >= PACED_FRACTION * rate * duration
    result["cpu_s"] = round(cpu, 3)
    result["cpu_us_per_exchange"] = round(cpu * 1e6 / completed, 1) if completed else None
    if queue_before and queue_after:
        result["queue_dropped"] = queue_after.dropped - queue_before.dropped
        result["queue_user_dropped"] = queue_after.user_dropped - queue_before.user_dropped
    return result


def derive(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per server: highest sustained rate, CPU/exchange at CPU_RATE; then the targets."""
    per_server: dict[str, Any] = {}
    for server in SERVERS:
        mine = [r for r in runs if r["server"] == server and "error" not in r]
        if not mine:
            continue
        ok = [r for r in mine if r["drops_pct"] <= DROP_LIMIT_PCT and r["paced"]]
        at_cpu_rate = [r["cpu_us_per_exchange"] for r in mine if r["offered_rate"] == CPU_RATE]
        at_cpu_rate = [x for x in at_cpu_rate if x is not None]
        per_server[server] = {
            "max_sustained_rate": max((r["offered_rate"] for r in ok), default=0),
            "max_achieved_rate": max(r["achieved_rate"] for r in mine),
            "cpu_us_per_exchange_at_2000": (
                round(sum(at_cpu_rate) / len(at_cpu_rate), 1) if at_cpu_rate else None
            ),
        }
    derived: dict[str, Any] = {"servers": per_server}
    dnsmasq = [s for s in ("dnsmasq-log", "dnsmasq-quiet") if s in per_server]
    if "nfdhcpd" in per_server and dnsmasq:
        # The stronger dnsmasq is the baseline: higher sustained rate, then less CPU.
        def strength(name: str) -> tuple[float, float]:
            figures = per_server[name]
            cpu = figures["cpu_us_per_exchange_at_2000"]
            return (figures["max_sustained_rate"], -(cpu if cpu is not None else 1e9))

        baseline = max(dnsmasq, key=strength)
        ours, theirs = per_server["nfdhcpd"], per_server[baseline]
        derived["baseline"] = baseline
        rate_ratio = (
            ours["max_sustained_rate"] / theirs["max_sustained_rate"]
            if theirs["max_sustained_rate"]
            else None
        )
        cpu_ratio = None
        if ours["cpu_us_per_exchange_at_2000"] and theirs["cpu_us_per_exchange_at_2000"]:
            cpu_ratio = ours["cpu_us_per_exchange_at_2000"] / theirs["cpu_us_per_exchange_at_2000"]
        derived["rate_ratio"] = round(rate_ratio, 2) if rate_ratio is not None else None
        derived["cpu_ratio"] = round(cpu_ratio, 2) if cpu_ratio is not None else None
        derived["target_rate_met"] = rate_ratio is not None and rate_ratio >= 1.5
        derived["target_cpu_met"] = cpu_ratio is not None and cpu_ratio <= 0.8
    return derived


def plot(runs: Sequence[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    top = max(r["offered_rate"] for r in runs)
    ax1.plot([0, top], [0, top], color="grey", linestyle=":", label="offered = achieved")
    styles = {"nfdhcpd": "o-", "dnsmasq-log": "s--", "dnsmasq-quiet": "^--"}
    for server in SERVERS:
        mine = sorted(
            (r for r in runs if r["server"] == server and "error" not in r),
            key=lambda r: r["offered_rate"],
        )
        if not mine:
            continue
        offered = [r["offered_rate"] for r in mine]
        ax1.plot(offered, [r["achieved_rate"] for r in mine], styles[server], label=server)
        cpu = [(r["offered_rate"], r["cpu_us_per_exchange"]) for r in mine]
        cpu = [(x, y) for x, y in cpu if y is not None]
        ax2.plot([x for x, _ in cpu], [y for _, y in cpu], styles[server], label=server)
    ax1.set(
        xlabel="offered rate (DISCOVERs/s)",
        ylabel="achieved 4-way exchanges/s",
        title="perfdhcp relay, one client MAC",
    )
    ax2.set(xlabel="offered rate (DISCOVERs/s)", ylabel="server CPU µs per 4-way exchange")
    ax2.set_title("server CPU (utime+stime) per completed exchange")
    save_plot(fig, (ax1, ax2), path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--rates",
        default=",".join(map(str, DEFAULT_RATES)),
        help="comma-separated offered rates (default: %(default)s)",
    )
    parser.add_argument("--duration", type=int, default=6, help="seconds per run")
    parser.add_argument(
        "--servers", default=",".join(SERVERS), help="subset of %(default)s, comma-separated"
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "throughput.json")
    parser.add_argument("--plot", type=Path, default=PLOT)
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    rates = [int(x) for x in args.rates.split(",") if x]
    servers = [s for s in args.servers.split(",") if s]
    if unknown := set(servers) - set(SERVERS):
        parser.error(f"unknown servers: {', '.join(sorted(unknown))}")
    require_root()
    install_signal_handlers()

    info = machine()
    runs: list[dict[str, Any]] = []
    started = time.monotonic()
    with netns.Hypervisor("bench-tp", capture=False) as hv:
        bench = Bench(hv, args.duration)
        for rate in rates:
            for server in servers:
                result = bench.run(server, rate)
                runs.append(result)
                print(format_run(result), flush=True)
        bench.set_rule(False)
        status = bench.daemon.stop()
    data = {
        "benchmark": "throughput",
        "machine": info,
        "command": "benchmarks/throughput.py " + " ".join(argv or []),
        "parameters": {
            "rates": rates,
            "duration_s": args.duration,
            "drop_limit_pct": DROP_LIMIT_PCT,
            "paced_fraction": PACED_FRACTION,
            "daemon_general_overrides": GENERAL_OVERRIDES,
            "perfdhcp": "perfdhcp -4 -l eth0 -R 1 -b mac=<vm mac> -r RATE -p SECONDS -W 500000",
        },
        "elapsed_s": round(time.monotonic() - started, 1),
        "nfdhcpd_exit_status": status,
        "runs": runs,
        "derived": derive(runs),
    }
    print(f"wrote {write_json('throughput.json', data, args.output)}")
    if not args.no_plot and runs:
        plot([r for r in runs if "error" not in r], args.plot)
        print(f"wrote {args.plot}")
    return 0


def format_run(r: dict[str, Any]) -> str:
    if "error" in r:
        return f"{r['server']:>13} {r['offered_rate']:>6}/s: ERROR {r['error'][:300]}"
    return (
        f"{r['server']:>13} {r['offered_rate']:>6}/s: achieved {r['achieved_rate']:>8.1f}/s"
        f" drops D-O {r['do_drops_pct']:.3f}% R-A {r['ra_drops_pct']:.3f}%"
        f" delay {r['do_avg_delay_ms']}/{r['ra_avg_delay_ms']} ms"
        f" cpu {r['cpu_us_per_exchange']} µs/exch"
    )


if __name__ == "__main__":
    raise SystemExit(main())
