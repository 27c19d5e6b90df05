"""Fuzzing every handler: whatever a VM sends, `handle` returns exactly one Decision.

Two layers are fuzzed, on all four queues (DHCPv4, RS, NS, DHCPv6) plus a queue that
is not ours:

- `responder.handle` with arbitrary bytes and with structure-aware mutations of valid
  requests built by scapy (bit flips, byte changes, truncation, extension, insertion,
  deletion, and protocol options inserted where options go), each mutation applied
  either to the whole IP packet or to the protocol message re-wrapped in IP/UDP/ICMPv6
  headers whose lengths are fixed up, so the mutation gets past the outer parsers.
  Each case runs for a bound VM with the right MAC (several bindings, routed and
  bridged, with and without the interface MAC), with a wrong or unknown MAC, and on a
  TAP without binding. The decision must be a `Decision` with a `Verdict`, ACCEPTed
  packets carry no frames, the refusals are the contract's, and every frame we would
  inject is a well-formed Ethernet/IP frame on the TAP the request came from, from
  the MAC we answer from, with correct lengths and checksums.
- The parsers below it (`frames`, `dhcp4.parse_dhcp`, `ndp.parse_rs/parse_ns`,
  `dhcp6.parse_dhcp6` and the DHCPv6 option helpers) return or raise
  `MalformedPacket`, nothing else.

The seeds, scenarios, mutation operators and invariant check live in
tests/helpers/fuzz.py, which `benchmarks/fuzz_long.py` drives for a million cases.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nfdhcpd.core import dhcp4, dhcp6, frames, ndp
from nfdhcpd.core.config import Config
from nfdhcpd.core.errors import MalformedPacket
from nfdhcpd.core.events import Event
from nfdhcpd.core.frames import Ip6
from nfdhcpd.core.responder import Verdict, handle

from ..helpers.fuzz import (
    CONFIG,
    CONFIGS,
    FUZZ,
    PARSE,
    QUEUES,
    SCENARIOS,
    SEEDS,
    UNKNOWN_QUEUE,
    Scenario,
    Seed,
    check_decision,
    configs,
    handle_checked,
    mutated_cases,
    rewrap,
    scenarios,
)

# --- the seeds themselves -----------------------------------------------------------


#: What the GRNET sample binding gets for each seed; anything not listed is answered.
SEED_EVENTS = {
    "decline": "decline",
    "release": "release",
    "ns-own": "ns-own",
    "ns-dad": "ns-own",
    "v6-decline": "decline",
}


@pytest.mark.parametrize("seed", SEEDS, ids=[s.name for s in SEEDS])
def test_every_seed_is_served(seed: Seed) -> None:
    """The seeds are valid requests: mutations start from something the handler serves
    (or, for NS about the VM's own address, deliberately lets through)."""
    scenario = SCENARIOS[0]
    assert rewrap(seed, seed.message) == seed.packet, "rewrap must be the identity on seeds"
    decision = handle_checked(scenario, QUEUES[seed.kind], seed.packet, CONFIG, scapy=True)
    expected = SEED_EVENTS.get(seed.name)
    if expected is not None:
        assert decision.event == expected, decision
    else:
        assert decision.verdict is Verdict.DROP and len(decision.frames) == 1, decision
        assert decision.event not in ("malformed", "other-server", "unexpected"), decision


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenarios_on_every_seed(scenario: Scenario) -> None:
    for config in CONFIGS:
        for seed in SEEDS:
            handle_checked(scenario, QUEUES[seed.kind], seed.packet, config)
            handle_checked(scenario, UNKNOWN_QUEUE, seed.packet, config)


def test_the_invariants_can_fail() -> None:
    """check_decision rejects a frame on the wrong TAP, an answered ACCEPT, a bad
    checksum and an exception-free but wrong refusal."""
    scenario = SCENARIOS[0]
    seed = SEEDS[0]
    packet = scenario.inbound(QUEUES["dhcp4"], seed.packet)
    good = handle(packet, scenario.table, CONFIG)
    assert good.frames
    frame = good.frames[0]
    broken = [
        good._replace(frames=(frame._replace(ifname="tap99"),)),
        good._replace(verdict=Verdict.ACCEPT),
        good._replace(frames=(frame._replace(data=frame.data[:-1] + b"\x01"),)),
        good._replace(event=Event.NO_BINDING),
        "not a decision",
    ]
    for decision in broken:
        with pytest.raises(AssertionError):
            check_decision(packet, scenario, decision)


# --- handle() ----------------------------------------------------------------------


@FUZZ
@given(
    st.sampled_from([*QUEUES.values(), UNKNOWN_QUEUE]), scenarios, configs, st.binary(max_size=700)
)
def test_handle_arbitrary_bytes(
    queue: int, scenario: Scenario, config: Config, data: bytes
) -> None:
    handle_checked(scenario, queue, data, config, scapy=True)


@FUZZ
@given(mutated_cases(), scenarios, configs)
def test_handle_mutated_requests(
    case: tuple[Seed, bytes], scenario: Scenario, config: Config
) -> None:
    seed, payload = case
    handle_checked(scenario, QUEUES[seed.kind], payload, config, scapy=True)


@settings(max_examples=300, deadline=None)
@given(mutated_cases(), configs)
def test_mutated_requests_on_the_wrong_queue(case: tuple[Seed, bytes], config: Config) -> None:
    """A DHCPv4 request on the RS queue (and so on) is bad input, not a crash."""
    seed, payload = case
    for kind, queue in QUEUES.items():
        if kind != seed.kind:
            handle_checked(SCENARIOS[0], queue, payload, config, scapy=True)


# --- the parsers below it ----------------------------------------------------------


def only_malformed(parse: Callable[..., Any], *args: Any) -> Any:
    """Call a parser: it returns, or raises MalformedPacket, and nothing else."""
    try:
        return parse(*args)
    except MalformedPacket as exc:
        assert isinstance(exc.field, str) and isinstance(exc.offset, int)
        return None


def parse_all(payload: bytes) -> None:
    """Every parser on `payload`, and on what the outer parsers let through."""
    udp4 = only_malformed(frames.parse_udp4, payload)
    if udp4 is not None:
        assert isinstance(udp4, frames.Udp4)
        only_malformed(dhcp4.parse_dhcp, udp4.payload)
    only_malformed(dhcp4.parse_dhcp, payload)
    only_malformed(dhcp6.parse_dhcp6, payload)
    ip6 = only_malformed(frames.parse_ipv6, payload)
    if ip6 is not None:
        parse_ip6(ip6)


def parse_ip6(ip6: Ip6) -> None:
    only_malformed(ndp.parse_rs, ip6)
    only_malformed(ndp.parse_ns, ip6)
    udp6 = only_malformed(frames.parse_udp6, ip6)
    if udp6 is not None:
        message = only_malformed(dhcp6.parse_dhcp6, udp6[2])
        if message is not None:
            only_malformed(dhcp6.requested, message)
            for value in message.options.get(dhcp6.Option.IA_NA, []):
                only_malformed(dhcp6.parse_ia_na, value)


@PARSE
@given(st.binary(max_size=700))
def test_parsers_arbitrary_bytes(data: bytes) -> None:
    parse_all(data)


@PARSE
@given(mutated_cases())
def test_parsers_mutated_requests(case: tuple[Seed, bytes]) -> None:
    parse_all(case[1])


ip6_packets = st.builds(
    Ip6,
    src=st.sampled_from([bytes(16), bytes.fromhex("fe80" + "00" * 6 + "a86b39fffe223344")])
    | st.binary(min_size=16, max_size=16),
    dst=st.binary(min_size=16, max_size=16),
    next_header=st.sampled_from([17, 58]) | st.integers(0, 255),
    hop_limit=st.sampled_from([255]) | st.integers(0, 255),
    payload=st.binary(max_size=300),
)


@PARSE
@given(ip6_packets)
def test_ipv6_parsers_arbitrary_headers(ip6: Ip6) -> None:
    parse_ip6(ip6)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_dhcp6_option_helpers(data: bytes) -> None:
    only_malformed(dhcp6.parse_ia_na, data)
    only_malformed(dhcp6.pull_options, data, 4)
    message = dhcp6.Dhcp6Message(11, b"\0\0\0", {dhcp6.Option.ORO: [data]})
    only_malformed(dhcp6.requested, message)


def test_only_malformed_can_fail() -> None:
    def crash(_: bytes) -> None:
        raise IndexError("boom")

    with pytest.raises(IndexError):
        only_malformed(crash, b"")
