"""Faults that must not become outages, and files root must not be turned against
(issue 12), in the shell's parts with fakes: the RA round and the first scan inside the
error handler per binding, replies before the trace, send errors under the log budget,
a trace that fails, and `open_private`."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from nfdhcpd.core.binding import Binding
from nfdhcpd.core.config import Config
from nfdhcpd.core.decision import Frame, Inbound
from nfdhcpd.core.events import Event
from nfdhcpd.ops.trace import PcapWriter
from nfdhcpd.shell.files import open_private

from ..helpers.fake_daemon import Site
from ..helpers.fake_path import FakeSender, discover, make_path
from ..helpers.samples import QUEUE, TAP, grnet_binding, table_of


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path)


def test_an_ra_round_survives_a_bug_with_one_binding(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    """Finding 4/5: one binding's RA raised outside the loop's handler; the daemon died."""
    other = grnet_binding(name="tap11")
    site.watchers[0].table = table_of(grnet_binding(), other)
    site.watchers[0].rescan()
    sent: list[str] = []

    def send(binding: Binding, config: Config) -> None:
        if binding.name == TAP:
            raise struct_error()
        sent.append(binding.name)

    site.daemon.advertiser.send = send  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="nfdhcpd"):
        site.daemon.tick(1000.0)
    assert sent == ["tap11"]
    assert site.daemon.counters[Event.ERROR] == 1
    assert f"internal error in the RA on {TAP}" in caplog.text
    site.daemon.close()


def struct_error() -> Exception:
    import struct

    try:
        struct.pack("!H", 70000)
    except struct.error as exc:
        return exc
    raise AssertionError("struct.pack took 70000 as a 16-bit field")


def test_the_first_scan_cannot_crash_the_start(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> None:
        raise struct_error()

    site.watchers[0].rescan = broken  # type: ignore[method-assign]
    served: list[object] = []

    class Loop:  # the real one is compiled: its methods cannot be replaced
        def run(self, host: object) -> None:
            served.append(host)

    site.daemon.loop = Loop()  # type: ignore[assignment]
    with caplog.at_level(logging.ERROR, logger="nfdhcpd"):
        site.daemon.run()
    assert served == [site.daemon]  # it went on to serve
    assert "internal error in the first scan" in caplog.text
    assert site.daemon.counters[Event.ERROR] == 1
    site.daemon.close()


def test_the_reply_goes_out_before_the_trace() -> None:
    events: list[str] = []

    class Sender(FakeSender):
        def send(self, frame: Frame, ifindex: int = 0) -> None:
            events.append("send")

    class Trace:
        def record(self, inbound: Inbound | None, frames: tuple[Frame, ...]) -> None:
            events.append("trace")

    path, _sender = make_path(sender=Sender())
    path.trace = Trace()
    path.on_packet(QUEUE, discover(), 0.0)
    assert events == ["send", "trace"]


def test_send_errors_go_through_the_log_budget(caplog: pytest.LogCaptureFixture) -> None:
    path, _sender = make_path(sender=FakeSender(OSError(90, "Message too long")))
    with caplog.at_level(logging.WARNING, logger="nfdhcpd"):
        for i in range(50):
            path.on_packet(QUEUE, discover(i), float(i) / 100)
    assert path.counters[Event.SEND_ERROR] == 50
    lines = [r for r in caplog.records if "cannot send" in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in lines]


def test_a_trace_that_cannot_be_written_turns_itself_off(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A full disk (/dev/full stands in for it): one error line, no exception, and
    nothing written after."""
    writer = PcapWriter(str(tmp_path / "trace.pcap"))
    os.close(writer.fd)
    writer.fd = os.open("/dev/full", os.O_WRONLY)
    frame = Frame(TAP, b"\x00" * 60)
    with caplog.at_level(logging.ERROR, logger="nfdhcpd"):
        for _ in range(3):
            writer.record(None, (frame,))
    assert [r.getMessage() for r in caplog.records] == [
        f"trace {tmp_path / 'trace.pcap'}: cannot write (No space left on device): tracing off"
    ]
    assert not writer.on
    writer.close()  # a second close is harmless


def test_open_private_refuses_links_fifos_and_hard_links(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text("secret\n")
    (tmp_path / "symlink").symlink_to(target)
    os.mkfifo(tmp_path / "fifo")
    os.link(target, tmp_path / "hardlink")
    flags = os.O_WRONLY | os.O_CREAT
    uid = os.geteuid()
    for name, reason in (
        ("symlink", "is a symbolic link, refused"),
        ("fifo", "is not a regular file, refused"),  # and the open did not block
        ("hardlink", "has 2 hard links, refused"),
    ):
        with pytest.raises(OSError, match=reason):
            open_private(str(tmp_path / name), flags, 0o600, owners=(uid,))
    assert target.read_text() == "secret\n"
    fd = open_private(str(tmp_path / "new"), flags, 0o600, owners=(uid,))
    os.close(fd)
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_open_private_refuses_another_owner(tmp_path: Path) -> None:
    path = tmp_path / "trace.pcap"
    path.write_text("mine\n")
    os.chown(path, 65534, 65534)
    with pytest.raises(OSError, match="owned by uid 65534, not uid 0, refused"):
        PcapWriter(str(path))
    assert path.read_text() == "mine\n"


def test_a_whole_batch_is_followed_at_once_and_each_queue_gets_one_per_turn() -> None:
    """Fairness (finding 3): two queues that stay readable, each read a whole batch, are
    read in turns, one batch each, and not held a coalescing window after a full batch."""
    from nfdhcpd.shell.loop import READ_BATCH, Loop
    from nfdhcpd.shell.nfq import READ_MAX

    from ..helpers.fake_loop import Host, stop

    assert READ_BATCH == READ_MAX
    loop = Loop()
    host = Host(loop)
    host.coalesce = 0.05
    order: list[str] = []
    for name in ("flooded", "other"):
        r, w = host.pipe()
        os.write(w, b"always readable")

        def read(name: str = name) -> int:
            order.append(name)
            if len(order) == 20:
                stop(host)
            return READ_BATCH

        host.queue[r] = read
    started = time.monotonic()
    try:
        loop.run(host)
    finally:
        host.close()
        loop.close()
    assert time.monotonic() - started < 10 * 0.05  # never held a window
    assert sorted(order[0::2] + order[1::2]) == sorted(order)
    assert all(order[i] != order[i + 1] for i in range(0, 20, 2)), order  # both, each turn
