"""Operations end to end: after a real client's lease, the Prometheus endpoint shows the
counters moved, `nfdhcpd status` shows the binding served, and the pcap trace holds the
exchange. One routed hypervisor whose nfdhcpd has `metrics` and `trace` set."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.l2 import Ether
from scapy.packet import Packet
from scapy.utils import rdpcap

from . import netns
from .netns import BindingSpec, Daemon, Hypervisor

pytestmark = pytest.mark.e2e

METRICS = "127.0.0.1:9167"  # inside the hypervisor namespace, whose loopback is up
_SCRAPE = (
    "import sys, urllib.request, urllib.error\n"
    "try:\n"
    "    answer = urllib.request.urlopen(sys.argv[1], timeout=5)\n"
    "except urllib.error.HTTPError as exc:\n"
    "    answer = exc\n"
    "print(answer.status)\n"
    "sys.stdout.write(answer.read().decode())\n"
)


@dataclass
class Ops:
    hv: Hypervisor
    daemon: Daemon
    trace: Path


@pytest.fixture(scope="module")
def ops(e2e_ready: None) -> Iterator[Ops]:
    with netns.hypervisor("routed", label="hv-ops") as hv:
        trace = hv.workdir / "trace.pcap"
        general = {"rate_limit": "0", "metrics": METRICS, "trace": str(trace)}
        daemon = hv.start_daemon(functools.partial(netns.render_config, general=general))
        yield Ops(hv, daemon, trace)
        status = daemon.stop()
        assert status == 0, f"nfdhcpd exited {status}:\n{daemon.log()[-3000:]}"


def get(hv: Hypervisor, path: str) -> tuple[int, str]:
    proc = hv.exec(sys.executable, "-c", _SCRAPE, f"http://{METRICS}{path}")
    status, _, body = proc.stdout.partition("\n")
    return int(status), body


def scrape(hv: Hypervisor) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    status, body = get(hv, "/metrics")
    assert status == 200, body
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def reply(metrics: dict[tuple[str, frozenset[tuple[str, str]]], float], kind: str) -> float:
    return metrics.get(("nfdhcpd_replies_total", frozenset({("type", kind)})), 0.0)


def nfdhcpd(daemon: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    exe = str(netns.nfdhcpd_executable())
    return netns.run([exe, *args, "-c", str(daemon.dirs.config)], check=False)


def test_a_lease_shows_in_metrics_status_and_trace(ops: Ops) -> None:
    hv, daemon = ops.hv, ops.daemon
    before = scrape(hv)
    assert before[("nfdhcpd_bindings", frozenset())] == 0
    started = time.time()

    vm = hv.add_vm("tap1", netns.mac_for(1))
    net = netns.network_for(1)
    binding = BindingSpec(
        mac=vm.mac, ip=str(net[10]), subnet=str(net), gateway=str(net[1]), indev="tap1"
    )
    daemon.write_binding("tap1", binding)
    netns.wait_for(lambda: "binding tap1 loaded" in daemon.log(), timeout=5, what="binding")
    run = vm.udhcpc()
    assert run.lease is not None and str(run.lease.address.ip) == str(net[10]), run.describe()

    # Metrics: the counters of the exchange moved, and the binding was served just now.
    after = scrape(hv)
    assert reply(after, "offer") >= reply(before, "offer") + 1
    assert reply(after, "ack") >= reply(before, "ack") + 1
    assert after[("nfdhcpd_bindings", frozenset())] == 1
    served = after[("nfdhcpd_binding_last_served_timestamp_seconds", frozenset({("tap", "tap1")}))]
    assert started - 1 <= served <= time.time() + 1
    requests = after[("nfdhcpd_requests_total", frozenset({("queue", "42"), ("service", "dhcp")}))]
    assert requests >= 2
    assert after[("nfdhcpd_handle_seconds_count", frozenset())] >= 2
    assert get(hv, "/")[0] == 404

    # Status, from the running daemon through its control socket.
    result = nfdhcpd(daemon, "status", "--json")
    assert result.returncode == 0, result.stderr
    (row,) = [b for b in json.loads(result.stdout)["bindings"] if b["tap"] == "tap1"]
    assert row["applied"] is True and row["tap_present"] is True
    assert row["mac"] == vm.mac and row["ip"] == str(net[10])
    assert row["last_event"] == "ack" and row["last_reply_event"] == "ack"
    assert started - 1 <= row["last_request"] <= time.time() + 1
    table = nfdhcpd(daemon, "status")
    assert table.returncode == 0, table.stderr
    line = next(line for line in table.stdout.splitlines() if line.startswith("tap1 "))
    assert line.split()[:3] == ["tap1", "yes", "yes"] and line.endswith("ack")

    # The trace: DISCOVER, OFFER, REQUEST, ACK of this VM, each answer with its xid.
    exchange = [
        p for p in rdpcap(str(ops.trace)) if p.haslayer(BOOTP) and p[BOOTP].chaddr[:6] == vm_mac(vm)
    ]
    kinds = [(message_type(p), p[BOOTP].xid, p[Ether].src) for p in exchange]
    assert [k[0] for k in kinds][:4] == [1, 2, 3, 5], kinds  # DISCOVER OFFER REQUEST ACK
    assert kinds[0][1] == kinds[1][1] and kinds[2][1] == kinds[3][1]
    assert kinds[0][2] == vm.mac  # the request as received, from the VM's MAC
    assert kinds[1][2] == hv.mac("tap1")  # the reply as injected, from the TAP's
    daemon.remove_binding("tap1")
    hv.remove_vm(vm)


def vm_mac(vm: netns.VM) -> bytes:
    return bytes.fromhex(vm.mac.replace(":", ""))


def message_type(packet: Packet) -> int:
    for option in packet[DHCP].options:
        if isinstance(option, tuple) and option[0] == "message-type":
            return int(option[1])
    return 0
