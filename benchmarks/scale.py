#!/usr/bin/env python3
"""nfdhcpd with 10,000 binding files: start-up, memory, fds, update latency, overflow.

One routed VM namespace whose TAP is one of the 10,000 (`tap4242` by default) runs a
small timing client (benchmarks/_dhcpprobe.py); the other bindings are files only.
Phases, each with a fresh daemon:

1. one binding: time to first lease, RSS, fds, a few rename-to-reply samples;
2. all bindings: time to first lease (clock starts just before the daemon is spawned,
   the files already in place), a udhcpc lease, RSS and fds, then rename-to-reply
   latency: a changed binding (new IP) for the VM's TAP is renamed into place while the
   client re-sends DISCOVER every millisecond; the sample ends at the first OFFER with
   the new IP;
3. inotify overflow: the daemon is SIGSTOPped, every binding is rewritten atomically
   (3 events each) until well over fs.inotify.max_queued_events, some are deleted and
   new ones added; after SIGCONT the VM must get its final IP, the log must say it
   rescanned, and the table dumped by SIGUSR1 must equal the files.

Writes benchmarks/results/scale.json.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

from _common import (
    GENERAL_OVERRIDES,
    REPO_ROOT,
    RESULTS,
    cpu_seconds,
    daemon_config,
    install_signal_handlers,
    machine,
    netns,
    open_fds,
    percentile,
    require_root,
    rss_kib,
    write_json,
)

NETWORK = IPv4Network("10.0.0.0/16")
GATEWAY = NETWORK[1]
PROBE = REPO_ROOT / "benchmarks" / "_dhcpprobe.py"
MAX_QUEUED_EVENTS = Path("/proc/sys/fs/inotify/max_queued_events")
_TABLE_LINE = re.compile(r" INFO\s+(tap\d+): MAC=(\S+)(?: .*?)? IP=(\S+)")
_ASCTIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def ip_for(index: int, generation: int = 0) -> str:
    """Distinct per index (< 12,000) and generation (0 to 4, rewrites) inside NETWORK."""
    return str(NETWORK[256 + index + generation * 12_000])


def binding_text(index: int, ip: str) -> str:
    return netns.BindingSpec(
        mac=netns.mac_for(index),
        ip=ip,
        subnet=str(NETWORK),
        gateway=str(GATEWAY),
        hostname=f"vm{index}",
        indev=f"tap{index}",
    ).render()


class ProbeClient:
    """_dhcpprobe.py in the VM namespace, driven line by line."""

    def __init__(self, vm: netns.VM) -> None:
        argv = ["ip", "netns", "exec", vm.ns, sys.executable, str(PROBE), vm.ifname, vm.mac]
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.expect("ready", timeout=10)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put("eof")

    def expect(self, prefix: str, timeout: float) -> list[str]:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise netns.TestbedError(f"probe: no {prefix!r} within {timeout}s") from None
        words = line.split()
        if not words or words[0] != prefix:
            raise netns.TestbedError(f"probe: expected {prefix!r}, got {line!r}")
        return words

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def result(self, timeout: float) -> list[str]:
        line = self.lines.get(timeout=timeout)
        return line.split()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Scale:
    def __init__(self, hv: netns.Hypervisor, vm: netns.VM, vm_index: int) -> None:
        self.hv = hv
        self.vm = vm
        self.vm_index = vm_index
        self.probe = ProbeClient(vm)
        self.daemon: netns.Daemon | None = None

    # -- daemon life cycle

    def start(self, indexes: Sequence[int]) -> tuple[netns.Daemon, int, float, dict[str, str]]:
        """Write the bindings, spawn nfdhcpd; return it, the spawn time (monotonic ns and
        wall clock) and name->IP."""
        exe = netns.nfdhcpd_executable()
        assert exe is not None
        dirs = netns.DaemonDirs(self.hv.workdir / netns.unique_name("nfdhcpd"))
        dirs.create()
        expected: dict[str, str] = {}
        for index in indexes:
            name = f"tap{index}"
            expected[name] = ip_for(index)
            path = dirs.datapath / name
            path.write_text(binding_text(index, expected[name]))
            path.chmod(0o644)
        dirs.config.write_text(daemon_config(dirs))
        wall, t0 = time.time(), time.monotonic_ns()
        proc = self.hv.spawn("nfdhcpd", [str(exe), "-f", "-c", str(dirs.config)])
        self.daemon = netns.Daemon(self.hv, dirs, proc, (42,))
        return self.daemon, t0, wall, expected

    def stop(self) -> int | None:
        if self.daemon is None:
            return None
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.daemon.process.pid, signal.SIGCONT)
        status = self.daemon.stop()
        self.daemon = None
        return status

    def first_lease(self, t0: int, timeout: float = 60) -> dict[str, Any]:
        self.probe.send(f"lease {timeout} 0.005")
        words = self.probe.result(timeout + 5)
        if words[0] != "ack":
            raise netns.TestbedError(f"no lease: {words}; daemon log:\n{self.log_tail()}")
        return {
            "first_lease_s": round((int(words[2]) - t0) / 1e9, 3),
            "ip": words[1],
            "requests_sent": int(words[3]),
        }

    def log_tail(self, chars: int = 3000) -> str:
        return self.daemon.log()[-chars:] if self.daemon else ""

    # -- measurements

    def resources(self) -> dict[str, Any]:
        assert self.daemon is not None
        pid = self.daemon.process.pid
        fds = open_fds(pid)
        kinds = sorted({re.sub(r"\[\d+\]", "", f) for f in fds})
        return {"rss_kib": rss_kib(pid), "fds": len(fds), "fd_kinds": kinds}

    def rename_latency(self, samples: int, first_generation: int) -> list[float]:
        """Milliseconds from rename to the first OFFER carrying the renamed-in IP."""
        assert self.daemon is not None
        name = self.vm.tap
        path = self.daemon.binding_path(name)
        tmp = path.with_name(f".{name}.tmp")
        latencies: list[float] = []
        for sample in range(samples):
            ip = ip_for(self.vm_index, first_generation + sample % 2)
            tmp.write_text(binding_text(self.vm_index, ip))
            tmp.chmod(0o644)
            self.probe.send(f"discover {ip} 5 0.001")
            self.probe.expect("started", timeout=5)
            time.sleep(0.003)  # the client is polling with the old binding answering
            t0 = time.monotonic_ns()
            os.rename(tmp, path)
            words = self.probe.result(10)
            if words[0] != "offer":
                raise netns.TestbedError(f"sample {sample}: {words}\n{self.log_tail()}")
            latencies.append((int(words[2]) - t0) / 1e6)
            time.sleep(0.02)
        return latencies

    def overflow(self, indexes: list[int], expected: dict[str, str]) -> dict[str, Any]:
        """Overflow the inotify queue while the daemon is stopped; check it recovers."""
        assert self.daemon is not None
        daemon = self.daemon
        limit = int(MAX_QUEUED_EVENTS.read_text())
        rounds = max(1, -(-int(limit * 1.5) // (3 * len(indexes))))
        removed = [i for i in indexes[-len(indexes) // 10 :] if i != self.vm_index]
        added = list(range(max(indexes) + 1, max(indexes) + 1 + len(indexes) // 10))
        log_offset = len(daemon.log())
        pid = daemon.process.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            events = 0
            for round_ in range(rounds):
                generation = 2 + round_ % 3  # ip_for has room for generations 0 to 4
                for index in indexes:
                    ip = ip_for(index, generation)
                    daemon.write_binding(f"tap{index}", binding_text(index, ip))
                    expected[f"tap{index}"] = ip
                    events += 3  # IN_CLOSE_WRITE of the temp file, IN_MOVED_FROM, IN_MOVED_TO
            for index in removed:
                daemon.remove_binding(f"tap{index}")
                del expected[f"tap{index}"]
            for index in added:
                expected[f"tap{index}"] = ip_for(index % 12_000, 4)
                daemon.write_binding(f"tap{index}", binding_text(index, expected[f"tap{index}"]))
            events += len(removed) + 3 * len(added)
            write_s = time.monotonic() - started
        finally:
            t_cont = time.monotonic_ns()
            os.kill(pid, signal.SIGCONT)
        want = expected[self.vm.tap]
        self.probe.send(f"discover {want} 60 0.005")
        self.probe.expect("started", timeout=5)
        words = self.probe.result(70)
        if words[0] != "offer":
            raise netns.TestbedError(f"no reply after overflow: {words}\n{self.log_tail()}")
        recovery_s = (int(words[2]) - t_cont) / 1e9
        log = daemon.log()[log_offset:]
        table = self.dump_table()
        mismatched = sorted(
            name for name in expected.keys() | table.keys() if expected.get(name) != table.get(name)
        )
        return {
            "max_queued_events": limit,
            "rewrite_rounds": rounds,
            "events_generated": events,
            "files_written_s": round(write_s, 2),
            "removed": len(removed),
            "added": len(added),
            "overflow_logged": "inotify queue overflowed" in log,
            "recovery_to_reply_s": round(recovery_s, 3),
            "files": len(expected),
            "table_entries": len(table),
            "mismatched": len(mismatched),
            "mismatched_examples": mismatched[:10],
            "no_lost_update": not mismatched and len(table) == len(expected),
        }

    def add_all(self, indexes: Sequence[int], timeout: float = 120) -> dict[str, Any]:
        """Rename `indexes`' bindings into the running daemon's datapath; once its table
        holds them all, its resources: fds compared within one process."""
        assert self.daemon is not None
        for index in indexes:
            netns.write_file_atomically(
                self.daemon.binding_path(f"tap{index}"), binding_text(index, ip_for(index))
            )
        want = len(os.listdir(self.daemon.datapath))
        deadline = time.monotonic() + timeout
        while len(self.dump_table()) < want:
            if time.monotonic() > deadline:
                raise netns.TestbedError(f"table never reached {want}\n{self.log_tail()}")
            time.sleep(0.5)
        return {"bindings": want} | self.resources()

    def dump_table(self, timeout: float = 30) -> dict[str, str]:
        """SIGUSR1, then parse the binding table the daemon logs: name -> IP."""
        assert self.daemon is not None
        daemon = self.daemon
        offset = len(daemon.log())
        daemon.process.signal(signal.SIGUSR1)
        netns.wait_for(
            lambda: "counters:" in daemon.log()[offset:], timeout=timeout, what="SIGUSR1 dump"
        )
        return {
            m.group(1): m.group(3)
            for line in daemon.log()[offset:].splitlines()
            if (m := _TABLE_LINE.search(line))
        }


def log_time(log: str, needle: str, spawned_wall: float) -> float | None:
    """Seconds from spawn to the first log line containing `needle` (ms resolution)."""
    for line in log.splitlines():
        if needle in line and (m := _ASCTIME.match(line)):
            stamp = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            return round(stamp - spawned_wall, 3)
    return None


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "samples": len(values),
        "p50_ms": round(percentile(values, 50), 2),
        "p90_ms": round(percentile(values, 90), 2),
        "p99_ms": round(percentile(values, 99), 2),
        "max_ms": round(max(values), 2),
        "min_ms": round(min(values), 2),
    }


def phase(
    scale: Scale, indexes: list[int], samples: int, starts: int
) -> tuple[dict[str, Any], dict[str, str]]:
    """Start the daemon `starts` times (first-lease timing; the median is reported, the
    machine being shared), keep the last one running for the other measurements."""
    result: dict[str, Any] = {"bindings": len(indexes), "loadavg": os.getloadavg()[0]}
    runs = []
    for attempt in range(starts):
        daemon, t0, wall, expected = scale.start(indexes)
        run = scale.first_lease(t0)
        # CPU the daemon used until then: what start-up costs, whatever else runs
        run["cpu_s"] = round(cpu_seconds(daemon.process.pid), 3)
        run["serving_logged_s"] = log_time(daemon.log(), "serving ", wall)
        runs.append(run)
        if attempt < starts - 1:
            scale.stop()
    result["first_lease_runs"] = runs
    for key in ("first_lease_s", "serving_logged_s", "cpu_s"):
        values = [r[key] for r in runs if r[key] is not None]
        result[key if key != "cpu_s" else "startup_cpu_s"] = (
            statistics.median(values) if values else None
        )
    result["first_lease_max_s"] = max(r["first_lease_s"] for r in runs)
    time.sleep(1)  # let start-up garbage settle before reading RSS
    result |= scale.resources()
    client = scale.vm.udhcpc(tries=3, interval=1)
    result["udhcpc_ip"] = str(client.lease.address.ip) if client.lease else None
    result["rename_to_reply"] = summary(scale.rename_latency(samples, 1))
    expected[scale.vm.tap] = ip_for(scale.vm_index, 1 + (samples - 1) % 2)
    return result, expected


@contextlib.contextmanager
def testbed(vm_index: int) -> Iterator[Scale]:
    with netns.Hypervisor("bench-sc") as hv:
        hv.add_dhcp_rule("routed")
        vm = hv.add_vm(f"tap{vm_index}", netns.mac_for(vm_index))
        scale = Scale(hv, vm, vm_index)
        try:
            yield scale
        finally:
            scale.stop()
            scale.probe.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="nfdhcpd with many binding files")
    parser.add_argument("--bindings", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=100, help="rename-to-reply samples")
    parser.add_argument("--starts", type=int, default=3, help="daemon starts timed")
    parser.add_argument("--vm-index", type=int, default=4242, help="the VM's TAP is tapN")
    parser.add_argument("--output", type=Path, default=RESULTS / "scale.json")
    args = parser.parse_args(argv)
    if not 0 <= args.vm_index < args.bindings <= 12_000:
        parser.error("need 0 <= --vm-index < --bindings <= 12000")
    require_root()
    install_signal_handlers()

    info = machine()
    data: dict[str, Any] = {"benchmark": "scale", "machine": info}
    data["command"] = "benchmarks/scale.py " + " ".join(argv or [])
    data["daemon_general_overrides"] = GENERAL_OVERRIDES
    with testbed(args.vm_index) as scale:
        one, _ = phase(scale, [args.vm_index], min(args.samples, 30), 1)
        # The same process once the other bindings are added: code changes between two
        # daemon starts (a shared, live checkout) cannot skew this fd comparison.
        others = [i for i in range(args.bindings) if i != args.vm_index]
        one["after_adding_all"] = scale.add_all(others)
        one["exit_status"] = scale.stop()
        print(f"1 binding: {one}", flush=True)
        indexes = list(range(args.bindings))
        many, expected = phase(scale, indexes, args.samples, args.starts)
        print(f"{args.bindings} bindings: {many}", flush=True)
        many["overflow"] = scale.overflow(indexes, expected)
        print(f"overflow: {many['overflow']}", flush=True)
        many["rss_kib_after_overflow"] = scale.resources()["rss_kib"]
        many["exit_status"] = scale.stop()
    data["one_binding"] = one
    data["many_bindings"] = many
    data["targets"] = {
        "first_lease_le_2s": many["first_lease_s"] <= 2.0,
        "rss_le_80mb": many["rss_kib"] <= 80 * 1024,
        "fds_independent": one["after_adding_all"]["fds"] == one["fds"],
        "rename_p99_le_20ms": many["rename_to_reply"]["p99_ms"] <= 20.0,
        "no_lost_update_after_overflow": many["overflow"]["no_lost_update"],
    }
    print(f"targets: {data['targets']}")
    print(f"wrote {write_json('scale.json', data, args.output)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
