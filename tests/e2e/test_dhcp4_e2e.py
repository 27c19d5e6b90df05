"""DHCPv4 end to end: real clients in VM namespaces, nfdhcpd in a hypervisor namespace.

Every test that takes `site` runs twice: on a routed TAP (`-i tap+` rule, INDEV = the
TAP) and on a bridged TAP (`-m physdev --physdev-in tap+` rule, INDEV = br0). Each
test builds its own VMs and bindings and removes them afterwards; the daemon is shared
per topology and must survive every test. "Gets nothing" tests put a dnsmasq next to
the VM, so they tell nfdhcpd's DROP apart from an ACCEPT that nobody answered.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path

import pytest

from . import netns
from .leases import (
    CONFIG_DNS,
    LEASE_TIME,
    SERVER_ID,
    assert_applied,
    assert_lease,
    assert_nothing,
    expected_lease,
    has_address,
    lease_until,
)
from .netns import ClientRun, Daemon, DaemonDirs, Lease
from .site import Site

pytestmark = pytest.mark.e2e

#: The dnsmasq stand-in for "another DHCP server on the host" and what it hands out.
OTHER_SERVER = netns.PASSTHROUGH_NET.ip
OTHER_LEASE = IPv4Interface("10.99.0.77/24")
FIXTURES = Path(__file__).parent / "fixtures"
CLIENTS = ("udhcpc", "dhclient", "dhcpcd")
QUEUE = 42


# ----------------------------------------------------------------------------- helpers


def assert_other_server_lease(run: ClientRun) -> None:
    assert run.lease is not None, f"no lease from the other server: {run.describe()}"
    assert run.lease.address == OTHER_LEASE, run.lease
    assert run.lease.server_id == OTHER_SERVER, run.lease


def queued(site: Site) -> int:
    """Packets the kernel has handed to the daemon's queue so far (its id sequence)."""
    return site.hv.queue_stats()[QUEUE].id_sequence


def wait_for_log(daemon: Daemon, pattern: str, *, timeout: float = 1.0) -> bool:
    """Best effort ordering help: wait until the daemon logged `pattern`, at most
    `timeout` seconds. Never fails, so a changed log wording cannot break a test."""
    try:
        netns.wait_for(lambda: re.search(pattern, daemon.log()), timeout=timeout, what=pattern)
    except TimeoutError:
        return False
    return True


# ------------------------------------------------------------------ 1. clients, exactly


@pytest.mark.parametrize("client", CLIENTS)
def test_client_configures_exactly_the_binding(site: Site, client: str) -> None:
    vm = site.vm()
    binding = site.binding(vm)
    site.daemon.write_binding(vm.tap, binding)

    run: ClientRun = getattr(vm, client)()

    expected = expected_lease(binding)
    assert_lease(run, expected)
    if client != "udhcpc":
        assert_applied(run, expected)


def test_per_binding_dns_and_domain_override_config(site: Site) -> None:
    vm = site.vm()
    binding = site.binding(vm, dns=("198.51.100.53", "198.51.100.54"), domain="vm.example.net")
    site.daemon.write_binding(vm.tap, binding)

    run = vm.dhclient()

    expected = expected_lease(
        binding,
        dns=(IPv4Address("198.51.100.53"), IPv4Address("198.51.100.54")),
        domain="vm.example.net",
    )
    assert_lease(run, expected)
    assert_applied(run, expected)


def test_private_binding_gets_no_router(site: Site) -> None:
    vm = site.vm()
    binding = site.binding(vm, private=True)
    site.daemon.write_binding(vm.tap, binding)

    run = vm.udhcpc()

    assert_lease(run, expected_lease(binding))
    assert run.env.get("router", "") == ""


# ------------------------------------------------------------ 2. wrong MAC, wrong INDEV


def test_wrong_mac_gets_nothing(site: Site) -> None:
    vm = site.vm()
    site.daemon.write_binding(vm.tap, site.binding(vm, mac="52:54:00:ff:ff:01"))
    site.passthrough_server(vm)  # an ACCEPT instead of a DROP would get its answer
    before = queued(site)

    run = vm.udhcpc(tries=2)

    assert_nothing(run)
    assert queued(site) - before >= 2, "the DISCOVERs never reached the daemon's queue"


