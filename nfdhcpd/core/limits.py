"""How long a binding's or the config's lists may be: limits `check` and the daemon
share (both parse with core/binding.py and core/config.py)."""

from __future__ import annotations

#: The most entries a list may hold (DNS, NTP and DNS6 addresses, ROUTES, SEARCH names
#: and their characters), so that a binding that is accepted always gets its replies
#: through: with every list full an RA or a DHCPv6 reply still fits 1280 bytes, IPv6's
#: minimum MTU (RFC 8200 section 5), and DHCPv4 replies fit the client's size by
#: leaving options out (RFC 2131 4.3.1). Before these limits, 4,199 DNS6 addresses made
#: an RA of more than 65,535 bytes. The config's lists ([dhcp] nameservers, ntp_servers,
#: [ipv6] nameservers, domains) have the same limits.
MAX_ADDRESSES = 8
MAX_ROUTES = 32
MAX_SEARCH = 8
MAX_SEARCH_CHARS = 512


def list_error(items: list[str], limit: int, what: str) -> str | None:
    """Why `items` is too long a list of `what`, or None (see MAX_ADDRESSES)."""
    if len(items) > limit:
        return f"{len(items)} {what}, more than the {limit} a reply can carry"
    return None


def search_error(names: list[str]) -> str | None:
    """Why `names` is too long a search list, or None (see MAX_SEARCH)."""
    error = list_error(names, MAX_SEARCH, "domains")
    if error is None and len(" ".join(names)) > MAX_SEARCH_CHARS:
        return f"longer than {MAX_SEARCH_CHARS} characters, more than a reply can carry"
    return error
