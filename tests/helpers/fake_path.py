"""A PacketPath over fakes: an interface table and an AF_PACKET sender that record, the
decisions from the real core."""

from __future__ import annotations

from nfdhcpd.core.binding import BindingTable
from nfdhcpd.core.config import Config
from nfdhcpd.core.decision import Frame, RawPacket
from nfdhcpd.shell.packet_path import PacketPath
from nfdhcpd.shell.pending import Pending

from .builders import dhcp_request
from .samples import TAP, TAP_MAC, VM_MAC, grnet_binding, table_of
from .samples import make_config as _make_config

TAP_INDEX = 7


class FakeLinks:
    def __init__(self, names: dict[int, tuple[str | None, bytes | None]]) -> None:
        self.names = names

    def lookup(self, ifindex: int) -> tuple[str | None, bytes | None]:
        return self.names.get(ifindex, (None, None))


class FakeSender:
    def __init__(self, error: OSError | None = None) -> None:
        self.sent: list[Frame] = []
        self.ifindexes: list[int] = []
        self.error = error

    def send(self, frame: Frame, ifindex: int = 0) -> None:
        if self.error is not None:
            raise self.error
        self.sent.append(frame)
        self.ifindexes.append(ifindex)


def make_config(**changes: object) -> Config:
    return _make_config(**{"rate_limit": 0, **changes})


def discover(packet_id: int = 1, index: int = TAP_INDEX) -> RawPacket:
    return RawPacket(packet_id, index, 0, VM_MAC, dhcp_request("discover"))


def make_path(
    config: Config | None = None, *, sender: FakeSender | None = None, bound: bool = True
) -> tuple[PacketPath, FakeSender]:
    sender = sender or FakeSender()
    links = FakeLinks({TAP_INDEX: (TAP, TAP_MAC), 8: ("tap99", TAP_MAC), 9: ("br0", TAP_MAC)})
    path = PacketPath(config or make_config(), links, sender, pending=Pending(0.0))
    path.table = table_of(grnet_binding()) if bound else BindingTable()
    return path, sender
