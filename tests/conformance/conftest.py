"""Protocol conformance through the network: one module per RFC, each test named after
and citing the clause it checks.

The daemon runs as in production (tests/e2e/netns.py: a hypervisor namespace, the
README's iptables and ip6tables NFQUEUE rules, a VM namespace behind a TAP); a test
crafts the request with scapy, sends it from the VM's eth0 (`VM.exchange`) and judges
what comes back on the wire. Nothing here imports the daemon: the tests hold whatever
the core is refactored into. Every reply is also decoded by tshark (tests/oracle.py)
when the test ends. Defects not fixed yet are marked `xfail(strict=True)`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..e2e import netns
from ..e2e.site import Site, e2e_ready, pytest_runtest_makereport, serve_test, stop_site
from .guest import start_site

__all__ = ["e2e_ready", "pytest_runtest_makereport"]

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def site_module(e2e_ready: None) -> Iterator[Site]:
    missing = netns.missing_tools(netns.TOOLS6)
    if missing:
        pytest.skip(f"missing tools: {', '.join(missing)}")
    with netns.hypervisor("routed", label="hv-c") as hv:
        site = start_site(hv)
        yield site
        stop_site(site)


@pytest.fixture
def site(site_module: Site) -> Iterator[Site]:
    yield from serve_test(site_module)
