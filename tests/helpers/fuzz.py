"""The fuzzing kit of tests/unit/test_fuzz_handlers.py and benchmarks/fuzz_long.py:
valid seed requests of every kind built by scapy, the scenarios (binding table,
ingress, MACs) a packet arrives in, the mutation operators and hypothesis strategies,
and the invariants every decision must keep (`check_decision`)."""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from scapy.layers.dhcp6 import (
    DHCP6_Confirm,
    DHCP6_Decline,
    DHCP6_InfoRequest,
    DHCP6_Rebind,
    DHCP6_Release,
    DHCP6_Renew,
    DHCP6_Request,
    DHCP6_Solicit,
    DHCP6OptClientId,
    DHCP6OptElapsedTime,
    DHCP6OptIA_NA,
    DHCP6OptIAAddress,
    DHCP6OptOptReq,
    DHCP6OptRapidCommit,
)
from scapy.packet import Packet, Raw

from nfdhcpd.core import dhcp6
from nfdhcpd.core.binding import Binding, BindingTable
from nfdhcpd.core.config import Config
from nfdhcpd.core.responder import Decision, Inbound, Verdict, handle

from .builders import client_duid, dad_request, dhcp6_request, dhcp_request, ns_request, rs_request
from .decode import decode_frame, decode_frame6
from .samples import (
    DHCP6_QUEUE,
    GATEWAY6,
    NS_QUEUE,
    OTHER6,
    OTHER_MAC,
    QUEUE,
    RELAY_IP,
    RS_QUEUE,
    SERVER_DUID,
    SERVER_IP,
    TAP,
    TAP_LL,
    TAP_MAC,
    UNSPEC6,
    V6_CONFIG,
    VM_EUI64,
    VM_IP,
    VM_LL,
    VM_MAC,
    grnet_binding,
    grnet_with,
    load_fixture,
    table_of,
)

BRIDGE = "br0"
UNKNOWN_QUEUE = 7
CONFIG = V6_CONFIG

# --- seeds: valid requests of every kind, built by scapy -----------------------------


@dataclass(frozen=True)
class Seed:
    """A valid request: `header` + `message` is the IP packet NFQUEUE hands over.

    `message` is the protocol layer (BOOTP, ICMPv6 or DHCPv6 message); `options_at`
    is where its options start, for the option-inserting mutation.
    """

    name: str
    kind: str  # "dhcp4", "rs", "ns" or "dhcp6": the queue it is sent to
    header: bytes
    message: bytes
    options_at: int

    @property
    def packet(self) -> bytes:
        return self.header + self.message


def _ones_complement(data: bytes) -> int:
    """RFC 1071 sum, word by word (deliberately not `nfdhcpd.core.wire.checksum`)."""
    if len(data) % 2:
        data += b"\0"
    total = int(sum(struct.unpack(f"!{len(data) // 2}H", data)))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def rewrap(seed: Seed, message: bytes) -> bytes:
    """`message` behind the seed's IP (and UDP) header, lengths and IP checksum fixed."""
    header = bytearray(seed.header)
    if seed.kind == "dhcp4":
        ihl = (header[0] & 0x0F) * 4
        struct.pack_into("!H", header, 2, len(header) + len(message))
        struct.pack_into("!H", header, 10, 0)
        struct.pack_into("!H", header, 10, ~_ones_complement(bytes(header[:ihl])) & 0xFFFF)
        struct.pack_into("!HH", header, ihl + 4, 8 + len(message), 0)  # UDP csum 0: none
    else:
        struct.pack_into("!H", header, 4, len(header) - 40 + len(message))
        if seed.kind == "dhcp6":
            struct.pack_into("!H", header, 44, 8 + len(message))
    return bytes(header + message)


def _v4(name: str, packet: bytes) -> Seed:
    ihl = (packet[0] & 0x0F) * 4
    header = packet[: ihl + 6] + b"\0\0"  # UDP checksum 0: none (RFC 768), as rewrap sends
    return Seed(name, "dhcp4", header, packet[ihl + 8 :], 240)