def test_wrong_indev_gets_nothing(site: Site) -> None:
    vm = site.vm()
    # Routed: INDEV names another device. Bridged: INDEV names the TAP, but a bridged
    # packet's logical in-device is the bridge.
    indev = vm.tap if site.bridged else "br7"
    site.daemon.write_binding(vm.tap, site.binding(vm, indev=indev))
    site.passthrough_server(vm)

    run = vm.udhcpc(tries=2)

    assert_nothing(run)


def test_empty_indev_is_not_checked(site: Site) -> None:
    vm = site.vm()  # INDEV="" is what Ganeti writes for Open vSwitch ports
    binding = site.binding(vm, indev=None)
    site.daemon.write_binding(vm.tap, binding)
    assert binding.render().startswith("INDEV=\n")

    run = vm.udhcpc()

    assert_lease(run, expected_lease(binding))


def test_macspoof_binding_serves_another_mac(site: Site) -> None:
    vm = site.vm()
    binding = site.binding(vm, mac="52:54:00:ff:ff:02", macspoof=True)
    site.daemon.write_binding(vm.tap, binding)

    run = vm.udhcpc()

    assert_lease(run, expected_lease(binding))


@pytest.mark.parametrize("broadcast", [False, True], ids=["unicast", "broadcast-flag"])
def test_reply_addressing(site: Site, broadcast: bool) -> None:
    """RFC 2131 section 4.1: broadcast bit set -> to ff:ff:ff:ff:ff:ff / 255.255.255.255,
    else unicast to chaddr / yiaddr; the L2 source is the TAP's MAC (the bridge's when
    bridged) and the IP source is server_ip."""
    vm = site.vm()
    binding = site.binding(vm)
    site.daemon.write_binding(vm.tap, binding)

    with vm.sniff_dhcp_replies() as frames:
        run = vm.udhcpc(broadcast=broadcast)

    assert_lease(run, expected_lease(binding))
    assert len(frames) >= 2, frames  # OFFER and ACK
    source = site.hv.mac(site.hv.bridge if site.bridged and site.hv.bridge else vm.tap)
    want_mac, want_ip = (
        ("ff:ff:ff:ff:ff:ff", IPv4Address("255.255.255.255"))
        if broadcast
        else (vm.mac, expected_lease(binding).address.ip)
    )
    for frame in frames:
        assert frame.src_mac == source, frames
        assert frame.src_ip == SERVER_ID, frames
        assert (frame.dst_mac, frame.dst_ip) == (want_mac, want_ip), frames


#: A REBINDING REQUEST (RFC 2131 4.4.5: broadcast, ciaddr set) sent the way clients
#: send renewals, through an ordinary UDP socket, so the kernel leaves the UDP checksum
#: to the NIC: on a veth, as on a virtio-net TAP with checksum offload, the packet
#: crosses to the host as CHECKSUM_PARTIAL, its checksum field holding only the pseudo-
#: header's sum. Prints whether the frame as it left (an AF_PACKET copy) carried a
#: checksum that verifies, and the DHCP message type of the reply.
OFFLOADED_REQUEST = """
import json, socket, sys
from scapy.layers.dhcp import BOOTP, DHCP

ip, mac = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", ""))
watch = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(3))  # ETH_P_ALL:
watch.bind(("eth0", 3))  # only these see outgoing frames
watch.settimeout(10)
client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
client.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
client.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
client.bind(("0.0.0.0", 68))
client.settimeout(10)
request = BOOTP(op=1, ciaddr=ip, chaddr=mac, xid=0x0FF10AD) / DHCP(
    options=[("message-type", "request"), "end"]
)
client.sendto(bytes(request), ("255.255.255.255", 67))
while True:
    packet, address = watch.recvfrom(2048)
    outgoing = address[1] == 0x0800 and address[2] == socket.PACKET_OUTGOING
    if outgoing and packet[9] == 17 and packet[22:24] == b"\\0C":
        break
ulen = int.from_bytes(packet[24:26], "big")
data = packet[12:20] + bytes((0, 17)) + packet[24:26] + packet[20 : 20 + ulen]
total = int.from_bytes(data + b"\\0" * (len(data) & 1), "big") % 0xFFFF
reply = BOOTP(client.recvfrom(2048)[0])[DHCP]
types = [option[1] for option in reply.options if option[0] == "message-type"]
print(json.dumps({"sent_checksum_verifies": total == 0, "reply": types}))
"""


