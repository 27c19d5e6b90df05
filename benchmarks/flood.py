"""Hostile tenants: one VM floods DHCP, another floods Neighbor Solicitations, each from
a C AF_PACKET sender at the highest rate it reaches here; a third VM asks for 10 leases
with single-try udhcpc and measures Router Solicitation -> Advertisement latency.

Three runs on one routed testbed (`--mode bridged` for bridge ports): no flood
(baseline), the floods against the rules as `nfdhcpd rules` prints them (per-TAP limit
in the kernel), and the floods against the bare NFQUEUE rules (the user-space limiter
alone, as before issue 12). Not a test: it asserts nothing and writes
results/flood.json; docs/reliability.md quotes a run.

    .venv/bin/python benchmarks/flood.py [--mode routed|bridged] [--seconds 20]
"""

from __future__ import annotations

import argparse
import functools
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _common import (
    REPO_ROOT,
    RESULTS,
    install_signal_handlers,
    machine,
    netns,
    percentile,
    require_root,
    write_json,
)
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import ICMPv6ND_NS, ICMPv6ND_RS, ICMPv6NDOptSrcLLAddr, IPv6
from scapy.layers.l2 import Ether

SENDER_SOURCE = REPO_ROOT / "benchmarks" / "flood_sender.c"
QUEUES = (42, 43, 44, 45)

#: RS -> RA prober run in the measured VM: one RS every `gap` seconds, waiting up to
#: 1 s for the RA on a packet socket; prints each latency in ms, or "lost".
PROBER = """
import select, socket, sys, time
iface, frame = sys.argv[1], bytes.fromhex(sys.argv[2])
count, gap = int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x86DD))
s.bind((iface, 0))
for _ in range(count):
    while select.select([s], [], [], 0)[0]:
        s.recv(2048)
    sent = time.monotonic()
    s.send(frame)
    result = "lost"
    while (left := sent + 1.0 - time.monotonic()) > 0:
        if not select.select([s], [], [], left)[0]:
            break
        data = s.recv(2048)
        if len(data) > 54 and data[20] == 58 and data[54] == 134:
            result = f"{(time.monotonic() - sent) * 1000:.3f}"
            break
    print(result, flush=True)
    time.sleep(gap)
"""


def discover(mac: str) -> bytes:
    return bytes(
        Ether(src=mac, dst="ff:ff:ff:ff:ff:ff")
        / IP(src="0.0.0.0", dst="255.255.255.255")
        / UDP(sport=68, dport=67)
        / BOOTP(chaddr=bytes.fromhex(mac.replace(":", "")), xid=0x1234)
        / DHCP(options=[("message-type", "discover"), "end"])
    )


def solicitation(mac: str, target: str) -> bytes:
    """An NS for `target` (the gateway: what nfdhcpd answers for), to its solicited-node
    group, as a VM resolving its router sends it."""
    return bytes(
        Ether(src=mac, dst="33:33:ff:00:00:01")
        / IPv6(src=str(netns.link_local(mac)), dst="ff02::1:ff00:1", hlim=255)
        / ICMPv6ND_NS(tgt=target)
        / ICMPv6NDOptSrcLLAddr(lladdr=mac)
    )


def router_solicitation(mac: str) -> bytes:
    return bytes(
        Ether(src=mac, dst="33:33:00:00:00:02")
        / IPv6(src=str(netns.link_local(mac)), dst="ff02::2", hlim=255)
        / ICMPv6ND_RS()
        / ICMPv6NDOptSrcLLAddr(lladdr=mac)
    )


def compile_sender(workdir: Path) -> Path:
    exe = workdir / "flood_sender"
    subprocess.run(
        ["gcc", "-O2", "-Wall", "-o", str(exe), str(SENDER_SOURCE)], check=True, timeout=120
    )
    return exe


