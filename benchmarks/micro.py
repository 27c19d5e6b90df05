#!/usr/bin/env python3
"""CPU cost of `Responder.handle()` per message type, measured with timeit,
and of a DHCPv4 DISCOVER answered from the shell's reply cache.

Only the pure core: no NFQUEUE, no injection, no logging. The requests are built once
with scapy; each measurement is the best of several `timeit` repeats, so the figure is
close to the cost on an idle core. Writes benchmarks/results/micro.json.
"""

from __future__ import annotations

import argparse
import itertools
import random
import timeit
from collections.abc import Callable, Sequence
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any

from _common import RESULTS, machine, write_json
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.dhcp6 import (
    DUID_LL,
    DHCP6_InfoRequest,
    DHCP6_Request,
    DHCP6_Solicit,
    DHCP6OptClientId,
    DHCP6OptElapsedTime,
    DHCP6OptIA_NA,
    DHCP6OptOptReq,
    DHCP6OptServerId,
)
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import ICMPv6ND_NS, ICMPv6ND_RS, ICMPv6NDOptSrcLLAddr, IPv6

from nfdhcpd.core.binding import BindingTable, parse_binding
from nfdhcpd.core.config import Config
from nfdhcpd.core.responder import Inbound, Responder, Verdict
from nfdhcpd.shell.replies import ReplyCache

TAP = "tap10"
VM_MAC = "aa:6b:39:22:33:44"
TAP_MAC = "02:00:00:00:00:fe"
VM_LL = "fe80::a86b:39ff:fe22:3344"
GATEWAY6 = "2001:db8:aaaa:bbbb::1"
BINDING = f"""\
INDEV={TAP}
IP=192.0.2.100
MAC={VM_MAC}
HOSTNAME=testing-vm
GATEWAY=192.0.2.1
SUBNET=192.0.2.0/24
GATEWAY6={GATEWAY6}
SUBNET6=2001:db8:aaaa:bbbb::/64
IP6=2001:db8:aaaa:bbbb::100
"""
SERVER_DUID = DUID_LL(lladdr=TAP_MAC)
CONFIG = Config(
    path="/bench/nfdhcpd.conf",
    nameservers=(IPv4Address("192.0.2.2"), IPv4Address("192.0.2.3")),
    domain="example.com",
    lease_renewal=3600,
    nameservers6=(IPv6Address("2001:db8:100::1"),),
    domains6=("example.com",),
    server_duid=bytes(SERVER_DUID),
)


