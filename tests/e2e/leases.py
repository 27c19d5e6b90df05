"""What a DHCPv4 client should get from a binding, and checks of what it got: the lease
(`expected_lease`, `assert_lease`), what its scripts applied in the VM, nothing at
all, and asking again until a live change shows; the resolv.conf a DHCPv6 client wrote."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from . import netns
from .netns import BindingSpec, ClientRun, Lease

SERVER_ID = IPv4Address("192.0.2.1")


CONFIG_DNS = (IPv4Address("192.0.2.2"), IPv4Address("192.0.2.3"))


CONFIG_DOMAIN = "example.com"


LEASE_TIME = 604800


def expected_lease(
    b: BindingSpec,
    *,
    dns: tuple[IPv4Address, ...] = CONFIG_DNS,
    domain: str = CONFIG_DOMAIN,
    search: tuple[str, ...] = (),
) -> Lease:
    assert b.ip and b.subnet and b.gateway
    return Lease(
        address=IPv4Interface(f"{b.ip}/{IPv4Network(b.subnet).prefixlen}"),
        routers=() if b.private else (IPv4Address(b.gateway),),
        dns=dns,
        domain=domain,
        search=search,
        hostname=b.hostname,
        mtu=b.mtu,
        lease_time=LEASE_TIME,
        server_id=SERVER_ID,
    )


def assert_lease(run: ClientRun, expected: Lease) -> None:
    assert run.lease is not None, f"no lease: {run.describe()}"
    got = run.lease
    if not expected.search:  # option 119 is optional unless the test asks for it
        got = dataclasses.replace(got, search=())
    assert got == expected, run.describe()


def assert_applied(run: ClientRun, expected: Lease) -> None:
    """What the client's own scripts configured in the VM, read back from the kernel."""
    applied = run.applied
    assert applied is not None, run.describe()
    assert applied.addresses == (expected.address,), run.describe()
    assert applied.default_gateway == (expected.routers[0] if expected.routers else None)
    if expected.mtu is not None:
        # dhclient-script sets the link MTU; dhcpcd puts option 26 on its routes instead.
        assert expected.mtu in (applied.link_mtu, applied.route_mtu), applied
    assert applied.nameservers == expected.dns
    assert expected.domain in applied.search
    # dhcpcd's hostname hook makes an FQDN of HOSTNAME and the domain option.
    assert applied.hostname in (expected.hostname, f"{expected.hostname}.{expected.domain}")


def assert_nothing(run: ClientRun) -> None:
    assert run.lease is None, f"unexpected lease {run.lease}: {run.describe()}"
    assert run.returncode != 0, run.describe()


def lease_until(
    vm: netns.VM, done: Callable[[Lease | None], bool], *, timeout: float = 5.0
) -> ClientRun:
    """Ask with udhcpc (one DISCOVER each time) until `done(lease)`; return the last run.

    For live changes: the daemon applies them asynchronously (in milliseconds), and a
    request racing the change may still see the old state.
    """
    deadline = time.monotonic() + timeout
    while True:
        run = vm.udhcpc(tries=1, interval=1)
        if done(run.lease) or time.monotonic() > deadline:
            return run


def has_address(address: IPv4Interface) -> Callable[[Lease | None], bool]:
    return lambda lease: lease is not None and lease.address == address


def resolv_conf(run: ClientRun) -> tuple[list[str], list[str]]:
    """(nameservers, search domains) of the VM's resolv.conf after the client ran."""
    assert run.rundir is not None
    nameservers: list[str] = []
    search: list[str] = []
    for line in (run.rundir / "resolv.conf").read_text().splitlines():
        words = line.split()
        if words and words[0] == "nameserver":
            nameservers += words[1:]
        elif words and words[0] == "search":
            search += [w.rstrip(".") for w in words[1:]]
    return nameservers, search
