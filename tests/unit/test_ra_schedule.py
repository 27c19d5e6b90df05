"""RaScheduler and Advertiser: when unsolicited RAs are due, and one sent, with fakes."""

from __future__ import annotations

from collections import Counter

from nfdhcpd.core.decision import Frame, Inbound
from nfdhcpd.shell.ra import Advertiser, RaScheduler

from .conftest import TAP, TAP_MAC, grnet_binding, make_config


def test_first_round_at_once_then_every_jittered_period() -> None:
    jitters: list[tuple[float, float]] = []

    def jitter(low: float, high: float) -> float:
        jitters.append((low, high))
        return 1.1

    ra = RaScheduler(300, enabled=True, jitter=jitter)
    assert ra.deadline() == 0.0
    assert ra.due(5.0)
    assert ra.deadline() == 5.0 + 330.0
    assert jitters == [(0.9, 1.1)]  # RFC 4861 6.2.1: uniformly within +-10%
    assert not ra.due(334.9)
    assert ra.due(335.0)


def test_disabled_has_no_deadline_and_is_never_due() -> None:
    ra = RaScheduler(300, enabled=False)
    assert ra.deadline() is None
    assert not ra.due(1e9)


class FakeLinks:
    def __init__(self, macs: dict[str, bytes]) -> None:
        self.macs = macs

    def mac_of(self, name: str) -> bytes | None:
        return self.macs.get(name)


class FakeSender:
    def __init__(self, error: OSError | None = None) -> None:
        self.sent: list[Frame] = []
        self.error = error

    def send(self, frame: Frame) -> None:
        if self.error:
            raise self.error
        self.sent.append(frame)


class FakeTrace:
    def __init__(self) -> None:
        self.frames: list[Frame] = []

    def record(self, inbound: Inbound | None, frames: tuple[Frame, ...]) -> None:
        assert inbound is None
        self.frames += frames


def test_advertiser_sends_counts_and_traces() -> None:
    sender, counters = FakeSender(), Counter[str]()
    advertiser = Advertiser(FakeLinks({TAP: TAP_MAC}), sender, counters)
    trace = advertiser.trace = FakeTrace()
    advertiser.send(grnet_binding(), make_config())
    assert [f.ifname for f in sender.sent] == [TAP]
    assert sender.sent[0].data[12:14] == b"\x86\xdd"  # IPv6
    assert trace.frames == sender.sent
    assert counters == Counter({"ra-periodic": 1})


def test_advertiser_skips_absent_interfaces_and_ipv4_only_bindings() -> None:
    sender, counters = FakeSender(), Counter[str]()
    advertiser = Advertiser(FakeLinks({}), sender, counters)
    advertiser.send(grnet_binding(), make_config())
    Advertiser(FakeLinks({TAP: TAP_MAC}), sender, counters).send(
        grnet_binding(subnet6=None), make_config()
    )
    assert sender.sent == [] and counters == Counter()


def test_advertiser_send_error_is_counted() -> None:
    counters = Counter[str]()
    advertiser = Advertiser(FakeLinks({TAP: TAP_MAC}), FakeSender(OSError(6, "gone")), counters)
    advertiser.send(grnet_binding(), make_config())
    assert counters == Counter({"send-error": 1})
