#!/usr/bin/env python3
"""Render docs/benchmarks.md from benchmarks/results/*.json (and benchmarks/notes.md).

Run after the benchmarks; a missing results file leaves its section saying so.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import REPO_ROOT, RESULTS

DOC = REPO_ROOT / "docs" / "benchmarks.md"
NOTES = REPO_ROOT / "benchmarks" / "notes.md"
SERVERS = ("nfdhcpd", "dnsmasq-log", "dnsmasq-quiet")


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / name
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += [
        "| " + " | ".join(fmt(c) if not isinstance(c, str) else c for c in r) + " |" for r in rows
    ]
    return lines


def machine_section(results: Sequence[dict[str, Any] | None]) -> list[str]:
    out = ["## Machine", ""]
    for data in results:
        if data is None:
            continue
        m = data["machine"]
        out.append(
            f"- `{data['benchmark']}`: {m['date']}, {m['cpu_model']}, {m['cpus']} CPUs, "
            f"kernel {m['kernel']}, Python {m['python']}, commit `{m['git_commit']}`, "
            f"packet path {m.get('packet_path', 'interpreted')}, "
            f"load average at start {', '.join(map(str, m['loadavg_at_start']))}"
        )
    out += [
        "",
        "The machine is shared: other work (builds, tests, other engineers' benchmarks)",
        "may have run at the same time, and perfdhcp itself keeps one of the two cores",
        "busy. Compare servers within one run, not figures across runs or machines.",
        "",
    ]
    return out


def throughput_section(data: dict[str, Any] | None) -> list[str]:
    out = ["## Throughput: nfdhcpd vs dnsmasq", ""]
    if data is None:
        return [*out, "No results: run `benchmarks/throughput.py`.", ""]
    p = data["parameters"]
    out += [
        f"Command: `{data['command'].strip()}` ({data['elapsed_s']} s in all).",
        "",
        f"`{p['perfdhcp']}` in a VM namespace, {p['duration_s']} s per run, against each",
        "server in turn at every offered rate, on the same topology (routed TAP whose",
        "hypervisor end has an address in the VM's /24). nfdhcpd: binding file plus the",
        "NFQUEUE rule, default config but `rate_limit = 0` (it logs one INFO line per TAP",
        "and kind of reply a minute; `coalesce_ms` at the code's default: 2 ms before",
        "issue 14, 20 ms since, see the commit under Machine). dnsmasq 2.90 with a static",
        "reservation for the MAC and no NFQUEUE rule: `dnsmasq-log` logs each DHCP",
        "message to a file (its default), `dnsmasq-quiet` adds `--quiet-dhcp`.",
        "",
        "Achieved = REQUEST-ACK exchanges received / duration. Drops: perfdhcp's per-",
        "exchange drop counts as % of sent. Delay: perfdhcp's average. CPU: server",
        "utime+stime (`/proc/PID/stat`) over the run / completed 4-way exchanges. A rate",
        f"is *sustained* when both exchanges drop ≤ {p['drop_limit_pct']} % and perfdhcp",
        f"really offered ≥ {int(p['paced_fraction'] * 100)} % of the rate. Machine: the",
        "whole machine's busy share during the run (`/proc/stat`); perfdhcp: its CPU (all",
        "threads, % of one core); rcvbuf: replies dropped at perfdhcp's full socket buffer",
        "(UDP RcvbufErrors in the VM namespace).",
        "",
    ]
    rows = []
    for r in data["runs"]:
        if "error" in r:
            rows.append([fmt(r["offered_rate"]), r["server"], "error", *[""] * 8])
            continue
        rows.append(
            [
                r["offered_rate"],
                r["server"],
                r["achieved_rate"],
                f"{r['do_drops_pct']:.3f} / {r['ra_drops_pct']:.3f}",
                f"{fmt(r['do_avg_delay_ms'], 2)} / {fmt(r['ra_avg_delay_ms'], 2)}",
                r["cpu_us_per_exchange"],
                fmt(r.get("queue_dropped")) if r["server"] == "nfdhcpd" else "",
                "yes" if r["paced"] else "no",
                fmt(r.get("machine_busy_pct"), 0),
                fmt(r.get("client_cpu_pct"), 0),
                fmt(r.get("client_rcvbuf_errors")),
            ]
        )
    header = [
        "offered/s",
        "server",
        "achieved 4-way/s",
        "drops D-O / R-A %",
        "avg delay D-O / R-A ms",
        "CPU µs/exchange",
        "NFQUEUE overflow",
        "paced",
        "machine busy %",
        "perfdhcp CPU %",
        "rcvbuf drops",
    ]
    out += table(header, rows)
    d = data["derived"]
    out += ["", "![achieved vs offered rate](benchmarks-throughput.png)", ""]
    srows = [
        [
            s,
            d["servers"][s]["max_sustained_rate"],
            d["servers"][s]["max_achieved_rate"],
            d["servers"][s]["cpu_us_per_exchange_at_2000"],
        ]
        for s in SERVERS
        if s in d["servers"]
    ]
    out += table(
        ["server", "highest sustained offered rate/s", "best achieved/s", "CPU µs/exch at 2,000/s"],
        srows,
    )
    if "baseline" in d:
        out += [
            "",
            f"Baseline: **{d['baseline']}**, the stronger dnsmasq variant (higher sustained",
            "rate, then lower CPU).",
        ]
    out.append("")
    return out


def paced_section(data: dict[str, Any] | None) -> list[str]:
    out = ["## Evenly paced load: nfdhcpd vs dnsmasq, CPU per reply and capacity", ""]
    if data is None:
        return [*out, "No results: run `benchmarks/paced.py`.", ""]
    p = data["parameters"]
    out += [
        f"Command: `{data['command'].strip()}` ({data['elapsed_s']} s in all; the machine",
        f"was {fmt(data.get('machine_busy_pct'), 0)} % busy over the whole run, all its work",
        "counted).",
        "",
        f"`{p['trafgen']}` (SCHED_FIFO) in the VM namespace sends a DISCOVER and a SELECTING",
        "REQUEST alternately, evenly paced; *distinct*: every request also carries 4 random",
        "bytes (in option 60), as if each came from a different client; *bursts of N*: N",
        "back to back, the bursts evenly paced. Replies are counted by an nftables netdev",
        "ingress counter on the VM's eth0 (then dropped); lost = sent - counted. CPU: the",
        "server's utime+stime (`/proc/PID/stat`) over the run / replies (sched: the same from",
        "`/proc/PID/task/*/schedstat`, in ns). Both servers run throughout on the same",
        "routed TAP and the NFQUEUE rule picks the one measured: nfdhcpd with",
        f"`{p['daemon_general_overrides']}`, dnsmasq 2.90 `--quiet-dhcp` with a static",
        "host. They take turns at every step. "
        + (
            "No capture runs in the namespaces (the tests' tshark oracle is off: its"
            " capturer would take CPU of its own)."
            if p.get("capture") is False
            else "The tests' capture (a Python packet socket for the tshark oracle) ran"
            " throughout, on the same two cores."
        ),
        "",
    ]
    d = data["derived"]
    rows = [
        [
            c["workload"],
            c["offered_rate"],
            c.get("nfdhcpd"),
            c.get("dnsmasq"),
            f"{c['ratio']:.3f}" if "ratio" in c else None,
        ]
        for c in d["cpu"]
    ]
    out += table(
        ["workload", "offered/s", "nfdhcpd CPU µs/reply", "dnsmasq CPU µs/reply", "ratio"], rows
    )
    cap = d.get("capacity", {})
    if cap:
        out += [
            "",
            f"Capacity (highest evenly paced rate with ≤ {p['loss_limit_pct']} % lost replies;",
            "a failed step is retried once):",
            "",
        ]
        out += table(
            ["server", "capacity/s", "stopped by"],
            [[s, cap[s]["capacity"], cap[s]["stopped_by"] or "-"] for s in cap],
        )
        if "capacity_ratio" in d:
            out += ["", f"Capacity ratio nfdhcpd/dnsmasq: **{fmt(d['capacity_ratio'], 2)}x**."]
    out += ["", "![CPU per reply and lost replies](benchmarks-paced.png)", "", "All runs:", ""]
    rows = [
        [
            r.get("phase", ""),
            r["workload"],
            r["offered_rate"],
            r["server"],
            r["achieved_offered_rate"],
            r["sent"],
            r["lost"],
            fmt(r["lost_pct"], 3),
            r["cpu_us_per_reply"],
            r["sched_us_per_reply"],
            fmt(r.get("queue_dropped", "")),
            fmt(r.get("queue_user_dropped", "")),
            fmt(r["server_cpu_pct"], 0),
            fmt(r["machine_busy_pct"], 0),
        ]
        for r in data["runs"]
    ]
    out += table(
        [
            "phase",
            "workload",
            "offered/s",
            "server",
            "sent at/s",
            "sent",
            "lost",
            "lost %",
            "CPU µs/reply",
            "sched µs/reply",
            "queue drops",
            "socket drops",
            "server CPU %",
            "machine busy %",
        ],
        rows,
    )
    out.append("")
    return out


def scale_section(data: dict[str, Any] | None) -> list[str]:
    out = ["## Scale: 10,000 binding files", ""]
    if data is None:
        return [*out, "No results: run `benchmarks/scale.py`.", ""]
    one, many = data["one_binding"], data["many_bindings"]
    out += [
        f"Command: `{data['command'].strip()}`. A routed VM whose TAP is one of the",
        "bindings runs a minimal DHCP client (`benchmarks/_dhcpprobe.py`, raw socket) that",
        "re-sends its DISCOVER every 5 ms (first lease) or 1 ms (rename latency). First",
        "lease: from just before nfdhcpd is spawned (files already in place) to the ACK.",
        "Rename-to-reply: a binding with a new IP is renamed over the VM's file while the",
        "client polls; the sample ends at the first OFFER with the new IP.",
        "",
    ]
    starts = len(many.get("first_lease_runs", [])) or 1
    out += [
        f"The {many['bindings']:,}-binding daemon was started {starts} times; start-up",
        "figures are medians (all runs in scale.json), as the machine is shared.",
        "",
    ]
    rows = []
    for label, key, digits in (
        ("first lease, median (s)", "first_lease_s", 3),
        ("first lease, worst (s)", "first_lease_max_s", 3),
        ("'serving N bindings' logged (s)", "serving_logged_s", 3),
        ("daemon CPU until first lease (s)", "startup_cpu_s", 3),
    ):
        rows.append([label, fmt(one.get(key), digits), fmt(many.get(key), digits)])
    rows.append(["RSS (MiB)", fmt(one["rss_kib"] / 1024), fmt(many["rss_kib"] / 1024)])
    rows.append(["open fds", fmt(one["fds"]), fmt(many["fds"])])
    if "after_adding_all" in one:
        added = one["after_adding_all"]
        rows.append(
            [
                f"same daemon after renaming in the other {added['bindings'] - 1:,}: fds / RSS MiB",
                f"{one['fds']} -> {added['fds']}",
                f"{fmt(added['rss_kib'] / 1024)} MiB",
            ]
        )
    for pct in ("p50_ms", "p90_ms", "p99_ms", "max_ms"):
        rows.append(
            [
                f"rename-to-reply {pct.removesuffix('_ms')} (ms)",
                fmt(one["rename_to_reply"][pct], 2),
                fmt(many["rename_to_reply"][pct], 2),
            ]
        )
    rows.append(
        [
            "rename samples",
            fmt(one["rename_to_reply"]["samples"]),
            fmt(many["rename_to_reply"]["samples"]),
        ]
    )
    rows.append(["udhcpc got", fmt(one["udhcpc_ip"]), fmt(many["udhcpc_ip"])])
    out += table(["", "1 binding", f"{many['bindings']:,} bindings"], rows)
    out += [
        "",
        f"fd kinds with {many['bindings']:,}: " + ", ".join(f"`{k}`" for k in many["fd_kinds"]),
    ]
    o = many["overflow"]
    out += [
        "",
        "### inotify overflow",
        "",
        f"With the daemon SIGSTOPped, {o['rewrite_rounds']} round(s) of atomic rewrites of",
        f"every binding (new IPs), {o['removed']:,} deletions and {o['added']:,} new files:",
        f"about {o['events_generated']:,} inotify events against max_queued_events =",
        f"{o['max_queued_events']:,} (the host sysctl is left alone), written in",
        f"{o['files_written_s']} s. Then SIGCONT.",
        "",
    ]
    out += table(
        ["check", "result"],
        [
            ["overflow logged, rescan done", fmt(o["overflow_logged"])],
            ["SIGCONT to reply with the VM's final IP (s)", fmt(o["recovery_to_reply_s"], 3)],
            ["files / table entries (SIGUSR1 dump)", f"{o['files']:,} / {o['table_entries']:,}"],
            ["entries differing from their file", fmt(o["mismatched"])],
            ["RSS after the rescan (MiB)", fmt(many["rss_kib_after_overflow"] / 1024)],
        ],
    )
    out.append("")
    return out


def micro_section(data: dict[str, Any] | None) -> list[str]:
    out = ["## Micro: `responder.handle()` per message, and a reply-cache hit", ""]
    if data is None:
        return [*out, "No results: run `benchmarks/micro.py`.", ""]
    out += [
        f"Command: `{data['command'].strip()}`. The pure core only (no NFQUEUE, injection",
        "or logging; `dhcp4_discover_cached`: the shell's reply cache answering a DISCOVER",
        "it has seen, with a new xid each time), best of several timeit repeats, requests",
        "built once with scapy,",
        f"IPv6 mode `{data['parameters']['ipv6_mode']}` (the binding has an IP6, so",
        "stateful DHCPv6).",
        "",
    ]
    rows = [
        [name, fmt(r["us_per_message"], 2), r["messages_per_s_one_core"], r.get("event", "")]
        for name, r in data["results"].items()
    ]
    out += table(["message", "µs per handle()", "messages/s on one core", "decision"], rows)
    out.append("")
    return out


def targets_section(
    pc: dict[str, Any] | None, tp: dict[str, Any] | None, sc: dict[str, Any] | None
) -> list[str]:
    out = ["## Targets (issue 14)", ""]
    rows: list[list[str]] = []
    if pc is not None:
        d = pc["derived"]
        for c in d["cpu"]:
            if "ratio" in c:
                rows.append(
                    [
                        f"CPU per reply ≤ 0.8x dnsmasq's: {c['workload']},"
                        f" {fmt(c['offered_rate'])}/s",
                        f"{fmt(c['nfdhcpd'])} µs vs {fmt(c['dnsmasq'])} µs = {fmt(c['ratio'], 3)}x",
                        fmt(c["met"]),
                    ]
                )
        cap = d.get("capacity", {})
        if cap and "capacity_ratio" not in d:
            rows.append(
                [
                    "capacity (evenly paced, ≤ 0.1 % lost) ≥ 1.5x dnsmasq's",
                    "; ".join(
                        f"{s}: {fmt(c['capacity'])}/s, then {c['stopped_by']}"
                        for s, c in cap.items()
                    ),
                    "**not shown** (no dnsmasq capacity in this run)",
                ]
            )
        if "capacity_ratio" in d:
            rows.append(
                [
                    "capacity (evenly paced, ≤ 0.1 % lost) ≥ 1.5x dnsmasq's",
                    f"{fmt(cap['nfdhcpd']['capacity'])}/s vs {fmt(cap['dnsmasq']['capacity'])}/s"
                    f" = {fmt(d['capacity_ratio'], 2)}x",
                    fmt(d["target_capacity_met"]),
                ]
            )
    if tp is not None and "baseline" in tp["derived"]:
        d = tp["derived"]
        ours, theirs = d["servers"]["nfdhcpd"], d["servers"][d["baseline"]]
        rows.append(
            [
                "perfdhcp run (bursts, older code, see Machine): sustained rate ≥ 1.5x"
                " dnsmasq's (≤ 0.1 % drops)",
                f"{fmt(ours['max_sustained_rate'])}/s vs {fmt(theirs['max_sustained_rate'])}/s"
                f" = {fmt(d['rate_ratio'], 2)}x",
                fmt(d["target_rate_met"]),
            ]
        )
        rows.append(
            [
                "perfdhcp run (bursts, older code): CPU per exchange at 2,000/s ≤ 0.8x dnsmasq's",
                f"{fmt(ours['cpu_us_per_exchange_at_2000'])} µs vs "
                f"{fmt(theirs['cpu_us_per_exchange_at_2000'])} µs = {fmt(d['cpu_ratio'], 2)}x",
                fmt(d["target_cpu_met"]),
            ]
        )
    if sc is not None:
        one, many, t = sc["one_binding"], sc["many_bindings"], sc["targets"]
        rows += [
            [
                "10k: first lease ≤ 2 s (median of starts)",
                f"{many['first_lease_s']:.3f} s",
                fmt(t["first_lease_le_2s"]),
            ],
            ["10k: RSS ≤ 80 MB", f"{many['rss_kib'] / 1024:.1f} MiB", fmt(t["rss_le_80mb"])],
            [
                "10k: fds as with 1 binding (same daemon, bindings added)",
                f"{one['fds']} -> {one.get('after_adding_all', {}).get('fds')}"
                f" (separate daemons: {one['fds']} vs {many['fds']})",
                fmt(t["fds_independent"]),
            ],
            [
                "10k: rename-to-reply p99 ≤ 20 ms",
                f"{many['rename_to_reply']['p99_ms']:.2f} ms",
                fmt(t["rename_p99_le_20ms"]),
            ],
            [
                "no lost update after inotify overflow",
                f"{many['overflow']['mismatched']} entries differ",
                fmt(t["no_lost_update_after_overflow"]),
            ],
        ]
    return [*out, *table(["target", "measured", "met"], rows), ""]


def render() -> str:
    pc, tp = load("paced.json"), load("throughput.json")
    sc, mi = load("scale.json"), load("micro.json")
    out = [
        "# Benchmarks",
        "",
        "<!-- Generated by benchmarks/report.py from benchmarks/results/*.json and",
        "     benchmarks/notes.md; edit those, not this file. -->",
        "",
        "How to run them: [benchmarks/README.md](../benchmarks/README.md). One command",
        "re-runs everything and regenerates this page:",
        "",
        "```sh",
        ".venv/bin/python benchmarks/run_all.py        # as root, ~10 minutes",
        "```",
        "",
    ]
    out += targets_section(pc, tp, sc)
    out += machine_section([pc, tp, sc, mi])
    out += paced_section(pc)
    out += throughput_section(tp)
    out += scale_section(sc)
    out += micro_section(mi)
    if NOTES.exists():
        out += [NOTES.read_text().rstrip(), ""]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--output", type=Path, default=DOC)
    args = parser.parse_args(argv)
    args.output.write_text(render())
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