def _nd(name: str, packet: bytes) -> Seed:
    kind = "rs" if packet[40] == 133 else "ns"
    return Seed(name, kind, packet[:40], packet[40:], 8 if kind == "rs" else 24)


def _v6(name: str, message: Packet, *options: Packet, src: str = VM_LL) -> Seed:
    data = dhcp6_request(message, *options, src=src)
    return Seed(f"v6-{name}", "dhcp6", data[:48], data[48:], 4)


def _dhcp4_seeds() -> list[Seed]:
    prl = ("param_req_list", [1, 3, 6, 12, 15, 26, 28, 42, 119, 121])
    client_id = ("client_id", b"\x01" + VM_MAC)
    seeds = [
        _v4("discover", dhcp_request("discover", options=[prl, ("max_dhcp_size", 1500)])),
        _v4(
            "request-selecting",
            dhcp_request(
                "request",
                options=[("server_id", SERVER_IP), ("requested_addr", VM_IP), prl, client_id],
            ),
        ),
        _v4("request-renewing", dhcp_request("request", ciaddr=VM_IP, src=VM_IP, dst=SERVER_IP)),
        _v4(
            "request-relayed",
            dhcp_request("request", giaddr=RELAY_IP, options=[("requested_addr", VM_IP), prl]),
        ),
        _v4("inform", dhcp_request("inform", ciaddr=VM_IP, options=[client_id, prl])),
        _v4("decline", dhcp_request("decline", options=[("requested_addr", VM_IP)])),
        _v4("release", dhcp_request("release", ciaddr=VM_IP)),
        _v4(
            "overload",
            dhcp_request("discover", options=[("dhcp-option-overload", 3), prl]),
        ),
    ]
    seeds.append(_v4("dhclient", load_fixture("dhclient-request-init-reboot.hex").payload))
    seeds.append(_v4("dhcpcd", load_fixture("dhcpcd-discover.hex").payload))
    return seeds


def _nd_seeds() -> list[Seed]:
    return [
        _nd("rs", rs_request()),
        _nd("rs-unspecified", rs_request(src=UNSPEC6, slla=None)),
        _nd("ns-gateway", ns_request(GATEWAY6)),
        _nd("ns-router-ll", ns_request(TAP_LL, dst=TAP_LL)),
        _nd("ns-proxy", ns_request(OTHER6)),
        _nd("ns-own", ns_request(VM_EUI64)),
        _nd("ns-dad", dad_request(VM_EUI64)),
        _nd("ns-dad-gateway", dad_request(GATEWAY6)),
    ]


def _dhcp6_seeds() -> list[Seed]:
    cid = DHCP6OptClientId(duid=client_duid())
    sid = Raw(dhcp6.encode_option(dhcp6.Option.SERVERID, SERVER_DUID))
    oro = DHCP6OptOptReq(reqopts=[23, 24])
    elapsed = DHCP6OptElapsedTime()
    ia = DHCP6OptIA_NA(iaid=0x01020304, ianaopts=[DHCP6OptIAAddress(addr=VM_EUI64)])
    ia_other = DHCP6OptIA_NA(iaid=7, ianaopts=[DHCP6OptIAAddress(addr=OTHER6)])
    return [
        _v6("solicit", DHCP6_Solicit(trid=0x123456), cid, elapsed, oro, DHCP6OptIA_NA(iaid=1)),
        _v6("solicit-rapid", DHCP6_Solicit(), cid, DHCP6OptRapidCommit(), ia, oro),
        _v6("request", DHCP6_Request(), cid, sid, ia, oro),
        _v6("renew", DHCP6_Renew(), cid, sid, ia, ia_other),
        _v6("rebind", DHCP6_Rebind(), cid, ia),
        _v6("confirm", DHCP6_Confirm(), cid, ia),
        _v6("release", DHCP6_Release(), cid, sid, ia),
        _v6("decline", DHCP6_Decline(), cid, sid, ia),
        _v6("information-request", DHCP6_InfoRequest(), cid, oro),
        _v6("information-request-bare", DHCP6_InfoRequest(), elapsed, src=VM_EUI64),
    ]