def test_offloaded_checksum_is_completed_before_verification(site: Site) -> None:
    """nfdhcpd verifies every request's UDP checksum (RFC 1122 4.1.3.4) and binds its
    queues without NFQA_CFG_F_GSO, so the kernel completes a CHECKSUM_PARTIAL packet
    before it is queued (nfnetlink_queue: skb_checksum_help): a VM whose NIC offloads
    the checksum is answered, not dropped as bad-checksum."""
    vm = site.vm()
    binding = site.binding(vm)
    site.daemon.write_binding(vm.tap, binding)
    lease = expected_lease(binding)
    vm.add_address(lease.address)
    before = site.daemon.counters()

    proc = vm.exec(sys.executable, "-c", OFFLOADED_REQUEST, str(lease.address.ip), vm.mac)
    result = json.loads(proc.stdout)

    assert result == {"sent_checksum_verifies": False, "reply": [5]}, result  # 5: DHCPACK
    after = site.daemon.counters()
    assert after.get("bad-checksum", 0) == before.get("bad-checksum", 0)
    assert after.get("ack", 0) == before.get("ack", 0) + 1


# ----------------------------------------------------------------- 3. pass-through


def test_unbound_tap_passes_through_to_host_server(site: Site) -> None:
    unbound = site.vm()
    site.passthrough_server(unbound, reserved_ip=str(OTHER_LEASE.ip))
    bound = site.vm()  # on the same bridge when bridged: dnsmasq hears it too
    binding = site.binding(bound)
    site.daemon.write_binding(bound.tap, binding)
    rule_before, queue_before = site.hv.rule_packets(QUEUE), queued(site)

    passed = unbound.udhcpc()
    served = bound.udhcpc()

    assert_other_server_lease(passed)
    assert site.hv.rule_packets(QUEUE) > rule_before, "the NFQUEUE rule never matched"
    assert queued(site) > queue_before, "the daemon never saw the request it let through"
    assert_lease(served, expected_lease(binding))


# ---------------------------------------------------------------- 4. live changes


def test_binding_added_live(site: Site) -> None:
    vm = site.vm()
    site.passthrough_server(vm)
    assert_other_server_lease(vm.udhcpc())  # no binding yet: not ours
    binding = site.binding(vm)

    site.daemon.write_binding(vm.tap, binding)
    run = lease_until(vm, has_address(expected_lease(binding).address))

    assert_lease(run, expected_lease(binding))


def test_binding_written_in_place_live(site: Site) -> None:
    vm = site.vm()
    binding = site.binding(vm)

    site.daemon.write_binding(vm.tap, binding, atomic=False)
    run = lease_until(vm, has_address(expected_lease(binding).address))

    assert_lease(run, expected_lease(binding))


def test_binding_replaced_by_rename_live(site: Site) -> None:
    vm = site.vm()
    first = site.binding(vm)
    site.daemon.write_binding(vm.tap, first)
    assert_lease(vm.udhcpc(), expected_lease(first))
    net = IPv4Network(first.subnet or "")
    second = site.binding(vm, ip=str(net[500]), hostname=f"{first.hostname}-renamed", mtu=1360)

    site.daemon.write_binding(vm.tap, second)  # .tapN.tmp renamed over tapN
    run = lease_until(vm, has_address(expected_lease(second).address))

    assert_lease(run, expected_lease(second))


@pytest.mark.parametrize("how", ["unlink", "move-out"])
def test_binding_deleted_live_passes_through(site: Site, how: str) -> None:
    vm = site.vm()
    binding = site.binding(vm)
    site.daemon.write_binding(vm.tap, binding)
    site.passthrough_server(vm)
    assert_lease(vm.udhcpc(), expected_lease(binding))  # ours, although dnsmasq listens

    path = site.daemon.binding_path(vm.tap)
    if how == "unlink":
        path.unlink()
    else:
        path.rename(path.parent.parent / f"{vm.tap}.moved-out")
    run = lease_until(vm, has_address(OTHER_LEASE))

    assert_other_server_lease(run)


# ------------------------------------------------------ 5., 6. TAPs coming and going


def test_binding_written_before_its_tap_exists(site: Site) -> None:
    vm = site.vm(link=False)
    binding = site.binding(vm)
    site.daemon.write_binding(vm.tap, binding)
    wait_for_log(site.daemon, rf"\b{vm.tap}\b")  # let the daemon load it TAP-less first

    site.hv.create_link(vm)
    run = vm.udhcpc()

    assert_lease(run, expected_lease(binding))


