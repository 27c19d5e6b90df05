"""A Daemon over fakes (queues, watcher, injector, interface table), its configuration
file in a temporary directory: no NFQUEUE, no root."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

from nfdhcpd.core.binding import BindingTable
from nfdhcpd.core.decision import Frame, RawPacket, Verdict
from nfdhcpd.shell.daemon import Daemon
from nfdhcpd.shell.files import load_config

from .samples import TAP, TAP_MAC, grnet_binding, table_of

CONFIG = """\
[general]
datapath = {datapath}
pending_window = 30
[dhcp]
dhcp_queue = {dhcp_queue}
[ipv6]
enable_ipv6 = {ipv6}
server_duid = 00:04:00:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f
"""


class FakeQueue:
    def __init__(self, number: int, family: int, log: list[str]) -> None:
        self.number, self.family, self.log = number, family, log
        self.unbound = False
        log.append(f"bind {number}")

    def fileno(self) -> int:
        return 1000 + self.number

    def read(self) -> list[RawPacket]:
        return []

    def verdict(self, packet: RawPacket, verdict: Verdict) -> None:
        pass

    def flush(self) -> None:
        pass

    def unbind(self) -> None:
        self.unbound = True
        self.log.append(f"unbind {self.number}")


class FakeWatcher:
    def __init__(self, datapath: str, on_change: Callable[[BindingTable], None]) -> None:
        self.datapath, self.on_change = datapath, on_change
        self.table = table_of(grnet_binding())
        self.closed = False
        self.rescans = 0

    def fileno(self) -> int:
        return 999

    def read(self) -> None:
        pass

    def rescan(self) -> None:
        self.rescans += 1
        self.on_change(self.table)

    def close(self) -> None:
        self.closed = True


class FakeInjector:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # for Links' ioctls
        self.sent: list[Frame] = []

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, frame: Frame, ifindex: int = 0) -> None:
        self.sent.append(frame)

    def close(self) -> None:
        self.sock.close()


class FakeLinks:
    def lookup(self, ifindex: int) -> tuple[str | None, bytes | None]:
        return (TAP, TAP_MAC) if ifindex == 7 else (None, None)

    def mac_of(self, name: str) -> bytes | None:
        return TAP_MAC if name == TAP else None

    def forget(self) -> None:
        pass


class Site:
    """A daemon over fakes, its config file in tmp_path."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.conf = tmp_path / "nfdhcpd.conf"
        self.events: list[str] = []
        self.refuse: set[int] = set()
        self.queues: dict[int, FakeQueue] = {}
        self.watchers: list[FakeWatcher] = []
        self.bad_datapaths: set[str] = set()
        self.write(datapath=str(tmp_path))
        self.injector = FakeInjector()
        self.daemon = Daemon(
            load_config(str(self.conf)), bind=self.bind, watch=self.watch, injector=self.injector
        )
        self.daemon.path.links = self.daemon.advertiser.links = FakeLinks()

    def write(self, *, datapath: str, dhcp_queue: int = 42, ipv6: str = "yes") -> None:
        self.conf.write_text(CONFIG.format(datapath=datapath, dhcp_queue=dhcp_queue, ipv6=ipv6))

    def bind(self, number: int, family: int) -> FakeQueue:
        if number in self.refuse:
            raise OSError(f"cannot bind NFQUEUE {number} (another daemon on it?)")
        queue = self.queues[number] = FakeQueue(number, family, self.events)
        return queue

    def watch(self, datapath: str, on_change: Callable[[BindingTable], None]) -> FakeWatcher:
        if datapath in self.bad_datapaths:
            raise OSError(f"cannot watch {datapath}")
        watcher = FakeWatcher(datapath, on_change)
        self.watchers.append(watcher)
        return watcher
