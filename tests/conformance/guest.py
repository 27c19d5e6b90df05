"""The conformance tests' site and guests: nfdhcpd with DHCPv4 and IPv6 behind routed
TAPs (`start_site`, `serve`), a VM with a binding that sends frames crafted with scapy
(`Guest`, `guest`), and readers for what comes back."""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address, IPv6Network
from typing import Any

from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.dhcp6 import DUID_LL
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import ICMPv6ND_NS, ICMPv6ND_RS, ICMPv6NDOptSrcLLAddr, IPv6
from scapy.layers.l2 import Ether

from ..e2e import netns
from ..e2e.netns import BindingSpec, Received
from ..e2e.site import Site
from ..helpers.readers import walk_options

SERVER_ID = IPv4Address("192.0.2.1")  # netns.render_config's server_ip


BCAST = "255.255.255.255"


BCAST_MAC = "ff:ff:ff:ff:ff:ff"


ZERO = "0.0.0.0"


ALL_NODES = "ff02::1"


ALL_ROUTERS = "ff02::2"


ALL_DHCP6 = "ff02::1:2"


DNS6 = ("2001:db8:53::1", "2001:db8:53::2")


DOMAINS6 = ("example.com",)


RA_PERIOD = 300


QUEUES = (42, *netns.QUEUES6)


def start_site(
    hv: netns.Hypervisor,
    *,
    ra_period: int = RA_PERIOD,
    lease_lifetime: int = 604800,
    lease_renewal: int = 3600,
    **general: str,
) -> Site:
    """nfdhcpd with DHCPv4 and IPv6 (mode auto) behind routed TAPs, no rate limit."""
    hv.add_ipv6_rules("routed")
    config = functools.partial(
        netns.render_config,
        lease_lifetime=lease_lifetime,
        lease_renewal=lease_renewal,
        general={"rate_limit": "0", **general},
        ipv6={
            "mode": "auto",
            "ra_period": str(ra_period),
            "nameservers": ", ".join(DNS6),
            "domains": " ".join(DOMAINS6),
        },
    )
    daemon = hv.start_daemon(config, queues=QUEUES)
    # Bindings written before the first scan are counted, not logged one by one:
    # let it finish, so that `guest` can wait for its binding's "loaded" line.
    netns.wait_for(lambda: "serving " in daemon.log(), timeout=10, what="the first scan")
    return Site(hv, daemon, "routed")


class Guest:
    """A VM of the site with a binding, and the frames it can send."""

    def __init__(self, site: Site, vm: netns.VM, binding: BindingSpec) -> None:
        self.site = site
        self.vm = vm
        self.binding = binding

    @property
    def mac(self) -> str:
        return self.vm.mac

    @property
    def ip(self) -> str:
        assert self.binding.ip is not None
        return self.binding.ip

    @property
    def link_local(self) -> IPv6Address:
        return netns.link_local(self.vm.mac)

    @property
    def router_mac(self) -> str:
        """The MAC nfdhcpd answers from: the TAP's (routed)."""
        return self.site.hv.mac(self.vm.tap)

    @property
    def router_link_local(self) -> IPv6Address:
        return netns.link_local(self.router_mac)

    def log(self) -> str:
        return self.site.daemon.log()[self.site.log_offset :]

    def wait_log(self, pattern: str, timeout: float = 5.0) -> re.Match[str]:
        match = netns.wait_for(
            lambda: re.search(pattern, self.log()), timeout=timeout, what=f"log {pattern!r}"
        )
        assert match is not None
        return match

    def rebind(self, **overrides: Any) -> BindingSpec:
        """Rewrite the binding with some fields changed; wait until it is loaded."""
        binding = self.site.binding(self.vm, **overrides)
        offset = len(self.site.daemon.log())
        self.site.daemon.write_binding(self.vm.tap, binding)
        netns.wait_for(
            lambda: f"binding {self.vm.tap} loaded" in self.site.daemon.log()[offset:],
            timeout=5,
            what=f"binding {self.vm.tap} reloaded",
        )
        self.binding = binding
        return binding

    # -- DHCPv4

    def dhcp4(
        self,
        mtype: str,
        *,
        options: Sequence[Any] = (),
        ciaddr: str = ZERO,
        src: str = ZERO,
        dst: str = BCAST,
        dst_mac: str = BCAST_MAC,
        flags: int = 0,
        xid: int | None = None,
    ) -> bytes:
        """A DHCPv4 request from this VM, built by scapy (checksums computed by it)."""
        return bytes(
            Ether(src=self.mac, dst=dst_mac)
            / IP(src=src, dst=dst)
            / UDP(sport=68, dport=67)
            / BOOTP(
                op=1,
                xid=secrets.randbits(32) if xid is None else xid,
                flags=flags,
                ciaddr=ciaddr,
                chaddr=bytes.fromhex(self.mac.replace(":", "")),
            )
            / DHCP(options=[("message-type", mtype), *options, "end"])
        )

    def ask4(self, *frames: bytes, wait: float = 1.0, count: int | None = 1) -> list[Any]:
        """Send; the DHCPv4 replies received, decoded by scapy."""
        got = self.vm.exchange(frames, wait=wait, count=count)
        return [p for p in map(decode, got) if DHCP in p]

    # -- IPv6

    def dhcp6(self, message: Any, *options: Any, dst: str = ALL_DHCP6) -> bytes:
        """A DHCPv6 message from the VM's link-local address, to `dst`."""
        dst_mac = (
            "33:33:" + IPv6Address(dst).packed[12:].hex(":")
            if IPv6Address(dst).is_multicast
            else self.router_mac
        )
        pkt = Ether(src=self.mac, dst=dst_mac) / IPv6(src=str(self.link_local), dst=dst)
        pkt = pkt / UDP(sport=546, dport=547) / message
        for option in options:
            pkt = pkt / option
        return bytes(pkt)

    def client_duid(self) -> Any:
        return DUID_LL(lladdr=self.mac)

    def rs(self, *, src: str | None = None) -> bytes:
        """A Router Solicitation; from :: it carries no source link-layer option."""
        source = str(self.link_local) if src is None else src
        pkt = Ether(src=self.mac, dst="33:33:00:00:00:02") / IPv6(
            src=source, dst=ALL_ROUTERS, hlim=255
        )
        pkt = pkt / ICMPv6ND_RS()
        if source != "::":
            pkt = pkt / ICMPv6NDOptSrcLLAddr(lladdr=self.mac)
        return bytes(pkt)

    def ns(self, target: IPv6Address | str) -> bytes:
        """A Neighbor Solicitation for `target` to its solicited-node group."""
        group = IPv6Address(
            IPv6Address("ff02::1:ff00:0").packed[:13] + IPv6Address(target).packed[13:]
        )
        pkt = Ether(src=self.mac, dst="33:33:" + group.packed[12:].hex(":"))
        pkt = pkt / IPv6(src=str(self.link_local), dst=str(group), hlim=255)
        pkt = pkt / ICMPv6ND_NS(tgt=str(target)) / ICMPv6NDOptSrcLLAddr(lladdr=self.mac)
        return bytes(pkt)

    def ask(
        self, *frames: bytes | tuple[float, bytes], wait: float = 1.0, count: int | None = None
    ) -> list[Any]:
        """Send (a frame, or a (delay, frame) pair); everything received (server replies,
        RAs, NAs), decoded by scapy."""
        return [decode(r) for r in self.vm.exchange(frames, wait=wait, count=count)]


