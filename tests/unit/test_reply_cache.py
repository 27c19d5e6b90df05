"""The shell's reply cache against the core it stands in for: every decision it returns
must be byte for byte what `responder.handle` decides for the same request."""

from __future__ import annotations

import dataclasses
import functools
import struct
from ipaddress import IPv4Address
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from nfdhcpd.core import responder
from nfdhcpd.core.config import Config
from nfdhcpd.core.frames import EtherType, build_ether, build_udp4
from nfdhcpd.core.wire import checksum
from nfdhcpd.shell.replies import ReplyCache, _with_xid

from ..helpers.builders import dhcp_request, inbound
from ..helpers.samples import BASE_CONFIG, RELAY_IP, SERVER_IP, VM_IP, ZERO, grnet_binding, table_of

TABLE = table_of(grnet_binding())


@functools.cache
def serving(config: Config) -> responder.Responder:
    """One Responder per config, as the daemon's PacketPath keeps it."""
    return responder.Responder(config)


PRL = ("param_req_list", [1, 3, 6, 15, 26, 28, 51, 54, 119])

#: requests a VM repeats: (message type, options, ciaddr, giaddr, flags)
REQUESTS: list[tuple[str, list[Any], str, str, int]] = [
    ("discover", [PRL], "0.0.0.0", "0.0.0.0", 0),
    ("discover", [PRL], "0.0.0.0", "0.0.0.0", 0x8000),
    ("discover", [PRL, ("client_id", b"\x01vm-1")], "0.0.0.0", RELAY_IP, 0),
    ("request", [("server_id", SERVER_IP), ("requested_addr", VM_IP), PRL], ZERO, ZERO, 0),
    ("request", [PRL], VM_IP, "0.0.0.0", 0),  # RENEWING
    ("request", [("requested_addr", VM_IP)], "0.0.0.0", "0.0.0.0", 0),  # INIT-REBOOT
    ("inform", [PRL], VM_IP, "0.0.0.0", 0),
]


def request(
    index: int, xid: int, secs: int = 0, ident: int = 1, damage: int | None = None
) -> bytes:
    mtype, options, ciaddr, giaddr, flags = REQUESTS[index]
    data = bytearray(
        dhcp_request(mtype, options=options, xid=xid, flags=flags, ciaddr=ciaddr, giaddr=giaddr)
    )
    # what a client varies besides the xid: secs, and the IP identification; the UDP
    # checksum is computed again (the core verifies it), then with `damage` 0 left out
    # (none computed, RFC 768) or off by `damage`; the IP one is left as it is
    struct.pack_into("!H", data, 28 + 8, secs)
    struct.pack_into("!H", data, 4, ident)
    struct.pack_into("!H", data, 26, 0)
    pseudo = bytes(data[12:20]) + struct.pack("!xBH", 17, len(data) - 20)
    computed = checksum(pseudo + bytes(data[20:])) or 0xFFFF
    if damage is not None:
        computed = (computed + damage) & 0xFFFF if damage else 0
    struct.pack_into("!H", data, 26, computed)
    return bytes(data)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, len(REQUESTS) - 1),
            st.integers(0, 2**32 - 1),
            st.integers(0, 65535),
            st.integers(0, 65535),
            st.one_of(st.none(), st.integers(-2, 2), st.integers(-65535, 65535)),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_every_decision_equals_the_cores(
    requests: list[tuple[int, int, int, int, int | None]],
) -> None:
    """Including requests with no UDP checksum (0) and with a wrong one, which the
    cache verifies incrementally against the kept request and the core in full."""
    cache = ReplyCache()
    stored: set[int] = set()
    answered = 0
    for index, xid, secs, ident, damage in requests:
        packet = inbound(request(index, xid, secs, ident, damage))
        decision = cache.decide(packet, TABLE, serving(BASE_CONFIG))
        assert decision == responder.handle(packet, TABLE, BASE_CONFIG)
        if decision.event != "bad-checksum":
            answered += index in stored
            stored.add(index)
    # the control: every answered request of a kind already kept came from the cache
    assert cache.hits == answered


def test_hits_are_answered_with_the_new_xid_and_a_valid_checksum() -> None:
    cache = ReplyCache()
    cache.decide(inbound(request(0, 1)), TABLE, serving(BASE_CONFIG))
    decision = cache.decide(inbound(request(0, 0xDEADBEEF, secs=9)), TABLE, serving(BASE_CONFIG))
    assert cache.hits == 1
    frame = Ether(decision.frames[0].data)
    assert frame["BOOTP"].xid == 0xDEADBEEF
    checksum = frame[UDP].chksum
    del frame[UDP].chksum
    assert Ether(bytes(frame))[UDP].chksum == checksum