def mac_bytes(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def dhcp4(mtype: str, options: Sequence[Any] = (), xid: int = 0x12345678) -> bytes:
    bootp = BOOTP(op=1, xid=xid, chaddr=mac_bytes(VM_MAC))
    opts = [("message-type", mtype), *options, ("param_req_list", [1, 3, 6, 15, 26, 119]), "end"]
    return bytes(IP(src="0.0.0.0", dst="255.255.255.255") / UDP(sport=68, dport=67) / bootp
                 / DHCP(options=opts))  # fmt: skip


def dhcp6(message: Any) -> bytes:
    return bytes(IPv6(src=VM_LL, dst="ff02::1:2") / UDP(sport=546, dport=547) / message)


def client_id() -> Any:
    return DHCP6OptClientId(duid=DUID_LL(lladdr=VM_MAC))


def inputs() -> dict[str, tuple[int, bytes]]:
    """name -> (queue, IP packet) for each message type measured."""
    sol_node = "ff02::1:ff00:1"
    return {
        "dhcp4_discover": (CONFIG.dhcp_queue, dhcp4("discover")),
        "dhcp4_request": (
            CONFIG.dhcp_queue,
            dhcp4("request", [("server_id", "1.2.3.4"), ("requested_addr", "192.0.2.100")]),
        ),
        "rs": (
            CONFIG.rs_queue,
            bytes(
                IPv6(src=VM_LL, dst="ff02::2", hlim=255)
                / ICMPv6ND_RS()
                / ICMPv6NDOptSrcLLAddr(lladdr=VM_MAC)
            ),
        ),
        "ns": (
            CONFIG.ns_queue,
            bytes(
                IPv6(src=VM_LL, dst=sol_node, hlim=255)
                / ICMPv6ND_NS(tgt=GATEWAY6)
                / ICMPv6NDOptSrcLLAddr(lladdr=VM_MAC)
            ),
        ),
        "dhcp6_solicit": (
            CONFIG.dhcpv6_queue,
            dhcp6(
                DHCP6_Solicit(trid=0x123456)
                / client_id()
                / DHCP6OptElapsedTime()
                / DHCP6OptIA_NA(iaid=1)
                / DHCP6OptOptReq(reqopts=[23, 24])
            ),
        ),
        "dhcp6_request": (
            CONFIG.dhcpv6_queue,
            dhcp6(
                DHCP6_Request(trid=0x123457)
                / client_id()
                / DHCP6OptServerId(duid=SERVER_DUID)
                / DHCP6OptElapsedTime()
                / DHCP6OptIA_NA(iaid=1)
                / DHCP6OptOptReq(reqopts=[23, 24])
            ),
        ),
        "dhcp6_information_request": (
            CONFIG.dhcpv6_queue,
            dhcp6(
                DHCP6_InfoRequest(trid=0x123458)
                / client_id()
                / DHCP6OptElapsedTime()
                / DHCP6OptOptReq(reqopts=[23, 24])
            ),
        ),
    }


def big_table(size: int) -> BindingTable:
    """`size` bindings, one of them the measured VM's: lookups in a full table."""
    entries = {TAP: parse_binding(BINDING.encode(), TAP)}
    for n in range(size - 1):
        i = n + 1  # 10.0.0.0 is the network address
        name = f"tap{100000 + i}"
        text = f"MAC=52:54:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}\n"
        text += f"IP=10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}\nSUBNET=10.0.0.0/8\n"
        entries[name] = parse_binding(text.encode(), name)
    return BindingTable(entries)


def best_of(call: Callable[[], object], repeat: int) -> tuple[float, int]:
    """The best of `repeat` timings, in seconds per call, and the calls per timing
    (at least 1000, or as many as take 0.2 s: timeit's autorange)."""
    timer = timeit.Timer(call)
    number = max(timer.autorange()[0], 1000)
    return min(timer.repeat(repeat=repeat, number=number)) / number, number


def measure(inbound: Inbound, table: BindingTable, config: Config, repeat: int) -> dict[str, Any]:
    # One Responder per config, as the daemon keeps it (its per-binding kits included).
    handle = Responder(config).handle
    decision = handle(inbound, table)
    if decision.verdict is not Verdict.DROP or not decision.frames:
        raise RuntimeError(f"{inbound.queue}: not answered: {decision.event} {decision.reason}")
    best, number = best_of(lambda: handle(inbound, table), repeat)
    return {
        "us_per_message": round(best * 1e6, 2),
        "messages_per_s_one_core": round(1 / best),
        "event": decision.event,
        "reply_bytes": sum(len(f.data) for f in decision.frames),
        "loops": number,
    }


def measure_cached(table: BindingTable, config: Config, repeat: int) -> dict[str, Any]:
    """The shell's reply cache answering a DISCOVER it has seen, each time with another
    xid (and so UDP checksum): the cost of a VM asking again (shell/replies.py)."""
    inbounds = [
        Inbound(config.dhcp_queue, TAP, None, mac_bytes(VM_MAC), mac_bytes(TAP_MAC), payload)
        for payload in (dhcp4("discover", xid=random.getrandbits(32)) for _ in range(64))
    ]
    cache, responder = ReplyCache(), Responder(config)
    following = itertools.cycle(inbounds)
    for _ in range(2):
        decision = cache.decide(next(following), table, responder)
    if (decision.event, cache.hits) != ("offer", 1):
        raise RuntimeError(f"not answered from the cache: {decision.event} {decision.reason}")
    best, number = best_of(lambda: cache.decide(next(following), table, responder), repeat)
    return {
        "us_per_message": round(best * 1e6, 2),
        "messages_per_s_one_core": round(1 / best),
        "event": "offer (from the reply cache)",
        "reply_bytes": len(decision.frames[0].data),
        "loops": number,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="timeit cost of Responder.handle()")
    parser.add_argument("--repeat", type=int, default=7, help="timeit repeats (best is kept)")
    parser.add_argument("--table-size", type=int, default=10_000)
    parser.add_argument("--output", type=Path, default=RESULTS / "micro.json")
    args = parser.parse_args(argv)

    small = BindingTable({TAP: parse_binding(BINDING.encode(), TAP)})
    large = big_table(args.table_size)
    results: dict[str, Any] = {}
    for name, (queue, payload) in inputs().items():
        inbound = Inbound(queue, TAP, None, mac_bytes(VM_MAC), mac_bytes(TAP_MAC), payload)
        results[name] = measure(inbound, small, CONFIG, args.repeat)
        print(f"{name:>26}: {results[name]['us_per_message']:8.2f} µs  ({results[name]['event']})")
    discover = Inbound(
        CONFIG.dhcp_queue, TAP, None, mac_bytes(VM_MAC), mac_bytes(TAP_MAC), dhcp4("discover")
    )
    cached = results["dhcp4_discover_cached"] = measure_cached(small, CONFIG, args.repeat)
    print(f"{'dhcp4_discover_cached':>26}: {cached['us_per_message']:8.2f} µs")
    key = f"dhcp4_discover_{args.table_size}_bindings"
    results[key] = measure(discover, large, CONFIG, args.repeat)
    print(f"{key:>26}: {results[key]['us_per_message']:8.2f} µs")
    data = {
        "benchmark": "micro",
        "machine": machine(),
        "command": "benchmarks/micro.py " + " ".join(argv or []),
        "parameters": {
            "repeat": args.repeat,
            "ipv6_mode": CONFIG.mode,
            "table_size": args.table_size,
        },
        "results": results,
    }
    print(f"wrote {write_json('micro.json', data, args.output)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