def decode(received: Received) -> Any:
    pkt = Ether(received.data)
    pkt.time = received.at  # seconds after the first frame was sent
    return pkt


def guest(
    site: Site,
    *,
    v6: bool = True,
    link: bool = True,
    sysctls6: dict[str, str] | None = None,
    **overrides: Any,
) -> Guest:
    """A VM and its binding (IPv4 always, SUBNET6/GATEWAY6 unless `v6` is false)."""
    # The VM's kernel solicits routers on link-up: keep its RSs out of the RA tests.
    vm = site.vm(link=False, sysctls6={"router_solicitations": "0", **(sysctls6 or {})})
    index = int(vm.tap.removeprefix("tap"))
    extra = dict(overrides.pop("extra", {}))
    if v6:
        prefix = IPv6Network(f"2001:db8:{index:x}::/64")
        extra = {"SUBNET6": str(prefix), "GATEWAY6": str(prefix[1]), **extra}
    binding = site.binding(vm, extra=extra, **overrides)
    site.daemon.write_binding(vm.tap, binding)
    netns.wait_for(
        lambda: f"binding {vm.tap} loaded" in site.daemon.log()[site.log_offset :],
        timeout=5,
        what=f"binding {vm.tap} loaded",
    )
    if link:
        site.hv.create_link(vm)
        vm.wait_link_local()
    return Guest(site, vm, binding)


def options4(pkt: Any) -> dict[Any, Any]:
    """scapy's decoding of a DHCPv4 reply's options: name -> value (or tuple)."""
    out: dict[Any, Any] = {}
    for item in pkt[DHCP].options:
        if isinstance(item, tuple):
            out[item[0]] = item[1] if len(item) == 2 else tuple(item[1:])
    return out


def message_type(pkt: Any) -> int:
    value = options4(pkt)["message-type"]
    return int(value)


def raw_options4(pkt: Any) -> tuple[tuple[int, bytes], ...]:
    """The reply's options in wire order, by hand (RFC 2132 section 2)."""
    return walk_options(bytes(pkt[BOOTP])[240:])


def corrupt_udp_checksum(frame: bytes) -> bytes:
    """The frame with its UDP checksum's bits flipped (IPv4 or IPv6)."""
    data = bytearray(frame)
    offset = 14 + (data[14] & 15) * 4 + 6 if data[12:14] == b"\x08\x00" else 14 + 40 + 6
    data[offset] ^= 0xFF
    return bytes(data)


def corrupt_icmp6_checksum(frame: bytes) -> bytes:
    data = bytearray(frame)
    data[14 + 40 + 2] ^= 0xFF
    return bytes(data)