def test_a_new_table_or_config_is_served_at_once() -> None:
    cache = ReplyCache()
    packet = inbound(request(0, 7))
    cache.decide(packet, TABLE, serving(BASE_CONFIG))
    moved = table_of(grnet_binding(ip=IPv4Address("192.0.2.101")))
    assert cache.decide(packet, moved, serving(BASE_CONFIG)) == responder.handle(
        packet, moved, BASE_CONFIG
    )
    assert Ether(cache.decide(packet, moved, serving(BASE_CONFIG)).frames[0].data)[
        "BOOTP"
    ].yiaddr == ("192.0.2.101")
    config = dataclasses.replace(BASE_CONFIG, lease_lifetime=1234)
    assert cache.decide(packet, moved, serving(config)) == responder.handle(packet, moved, config)
    assert cache.hits == 1  # only the second request under `moved`


def test_only_offers_and_acks_are_kept() -> None:
    cache = ReplyCache()
    nak = inbound(
        dhcp_request("request", options=[("requested_addr", "192.0.2.222")], xid=3)
    )  # INIT-REBOOT for an address that is not the VM's
    stranger = inbound(request(0, 4), hwsrc=bytes.fromhex("02aabbccddee"))
    for packet in (nak, nak, stranger, stranger):
        assert cache.decide(packet, TABLE, serving(BASE_CONFIG)) == responder.handle(
            packet, TABLE, BASE_CONFIG
        )
    assert responder.handle(nak, TABLE, BASE_CONFIG).event == "nak"
    assert cache.hits == 0 and len(cache) == 0


def test_a_full_cache_starts_afresh() -> None:
    cache = ReplyCache(max_entries=3)
    for lease in range(5):  # distinct requests: the lease time option differs
        options = [PRL, ("lease_time", 100 + lease)]
        packet = inbound(dhcp_request("discover", options=options, xid=lease))
        cache.decide(packet, TABLE, serving(BASE_CONFIG))
    assert len(cache) == 2  # cleared when the fourth came, then two stored


def test_short_or_foreign_payloads_go_to_the_core() -> None:
    cache = ReplyCache()
    for payload in (b"", b"\x45" * 10, bytes(IP() / UDP(dport=67) / (b"x" * 20))):
        packet = inbound(payload)
        assert cache.decide(packet, TABLE, serving(BASE_CONFIG)) == responder.handle(
            packet, TABLE, BASE_CONFIG
        )
    assert len(cache) == 0


def test_checksum_update_when_the_sum_is_zero() -> None:
    """RFC 768: a computed zero is sent as all ones, and RFC 1624's update keeps it so."""
    src, dst = IPv4Address(SERVER_IP).packed, IPv4Address(VM_IP).packed

    def frame(xid: int) -> bytes:
        bootp = b"\x02\x01\x06\x00" + xid.to_bytes(4, "big") + bytes(236) + b"c\x82Sc\xff"
        packet = build_udp4(src, dst, 67, 68, bootp)
        return build_ether(b"\xff" * 6, b"\x02" * 6, EtherType.IPV4, packet)

    base = frame(0)
    at, csum_at = 14 + 20 + 8 + 4, 14 + 20 + 6
    total = ~int.from_bytes(base[csum_at : csum_at + 2], "big") & 0xFFFF
    zeroing = ((0xFFFF - total) % 0xFFFF) << 16  # the xid that makes the sum zero
    expected = frame(zeroing)
    assert expected[csum_at : csum_at + 2] == b"\xff\xff"
    assert _with_xid(base, at, csum_at, bytes(4), zeroing.to_bytes(4, "big")) == expected
    for xid in (1, 0xFFFF0000, 0x0000FFFF, 0xFFFFFFFF, 0x12345678):
        assert _with_xid(base, at, csum_at, bytes(4), xid.to_bytes(4, "big")) == frame(xid)


def test_a_request_with_a_bad_checksum_is_not_answered_from_the_cache() -> None:
    """RFC 1122 4.1.3.4: the core drops it as bad-checksum; a kept reply must not
    answer it instead."""
    cache = ReplyCache()
    cache.decide(inbound(request(0, 1)), TABLE, serving(BASE_CONFIG))
    damaged = bytearray(request(0, 2))
    damaged[26] ^= 0xFF
    decision = cache.decide(inbound(bytes(damaged)), TABLE, serving(BASE_CONFIG))
    assert (decision.event, decision.frames, cache.hits) == ("bad-checksum", (), 0)