def test_recreated_tap_keeps_working(site: Site) -> None:
    vm = site.vm()
    binding = site.binding(vm)
    site.daemon.write_binding(vm.tap, binding)
    assert_lease(vm.udhcpc(), expected_lease(binding))
    old_ifindex = site.hv.ifindex(vm.tap)

    site.hv.delete_link(vm)
    new_ifindex = site.hv.create_link(vm)
    run = vm.udhcpc()

    assert new_ifindex != old_ifindex
    assert_lease(run, expected_lease(binding))


# ------------------------------------------------------ 7. GRNET's README sample, verbatim

SAMPLE_MAC = "aa:6b:39:22:33:44"
#: Until IPv6 lands in nfdhcpd the sample runs with `enable_ipv6 = no`.
SAMPLE_ENABLE_IPV6 = "no"


def sample_config(dirs: DaemonDirs) -> str:
    """GRNET's sample config with only its three paths (and enable_ipv6) substituted."""
    text = (FIXTURES / "grnet-nfdhcpd.conf").read_text()
    text = dirs.grnet_paths(text)
    text, count = re.subn(r"(?m)^enable_ipv6 = yes$", f"enable_ipv6 = {SAMPLE_ENABLE_IPV6}", text)
    assert count == 1
    assert "lease_renewal = 3600 \t# 1 hour" in text  # the tab survived
    return text


@pytest.fixture(scope="module")
def sample_hv(e2e_ready: None) -> Iterator[netns.Hypervisor]:
    with netns.hypervisor("routed", label="hv-sample") as hv:
        yield hv


def test_grnet_readme_sample_loads_and_serves(sample_hv: netns.Hypervisor) -> None:
    hv = sample_hv
    # The binding is in datapath before the daemon starts and before tap10 exists.
    daemon = hv.start_daemon(sample_config, queues=(QUEUE,))
    sample = (FIXTURES / "grnet-tap10").read_text()
    assert "\nPRIVATE=\nMTU=\nMACSPOOF=\n" in sample and 'TAGS=""' in sample
    daemon.write_binding("tap10", sample)
    vm = hv.add_vm("tap10", SAMPLE_MAC)

    try:
        runs = [vm.udhcpc(), vm.dhclient()]
    finally:
        status = daemon.stop()
        log = daemon.log()

    expected = Lease(
        address=IPv4Interface("192.0.2.100/24"),
        routers=(IPv4Address("192.0.2.1"),),
        dns=CONFIG_DNS,
        domain="example.com",
        search=(),
        hostname="testing-vm",
        mtu=None,
        lease_time=LEASE_TIME,
        server_id=SERVER_ID,
    )
    for run in runs:
        assert_lease(run, expected)
    assert_applied(runs[1], expected)
    assert status == 0, f"nfdhcpd exited {status} on SIGTERM:\n{log}"


# ------------------------------------------------------------------------ 8. perfdhcp

PERF_RATE = 1000
PERF_SECONDS = 5


def test_perfdhcp_relay_exchanges_without_drops(site: Site) -> None:
    vm = site.vm()
    binding = site.binding(vm)
    site.daemon.write_binding(vm.tap, binding)
    assert_lease(vm.udhcpc(), expected_lease(binding))  # binding live before the load
    # perfdhcp is a relay: giaddr = this address, replies expected there on port 67.
    vm.add_address(expected_lease(binding).address)
    stats_before = site.hv.queue_stats()[QUEUE]

    report = vm.perfdhcp(rate=PERF_RATE, seconds=PERF_SECONDS)

    stats_after = site.hv.queue_stats()[QUEUE]
    print(f"perfdhcp {site.mode}: rate {report.rate}/s, {dict(report.exchanges)}")
    assert report.exchanges.keys() >= {"DISCOVER-OFFER", "REQUEST-ACK"}, report.output
    for name in ("DISCOVER-OFFER", "REQUEST-ACK"):
        stats = report.exchanges[name]
        assert stats.sent > 0, report.output
        assert stats.drops == 0, f"{name}: {stats}\n{report.output}"
        assert stats.received == stats.sent, f"{name}: {stats}\n{report.output}"
    # perfdhcp paces DISCOVERs at the asked rate whatever the answers: the load was real.
    assert report.exchanges["DISCOVER-OFFER"].sent >= 0.8 * PERF_RATE * PERF_SECONDS
    assert stats_after.dropped == stats_before.dropped, "the kernel queue overflowed"
    assert stats_after.user_dropped == stats_before.user_dropped