SEEDS: tuple[Seed, ...] = (*_dhcp4_seeds(), *_nd_seeds(), *_dhcp6_seeds())
KINDS = ("dhcp4", "rs", "ns", "dhcp6")
QUEUES = {"dhcp4": QUEUE, "rs": RS_QUEUE, "ns": NS_QUEUE, "dhcp6": DHCP6_QUEUE}

# --- who sends it --------------------------------------------------------------------

RICH = """\
IP6=2001:db8:aaaa:bbbb::100
DNS6=2001:db8::53
SEARCH='a.example b.example'
MTU=1400
ROUTES='10.1.0.0/16 via 192.0.2.254'
DNS=192.0.2.53
NTP=192.0.2.123
"""
BINDINGS: dict[str, Binding] = {
    "grnet": grnet_binding(),
    "rich": grnet_with(RICH),
    "private": grnet_with("PRIVATE=yes\nGATEWAY=10.0.0.1\n"),
    "prefix56": grnet_with("SUBNET6=2001:db8:aaaa:bb00::/56\nEUI64=\n"),
    "v4-only": grnet_with("SUBNET6=\nEUI64=\nGATEWAY6=\nMACSPOOF=yes\n"),
    "bridged": grnet_with(f"INDEV={BRIDGE}\n"),
}


@dataclass(frozen=True)
class Scenario:
    """Which binding table, ingress and MACs the packet arrives with, and what the
    contract says must happen before any parsing (None: the handler decides)."""

    name: str
    table: BindingTable
    indev: str = TAP
    physindev: str | None = None
    hwsrc: bytes | None = VM_MAC
    ifmac: bytes | None = TAP_MAC
    expect: tuple[Verdict, str] | None = None

    def inbound(self, queue: int, payload: bytes) -> Inbound:
        return Inbound(queue, self.indev, self.physindev, self.hwsrc, self.ifmac, payload)


SCENARIOS: tuple[Scenario, ...] = (
    *(Scenario(f"bound-{n}", table_of(b)) for n, b in BINDINGS.items() if n != "bridged"),
    Scenario("bound-bridged", table_of(BINDINGS["bridged"]), indev=BRIDGE, physindev=TAP),
    Scenario("bound-no-ifmac", table_of(BINDINGS["grnet"]), ifmac=None),
    Scenario(
        "wrong-mac",
        table_of(BINDINGS["grnet"]),
        hwsrc=OTHER_MAC,
        expect=(Verdict.DROP, "mac-mismatch"),
    ),
    Scenario(
        "unknown-mac",
        table_of(BINDINGS["grnet"]),
        hwsrc=None,
        expect=(Verdict.DROP, "mac-mismatch"),
    ),
    Scenario(
        "wrong-indev",
        table_of(BINDINGS["grnet"]),
        indev=BRIDGE,
        physindev=TAP,
        expect=(Verdict.DROP, "indev-mismatch"),
    ),
    Scenario(
        "unbound-tap",
        table_of(BINDINGS["grnet"]),
        indev="tap99",
        expect=(Verdict.ACCEPT, "no-binding"),
    ),
)
CONFIGS: tuple[Config, ...] = (
    CONFIG,
    dataclasses.replace(CONFIG, mode="dhcpv6", server_on_link=True),
    dataclasses.replace(CONFIG, mode="slaac", nameservers6=(), domains6=()),
)

# --- the invariants ---------------------------------------------------------------


