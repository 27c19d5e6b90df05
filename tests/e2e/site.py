"""What the end-to-end tests share besides the testbed (netns.py): the `Site` (one
hypervisor running nfdhcpd, and the VMs of the current test), the check that this
machine can run them (`e2e_ready`, a fixture) and the hook that attaches the daemon's
log to a failed test's report. tests/e2e/conftest.py and tests/conformance/conftest.py
both register the fixture and the hook by importing them."""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator

import pytest

from .. import oracle
from . import netns
from .netns import BindingSpec, Daemon, Hypervisor, Mode, Process

NO_RATE_LIMIT = {"rate_limit": "0"}


def unavailable(reason: str) -> None:
    """Skip on a developer machine; fail in CI, where a skip would hide a broken setup."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"e2e prerequisites missing in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def e2e_ready() -> None:
    if os.geteuid() != 0:
        unavailable("end-to-end tests need root (network namespaces, iptables)")
    missing = netns.missing_tools()
    if missing:
        unavailable(f"missing tools: {', '.join(missing)} (run scripts/setup)")
    if netns.nfdhcpd_executable() is None:
        unavailable("nfdhcpd is not installed (run scripts/setup)")


class Site:
    """A hypervisor running nfdhcpd in one topology, and the VMs of the current test."""

    def __init__(self, hv: Hypervisor, daemon: Daemon, mode: Mode) -> None:
        self.hv = hv
        self.daemon = daemon
        self.mode = mode
        self.serial = 0
        self.log_offset = 0  # where this test's part of the daemon log starts
        self.vms: list[netns.VM] = []
        self.servers: list[Process] = []

    @property
    def bridged(self) -> bool:
        return self.mode == "bridged"

    def next_tap(self) -> tuple[int, str]:
        self.serial += 1
        return self.serial, f"tap{self.serial}"

    def vm(
        self,
        *,
        mac: str | None = None,
        tap: str | None = None,
        link: bool = True,
        sysctls6: dict[str, str] | None = None,
    ) -> netns.VM:
        index, default_tap = self.next_tap()
        vm = self.hv.add_vm(
            tap or default_tap,
            mac or netns.mac_for(index),
            bridged=self.bridged,
            create_link=link,
            sysctls6=sysctls6,
        )
        self.vms.append(vm)
        return vm

    def binding(self, vm: netns.VM, **overrides: object) -> BindingSpec:
        """A binding for `vm` with values unique to it (address, /22 mask, hostname, MTU)."""
        index = int(vm.tap.removeprefix("tap"))
        net = netns.network_for(index)
        fields: dict[str, object] = {
            "mac": vm.mac,
            "ip": str(net[260 + index]),  # past the first /24: a wrong mask shows
            "subnet": str(net),
            "gateway": str(net[1]),
            "hostname": f"vm{index}-{self.mode}",
            "indev": self.hv.bridge if self.bridged else vm.tap,
            "mtu": 1400 + index,
        }
        fields.update(overrides)
        return BindingSpec(**fields)  # type: ignore[arg-type]

    def passthrough_server(self, vm: netns.VM, reserved_ip: str = "10.99.0.77") -> Process:
        """dnsmasq answering `vm` on the hypervisor, as another DHCP server would.

        Routed: it listens on the VM's TAP, which gets an IP for it. Bridged: on br0.
        """
        if self.bridged:
            interface = "br0"
        else:
            interface = vm.tap
            self.hv.add_address(vm.tap, netns.PASSTHROUGH_NET)
        server = self.hv.start_dnsmasq(interface, hosts={vm.mac: reserved_ip})
        self.servers.append(server)
        return server

    def cleanup_test(self) -> None:
        for server in self.servers:
            server.stop()
        for vm in self.vms:
            self.daemon.remove_binding(vm.tap)
            self.hv.remove_vm(vm)
        self.servers.clear()
        self.vms.clear()


def serve_test(site: Site) -> Iterator[Site]:
    """One test on a module's site, for `yield from` in a fixture: its part of the
    daemon log marked, the daemon checked to have survived it, its VMs, bindings and
    servers removed, and every reply sent during it judged by tshark (tests/oracle.py)."""
    site.log_offset = len(site.daemon.log())
    try:
        yield site
        assert site.daemon.alive(), (
            "nfdhcpd died during the test:\n" + (site.daemon.log()[site.log_offset :])
        )
    finally:
        site.cleanup_test()
    findings = site.hv.check_capture()
    assert not findings, oracle.report(findings, "the replies of this test")


def stop_site(site: Site) -> None:
    """SIGTERM the site's daemon: it must exit 0."""
    status = site.daemon.stop()
    assert status == 0, f"nfdhcpd exited {status} on SIGTERM:\n{site.daemon.log()[-3000:]}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On failure, attach what nfdhcpd logged during the test to the report."""
    report: pytest.TestReport = yield
    if report.failed:
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, Site):
                log = value.daemon.log()[value.log_offset :]
                report.sections.append(("nfdhcpd log (this test)", log))
            elif isinstance(value, Hypervisor):
                for proc in value.processes:
                    if proc.name == "nfdhcpd":
                        report.sections.append((f"nfdhcpd log ({value.name})", proc.log()))
    return report
