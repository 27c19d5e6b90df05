"""The daemon's wiring with fake queues, watcher and socket: reload in two phases,
signals, the RA tick, replay on a table change. No NFQUEUE, no root."""

from __future__ import annotations

import logging
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from nfdhcpd.core.decision import RawPacket, Verdict
from nfdhcpd.core.events import Event

from ..helpers.builders import dhcp_request
from ..helpers.fake_daemon import Site
from ..helpers.samples import TAP, VM_MAC


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    site = Site(tmp_path)
    yield site
    site.daemon.close()


def test_start_binds_the_queues_the_config_wants(site: Site) -> None:
    assert sorted(site.daemon.queues) == [42, 43, 44, 45]
    assert site.queues[42].family == socket.AF_INET
    assert site.queues[43].family == socket.AF_INET6
    assert site.daemon.deadline() == 0.0  # IPv6 on: the first RA round is due at once


def test_reload_binds_new_queues_before_unbinding_old_ones(site: Site) -> None:
    site.write(datapath=str(site.tmp_path), dhcp_queue=50)
    site.events.clear()
    site.daemon.loop.changed = False
    site.daemon.reload()
    assert site.events == ["bind 50", "unbind 42"]
    assert sorted(site.daemon.queues) == [43, 44, 45, 50]
    assert site.daemon.config.dhcp_queue == 50
    assert site.daemon.path.config.dhcp_queue == 50
    assert site.daemon.loop.changed  # the loop polls the new descriptors


def test_a_queue_that_cannot_be_bound_keeps_the_running_state(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    before = dict(site.daemon.queues)
    config = site.daemon.config
    site.write(datapath=str(site.tmp_path), dhcp_queue=50, ipv6="no")
    site.refuse = {50}
    site.events.clear()
    with caplog.at_level(logging.ERROR, logger="nfdhcpd"):
        site.daemon.reload()
    assert site.daemon.queues == before and site.daemon.config is config
    assert site.daemon.path.config is config
    assert site.events == []  # nothing unbound, not even the IPv6 queues now unwanted
    assert (
        "reload refused, keeping the running configuration: cannot bind NFQUEUE 50" in caplog.text
    )


def test_a_datapath_that_cannot_be_watched_keeps_the_running_state(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    missing = str(site.tmp_path / "missing")
    site.bad_datapaths.add(missing)
    site.write(datapath=missing, dhcp_queue=50)
    site.events.clear()
    with caplog.at_level(logging.ERROR, logger="nfdhcpd"):
        site.daemon.reload()
    assert site.events == ["bind 50", "unbind 50"]  # built, then undone
    assert sorted(site.daemon.queues) == [42, 43, 44, 45]
    assert site.daemon.config.datapath == str(site.tmp_path)
    assert site.daemon.watcher is site.watchers[0] and not site.watchers[0].closed
    assert f"cannot watch {missing}" in caplog.text


def test_a_refused_config_keeps_the_running_state(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    config = site.daemon.config
    site.conf.write_text("[general]\nrate_limit = lots\n")
    with caplog.at_level(logging.ERROR, logger="nfdhcpd"):
        site.daemon.reload()
    assert site.daemon.config is config
    assert "reload refused, keeping the running configuration" in caplog.text


def test_a_new_datapath_swaps_the_watcher(site: Site) -> None:
    other = site.tmp_path / "other"
    other.mkdir()
    site.write(datapath=str(other))
    site.daemon.reload()
    old, new = site.watchers
    assert old.closed and site.daemon.watcher is new and new.rescans == 1


def test_signals(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="nfdhcpd"):
        assert site.daemon.on_signals({signal.SIGUSR1})
        assert site.daemon.on_signals({signal.SIGHUP})
        assert not site.daemon.on_signals({signal.SIGTERM, signal.SIGHUP})
    assert "binding table: 0 bindings" in caplog.text  # the SIGUSR1 dump
    assert "reloaded" in caplog.text
    assert "exiting on signal" in caplog.text


def test_tick_sends_a_round_of_ras_when_due(site: Site) -> None:
    site.watchers[0].rescan()
    site.injector.sent.clear()
    site.daemon.tick(1000.0)
    assert [f.ifname for f in site.injector.sent] == [TAP]
    site.daemon.tick(1001.0)  # the next round is a period away
    assert len(site.injector.sent) == 1
    assert site.daemon.counters[Event.RA_PERIODIC] == 2  # on the binding's arrival, and the round


def test_a_table_change_replays_and_advertises_new_bindings(site: Site) -> None:
    path = site.daemon.path
    discover = RawPacket(1, 7, 0, VM_MAC, dhcp_request("discover"))
    assert path.on_packet(42, discover, site.daemon.loop.clock()) is Verdict.ACCEPT  # unbound
    site.watchers[0].rescan()  # the binding lands
    kinds = sorted(frame.data[12:14].hex() for frame in site.injector.sent)
    assert kinds == ["0800", "86dd"]  # the replayed OFFER, and an RA for the new binding
    assert site.daemon.counters[Event.REPLAYED] == 1