def _check_frame(packet: Inbound, data: bytes) -> None:
    assert len(data) >= 14 + 20, "frame shorter than Ethernet + IP"
    assert packet.ifmac is not None, "answered without knowing the MAC to answer from"
    assert data[6:12] == packet.ifmac, "reply not sent from the TAP's (or bridge's) MAC"
    ethertype = int.from_bytes(data[12:14], "big")
    ip = data[14:]
    if ethertype == 0x0800:
        assert packet.queue == CONFIG.dhcp_queue
        assert ip[0] == 0x45 and int.from_bytes(ip[2:4], "big") == len(ip), "IPv4 length"
        assert _ones_complement(ip[:20]) == 0xFFFF, "IPv4 header checksum"
        assert ip[9] == 17 and int.from_bytes(ip[24:26], "big") == len(ip) - 20, "UDP length"
        if ip[26:28] != b"\0\0":
            pseudo = ip[12:20] + struct.pack("!xBH", 17, len(ip) - 20)
            assert _ones_complement(pseudo + ip[20:]) == 0xFFFF, "UDP checksum"
    else:
        assert ethertype == 0x86DD, f"ethertype {ethertype:#x}"
        assert packet.queue in (CONFIG.rs_queue, CONFIG.ns_queue, CONFIG.dhcpv6_queue)
        assert ip[0] >> 4 == 6 and int.from_bytes(ip[4:6], "big") == len(ip) - 40, "IPv6 length"
        proto = ip[6]
        assert proto in (17, 58), f"next header {proto}"
        pseudo = ip[8:40] + struct.pack("!I3xB", len(ip) - 40, proto)
        assert _ones_complement(pseudo + ip[40:]) == 0xFFFF, "ICMPv6/UDP checksum"
        if proto == 58:
            assert ip[7] == 255, "ND messages go out with hop limit 255"


def check_decision(packet: Inbound, scenario: Scenario, decision: object) -> Decision:
    """Every invariant a decision must keep; returns it for further checks."""
    assert isinstance(decision, Decision), decision
    assert isinstance(decision.verdict, Verdict)
    assert decision.event and isinstance(decision.event, str)
    assert isinstance(decision.reason, str)
    assert isinstance(decision.frames, tuple)
    if packet.queue not in QUEUES.values():
        assert (decision.verdict, decision.event) == (Verdict.ACCEPT, "unknown-queue")
    elif scenario.expect is not None:
        assert (decision.verdict, decision.event) == scenario.expect, decision
    else:
        assert decision.event not in ("no-binding", "unknown-queue", "mac-mismatch"), decision
        assert decision.event != "indev-mismatch", decision
    if decision.verdict is Verdict.ACCEPT:
        assert decision.frames == (), "an ACCEPTed packet goes on; we must not answer it too"
    for frame in decision.frames:
        assert frame.ifname == packet.tap, "reply on another interface than the request's"
        _check_frame(packet, frame.data)
    return decision


def handle_checked(
    scenario: Scenario, queue: int, payload: bytes, config: Config, *, scapy: bool = False
) -> Decision:
    """`handle` and the invariants; with `scapy`, every frame is also decoded by scapy
    (tests/helpers/decode.py's `decode_frame`/`decode_frame6`: too slow for the long run)."""
    packet = scenario.inbound(queue, payload)
    decision = check_decision(packet, scenario, handle(packet, scenario.table, config))
    if scapy:
        for frame in decision.frames:
            if frame.data[12:14] == b"\x08\x00":
                decode_frame(frame.data)
            else:
                decode_frame6(frame.data)
    return decision


# --- mutations ----------------------------------------------------------------------

#: A mutation: (operator, position, value). Positions are taken modulo the length.
Mutation = tuple[str, int, bytes]
OPERATORS = ("flip", "set", "truncate", "extend", "insert", "delete", "option")


def mutate(data: bytes, mutations: Sequence[Mutation], options_at: int) -> bytes:
    """Apply `mutations` in order; `option` inserts its value where options start."""
    out = bytearray(data)
    for op, pos, value in mutations:
        at = pos % (len(out) + 1)
        if op == "flip" and out:
            out[at % len(out)] ^= 1 << (pos % 8)
        elif op == "set" and out and value:
            out[at % len(out)] = value[0]
        elif op == "truncate":
            del out[at:]
        elif op == "extend":
            out += value
        elif op == "insert":
            out[at:at] = value
        elif op == "delete":
            del out[at : at + 1 + pos % 16]
        elif op == "option":
            start = min(options_at, len(out))
            out[start:start] = value
    return bytes(out)


