"""RFC 3396, Encoding Long Options in DHCPv4."""

from __future__ import annotations

import pytest

from ..e2e.site import Site
from ..helpers.readers import decode_search
from .guest import guest, raw_options4

pytestmark = pytest.mark.e2e


def test_5_long_option_is_split_into_consecutive_instances(site: Site) -> None:
    """5: an option longer than 255 octets is sent as several instances; 7: the client
    concatenates them in order. Eight 56-character names, the most a binding's SEARCH
    may hold (8 names, 512 characters), make an option 119 of over 450 octets."""
    names = [f"zone{i:02d}-{'a' * 30}.tenant.example.org" for i in range(8)]
    g = guest(site, v6=False, extra={"SEARCH": " ".join(names)})
    (offer,) = g.ask4(g.dhcp4("discover", options=[("max_dhcp_size", 1500)]))
    codes = [code for code, _ in raw_options4(offer)]
    instances = [value for code, value in raw_options4(offer) if code == 119]
    assert len(instances) >= 2, codes
    first = codes.index(119)
    assert codes[first : first + len(instances)] == [119] * len(instances), "not consecutive"
    assert all(len(v) == 255 for v in instances[:-1])
    assert decode_search(b"".join(instances)) == names
