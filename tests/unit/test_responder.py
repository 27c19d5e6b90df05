"""responder.handle for DHCPv4: requests built with scapy, every reply decoded with scapy.

Layout: lookup rules, message types and REQUEST states, RFC 2131 section 4.1
addressing, each option, parameter request list order, the 576-byte / option 57
limit, recorded requests of real clients, truncations and property tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP

from nfdhcpd.core.binding import Binding
from nfdhcpd.core.config import Config, parse_config
from nfdhcpd.core.errors import ConfigError
from nfdhcpd.core.responder import Decision, Verdict

from ..helpers.builders import dhcp_request, inbound, run, wrap_udp
from ..helpers.decode import TSHARK, Reply, addresses, decode_frame, decode_reply, u32
from ..helpers.readers import all_codes, decode_routes, decode_search
from ..helpers.samples import (
    BASE_CONFIG,
    BCAST,
    BCAST_MAC,
    GATEWAY,
    OTHER_IP,
    OTHER_MAC,
    RELAY_IP,
    SERVER_IP,
    TAP,
    TAP_MAC,
    TAP_MAC_TEXT,
    VM_IP,
    VM_MAC,
    VM_MAC_TEXT,
    ZERO,
    fixture_names,
    grnet_binding,
    grnet_with,
    ip_bytes,
    load_fixture,
    make_config,
    table_of,
)

DISCOVER = dhcp_request("discover")
PRL_ALL = [1, 3, 6, 12, 15, 26, 28, 42, 119, 121]


def ask(
    mtype: int | str | None,
    binding: Binding | None = None,
    config: Config = BASE_CONFIG,
    *,
    hwsrc: bytes | None = VM_MAC,
    indev: str = TAP,
    physindev: str | None = None,
    ifmac: bytes | None = TAP_MAC,
    **request: Any,
) -> Decision:
    """Send one scapy-built request through `handle` with the GRNET sample binding."""
    payload = dhcp_request(mtype, **request)
    table = table_of(binding if binding is not None else grnet_binding())
    packet = inbound(payload, hwsrc=hwsrc, indev=indev, physindev=physindev, ifmac=ifmac)
    return run(packet, table, config)


def answer(mtype: int | str | None, binding: Binding | None = None, **kw: Any) -> Reply:
    return decode_reply(ask(mtype, binding, **kw))


def assert_silent(decision: Decision, event: str) -> None:
    assert decision.verdict is Verdict.DROP
    assert decision.event == event
    assert decision.frames == ()


def select(requested: str = VM_IP, server: str = SERVER_IP, **kw: Any) -> Any:
    opts = [("server_id", server), ("requested_addr", requested), *kw.pop("options", [])]
    return {"options": opts, **kw}


# --- lookup rules (README: "Binding files") --------------------------------------------


def test_no_binding_accepts() -> None:
    decision = run(inbound(DISCOVER), table_of())
    assert decision.verdict is Verdict.ACCEPT
    assert decision.event == "no-binding"
    assert decision.frames == ()


def test_binding_for_another_tap_accepts() -> None:
    decision = run(inbound(DISCOVER, indev="tap11"))
    assert (decision.verdict, decision.event) == (Verdict.ACCEPT, "no-binding")


def test_unbound_tap_is_not_even_parsed() -> None:
    decision = run(inbound(b"\x00garbage"), table_of())
    assert (decision.verdict, decision.event) == (Verdict.ACCEPT, "no-binding")


@pytest.mark.parametrize("queue", [0, 41, 99, 65535])
def test_unknown_queue_accepts(queue: int) -> None:
    decision = run(inbound(DISCOVER, queue=queue))
    assert (decision.verdict, decision.event) == (Verdict.ACCEPT, "unknown-queue")
    assert decision.frames == ()


def test_configured_queue_number() -> None:
    config = make_config(dhcp_queue=50)
    assert run(inbound(DISCOVER, queue=50), config=config).event == "offer"
    assert run(inbound(DISCOVER, queue=42), config=config).verdict is Verdict.ACCEPT


def test_dhcp_disabled_accepts() -> None:
    decision = run(inbound(DISCOVER), config=make_config(enable_dhcp=False))
    assert decision.verdict is Verdict.ACCEPT
    assert decision.frames == ()


def test_bridged_lookup_by_physindev() -> None:
    binding = grnet_binding(indev="br0")
    decoy = grnet_binding(name="br0", mac=OTHER_MAC, ip=IPv4Address("192.0.2.200"))
    packet = inbound(DISCOVER, indev="br0", physindev=TAP)
    reply = decode_reply(run(packet, table_of(binding, decoy)), tap=TAP)
    assert reply.bootp.yiaddr == VM_IP  # tap10's binding, not br0's


def test_bridged_indev_mismatch_drops() -> None:
    packet = inbound(DISCOVER, indev="br1", physindev=TAP)
    decision = run(packet, table_of(grnet_binding(indev="br0")))
    assert_silent(decision, "indev-mismatch")
    assert "br1" in decision.reason and "br0" in decision.reason


def test_routed_indev_mismatch_drops() -> None:
    decision = run(inbound(DISCOVER, indev=TAP), table_of(grnet_binding(indev="br0")))
    assert_silent(decision, "indev-mismatch")


def test_routed_indev_match() -> None:
    assert run(inbound(DISCOVER, indev=TAP), table_of(grnet_binding(indev=TAP))).event == "offer"


@pytest.mark.parametrize("indev", ["br0", "ovs-system", TAP])
def test_empty_indev_skips_the_check(indev: str) -> None:
    binding = grnet_with("INDEV=\n")
    assert binding.indev is None
    physindev = None if indev == TAP else TAP
    packet = inbound(DISCOVER, indev=indev, physindev=physindev)
    assert decode_reply(run(packet, table_of(binding))).bootp.yiaddr == VM_IP


def test_mac_mismatch_drops() -> None:
    decision = ask("discover", hwsrc=OTHER_MAC, chaddr=OTHER_MAC)
    assert_silent(decision, "mac-mismatch")
    assert "02:aa:bb:cc:dd:ee" in decision.reason and VM_MAC_TEXT in decision.reason


def test_unknown_source_mac_drops() -> None:
    assert_silent(ask("discover", hwsrc=None), "mac-mismatch")


def test_mac_checked_before_parsing() -> None:
    packet = inbound(b"\x45junk", hwsrc=OTHER_MAC)
    assert_silent(run(packet), "mac-mismatch")


def test_indev_checked_before_mac() -> None:
    packet = inbound(DISCOVER, indev="br9", physindev=TAP, hwsrc=OTHER_MAC)
    assert_silent(run(packet), "indev-mismatch")


def test_macspoof_accepts_another_mac() -> None:
    binding = grnet_with("MACSPOOF=yes\n")
    reply = answer("discover", binding, hwsrc=OTHER_MAC, chaddr=OTHER_MAC)
    assert reply.msg_type == 2
    assert reply.pkt.dst == "02:aa:bb:cc:dd:ee"
    assert reply.bootp.chaddr[:6] == OTHER_MAC


def test_macspoof_without_layer2_source_uses_chaddr() -> None:
    binding = grnet_with("MACSPOOF=yes\n")
    reply = answer("discover", binding, hwsrc=None)
    assert reply.pkt.dst == VM_MAC_TEXT


def test_binding_without_ipv4_drops() -> None:
    binding = grnet_binding(ip=None, subnet=None)
    assert_silent(ask("discover", binding), "no-ipv4")


def test_unknown_interface_mac_drops() -> None:
    assert_silent(ask("discover", ifmac=None), "no-ifmac")


# --- message types and REQUEST states (RFC 2131 sections 3 and 4.3) ------------------


def test_discover_gets_offer_every_field() -> None:
    decision = ask("discover", xid=0xCAFEBABE, options=[("param_req_list", PRL_ALL)], flags=0x8000)
    assert decision.event == "offer"
    reply = decode_reply(decision)
    assert reply.pkt.src == TAP_MAC_TEXT
    assert reply.pkt.dst == BCAST_MAC
    assert (reply.ip.src, reply.ip.dst) == (SERVER_IP, BCAST)
    assert (reply.udp.sport, reply.udp.dport) == (67, 68)
    bootp = reply.bootp
    assert (bootp.op, bootp.htype, bootp.hlen, bootp.hops) == (2, 1, 6, 0)
    assert (bootp.xid, bootp.flags, bootp.secs) == (0xCAFEBABE, 0x8000, 0)
    assert (bootp.ciaddr, bootp.yiaddr, bootp.siaddr, bootp.giaddr) == (ZERO, VM_IP, ZERO, ZERO)
    assert bootp.chaddr == VM_MAC + bytes(10)
    assert reply.scapy_options() == {
        "message-type": (2,),
        "server_id": (SERVER_IP,),
        "lease_time": (604800,),
        "renewal_time": (3600,),
        "rebinding_time": (529200,),
        "subnet_mask": ("255.255.255.0",),
        "router": (GATEWAY,),
        "name_server": ("192.0.2.2", "192.0.2.3"),
        "hostname": (b"testing-vm",),
        "domain": (b"example.com",),
        "broadcast_address": ("192.0.2.255",),
        119: (b"\x07example\x03com\x00",),
    }
    assert reply.codes == [53, 54, 51, 58, 59, 1, 3, 6, 12, 15, 28, 119]


def test_selecting_our_server_and_address_gets_ack() -> None:
    decision = ask("request", **select())
    assert decision.event == "ack"
    assert "SELECTING" in decision.reason
    reply = decode_reply(decision)
    assert reply.msg_type == 5
    assert (reply.bootp.yiaddr, reply.bootp.ciaddr) == (VM_IP, ZERO)
    assert u32(reply.option(51)) == 604800


def test_selecting_another_address_gets_nak() -> None:
    decision = ask("request", **select(requested=OTHER_IP))
    assert decision.event == "nak"
    reply = decode_reply(decision)
    assert reply.msg_type == 6
    assert (reply.bootp.yiaddr, reply.bootp.ciaddr) == (ZERO, ZERO)
    assert reply.codes == [53, 54, 56]  # RFC 2132 9.9: a NAK says why
    assert reply.ip.dst == BCAST and reply.pkt.dst == BCAST_MAC


def test_selecting_another_server_is_silent() -> None:
    decision = ask("request", **select(server="192.0.2.250"))
    assert_silent(decision, "other-server")
    assert "192.0.2.250" in decision.reason


def test_selecting_without_requested_ip_is_malformed() -> None:
    assert_silent(ask("request", options=[("server_id", SERVER_IP)]), "malformed")


def test_selecting_on_link_server_id() -> None:
    config = make_config(server_on_link=True)
    reply = answer("request", config=config, **select(server=GATEWAY))
    assert reply.msg_type == 5
    assert reply.ip.src == GATEWAY
    assert reply.option(54) == ip_bytes(GATEWAY)
    # With server_on_link the dummy address is someone else.
    assert_silent(ask("request", config=config, **select(server=SERVER_IP)), "other-server")


def test_init_reboot_ack() -> None:
    decision = ask("request", options=[("requested_addr", VM_IP)])
    assert decision.event == "ack" and "INIT-REBOOT" in decision.reason
    reply = decode_reply(decision)
    assert reply.bootp.yiaddr == VM_IP and reply.bootp.ciaddr == ZERO
    assert reply.ip.dst == VM_IP and reply.pkt.dst == VM_MAC_TEXT


def test_init_reboot_nak() -> None:
    decision = ask("request", options=[("requested_addr", "10.9.9.9")])
    assert decision.event == "nak" and "INIT-REBOOT" in decision.reason
    reply = decode_reply(decision)
    assert reply.bootp.yiaddr == ZERO
    assert (reply.ip.dst, reply.pkt.dst, reply.udp.dport) == (BCAST, BCAST_MAC, 68)


def test_renewing_ack_unicast_to_ciaddr() -> None:
    decision = ask("request", ciaddr=VM_IP, src=VM_IP, dst=SERVER_IP)
    assert decision.event == "ack" and "RENEWING" in decision.reason
    reply = decode_reply(decision)
    assert (reply.bootp.ciaddr, reply.bootp.yiaddr) == (VM_IP, VM_IP)
    assert (reply.ip.dst, reply.udp.dport, reply.pkt.dst) == (VM_IP, 68, VM_MAC_TEXT)
    assert u32(reply.option(51)) == 604800


def naks(decision: Decision) -> list[Reply]:
    """The frames of a NAK to a client with ciaddr: to ciaddr, then broadcast."""
    assert decision.event == "nak" and decision.verdict is Verdict.DROP
    assert all(frame.ifname == TAP for frame in decision.frames)
    return [decode_frame(frame.data) for frame in decision.frames]


def test_renewing_wrong_address_nak_to_ciaddr_and_broadcast() -> None:
    """RFC 2131 4.1 broadcasts a NAK; a RENEWING client may listen on ciaddr only
    (systemd-networkd), so it goes there too, as Kea sends it."""
    decision = ask("request", ciaddr=OTHER_IP, src=OTHER_IP, dst=SERVER_IP)
    assert "RENEWING" in decision.reason
    unicast, broadcast = naks(decision)
    for reply in (unicast, broadcast):
        assert (reply.bootp.ciaddr, reply.bootp.yiaddr, reply.msg_type) == (ZERO, ZERO, 6)
        assert reply.udp.dport == 68
    assert (unicast.ip.dst, unicast.pkt.dst) == (OTHER_IP, VM_MAC_TEXT)
    assert (broadcast.ip.dst, broadcast.pkt.dst) == (BCAST, BCAST_MAC)


def test_rebinding_ack() -> None:
    decision = ask("request", ciaddr=VM_IP, src=VM_IP, dst=BCAST)
    assert decision.event == "ack" and "REBINDING" in decision.reason
    reply = decode_reply(decision)
    assert (reply.ip.dst, reply.bootp.ciaddr, reply.bootp.yiaddr) == (VM_IP, VM_IP, VM_IP)


def test_rebinding_nak() -> None:
    decision = ask("request", ciaddr=OTHER_IP, src=OTHER_IP, dst=BCAST)
    assert "REBINDING" in decision.reason
    assert [r.ip.dst for r in naks(decision)] == [OTHER_IP, BCAST]


def test_renewing_with_server_id_and_no_requested_ip_is_acked() -> None:
    """RFC 2131 4.3.2: our server-id and ciaddr but no option 50: a renewal, ACKed as
    dnsmasq does (it was dropped as malformed)."""
    decision = ask(
        "request", ciaddr=VM_IP, src=VM_IP, dst=SERVER_IP, options=[("server_id", SERVER_IP)]
    )
    assert decision.event == "ack" and "RENEWING" in decision.reason
    assert decode_reply(decision).ip.dst == VM_IP


@pytest.mark.parametrize(
    ("ciaddr", "requested", "event"), [(OTHER_IP, VM_IP, "ack"), (VM_IP, OTHER_IP, "nak")]
)
def test_init_reboot_judges_option_50_whatever_ciaddr_says(
    ciaddr: str, requested: str, event: str
) -> None:
    """RFC 2131 4.3.2 INIT-REBOOT: option 50 and no server-id; a stale ciaddr (which
    'MUST be zero' there) does not make it a REBINDING judged by ciaddr."""
    decision = ask("request", ciaddr=ciaddr, options=[("requested_addr", requested)])
    assert decision.event == event and "INIT-REBOOT" in decision.reason


def test_decline_logs_the_declined_address() -> None:
    """RFC 2131 4.3.3: option 50 names the address in use; the log says which."""
    decision = ask("decline", options=[("server_id", SERVER_IP), ("requested_addr", "192.0.2.55")])
    assert decision.event == "decline" and "declined 192.0.2.55" in decision.reason


def test_replies_are_at_least_300_bytes_of_bootp() -> None:
    """RFC 1542 2.1: relays and PXE ROMs drop BOOTP messages under 300 octets."""
    reply = answer("inform", ciaddr=VM_IP, options=[("param_req_list", [1])])
    assert len(bytes(reply.bootp)) >= 300
    assert reply.data[42:].rstrip(b"\0").endswith(b"\xff")


def test_bad_udp_checksum_is_its_own_event() -> None:
    """RFC 1122 4.1.3.4: a wrong non-zero UDP checksum: silently discarded, counted."""
    data = bytearray(DISCOVER)
    data[26] ^= 0xFF
    assert_silent(run(inbound(bytes(data))), "bad-checksum")
    data[26:28] = b"\0\0"  # RFC 768: zero means none computed
    assert run(inbound(bytes(data))).event == "offer"


def test_request_without_address_is_malformed() -> None:
    assert_silent(ask("request"), "malformed")


def test_inform_ack_without_lease() -> None:
    decision = ask(
        "inform",
        ciaddr=VM_IP,
        src=VM_IP,
        dst=BCAST,
        options=[("param_req_list", [6, 15, 1, 3, 51, 58])],
    )
    assert decision.event == "ack"
    reply = decode_reply(decision)
    assert reply.msg_type == 5
    assert (reply.bootp.yiaddr, reply.bootp.ciaddr) == (ZERO, VM_IP)
    assert (reply.ip.dst, reply.udp.dport, reply.pkt.dst) == (VM_IP, 68, VM_MAC_TEXT)
    for code in (51, 58, 59):
        assert reply.option(code) is None
    assert reply.codes[:6] == [53, 54, 6, 15, 1, 3]
    assert addresses(reply.option(6)) == ["192.0.2.2", "192.0.2.3"]


def test_inform_without_ciaddr_is_broadcast() -> None:
    reply = answer("inform")
    assert (reply.ip.dst, reply.pkt.dst, reply.bootp.yiaddr) == (BCAST, BCAST_MAC, ZERO)


def test_decline_is_silent() -> None:
    decision = ask("decline", options=[("requested_addr", VM_IP), ("server_id", SERVER_IP)])
    assert_silent(decision, "decline")
    assert VM_IP in decision.reason


def test_release_is_silent() -> None:
    decision = ask("release", ciaddr=VM_IP, options=[("server_id", SERVER_IP)])
    assert_silent(decision, "release")


@pytest.mark.parametrize("mtype", [2, 5, 6, 0, 9, 18, 255])
def test_server_messages_from_a_vm_are_unexpected(mtype: int) -> None:
    assert_silent(ask(mtype), "unexpected")


def test_log_text_says_what_became_of_a_refused_packet() -> None:
    release = ask("release", ciaddr=VM_IP, options=[("server_id", SERVER_IP)])
    assert release.log_text() == f"drop: {release.reason}"
    assert ask(5).log_text().startswith("drop: tap")
    assert ask("discover", indev="tap99").log_text() == "accept: no binding for tap99"


def test_log_text_of_an_answer_is_its_reason() -> None:
    offer = ask("discover")
    assert offer.event == "offer"
    assert offer.log_text() == offer.reason
    assert offer.reason.startswith("tap") and "OFFER" in offer.reason


def test_bootreply_from_a_vm_is_malformed() -> None:
    assert_silent(ask("discover", op=2), "malformed")


def test_plain_bootp_with_cookie_is_malformed() -> None:
    decision = ask(None)
    assert_silent(decision, "malformed")
    assert "BOOTP" in decision.reason


def test_rfc951_bootp_without_cookie_is_malformed() -> None:
    payload = bytes(
        IP(src=ZERO, dst=BCAST) / UDP(sport=68, dport=67) / BOOTP(chaddr=VM_MAC, options=bytes(64))
    )
    assert_silent(run(inbound(payload)), "malformed")


@pytest.mark.parametrize(
    "payload",
    [b"", b"\x45", bytes(20), b"\x60" + bytes(60), wrap_udp(b"\x01\x01\x06\x00")],
    ids=["empty", "one-byte", "zeros", "ipv6", "short-bootp"],
)
def test_garbage_is_malformed(payload: bytes) -> None:
    decision = run(inbound(payload))
    assert_silent(decision, "malformed")
    assert decision.reason.startswith(f"{TAP}: malformed")


def test_overload_without_value_is_malformed_not_an_error() -> None:
    """Option 52 with length 0: a 'malformed' DROP or an OFFER, never an exception."""
    bootp = dhcp_request("discover")[28:]
    payload = wrap_udp(bootp[:240] + b"\x35\x01\x01\x34\x00\xff")
    decision = run(inbound(payload))
    if decision.frames:
        assert decode_reply(decision).msg_type == 2
    else:
        assert_silent(decision, "malformed")


# --- RFC 2131 section 4.1: where replies go ----------------------------------------

RENEW = {"ciaddr": VM_IP, "src": VM_IP, "dst": SERVER_IP}
# id: (message type, request fields, reply type, IP dst, UDP dport, L2 dst, reply flags)
ADDRESSING: dict[str, tuple[str, dict[str, Any], int, str, int, str, int]] = {
    "offer-unicast": ("discover", {}, 2, VM_IP, 68, VM_MAC_TEXT, 0),
    "offer-broadcast-flag": ("discover", {"flags": 0x8000}, 2, BCAST, 68, BCAST_MAC, 0x8000),
    "offer-relay": ("discover", {"giaddr": RELAY_IP}, 2, RELAY_IP, 67, VM_MAC_TEXT, 0),
    "offer-relay-broadcast-flag": (
        "discover",
        {"giaddr": RELAY_IP, "flags": 0x8000},
        2,
        RELAY_IP,
        67,
        VM_MAC_TEXT,
        0x8000,
    ),
    "ack-selecting-unicast": ("request", select(), 5, VM_IP, 68, VM_MAC_TEXT, 0),
    "ack-selecting-broadcast": (
        "request",
        select(flags=0x8000),
        5,
        BCAST,
        68,
        BCAST_MAC,
        0x8000,
    ),
    "ack-selecting-relay": ("request", select(giaddr=RELAY_IP), 5, RELAY_IP, 67, VM_MAC_TEXT, 0),
    "nak-selecting": ("request", select(requested=OTHER_IP), 6, BCAST, 68, BCAST_MAC, 0),
    "nak-relay-sets-broadcast": (
        "request",
        select(requested=OTHER_IP, giaddr=RELAY_IP),
        6,
        RELAY_IP,
        67,
        VM_MAC_TEXT,
        0x8000,
    ),
    "ack-renewing-ciaddr": ("request", RENEW, 5, VM_IP, 68, VM_MAC_TEXT, 0),
    "ack-renewing-ciaddr-beats-broadcast-flag": (
        "request",
        {**RENEW, "flags": 0x8000},
        5,
        VM_IP,
        68,
        VM_MAC_TEXT,
        0x8000,
    ),
    "ack-inform-ciaddr": ("inform", {"ciaddr": VM_IP, "src": VM_IP}, 5, VM_IP, 68, VM_MAC_TEXT, 0),
    "ack-inform-relay": (
        "inform",
        {"ciaddr": VM_IP, "giaddr": RELAY_IP},
        5,
        RELAY_IP,
        67,
        VM_MAC_TEXT,
        0,
    ),
}


@pytest.mark.parametrize(
    ("mtype", "request_fields", "reply_type", "ip_dst", "dport", "l2_dst", "flags"),
    ADDRESSING.values(),
    ids=ADDRESSING.keys(),
)
def test_addressing(
    mtype: str,
    request_fields: dict[str, Any],
    reply_type: int,
    ip_dst: str,
    dport: int,
    l2_dst: str,
    flags: int,
) -> None:
    reply = answer(mtype, **request_fields)
    assert reply.msg_type == reply_type
    assert reply.pkt.src == TAP_MAC_TEXT  # L2 source: the TAP's (or bridge's) MAC
    assert reply.ip.src == SERVER_IP  # IP source: the server identifier
    assert reply.option(54) == ip_bytes(SERVER_IP)
    assert (reply.ip.dst, reply.udp.sport, reply.udp.dport) == (ip_dst, 67, dport)
    assert reply.pkt.dst == l2_dst
    assert reply.bootp.flags == flags
    assert reply.bootp.giaddr == request_fields.get("giaddr", ZERO)
    assert reply.bootp.chaddr[:6] == VM_MAC


def test_l2_source_is_the_given_interface_mac() -> None:
    bridge_mac = bytes.fromhex("0a1b2c3d4e5f")
    packet = inbound(DISCOVER, indev="br0", physindev=TAP, ifmac=bridge_mac)
    reply = decode_reply(run(packet, table_of(grnet_binding(indev="br0"))))
    assert reply.pkt.src == "0a:1b:2c:3d:4e:5f"


# --- options ------------------------------------------------------------------------


def offer(binding: Binding | None = None, config: Config = BASE_CONFIG, **kw: Any) -> Reply:
    kw.setdefault("options", [("param_req_list", PRL_ALL)])
    return answer("discover", binding, config=config, **kw)


@pytest.mark.parametrize(
    ("subnet", "ip", "mask", "broadcast"),
    [
        ("192.0.2.0/24", "192.0.2.100", "255.255.255.0", "192.0.2.255"),
        ("10.0.0.0/8", "10.1.2.3", "255.0.0.0", "10.255.255.255"),
        ("192.0.2.96/27", "192.0.2.100", "255.255.255.224", "192.0.2.127"),
        # RFC 3021 2.2: a /31 (or /32) has no directed broadcast: the limited one.
        ("192.0.2.100/31", "192.0.2.100", "255.255.255.254", BCAST),
        ("192.0.2.100/32", "192.0.2.100", "255.255.255.255", BCAST),
    ],
)
def test_options_1_and_28(subnet: str, ip: str, mask: str, broadcast: str) -> None:
    binding = grnet_binding(subnet=IPv4Network(subnet), ip=IPv4Address(ip), gateway=None)
    reply = offer(binding)
    assert reply.scapy_option("subnet_mask") == mask
    assert reply.scapy_option("broadcast_address") == broadcast
    assert reply.bootp.yiaddr == ip


def test_option_3_router() -> None:
    assert offer().scapy_option("router") == GATEWAY


@pytest.mark.parametrize("extra", ["PRIVATE=yes\n", "PRIVATE=1\n", "GATEWAY=\n"])
def test_option_3_absent(extra: str) -> None:
    reply = offer(grnet_with(extra))
    assert reply.option(3) is None
    assert reply.option(121) is None


def test_private_with_server_on_link_uses_the_gateway() -> None:
    """As GRNET: the on-link server identifier, though no router option is sent."""
    reply = offer(grnet_with("PRIVATE=yes\n"), make_config(server_on_link=True))
    assert reply.ip.src == GATEWAY
    assert reply.option(54) == ip_bytes(GATEWAY)
    assert reply.option(3) is None


def test_option_6_from_config() -> None:
    assert offer().scapy_option("name_server") == ("192.0.2.2", "192.0.2.3")


def test_option_6_binding_overrides() -> None:
    reply = offer(grnet_with("DNS='192.0.2.53 192.0.2.54 192.0.2.55'\n"))
    assert addresses(reply.option(6)) == ["192.0.2.53", "192.0.2.54", "192.0.2.55"]


def test_option_6_absent_without_nameservers() -> None:
    assert offer(config=make_config(nameservers=())).option(6) is None


def test_option_12_hostname() -> None:
    assert offer().option(12) == b"testing-vm"
    assert offer(grnet_with("HOSTNAME=\n")).option(12) is None


def test_option_15_from_config() -> None:
    assert offer().option(15) == b"example.com"


def test_option_15_binding_overrides() -> None:
    reply = offer(grnet_with("DOMAIN=vms.example.org\n"))
    assert reply.option(15) == b"vms.example.org"
    assert decode_search(reply.option(119) or b"") == ["vms.example.org"]


def test_option_15_absent() -> None:
    reply = offer(config=make_config(domain=None))
    assert reply.option(15) is None
    assert reply.option(119) is None


def test_option_119_search_list() -> None:
    reply = offer(grnet_with("SEARCH='a.example.com b.example.net. example.org'\n"))
    raw = reply.option(119)
    assert raw == (b"\x01a\x07example\x03com\x00\x01b\x07example\x03net\x00\x07example\x03org\x00")
    assert decode_search(raw) == ["a.example.com", "b.example.net", "example.org"]
    assert reply.option(15) == b"example.com"  # the domain stays the config's


def test_option_119_long_list_is_split_rfc3396() -> None:
    names = [f"{'x' * 40}{i}.example.com" for i in range(6)]  # ~340 bytes encoded
    binding = grnet_with(f"SEARCH='{' '.join(names)}'\n")
    reply = offer(binding, options=[("param_req_list", [119]), ("max_dhcp_size", 1500)])
    assert [c for c in reply.codes if c == 119] == [119, 119]
    assert decode_search(reply.option(119) or b"") == names


def test_option_26_mtu() -> None:
    assert offer(grnet_with("MTU=1450\n")).scapy_option("interface-mtu") == 1450
    assert offer().option(26) is None


def test_option_42_ntp() -> None:
    config = make_config(ntp_servers=(IPv4Address("192.0.2.123"),))
    assert addresses(offer(config=config).option(42)) == ["192.0.2.123"]
    reply = offer(grnet_with("NTP='192.0.2.124,192.0.2.125'\n"), config)
    assert addresses(reply.option(42)) == ["192.0.2.124", "192.0.2.125"]
    assert offer().option(42) is None


def test_options_51_58_59() -> None:
    reply = offer(config=make_config(lease_lifetime=86400, lease_renewal=600))
    lease, t1, t2 = (u32(reply.option(c)) for c in (51, 58, 59))
    assert (lease, t1) == (86400, 600)
    assert t1 < t2 < lease
    assert reply.scapy_option("rebinding_time") == t2 == 86400 * 7 // 8


@example(renewal=1, lifetime=2)
@example(renewal=9, lifetime=10)
@example(renewal=600, lifetime=601)
@example(renewal=3600, lifetime=604800)
@example(renewal=3600, lifetime=3600)
@example(renewal=0, lifetime=60)
@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**6), st.integers(0, 10**6))
def test_t1_t2_lease_ordered_for_every_accepted_config(renewal: int, lifetime: int) -> None:
    """For every lease_renewal/lease_lifetime that parse_config accepts (GRNET's
    0..2^32-1, a T1 that leaves no room becoming half the lease): T1 < T2 < lease."""
    try:
        config = parse_config(
            f"[dhcp]\nlease_lifetime = {lifetime}\nlease_renewal = {renewal}\n", "/t.conf"
        )
    except ConfigError:
        return
    used = make_config(lease_lifetime=config.lease_lifetime, lease_renewal=config.lease_renewal)
    reply = offer(config=used)
    lease, t1, t2 = (u32(reply.option(c)) for c in (51, 58, 59))
    assert (lease, t1) == (used.lease_lifetime, used.lease_renewal)
    assert t1 < t2 < lease, f"T1={t1} T2={t2} lease={lease}"


def test_option_54_server_ip() -> None:
    reply = offer(config=make_config(server_ip=IPv4Address("203.0.113.9")))
    assert reply.scapy_option("server_id") == "203.0.113.9"
    assert reply.ip.src == "203.0.113.9"


def test_option_54_on_link_gateway() -> None:
    reply = offer(config=make_config(server_on_link=True))
    assert reply.scapy_option("server_id") == GATEWAY
    assert reply.ip.src == GATEWAY


def test_option_54_on_link_without_gateway_is_the_first_host() -> None:
    reply = offer(grnet_with("GATEWAY=\nSUBNET=192.0.2.64/26\n"), make_config(server_on_link=True))
    assert reply.scapy_option("server_id") == "192.0.2.65"


def test_option_54_on_link_without_gateway_or_room_is_server_ip() -> None:
    reply = offer(grnet_with("GATEWAY=\nSUBNET=192.0.2.100/31\n"), make_config(server_on_link=True))
    assert reply.scapy_option("server_id") == SERVER_IP


def test_option_121_automatic_for_off_subnet_gateway() -> None:
    reply = offer(grnet_with("GATEWAY=10.0.0.1\n"))
    expected = [("10.0.0.1/32", "0.0.0.0"), ("0.0.0.0/0", "10.0.0.1")]
    assert decode_routes(reply.option(121) or b"") == expected
    assert reply.scapy_option("classless_static_routes") == [
        "10.0.0.1/32:0.0.0.0",
        "0.0.0.0/0:10.0.0.1",
    ]


def test_option_121_explicit_routes_plus_default() -> None:
    binding = grnet_with("ROUTES='10.1.0.0/16 via 192.0.2.254, 172.16.0.0/12 via 192.0.2.253'\n")
    assert decode_routes(offer(binding).option(121) or b"") == [
        ("10.1.0.0/16", "192.0.2.254"),
        ("172.16.0.0/12", "192.0.2.253"),
        ("0.0.0.0/0", GATEWAY),
    ]


def test_option_121_explicit_routes_off_subnet_gateway() -> None:
    """RFC 3442 3: the on-link host route to an off-subnet router first (Debian's hook
    installs in order and skips routes whose router it cannot reach yet)."""
    binding = grnet_with(
        "GATEWAY=10.0.0.1\nROUTES='10.1.0.0/16 via 192.0.2.254, 10.2.0.0/16 via 10.0.0.1, "
        "10.3.0.0/16 via 10.9.9.9'\n"
    )
    assert decode_routes(offer(binding).option(121) or b"") == [
        ("10.0.0.1/32", "0.0.0.0"),
        ("10.9.9.9/32", "0.0.0.0"),
        ("10.1.0.0/16", "192.0.2.254"),
        ("10.2.0.0/16", "10.0.0.1"),
        ("10.3.0.0/16", "10.9.9.9"),
        ("0.0.0.0/0", "10.0.0.1"),
    ]


def test_option_121_private_routes_without_default() -> None:
    binding = grnet_with("PRIVATE=yes\nROUTES='10.1.0.0/16 via 192.0.2.254'\n")
    reply = offer(binding)
    assert decode_routes(reply.option(121) or b"") == [("10.1.0.0/16", "192.0.2.254")]
    assert reply.option(3) is None


def test_option_121_absent_for_on_subnet_gateway() -> None:
    assert offer().option(121) is None


@pytest.mark.parametrize(
    ("mtype", "fields"),
    [
        ("discover", {}),
        ("request", select()),
        ("request", select(requested=OTHER_IP)),
        ("inform", {"ciaddr": VM_IP}),
    ],
    ids=["offer", "ack", "nak", "inform-ack"],
)
def test_option_61_echoed(mtype: str, fields: dict[str, Any]) -> None:
    client_id = b"\xff\x39\x22\x33\x44\x00\x01\x00\x01\x32\x9d\x18\xaa" + VM_MAC
    fields = {**fields, "options": [*fields.get("options", []), ("client_id", client_id)]}
    reply = answer(mtype, **fields)
    assert reply.option(61) == client_id
    assert reply.scapy_option("client_id") == client_id
    assert reply.codes[:3] == [53, 54, 61]


def test_option_61_absent_when_not_sent() -> None:
    assert offer().option(61) is None


def test_long_client_id_echoed_whole() -> None:
    client_id = bytes(range(256)) + b"tail"
    # Wireshark 4.0 dissects each RFC 3396 instance of option 61 on its own: the second
    # (5 bytes, type 255 per RFC 4361) looks like a truncated IAID+DUID to it.
    with TSHARK.exempt("tshark does not join the instances of a split option 61"):
        reply = offer(options=[("client_id", client_id[:200]), ("client_id", client_id[200:])])
    assert reply.option(61) == client_id


def test_no_option_twice() -> None:
    reply = offer(
        grnet_with("MTU=1450\nGATEWAY=10.0.0.1\n"),
        make_config(ntp_servers=(IPv4Address("192.0.2.123"),)),
        options=[("param_req_list", [51, 54, 53, 1, 1, 3, 3, 58, 59, 61, 121])],
    )
    codes = all_codes(reply.options)
    assert len(codes) == len(set(codes))
    assert set(codes) == {53, 54, 51, 58, 59, 1, 3, 6, 12, 15, 26, 28, 42, 119, 121}


# --- parameter request list order ---------------------------------------------------


RICH = "MTU=1450\nGATEWAY=10.0.0.1\nNTP=192.0.2.123\n"


@pytest.mark.parametrize("client_id", [None, b"\x01" + VM_MAC])
@pytest.mark.parametrize(
    "prl",
    [[121, 42, 26, 15, 12, 6, 3, 1, 28, 119], [1, 3, 6], [119, 26], [6, 44, 47, 252, 6, 1], []],
)
def test_prl_order(prl: list[int], client_id: bytes | None) -> None:
    options: list[Any] = [("param_req_list", prl)]
    if client_id is not None:
        options.append(("client_id", client_id))
    reply = offer(grnet_with(RICH), options=options)
    head = [53, 54, *([61] if client_id else []), 51, 58, 59]
    available = [1, 3, 6, 12, 15, 26, 28, 42, 119, 121]
    requested = [c for c in dict.fromkeys(prl) if c in available]
    rest = sorted(c for c in available if c not in requested)
    assert reply.codes == head + requested + rest


def test_prl_order_in_ack() -> None:
    reply = answer("request", grnet_with(RICH), **select(options=[("param_req_list", [28, 6])]))
    assert reply.codes[:7] == [53, 54, 51, 58, 59, 28, 6]


# --- the 576-byte rule and option 57 ------------------------------------------------

BIG = (
    "SEARCH='"
    + " ".join(f"{'s' * 30}{i}.search.example.com" for i in range(8))
    + "'\nROUTES='"
    + ", ".join(f"10.{i}.0.0/16 via 192.0.2.254" for i in range(25))
    + "'\nDNS='192.0.2.53 192.0.2.54 192.0.2.55'\nNTP='192.0.2.123 192.0.2.124'\n"
    + f"HOSTNAME={'h' * 60}\nDOMAIN={'d' * 50}.example.com\nMTU=9000\n"
)


def test_big_binding_needs_more_than_576() -> None:
    reply = offer(grnet_with(BIG), options=[("max_dhcp_size", 9000)])
    assert reply.size > 900
    assert set(reply.codes) >= {1, 3, 6, 12, 15, 26, 28, 42, 119, 121}


@pytest.mark.parametrize("max_size", [None, 0, 300, 575, 576])
def test_fits_576_without_option_57(max_size: int | None) -> None:
    options: list[Any] = [("param_req_list", PRL_ALL)]
    if max_size is not None:
        options.append(("max_dhcp_size", max_size))
    reply = offer(grnet_with(BIG), options=options)
    assert reply.size <= 576
    assert reply.codes[:5] == [53, 54, 51, 58, 59]
    assert not {119, 121} <= set(reply.codes), "something had to be left out"


@pytest.mark.parametrize("max_size", [577, 700, 800, 1000, 1200])
def test_fits_option_57(max_size: int) -> None:
    small = offer(grnet_with(BIG))
    reply = offer(
        grnet_with(BIG), options=[("param_req_list", PRL_ALL), ("max_dhcp_size", max_size)]
    )
    assert reply.size <= max_size
    assert len(reply.options) >= len(small.options)


def test_binding_mtu_bounds_the_reply() -> None:
    binding = grnet_with(BIG + "MTU=600\n")
    reply = offer(binding, options=[("max_dhcp_size", 1500)])
    assert reply.size <= 600


# Each of 119 (~142 bytes) and 121 (~119 bytes) fits a 576-byte reply alone, not both.
EITHER = (
    "SEARCH='"
    + " ".join(f"{'s' * 20}{i}.example.com" for i in range(4))
    + "'\nROUTES='"
    + ", ".join(f"10.{i}.0.0/16 via 192.0.2.254" for i in range(16))
    + "'\n"
)


def test_requested_options_are_kept_first() -> None:
    """Room for either 119 or 121: the one the client asked for wins, whichever it is."""
    binding = grnet_with(EITHER)
    roomy = offer(binding, options=[("max_dhcp_size", 1500)])
    assert {119, 121} <= set(roomy.codes) and roomy.size > 576  # not both in 576
    for wanted, unwanted in ((121, 119), (119, 121)):
        reply = offer(binding, options=[("param_req_list", [wanted])])
        assert reply.codes[5] == wanted
        assert unwanted not in reply.codes
        assert reply.size <= 576
        # Smaller options still fill the remaining room after a big one.
        assert {1, 3, 6, 12, 15, 28} <= set(reply.codes)


def test_nak_fits() -> None:
    reply = answer("request", grnet_with(BIG), **select(requested=OTHER_IP))
    assert reply.size <= 576
    assert reply.codes == [53, 54, 56]


# --- recorded requests of real clients ----------------------------------------------

FIXTURE_CONFIG = make_config(server_ip=IPv4Address(GATEWAY))  # the capture server's id


@pytest.mark.parametrize("name", fixture_names())
def test_recorded_request_gets_correct_reply(name: str) -> None:
    recorded = load_fixture(name)
    assert recorded.headers["client"]
    request = IP(recorded.payload)
    request_options = {o[0]: o[1:] for o in request[DHCP].options if isinstance(o, tuple)}
    decision = run(inbound(recorded.payload, hwsrc=recorded.hwsrc), config=FIXTURE_CONFIG)
    reply = decode_reply(decision)
    expected_type = 2 if "discover" in name else 5
    assert reply.msg_type == expected_type
    assert decision.event == ("offer" if expected_type == 2 else "ack")
    assert reply.bootp.xid == request[BOOTP].xid
    assert reply.bootp.chaddr == request[BOOTP].chaddr
    assert reply.bootp.yiaddr == VM_IP
    assert reply.bootp.flags == request[BOOTP].flags
    assert reply.ip.src == GATEWAY and reply.option(54) == ip_bytes(GATEWAY)
    assert reply.pkt.src == TAP_MAC_TEXT
    if request[BOOTP].flags & 0x8000:
        assert (reply.ip.dst, reply.pkt.dst) == (BCAST, BCAST_MAC)
    else:
        assert (reply.ip.dst, reply.pkt.dst) == (VM_IP, recorded.headers["hwsrc"])
    head = [53, 54]
    if "client_id" in request_options:
        assert reply.option(61) == request_options["client_id"][0]
        head.append(61)
    head += [51, 58, 59]
    assert reply.codes[: len(head)] == head
    prl = request_options.get("param_req_list", ([],))[0]
    present = [c for c in dict.fromkeys(prl) if c in reply.codes[len(head) :]]
    assert reply.codes[len(head) : len(head) + len(present)] == present
    assert {1, 3, 6, 28}.issubset(reply.codes)
    limit = request_options.get("max_dhcp_size", (576,))[0]
    assert reply.size <= max(576, limit)


@pytest.mark.parametrize("name", fixture_names())
def test_recorded_request_for_another_address(name: str) -> None:
    recorded = load_fixture(name)
    binding = grnet_binding(ip=IPv4Address("192.0.2.50"))
    decision = run(
        inbound(recorded.payload, hwsrc=recorded.hwsrc), table_of(binding), FIXTURE_CONFIG
    )
    reply = decode_reply(decision)
    if "discover" in name:
        assert reply.msg_type == 2 and reply.bootp.yiaddr == "192.0.2.50"
    else:
        assert reply.msg_type == 6 and reply.bootp.yiaddr == ZERO
        assert reply.ip.dst == BCAST


@pytest.mark.parametrize("name", [n for n in fixture_names() if "selecting" in n])
def test_recorded_selecting_for_another_server(name: str) -> None:
    recorded = load_fixture(name)
    decision = run(inbound(recorded.payload, hwsrc=recorded.hwsrc))  # server_ip 1.2.3.4
    assert_silent(decision, "other-server")


@pytest.mark.parametrize("name", fixture_names())
def test_recorded_request_truncations(name: str) -> None:
    """Every strict prefix of a real request is a 'malformed' DROP; never an exception."""
    payload = load_fixture(name).payload
    hwsrc = load_fixture(name).hwsrc
    for end in range(len(payload)):
        decision = run(inbound(payload[:end], hwsrc=hwsrc), config=FIXTURE_CONFIG)
        assert_silent(decision, "malformed")


@pytest.mark.parametrize("name", fixture_names())
def test_recorded_request_dhcp_truncations(name: str) -> None:
    """The DHCP message cut anywhere inside a valid IP/UDP datagram: malformed or answered."""
    recorded = load_fixture(name)
    bootp = recorded.payload[28:]
    answered = 0
    for end in range(len(bootp)):
        decision = run(inbound(wrap_udp(bootp[:end]), hwsrc=recorded.hwsrc), config=FIXTURE_CONFIG)
        if decision.frames:
            decode_reply(decision)
            answered += 1
        else:
            assert decision.verdict is Verdict.DROP
            assert decision.event in ("malformed", "other-server"), decision
    assert answered > 0


# --- property tests -----------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_payload(payload: bytes) -> None:
    decision = run(inbound(payload))
    assert decision.verdict is Verdict.DROP
    if decision.frames:
        decode_reply(decision)


SEEDS = [
    DISCOVER,
    dhcp_request("request", **select(options=[("param_req_list", PRL_ALL)])),
    dhcp_request("inform", ciaddr=VM_IP, options=[("client_id", b"\x01" + VM_MAC)]),
    *(load_fixture(n).payload for n in fixture_names()),
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["set", "set", "insert", "delete", "cut"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "set" and data:
            data[pos] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        else:
            del data[pos:]
    return bytes(data)


@settings(max_examples=400, deadline=None)
@given(mutated())
def test_mutated_requests(payload: bytes) -> None:
    decision = run(inbound(payload))
    if decision.frames:
        decode_reply(decision)


@settings(max_examples=300, deadline=None)
@given(mutated())
def test_mutated_dhcp_in_valid_udp(payload: bytes) -> None:
    """Mutations of the DHCP part only, re-wrapped so the IP/UDP layers stay valid."""
    decision = run(inbound(wrap_udp(payload[28:])))
    if decision.frames:
        decode_reply(decision)


BINDINGS = {
    "grnet": grnet_binding(),
    "rich": grnet_with(RICH),
    "big": grnet_with(BIG),
    "private": grnet_with("PRIVATE=yes\nROUTES='10.1.0.0/16 via 192.0.2.254'\n"),
    "small-mtu": grnet_with("MTU=576\nSEARCH='a.example b.example'\n"),
}


@st.composite
def exchanges(draw: st.DrawFn) -> tuple[dict[str, Any], list[Any], Binding, Config]:
    mtype = draw(st.sampled_from([1, 3, 3, 3, 8, 4, 7]) | st.integers(0, 12))
    options: list[Any] = []
    if draw(st.booleans()):
        options.append(("requested_addr", draw(st.sampled_from([VM_IP, OTHER_IP]))))
    if draw(st.booleans()):
        options.append(("server_id", draw(st.sampled_from([SERVER_IP, GATEWAY, OTHER_IP]))))
    if draw(st.booleans()):
        options.append(("param_req_list", draw(st.lists(st.integers(1, 254), max_size=20))))
    if draw(st.booleans()):
        options.append(("max_dhcp_size", draw(st.integers(0, 65535))))
    if draw(st.booleans()):
        options.append(("client_id", draw(st.binary(min_size=1, max_size=40))))
    fields = {
        "mtype": mtype,
        "options": options,
        "xid": draw(st.integers(0, 2**32 - 1)),
        "flags": draw(st.sampled_from([0, 0x8000]) | st.integers(0, 0xFFFF)),
        "ciaddr": draw(st.sampled_from([ZERO, ZERO, VM_IP, OTHER_IP])),
        "giaddr": draw(st.sampled_from([ZERO, ZERO, RELAY_IP])),
        "dst": draw(st.sampled_from([BCAST, SERVER_IP, GATEWAY])),
    }
    binding = draw(st.sampled_from(list(BINDINGS.values())))
    config = make_config(server_on_link=draw(st.booleans()))
    return fields, options, binding, config


def expected_outcome(fields: dict[str, Any], binding: Binding, server: str) -> str:
    """A small model of RFC 2131 4.3: the event handle() must report."""
    opts = {o[0]: o[1] for o in fields["options"]}
    mtype = fields["mtype"]
    if mtype == 1:
        return "offer"
    if mtype == 8:
        return "ack"
    if mtype == 4:
        return "decline"
    if mtype == 7:
        return "release"
    if mtype != 3:
        return "unexpected"
    ip = str(binding.ip)
    if "server_id" in opts and opts["server_id"] != server:
        return "other-server"
    if "requested_addr" in opts:  # SELECTING or INIT-REBOOT, whatever ciaddr holds
        asked = opts["requested_addr"]
    elif fields["ciaddr"] != ZERO:  # RENEWING or REBINDING, with or without server-id
        asked = fields["ciaddr"]
    else:
        return "malformed"
    return "ack" if asked == ip else "nak"


def renewal(fields: dict[str, Any]) -> bool:
    """A RENEWING or REBINDING request (RFC 2131 4.3.2): ciaddr and no option 50."""
    opts = {o[0]: o[1] for o in fields["options"]}
    return fields["ciaddr"] != ZERO and "requested_addr" not in opts


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exchanges())
def test_structured_requests(case: tuple[dict[str, Any], list[Any], Binding, Config]) -> None:
    """Random but well-formed requests: the model's outcome and a valid, well-addressed reply."""
    fields, options, binding, config = case
    request = {k: v for k, v in fields.items() if k != "mtype"}
    decision = ask(fields["mtype"], binding, config, **request)
    # server_on_link: GATEWAY, else SUBNET's first host (GRNET's get_addr_on_link).
    on_link = binding.gateway or (binding.subnet.network_address + 1 if binding.subnet else None)
    server = str(on_link) if config.server_on_link and on_link else SERVER_IP
    expected = expected_outcome(fields, binding, server)
    assert decision.event == expected, decision.reason
    if expected not in ("offer", "ack", "nak"):
        assert_silent(decision, expected)
        return
    opts = {o[0]: o[1] for o in options}
    nak = expected == "nak"
    inform = fields["mtype"] == 8
    renewing = renewal(fields) and fields["mtype"] == 3
    if nak and renewing and fields["giaddr"] == ZERO:
        # To ciaddr as well as broadcast (a renewing client may listen on ciaddr only).
        first, reply = (decode_frame(f.data) for f in decision.frames)
        assert (first.ip.dst, first.pkt.dst) == (fields["ciaddr"], VM_MAC_TEXT)
    else:
        reply = decode_reply(decision)
    assert reply.msg_type == {"offer": 2, "ack": 5, "nak": 6}[expected]
    assert reply.pkt.src == TAP_MAC_TEXT
    assert reply.ip.src == server and reply.option(54) == ip_bytes(server)
    assert reply.bootp.xid == fields["xid"]
    assert reply.bootp.chaddr[:6] == VM_MAC
    assert reply.bootp.giaddr == fields["giaddr"]
    assert reply.bootp.yiaddr == (ZERO if nak or inform else str(binding.ip))
    ciaddr = fields["ciaddr"] if reply.msg_type == 5 and (renewing or inform) else ZERO
    assert reply.bootp.ciaddr == ciaddr
    codes = all_codes(reply.options)
    assert len(codes) == len(set(codes))
    head = [53, 54, *([61] if "client_id" in opts else [])]
    if not (nak or inform):
        head += [51, 58, 59]
    assert codes[: len(head)] == head
    if nak:
        assert codes == [*head, 56]  # RFC 2132 9.9: the NAK says why
    if "client_id" in opts:
        assert reply.option(61) == opts["client_id"]
    # Addressing, RFC 2131 section 4.1.
    flags = fields["flags"] | (0x8000 if nak and fields["giaddr"] != ZERO else 0)
    assert reply.bootp.flags == flags
    if fields["giaddr"] != ZERO:
        assert (reply.ip.dst, reply.udp.dport, reply.pkt.dst) == (RELAY_IP, 67, VM_MAC_TEXT)
    elif nak or (ciaddr == ZERO and (fields["flags"] & 0x8000 or inform)):
        assert (reply.ip.dst, reply.udp.dport, reply.pkt.dst) == (BCAST, 68, BCAST_MAC)
    elif ciaddr != ZERO:
        assert (reply.ip.dst, reply.udp.dport, reply.pkt.dst) == (ciaddr, 68, VM_MAC_TEXT)
    else:
        assert (reply.ip.dst, reply.udp.dport, reply.pkt.dst) == (
            str(binding.ip),
            68,
            VM_MAC_TEXT,
        )
    # Size: option 57 when valid, else 576; never above the binding's MTU.
    max_size = opts.get("max_dhcp_size", 0)
    assert reply.size <= max(576, max_size)
    if binding.mtu is not None:
        assert reply.size <= max(binding.mtu, 576 if binding.mtu >= 576 else reply.size)
    # Requested options come right after the head, in the client's order.
    prl: Sequence[int] = opts.get("param_req_list", [])
    rest = codes[len(head) :]
    wanted = [c for c in dict.fromkeys(prl) if c in rest]
    assert rest[: len(wanted)] == wanted