def apply_rules(hv: netns.Hypervisor, config: Path, kernel_limit: bool, mode: str) -> str:
    """`nfdhcpd rules` for this config, or the bare NFQUEUE rules without the kernel
    limit (what README showed before issue 12); returns which."""
    if kernel_limit:
        exe = netns.nfdhcpd_executable()
        script = subprocess.run(
            [str(exe), "rules", "-c", str(config), "--mode", mode],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
        hv.exec("sh", "-e", "-c", script)
        return "nfdhcpd rules (per-TAP limit in the kernel)"
    hv.add_dhcp_rule(mode)  # type: ignore[arg-type]
    hv.add_ipv6_rules(mode)  # type: ignore[arg-type]
    return "bare NFQUEUE rules (user-space limiter only)"


@contextmanager
def testbed(mode: str, kernel_limit: bool) -> Iterator[dict[str, Any]]:
    with netns.Hypervisor("bench-flood") as hv:
        bridged = mode == "bridged"
        if bridged:
            hv.add_bridge()
        vms = {
            name: hv.add_vm(f"tap{i}", netns.mac_for(i), bridged=bridged)
            for i, name in ((1, "dhcp"), (2, "ns"), (3, "measured"))
        }
        config = functools.partial(netns.render_config, ipv6={"ra_period": "300"})
        daemon = hv.start_daemon(config, queues=QUEUES)
        rules = apply_rules(hv, daemon.dirs.config, kernel_limit, mode)
        for index, vm in enumerate(vms.values(), 1):
            net = netns.network_for(index)
            daemon.write_binding(
                vm.tap,
                netns.BindingSpec(
                    mac=vm.mac,
                    ip=str(net[10]),
                    subnet=str(net),
                    gateway=str(net[1]),
                    indev=hv.bridge if bridged else vm.tap,
                    extra={"SUBNET6": f"2001:db8:{index}::/64", "GATEWAY6": f"2001:db8:{index}::1"},
                ),
            )
        netns.wait_for(lambda: "tap3 loaded" in daemon.log(), timeout=10, what="bindings")
        yield {"hv": hv, "vms": vms, "daemon": daemon, "rules": rules}


def run(mode: str, flood: bool, kernel_limit: bool, seconds: float, sender: Path) -> dict[str, Any]:
    with testbed(mode, kernel_limit) as bed:
        hv, vms, daemon = bed["hv"], bed["vms"], bed["daemon"]
        floods = []
        if flood:
            frames = {
                "dhcp": discover(vms["dhcp"].mac),
                "ns": solicitation(vms["ns"].mac, "2001:db8:2::1"),
            }
            for name, frame in frames.items():
                floods.append(
                    (
                        name,
                        hv.spawn(
                            f"flood-{name}",
                            [str(sender), "eth0", frame.hex(), str(seconds)],
                            ns=vms[name].ns,
                        ),
                    )
                )
            time.sleep(1)
        started = time.monotonic()
        measured = vms["measured"]
        rs = router_solicitation(measured.mac)
        prober = hv.spawn(
            "prober",
            [
                "python3",
                "-c",
                PROBER,
                "eth0",
                rs.hex(),
                "100",
                "0.05",
            ],
            ns=measured.ns,
        )
        leases = [measured.udhcpc(tries=1, interval=1) for _ in range(10)]
        netns.wait_for(lambda: not prober.alive(), timeout=60, what="the RS prober")
        measured_for = time.monotonic() - started
        rates = {}
        for name, proc in floods:
            proc.popen.wait(timeout=seconds + 30)
            sent, elapsed = proc.log().split()[:2]
            rates[name] = round(int(sent) / float(elapsed))
        samples = prober.log().split()
        latencies = [float(s) for s in samples if s != "lost"]
        stats = hv.queue_stats()
        result: dict[str, Any] = {
            "mode": mode,
            "flood": flood,
            "rules": bed["rules"],
            "flood_rates_pps": rates,
            "measured_seconds": round(measured_for, 1),
            "within_flood": not flood or measured_for + 1 < seconds,
            "leases": sum(1 for lease in leases if lease.lease is not None),
            "lease_attempts": len(leases),
            "rs_sent": len(samples),
            "ra_lost": samples.count("lost"),
            "ra_ms_p50": round(percentile(latencies, 50), 2) if latencies else None,
            "ra_ms_p99": round(percentile(latencies, 99), 2) if latencies else None,
            "ra_ms_max": round(max(latencies), 2) if latencies else None,
            "queues": {
                q: {"packets": s.id_sequence, "dropped": s.dropped, "user_dropped": s.user_dropped}
                for q, s in stats.items()
            },
            "daemon_alive": daemon.alive(),
        }
        print(result, flush=True)
        return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("routed", "bridged"), default="routed")
    parser.add_argument("--seconds", type=float, default=20, help="flood length (at most 20)")
    parser.add_argument("--output", type=Path, default=RESULTS / "flood.json")
    args = parser.parse_args(argv)
    require_root()
    if shutil.which("gcc") is None:
        sys.exit("gcc is needed to build the flood sender")
    install_signal_handlers()
    data: dict[str, Any] = {"benchmark": "flood", "machine": machine()}
    data["command"] = "benchmarks/flood.py " + " ".join(argv or sys.argv[1:])
    with tempfile.TemporaryDirectory(prefix="nfdt-bench-flood-") as workdir:
        sender = compile_sender(Path(workdir))
        seconds = min(args.seconds, 20)
        data["runs"] = [
            run(args.mode, False, True, seconds, sender),
            run(args.mode, True, True, seconds, sender),
            run(args.mode, True, False, seconds, sender),
        ]
    print(f"wrote {write_json('flood.json', data, args.output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
