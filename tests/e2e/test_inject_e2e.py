"""inject.Injector against the kernel: a reply goes to the interface index its request
came in on (the C helper `_sendll`), or by name without it (NFDHCPD_PURE=1).

Two VMs behind veth TAPs; nftables netdev counters in each VM count the frames that
reach its eth0. tap1 is renamed and a new link named tap1 is made for the second VM:
a frame for "tap1" with the first TAP's index must reach the first VM by index, and the
second VM by name. Then the first TAP is deleted: sending to its index must fail.
"""

from __future__ import annotations

import errno
import json
import sys
from collections.abc import Iterator

import pytest

from . import netns
from .netns import VM, Hypervisor

COUNT = 3
ETHERTYPE = 0x88B5  # IEEE 802 local experimental: nothing else in the testbed sends it
NFT_TABLE = "nfdt_inject"

PROGRAM = f"""
import json, sys
from nfdhcpd.core.decision import Frame
from nfdhcpd.shell.inject import Injector
mode, name, ifindex, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
injector = Injector(by_index=mode == "by-index")
frame = Frame(name, b"\\xff" * 6 + b"\\x02" * 6 + ({ETHERTYPE}).to_bytes(2, "big") + bytes(46))
errors = []
for _ in range(count):
    try:
        injector.send(frame, ifindex)
    except OSError as exc:
        errors.append(exc.errno)
print(json.dumps({{"native": injector.by_index is not None, "errors": errors}}))
"""


def counter_setup(vm: VM) -> None:
    vm.exec(
        "nft",
        f"""table netdev {NFT_TABLE} {{
    counter frames {{ }}
    chain ingress {{
        type filter hook ingress device "{vm.ifname}" priority 0; policy accept;
        ether type {ETHERTYPE:#06x} counter name "frames" drop
    }}
}}""",
    )


def received(vm: VM) -> int:
    out = vm.exec("nft", "-j", "list", "counter", "netdev", NFT_TABLE, "frames").stdout
    for item in json.loads(out)["nftables"]:
        if "counter" in item:
            return int(item["counter"]["packets"])
    raise AssertionError(f"no counter in {out!r}")


def inject(hv: Hypervisor, mode: str, name: str, ifindex: int) -> dict[str, object]:
    proc = hv.exec(sys.executable, "-c", PROGRAM, mode, name, str(ifindex), str(COUNT))
    result: dict[str, object] = json.loads(proc.stdout)
    return result


@pytest.fixture
def hv(e2e_ready: None) -> Iterator[Hypervisor]:
    with netns.hypervisor(None, label="inj") as hv:
        yield hv


@pytest.mark.parametrize("mode", ["by-index", "by-name"])
def test_a_reply_goes_to_the_index_or_the_name(hv: Hypervisor, mode: str) -> None:
    if mode == "by-index":
        pytest.importorskip("nfdhcpd.shell._sendll", reason="NFDHCPD_PURE=1: not built")
    first = hv.add_vm("tap1", netns.mac_for(1))
    second = hv.add_vm("tap2", netns.mac_for(2), create_link=False)
    old = hv.ifindex("tap1")
    hv.ip("link", "set", "tap1", "down")
    hv.ip("link", "set", "tap1", "name", "tap1old")
    hv.ip("link", "set", "tap1old", "up")
    hv.ip("link", "add", "tap1", "type", "veth", "peer", "name", second.ifname, "netns", second.ns)
    hv.ip("link", "set", "tap1", "up")
    second.ip("link", "set", second.ifname, "up")
    for vm in (first, second):
        counter_setup(vm)

    result = inject(hv, mode, "tap1", old)

    assert result == {"native": mode == "by-index", "errors": []}
    netns.wait_for(
        lambda: received(first) + received(second) == COUNT, timeout=5, what="the frames"
    )
    # by index: the interface the request came in on, renamed since; by name: the new one
    expected = (COUNT, 0) if mode == "by-index" else (0, COUNT)
    assert (received(first), received(second)) == expected


def test_sending_to_a_deleted_index_fails(hv: Hypervisor) -> None:
    pytest.importorskip("nfdhcpd.shell._sendll", reason="NFDHCPD_PURE=1: not built")
    hv.add_vm("tap1", netns.mac_for(1))
    old = hv.ifindex("tap1")
    hv.ip("link", "delete", "tap1")

    result = inject(hv, "by-index", "tap1", old)

    assert result == {"native": True, "errors": [errno.ENXIO] * COUNT}
