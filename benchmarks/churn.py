"""Churn: TAPs and bindings created, rewritten and deleted thousands of times against a
running nfdhcpd; do its open file descriptors and resident memory stay flat?

Not part of the test suite (needs root; a few minutes). Uses the e2e testbed
(`tests/e2e/netns.py`): one routed hypervisor namespace with the DHCP rule and
nfdhcpd. Each iteration, inside that namespace only:

1. creates a veth pair `tapN` <-> `pN` (a TAP as far as the daemon is concerned: a
   new interface name and ifindex every time) and writes `datapath/tapN` atomically;
2. rewrites the binding twice: renamed over (new IP) and in place (new MTU);
3. every `--exchange-every` iterations, runs busybox udhcpc on `pN` and requires a
   lease (so the link cache and the injector see every kind of churn);
4. rewrites it in place with an invalid MTU (reported; the last good one stays);
5. deletes the interface and the binding.

Open fds (`ls /proc/PID/fd | wc -l`) and VmRSS are sampled before, every
`--sample-every` iterations and after; the table is printed as Markdown for
docs/reliability.md. `$NFDHCPD` picks the daemon executable, as in the e2e tests.

    .venv/bin/python benchmarks/churn.py --iterations 3000
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e import netns
from tests.e2e.netns import BindingSpec, Daemon, Hypervisor


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def daemon_pid(daemon: Daemon) -> int:
    """`ip netns exec` execs nfdhcpd, so the spawned PID is the daemon itself."""
    pid = daemon.process.pid
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    assert b"nfdhcpd" in cmdline, cmdline
    return pid


def binding(index: int, mac: str, *, host: int = 10, mtu: int | None = None) -> BindingSpec:
    net = netns.network_for(index % 4000)
    return BindingSpec(
        mac=mac,
        ip=str(net[host]),
        subnet=str(net),
        gateway=str(net[1]),
        hostname=f"churn{index}",
        indev=f"tap{index}",
        mtu=mtu,
    )


def exchange(hv: Hypervisor, peer: str) -> bool:
    proc = hv.exec(
        "udhcpc", "-i", peer, "-n", "-q", "-f", "-t", "3", "-T", "1", "-s", "/bin/true",
        timeout=15, check=False,
    )  # fmt: skip
    return proc.returncode == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--exchange-every", type=int, default=20)
    parser.add_argument("--sample-every", type=int, default=500)
    parser.add_argument("--log", type=Path, help="save the daemon's log here")
    args = parser.parse_args(argv)

    if os.geteuid() != 0:
        print("churn.py needs root (network namespaces)", file=sys.stderr)
        return 2
    samples: list[tuple[str, int, int]] = []
    failures = 0
    exchanges = 0
    with netns.hypervisor("routed", label="churn") as hv:
        daemon = hv.start_daemon()
        pid = daemon_pid(daemon)
        # Warm up: one full cycle with an exchange, so imports and caches are in place.
        hv.ip("link", "add", "tap0", "type", "veth", "peer", "name", "p0")
        hv.ip("link", "set", "tap0", "up")
        hv.ip("link", "set", "p0", "up")
        mac0 = hv.mac("p0")
        daemon.write_binding("tap0", binding(0, mac0))
        netns.wait_for(lambda: exchange(hv, "p0"), timeout=20, what="the warm-up lease")
        hv.ip("link", "delete", "tap0")
        daemon.remove_binding("tap0")
        time.sleep(0.5)
        samples.append(("before", fds(pid), rss_kib(pid)))
        started = time.monotonic()
        for i in range(1, args.iterations + 1):
            tap, peer = f"tap{i}", f"p{i}"
            hv.ip("link", "add", tap, "type", "veth", "peer", "name", peer)
            hv.ip("link", "set", tap, "up")
            hv.ip("link", "set", peer, "up")
            mac = hv.mac(peer)
            daemon.write_binding(tap, binding(i, mac))
            daemon.write_binding(tap, binding(i, mac, host=11))  # renamed over
            daemon.write_binding(tap, binding(i, mac, host=11, mtu=1400), atomic=False)
            if i % args.exchange_every == 0:
                exchanges += 1
                if not exchange(hv, peer):
                    failures += 1
                    print(f"iteration {i}: no lease on {peer}", file=sys.stderr)
            # Invalid, after the exchange: had the daemon not read a good version before
            # (it reads the file when it handles the event), there is no last good one.
            daemon.write_binding(tap, binding(i, mac, mtu=99999), atomic=False)
            hv.ip("link", "delete", tap)
            daemon.remove_binding(tap)
            if i % args.sample_every == 0:
                samples.append((f"after {i}", fds(pid), rss_kib(pid)))
                print(f"{i}: fds {samples[-1][1]}, VmRSS {samples[-1][2]} KiB", flush=True)
        elapsed = time.monotonic() - started
        time.sleep(1.0)
        samples.append(("end (+1 s)", fds(pid), rss_kib(pid)))
        daemon.process.signal(signal.SIGUSR1)
        time.sleep(0.5)
        table_lines = [line for line in daemon.log().splitlines() if "binding table:" in line]
        status = daemon.stop()
        log = daemon.log()
        if args.log:
            args.log.write_text(log)

    print(
        f"\n{args.iterations} iterations in {elapsed:.0f} s; {exchanges} exchanges, "
        f"{failures} without a lease; daemon exit status {status}"
    )
    print(f"tracebacks in the log: {log.count('Traceback')}")
    print(f"invalid-binding reports: {log.count('invalid binding file')}")
    if table_lines:
        print(f"SIGUSR1 at the end: {table_lines[-1]}")
    print("\n| when | open fds | VmRSS (KiB) |\n|---|---|---|")
    for when, nfds, rss in samples:
        print(f"| {when} | {nfds} | {rss} |")
    return 1 if failures or status != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
