"""RaScheduler and Advertiser: when unsolicited RAs are due, and one sent, with fakes."""

from __future__ import annotations

from collections import Counter
from ipaddress import IPv6Network

from scapy.layers.inet6 import ICMPv6ND_RA, ICMPv6NDOptPrefixInfo
from scapy.layers.l2 import Ether

from nfdhcpd.core.decision import Frame, Inbound
from nfdhcpd.core.events import Event
from nfdhcpd.core.reply6 import unsolicited_ra
from nfdhcpd.shell.ra import Advertiser, MulticastRas, RaScheduler, Renumbering, is_multicast_ra

from ..helpers.samples import TAP, TAP_MAC, grnet_binding, make_config, table_of


def test_first_round_at_once_then_every_jittered_period() -> None:
    jitters: list[tuple[float, float]] = []

    def jitter(low: float, high: float) -> float:
        jitters.append((low, high))
        return 1.1

    ra = RaScheduler(300, enabled=True, jitter=jitter)
    assert ra.deadline() == 0.0
    assert ra.due(5.0)
    assert ra.deadline() == 5.0 + 330.0
    # RFC 4861 6.2.1: uniformly between MinRtrAdvInterval (0.75 x) and Max (ra_period):
    # the interval never exceeds ra_period (it was 0.9 to 1.1 x, past 1800 s at 1800).
    assert jitters == [(0.75, 1.0)]
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
    sender, counters = FakeSender(), Counter[Event]()
    advertiser = Advertiser(FakeLinks({TAP: TAP_MAC}), sender, counters)
    trace = advertiser.trace = FakeTrace()
    advertiser.send(grnet_binding(), make_config())
    assert [f.ifname for f in sender.sent] == [TAP]
    assert sender.sent[0].data[12:14] == b"\x86\xdd"  # IPv6
    assert trace.frames == sender.sent
    assert counters == Counter({Event.RA_PERIODIC: 1})


def test_advertiser_skips_absent_interfaces_and_ipv4_only_bindings() -> None:
    sender, counters = FakeSender(), Counter[Event]()
    advertiser = Advertiser(FakeLinks({}), sender, counters)
    advertiser.send(grnet_binding(), make_config())
    Advertiser(FakeLinks({TAP: TAP_MAC}), sender, counters).send(
        grnet_binding(subnet6=None), make_config()
    )
    assert sender.sent == [] and counters == Counter()


def test_advertiser_send_error_is_counted() -> None:
    counters = Counter[Event]()
    advertiser = Advertiser(FakeLinks({TAP: TAP_MAC}), FakeSender(OSError(6, "gone")), counters)
    advertiser.send(grnet_binding(), make_config())
    assert counters == Counter({Event.SEND_ERROR: 1})


def multicast_ra(tap: str = TAP) -> Frame:
    frame = unsolicited_ra(grnet_binding(name=tap), make_config(), TAP_MAC)
    assert frame is not None
    return frame


def test_solicited_multicast_ra_waits_a_random_delay_up_to_500_ms() -> None:
    """RFC 4861 6.2.6: delayed by a random 0..MAX_RA_DELAY_TIME."""
    asked: list[tuple[float, float]] = []

    def delay(low: float, high: float) -> float:
        asked.append((low, high))
        return 0.2

    ras = MulticastRas(delay)
    frame = multicast_ra()
    ras.hold(frame, 10.0)
    assert asked == [(0.0, 0.5)]
    assert ras.deadline() == 10.2
    assert ras.due(10.1) == []
    assert ras.due(10.2) == [frame]
    assert ras.deadline() is None


def test_one_multicast_ra_per_min_delay_between_ras() -> None:
    """RFC 4861 6.2.6: no two multicast RAs on a TAP within 3 s; solicitations
    meanwhile share the one held; another TAP is not held back."""
    ras = MulticastRas(lambda low, high: 0.0)
    first, other = multicast_ra(), multicast_ra("tap11")
    ras.hold(first, 0.0)
    assert ras.due(0.0) == [first]
    ras.hold(first, 0.5)
    ras.hold(first, 1.0)  # shares the one held
    ras.hold(other, 1.0)
    assert ras.due(1.0) == [other]
    assert ras.deadline() == 3.0
    assert ras.due(2.9) == []
    assert ras.due(3.0) == [first]
    ras.sent(TAP, 10.0)  # a periodic RA
    ras.hold(first, 11.0)
    assert ras.deadline() == 13.0


def test_is_multicast_ra() -> None:
    assert is_multicast_ra(multicast_ra())
    unicast_l2 = multicast_ra().data
    assert is_multicast_ra(Frame(TAP, bytes(6) + unicast_l2[6:]))  # solicited, to ff02::1
    to_the_vm = bytearray(unicast_l2)
    to_the_vm[38] = 0xFE  # fe02::1: not all nodes
    assert not is_multicast_ra(Frame(TAP, bytes(to_the_vm)))


def test_advertiser_notes_its_multicast_ras() -> None:
    ras = MulticastRas(lambda low, high: 0.0)
    advertiser = Advertiser(
        FakeLinks({TAP: TAP_MAC}), FakeSender(), Counter[Event](), ras, lambda: 50.0
    )
    advertiser.send(grnet_binding(), make_config())
    ras.hold(multicast_ra(), 51.0)
    assert ras.deadline() == 53.0


def test_renumbering_keeps_the_old_prefix_deprecated_for_a_while() -> None:
    """RFC 4862 5.5.3 (e) / RFC 8978: the old SUBNET6 rides along in `deprecated6`
    for the window, survives unrelated rewrites, and goes when it ends or comes back."""
    old_net, new_net = IPv6Network("2001:db8:1::/64"), IPv6Network("2001:db8:2::/64")
    renumbering = Renumbering(window=100.0)
    before = table_of(grnet_binding(subnet6=old_net))
    after = table_of(grnet_binding(subnet6=new_net))
    table = renumbering.apply(before, after, 0.0)
    assert table[TAP].deprecated6 == (old_net,) and table[TAP].subnet6 == new_net
    assert renumbering.deadline() == 100.0
    # The watcher's next table (another key changed) has no deprecated6 of its own.
    rewritten = table_of(grnet_binding(subnet6=new_net, hostname="renamed"))
    assert renumbering.apply(table, rewritten, 50.0)[TAP].deprecated6 == (old_net,)
    assert renumbering.apply(table, table, 100.0)[TAP].deprecated6 == ()
    assert renumbering.deadline() is None
    # Back to the old prefix: it is current again, not deprecated.
    renumbering.apply(before, after, 200.0)
    assert renumbering.apply(after, before, 201.0)[TAP].deprecated6 == (new_net,)


def test_deprecated_prefix_in_the_ra() -> None:
    binding = grnet_binding(deprecated6=(IPv6Network("2001:db8:1::/64"),))
    frame = unsolicited_ra(binding, make_config(), TAP_MAC)
    assert frame is not None
    infos = []
    layer = Ether(frame.data)[ICMPv6ND_RA].payload
    while layer:
        if isinstance(layer, ICMPv6NDOptPrefixInfo):
            infos.append((layer.prefix, layer.A, layer.validlifetime, layer.preferredlifetime))
        layer = layer.payload
    assert infos[1:] == [("2001:db8:1::", 1, 7200, 0)]