def build_case(seed: Seed, mutations: Sequence[Mutation], whole: bool) -> bytes:
    """Mutate the whole packet, or the message and re-wrap it with fixed lengths."""
    if whole:
        return mutate(seed.packet, mutations, len(seed.header) + seed.options_at)
    return rewrap(seed, mutate(seed.message, mutations, seed.options_at))


DHCP4_CODES = [0, 1, 3, 6, 12, 50, 51, 52, 53, 54, 55, 57, 61, 119, 121, 255]
DHCP6_CODES = [1, 2, 3, 5, 6, 7, 8, 13, 14, 23, 24]
ND_TYPES = [1, 2, 3, 5, 25, 31]


def dhcp4_option(code: int, value: bytes, length: int | None = None) -> bytes:
    return bytes((code, len(value) if length is None else length)) + value


def nd_option(kind: int, body: bytes, units: int | None = None) -> bytes:
    body += bytes(-(len(body) + 2) % 8)
    return bytes((kind, (len(body) + 2) // 8 if units is None else units)) + body


def dhcp6_option(code: int, value: bytes, length: int | None = None) -> bytes:
    return struct.pack("!HH", code, len(value) if length is None else length) + value


def ia_na(iaid: bytes, addresses: Sequence[bytes], extra: bytes = b"") -> bytes:
    """An IA_NA option (RFC 8415 21.4) around raw IAADDR bodies."""
    inner = b"".join(dhcp6_option(5, a) for a in addresses) + extra
    return dhcp6_option(3, iaid + bytes(8) + inner)


# --- hypothesis strategies ----------------------------------------------------------

lengths = st.none() | st.integers(0, 255)


def option_strategy(kind: str) -> st.SearchStrategy[bytes]:
    """Protocol options: well-formed with random content, or with a lying length."""
    if kind == "dhcp4":
        return st.builds(
            dhcp4_option,
            st.sampled_from(DHCP4_CODES) | st.integers(0, 255),
            st.binary(max_size=40),
            lengths,
        )
    if kind in ("rs", "ns"):
        return st.builds(
            nd_option,
            st.sampled_from(ND_TYPES) | st.integers(0, 255),
            st.binary(max_size=40),
            st.none() | st.integers(0, 8),
        )
    return st.one_of(
        st.builds(
            dhcp6_option,
            st.sampled_from(DHCP6_CODES) | st.integers(0, 0xFFFF),
            st.binary(max_size=40),
            st.none() | st.integers(0, 0xFFFF),
        ),
        st.builds(
            ia_na,
            st.binary(min_size=4, max_size=4),
            st.lists(st.binary(max_size=30), max_size=3),
            st.binary(max_size=8),
        ),
    )


@st.composite
def mutation_lists(draw: st.DrawFn, kind: str) -> list[Mutation]:
    mutations = []
    for _ in range(draw(st.integers(1, 5))):
        op = draw(st.sampled_from(OPERATORS))
        pos = draw(st.integers(0, 2000))
        if op == "option":
            value = draw(option_strategy(kind))
        elif op in ("extend", "insert"):
            value = draw(st.binary(min_size=1, max_size=24))
        else:
            value = draw(st.binary(min_size=1, max_size=1))
        mutations.append((op, pos, value))
    return mutations


@st.composite
def mutated_cases(draw: st.DrawFn) -> tuple[Seed, bytes]:
    seed = draw(st.sampled_from(SEEDS))
    payload = build_case(seed, draw(mutation_lists(seed.kind)), draw(st.booleans()))
    return seed, payload


scenarios = st.sampled_from(SCENARIOS)
configs = st.sampled_from(CONFIGS)
FUZZ = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PARSE = settings(max_examples=500, deadline=None)
