"""Event: every member has an outcome and a log level; the replay flag on Decision;
an unknown interface MAC is the same refusal whatever the protocol."""

from __future__ import annotations

import logging

import pytest
from scapy.layers.dhcp6 import DHCP6_Solicit, DHCP6OptClientId

from nfdhcpd.core.events import Event, Level, Outcome
from nfdhcpd.shell.packet_path import QUIET_EVENTS, WARN_EVENTS

from ..helpers.builders import (
    client_duid,
    dhcp6_request,
    dhcp_request,
    inbound,
    ns_request,
    rs_request,
    run,
)
from ..helpers.samples import (
    DHCP6_QUEUE,
    GATEWAY6,
    NS_QUEUE,
    QUEUE,
    RS_QUEUE,
    TAP,
    V6_CONFIG,
    grnet_with,
    table_of,
)


def test_every_event_has_an_outcome_and_its_name() -> None:
    for event in Event:
        assert isinstance(event.outcome, Outcome)
        assert event == event.value and f"{event}" == event.value  # counters, logs, JSON


def test_levels_are_the_logging_modules() -> None:
    assert (Level.DEBUG, Level.INFO, Level.WARNING) == (
        logging.DEBUG,
        logging.INFO,
        logging.WARNING,
    )


def test_the_log_policy() -> None:
    quiet = {e for e in Event if e.level == Level.DEBUG}
    assert quiet == {
        *(Event.NO_BINDING, Event.NO_SUBNET6, Event.UNKNOWN_QUEUE, Event.NS_OWN, Event.NS_OTHER)
    }
    assert quiet == {e for e in Event if e.outcome is Outcome.PASS} == QUIET_EVENTS
    assert {
        *(Event.DECLINE, Event.MAC_MISMATCH, Event.INDEV_MISMATCH, Event.MALFORMED, Event.ERROR)
    } == WARN_EVENTS
    assert Event.OFFER.level == Level.INFO and Event.MALFORMED.level == Level.WARNING
    assert {e for e in Event if e.unbound} == {Event.NO_BINDING, Event.UNKNOWN_QUEUE}


def test_an_unbound_request_is_marked_for_replay_except_an_ns() -> None:
    dhcp = run(inbound(dhcp_request("discover"), queue=QUEUE), table_of())
    assert dhcp.event is Event.NO_BINDING and dhcp.replay
    ns = run(inbound(ns_request(GATEWAY6), queue=NS_QUEUE), table_of(), V6_CONFIG)
    assert ns.event is Event.NO_BINDING and not ns.replay
    rs = run(inbound(rs_request(), queue=RS_QUEUE), table_of(), V6_CONFIG)
    assert rs.event is Event.NO_BINDING and rs.replay
    bound = run(inbound(dhcp_request("discover"), queue=QUEUE))
    assert bound.event is Event.OFFER and not bound.replay


@pytest.mark.parametrize(
    ("payload", "queue"),
    [
        (dhcp_request("discover"), QUEUE),
        (rs_request(), RS_QUEUE),
        (ns_request(GATEWAY6), NS_QUEUE),
        (dhcp6_request(DHCP6_Solicit(), DHCP6OptClientId(duid=client_duid())), DHCP6_QUEUE),
    ],
    ids=["dhcp4", "rs", "ns", "dhcp6"],
)
def test_an_unknown_interface_mac_is_the_same_refusal_in_every_protocol(
    payload: bytes, queue: int
) -> None:
    decision = run(inbound(payload, queue=queue, ifmac=None), table_of(grnet_with("")), V6_CONFIG)
    assert (decision.event, decision.frames) == (Event.NO_IFMAC, ())
    assert decision.event.outcome is Outcome.DROP
    assert decision.reason.startswith(f"{TAP}: ") and decision.reason.endswith(
        f"MAC of {TAP} unknown"
    )
