"""shell/notify.py: what reaches a real AF_UNIX datagram socket standing in for
systemd's, for a socket path and an abstract name; the watchdog schedule on a fake
clock; and the daemon's notifications around start, reload, binding changes and stop
(over the fakes of test_daemon)."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nfdhcpd.core.binding import BindingTable
from nfdhcpd.shell.notify import Notifier

from ..helpers.fake_daemon import Site


class Systemd:
    """The receiving end: a bound AF_UNIX datagram socket, as systemd's."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.sock.settimeout(0)
        self.address = address

    def messages(self) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                return out
            out.append(dict(line.split("=", 1) for line in data.decode().split("\n")))


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[Systemd]:
    receiver = Systemd(str(tmp_path / "notify"))
    yield receiver
    receiver.sock.close()


def test_path_socket_gets_ready_status_and_stopping(systemd: Systemd) -> None:
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": systemd.address})
    notifier.ready("serving 3 bindings on NFQUEUE 42")
    notifier.status("serving 4 bindings on NFQUEUE 42")
    notifier.stopping()
    assert systemd.messages() == [
        {"READY": "1", "STATUS": "serving 3 bindings on NFQUEUE 42", "MAINPID": str(os.getpid())},
        {"STATUS": "serving 4 bindings on NFQUEUE 42"},
        {"STOPPING": "1", "STATUS": "stopping"},
    ]
    notifier.close()


def test_abstract_socket() -> None:
    receiver = Systemd(f"@nfdt-notify-{secrets.token_hex(4)}")
    try:
        notifier = Notifier.from_environ({"NOTIFY_SOCKET": receiver.address})
        notifier.ready("x")
        assert [m["READY"] for m in receiver.messages()] == ["1"]
        notifier.close()
    finally:
        receiver.sock.close()


def test_reloading_carries_the_monotonic_clock(systemd: Systemd) -> None:
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": systemd.address})
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    notifier.reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    [message] = systemd.messages()
    assert message["RELOADING"] == "1"
    assert before <= int(message["MONOTONIC_USEC"]) <= after
    notifier.close()


def test_watchdog_every_half_interval_from_the_loop(systemd: Systemd) -> None:
    now = [100.0]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.connect(systemd.address)
    env = Notifier.from_environ({"NOTIFY_SOCKET": systemd.address, "WATCHDOG_USEC": "2000000"})
    assert env.interval == 1.0
    env.close()
    notifier = Notifier(sock, 1.0, clock=lambda: now[0])
    assert notifier.deadline() == 100.0  # at once
    notifier.watchdog(100.0)
    notifier.watchdog(100.5)  # not yet due
    assert notifier.deadline() == 101.0
    notifier.watchdog(101.2)
    assert notifier.deadline() == pytest.approx(102.2)
    assert systemd.messages() == [{"WATCHDOG": "1"}, {"WATCHDOG": "1"}]
    notifier.close()


@pytest.mark.parametrize(
    "env",
    [
        {},  # not run by systemd
        {"WATCHDOG_USEC": "2000000"},  # a watchdog but nowhere to send to
        {"NOTIFY_SOCKET": "{sock}", "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"},
        {"NOTIFY_SOCKET": "{sock}", "WATCHDOG_USEC": "0"},
    ],
)
def test_no_watchdog(systemd: Systemd, env: dict[str, str]) -> None:
    env = {k: v.format(sock=systemd.address) for k, v in env.items()}
    notifier = Notifier.from_environ(env)
    assert notifier.interval is None and notifier.deadline() is None
    notifier.watchdog(1e9)
    assert [m for m in systemd.messages() if "WATCHDOG" in m] == []
    notifier.close()


@pytest.mark.parametrize("address", ["/nonexistent/notify", "vsock:2:1234", "@nfdt-nobody-here"])
def test_unreachable_socket_is_logged_not_fatal(
    address: str, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "1000"})
    assert notifier.fileno() is None and notifier.interval is None
    notifier.ready("x")  # a no-op
    assert f"NOTIFY_SOCKET {address}" in caplog.text


def test_a_failing_send_is_logged_once(systemd: Systemd, caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": systemd.address})
    systemd.sock.close()  # systemd went away
    for _ in range(3):
        notifier.status("x")
    assert caplog.text.count("cannot notify systemd") == 1
    notifier.close()


def test_daemon_notifies_around_start_reload_changes_and_stop(
    tmp_path: Path, systemd: Systemd
) -> None:
    site = Site(tmp_path)
    try:
        site.daemon.notifier = Notifier.from_environ({"NOTIFY_SOCKET": systemd.address})
        site.daemon.watcher.rescan()  # what run() does before READY
        site.daemon.notifier.ready(site.daemon.status_line())
        site.daemon.on_signals({signal.SIGHUP})
        site.watchers[0].on_change(BindingTable())  # the binding file removed
        site.daemon.on_signals({signal.SIGTERM})
        messages = systemd.messages()
        queues = "42, 43, 44, 45"
        assert [m.get("STATUS") for m in messages] == [
            f"serving 1 bindings on NFQUEUE {queues}",  # the rescan
            f"serving 1 bindings on NFQUEUE {queues}",  # READY
            "reloading",
            f"serving 1 bindings on NFQUEUE {queues}",  # READY after the reload
            f"serving 0 bindings on NFQUEUE {queues}",
            "stopping",
        ]
        assert [k for m in messages for k in ("READY", "RELOADING", "STOPPING") if k in m] == [
            "READY", "RELOADING", "READY", "STOPPING",
        ]  # fmt: skip
        assert site.daemon.notifier.fileno() in site.daemon.fds()
    finally:
        site.daemon.close()


def test_daemon_tick_pings_the_watchdog_and_wakes_for_it(tmp_path: Path, systemd: Systemd) -> None:
    site = Site(tmp_path)
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.connect(systemd.address)
        site.daemon.notifier = Notifier(sock, 5.0, clock=lambda: 50.0)
        site.daemon.tick(50.0)  # the first RA round and the first ping
        assert site.daemon.deadline() == 55.0  # the next ping, before the next RA round
        assert systemd.messages() == [{"WATCHDOG": "1"}]
    finally:
        site.daemon.close()
