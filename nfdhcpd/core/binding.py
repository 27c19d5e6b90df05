"""Binding files: what the cluster manager tells us about one TAP.

Theory of operation
-------------------
A binding file lives at ``datapath/<tap>``; its name is the TAP (the *physical*
ingress interface of the VM's packets) and its content is shell-style ``KEY=VALUE``
lines, as Ganeti's KVM ifup hook writes them for GRNET's nfdhcpd. An empty value
means unset. Parsing is pure: bytes and a name in, a frozen `Binding` out, or a
`BindingError` naming the file, the line and the reason. Nothing here reads files.

The daemon keeps every valid binding in an immutable `BindingTable`; a change builds
a new table and swaps it in whole, so a packet handler always sees one consistent
snapshot. Lookups are by TAP *name*, never by ifindex, which is why a binding can be
written before its TAP exists and survives the TAP being deleted and recreated.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from ipaddress import (
    AddressValueError,
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    NetmaskValueError,
)
from types import MappingProxyType
from typing import TypeVar

from .errors import BindingError
from .limits import MAX_ADDRESSES, MAX_ROUTES, list_error, search_error
from .wire import mac_text, parse_mac

#: A binding file larger than this is refused unread: real ones are a few hundred bytes.
MAX_BINDING_SIZE = 64 * 1024

_KEY_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")
_TRUE = frozenset({"1", "yes", "true", "on", "y"})
_FALSE = frozenset({"0", "no", "false", "off", "n"})
#: Every key a binding may hold: GRNET's, then nfdhcpd's own.
KNOWN_KEYS = frozenset(
    {"INDEV", "IP", "MAC", "HOSTNAME", "TAGS", "GATEWAY", "SUBNET", "GATEWAY6", "SUBNET6"}
    | {"EUI64", "PRIVATE", "MTU", "MACSPOOF", "DNS", "DOMAIN", "SEARCH", "NTP", "ROUTES"}
    | {"IP6", "DNS6"}
)
T = TypeVar("T")


def valid_ifname(name: str) -> bool:
    """Linux dev_valid_name(): 1 to 15 bytes, not . or .., no '/', ':' or whitespace."""
    try:
        size = len(name.encode())
    except UnicodeEncodeError:  # undecodable bytes in a directory entry
        return False
    return (
        0 < size < 16
        and name not in (".", "..")
        and not any(c in "/:" or c.isspace() for c in name)
        and name.isprintable()
    )


def ignored_name(name: str) -> bool:
    """Hidden and temporary files are work in progress of whoever writes bindings."""
    return name.startswith(".") or name.endswith((".tmp", "~", ".swp"))


def valid_domain(name: str) -> bool:
    """A DNS name of labels (RFC 1035 section 2.3.4 limits, underscores tolerated)."""
    name = name.removesuffix(".")
    return 0 < len(name) <= 253 and all(_LABEL.match(label) for label in name.split("."))


@dataclass(frozen=True, slots=True)
class Route:
    """A classless static route (RFC 3442): `network` via `router`."""

    network: IPv4Network
    router: IPv4Address


@dataclass(frozen=True, slots=True)
class Binding:
    """One TAP's configuration. Optional per-binding lists override the config's."""

    name: str
    mac: bytes
    indev: str | None = None
    ip: IPv4Address | None = None
    hostname: str | None = None
    tags: str | None = None
    subnet: IPv4Network | None = None
    gateway: IPv4Address | None = None
    subnet6: IPv6Network | None = None
    gateway6: IPv6Address | None = None
    eui64: IPv6Address | None = None
    private: bool = False
    mtu: int | None = None
    macspoof: bool = False
    dns: tuple[IPv4Address, ...] | None = None
    domain: str | None = None
    search: tuple[str, ...] | None = None
    ntp: tuple[IPv4Address, ...] | None = None
    routes: tuple[Route, ...] = ()
    ip6: IPv6Address | None = None
    dns6: tuple[IPv6Address, ...] | None = None
    #: What differs from GRNET nfdhcpd's reading of the same file, and unknown keys:
    #: logged as one line when the binding loads, printed by `nfdhcpd check`.
    warnings: tuple[str, ...] = field(default=(), compare=False)
    #: Old SUBNET6 values advertised as deprecated (RFC 8978): set by the shell only.
    deprecated6: tuple[IPv6Network, ...] = ()

    @property
    def routed(self) -> bool:
        """INDEV names the TAP itself: the host is the VM's only neighbour and router."""
        return self.indev == self.name

    @property
    def default_router6(self) -> bool:
        """Whether RAs make the host the VM's IPv6 default router: with GATEWAY6, or on a
        routed TAP without it (as GRNET always did: the host is the only way out);
        never when PRIVATE."""
        return not self.private and (self.gateway6 is not None or self.routed)

    @property
    def fqdn_domain(self) -> str | None:
        """The domain of a fully qualified HOSTNAME (after its first dot): GRNET's
        fallback when no domain is configured."""
        if self.hostname is None or "." not in self.hostname.rstrip("."):
            return None
        return self.hostname.rstrip(".").split(".", 1)[1]


class _Fields:
    """Typed conversion of the raw values, each error naming the line it came from."""

    def __init__(self, name: str, values: dict[str, str], lines: dict[str, int]) -> None:
        self.name = name
        self.values = values
        self.lines = lines
        self.warnings: list[str] = []

    def fail(self, key: str, reason: str) -> BindingError:
        return BindingError(self.name, self.lines.get(key, 0), f"{key}: {reason}")

    def text(self, key: str) -> str | None:
        return self.values.get(key) or None

    def convert(self, key: str, conv: Callable[[str], T], what: str) -> T | None:
        raw = self.text(key)
        if raw is None:
            return None
        try:
            return conv(raw)
        except (ValueError, AddressValueError, NetmaskValueError):
            raise self.fail(key, f"{raw!r} is not {what}") from None

    def flag(self, key: str) -> bool:
        """GRNET set a flag by any non-empty value: so does nfdhcpd, except for the
        words that say false, which it reads as written. Either difference is said."""
        raw = self.text(key)
        if raw is None or raw.lower() in _TRUE:
            return raw is not None
        if raw.lower() in _FALSE:
            self.warnings.append(f"{key}={raw} read as false (GRNET nfdhcpd read it as set)")
            return False
        self.warnings.append(f"{key}={raw} read as set, as GRNET nfdhcpd did (write yes)")
        return True

    def items(self, key: str) -> list[str] | None:
        raw = self.text(key)
        return None if raw is None else raw.replace(",", " ").split()

    def addresses(self, key: str, conv: Callable[[str], T], family: str) -> tuple[T, ...] | None:
        items = self.items(key)
        if items is None:
            return None
        self.refuse(key, list_error(items, MAX_ADDRESSES, "addresses"))
        try:
            return tuple(conv(i) for i in items)
        except AddressValueError as exc:
            raise self.fail(key, f"not a list of {family} addresses ({exc})") from None

    def refuse(self, key: str, error: str | None) -> None:
        if error is not None:
            raise self.fail(key, error)

    def domains(self, key: str) -> tuple[str, ...] | None:
        items = self.items(key)
        if items is None:
            return None
        self.refuse(key, search_error(items))
        for item in items:
            if not valid_domain(item):
                raise self.fail(key, f"{item!r} is not a domain name")
        return tuple(items)


def _split_lines(name: str, data: bytes) -> tuple[dict[str, str], dict[str, int]]:
    if len(data) > MAX_BINDING_SIZE:
        raise BindingError(name, 0, f"{len(data)} bytes, larger than {MAX_BINDING_SIZE}")
    if b"\0" in data:
        raise BindingError(name, 0, "binary content (NUL byte)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BindingError(name, 0, f"not UTF-8 text (byte {exc.start})") from None
    values: dict[str, str] = {}
    lines: dict[str, int] = {}
    # Lines end at \n only, as for the shell (splitlines would break at \v, \f, U+2028...).
    for number, line in enumerate(text.split("\n"), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _KEY_LINE.match(line)
        if match is None:
            raise BindingError(name, number, f"not a KEY=VALUE line: {line[:60]!r}")
        key, raw = match.groups()
        try:
            words = shlex.split(raw, comments=True)
        except ValueError as exc:
            raise BindingError(name, number, f"{key}: {exc}") from None
        values[key.upper()] = " ".join(words)  # later lines win, as in a shell
        lines[key.upper()] = number
    return values, lines


def parse_binding(data: bytes, name: str) -> Binding:
    """Parse the content of binding file `name`; raise `BindingError` if unusable."""
    if not valid_ifname(name):
        raise BindingError(name, 0, "file name is not a valid interface name")
    f = _Fields(name, *_split_lines(name, data))

    mac_text = f.text("MAC")
    if mac_text is None:
        raise f.fail("MAC", "missing: the VM's MAC address is required")
    try:
        mac = parse_mac(mac_text)
    except ValueError as exc:
        raise f.fail("MAC", str(exc)) from None
    if mac[0] & 1:
        raise f.fail("MAC", f"{mac_text} is a multicast address")

    indev = f.text("INDEV")
    if indev is not None and not valid_ifname(indev):
        raise f.fail("INDEV", f"{indev!r} is not an interface name")

    ip = f.convert("IP", IPv4Address, "an IPv4 address")
    subnet = f.convert("SUBNET", IPv4Network, "an IPv4 network in CIDR form")
    gateway = f.convert("GATEWAY", IPv4Address, "an IPv4 address")
    if ip is not None:
        if subnet is None:
            raise f.fail("SUBNET", "missing: required when IP is set")
        if ip not in subnet:
            raise f.fail("IP", f"{ip} is outside SUBNET {subnet}")
        if subnet.prefixlen < 31 and ip in (subnet.network_address, subnet.broadcast_address):
            raise f.fail("IP", f"{ip} is the network or broadcast address of {subnet}")
        if gateway == ip:
            raise f.fail("GATEWAY", f"{gateway} is the VM's own address")

    subnet6 = f.convert("SUBNET6", IPv6Network, "an IPv6 network in CIDR form")
    eui64 = f.convert("EUI64", IPv6Address, "an IPv6 address")
    if eui64 is not None and subnet6 is not None and eui64 not in subnet6:
        raise f.fail("EUI64", f"{eui64} is outside SUBNET6 {subnet6}")

    gateway6 = f.convert("GATEWAY6", IPv6Address, "an IPv6 address")
    # In the prefix (R flag) or link-local (routed hosting's fe80::1, the RAs' source).
    if gateway6 and subnet6 and gateway6 not in subnet6 and not gateway6.is_link_local:
        raise f.fail("GATEWAY6", f"{gateway6} is outside SUBNET6 {subnet6} and not link-local")

    ip6 = f.convert("IP6", IPv6Address, "an IPv6 address")
    if ip6 is not None and subnet6 is not None and ip6 not in subnet6:
        raise f.fail("IP6", f"{ip6} is outside SUBNET6 {subnet6}")

    mtu = f.convert("MTU", int, "an integer")
    if mtu is not None and not 68 <= mtu <= 65535:
        raise f.fail("MTU", f"{mtu} is outside 68..65535 (RFC 2132 section 5.1)")

    hostname = f.text("HOSTNAME")
    if hostname is not None and not valid_domain(hostname):
        raise f.fail("HOSTNAME", f"{hostname!r} is not a host name")
    domain = f.text("DOMAIN")
    if domain is not None and not valid_domain(domain):
        raise f.fail("DOMAIN", f"{domain!r} is not a domain name")

    private = f.flag("PRIVATE")
    macspoof = f.flag("MACSPOOF")
    unknown = sorted(set(f.values) - KNOWN_KEYS)
    if unknown:
        f.warnings.append(
            f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} ignored"
        )
    binding = Binding(
        name=name,
        mac=mac,
        indev=indev,
        ip=ip,
        hostname=hostname,
        tags=f.text("TAGS"),
        subnet=subnet,
        gateway=gateway,
        subnet6=subnet6,
        gateway6=gateway6,
        eui64=eui64,
        private=private,
        mtu=mtu,
        macspoof=macspoof,
        dns=f.addresses("DNS", IPv4Address, "IPv4"),
        domain=domain,
        search=f.domains("SEARCH"),
        ntp=f.addresses("NTP", IPv4Address, "IPv4"),
        routes=_routes(f),
        ip6=ip6,
        dns6=f.addresses("DNS6", IPv6Address, "IPv6"),
    )
    if subnet6 is not None and not binding.default_router6:
        # GRNET's RAs made the host the default router whatever the binding said.
        why = "PRIVATE" if private else "GATEWAY6 empty and INDEV not the TAP (bridged)"
        f.warnings.append(f"{why}: no IPv6 default route via the host (GRNET advertised one)")
    if f.warnings:
        return dataclasses.replace(binding, warnings=tuple(f.warnings))
    return binding


def _routes(f: _Fields) -> tuple[Route, ...]:
    """ROUTES="10.1.0.0/16 via 192.0.2.254, 10.2.0.0/16 via 192.0.2.253"."""
    raw = f.text("ROUTES")
    if raw is None:
        return ()
    f.refuse("ROUTES", list_error(raw.split(","), MAX_ROUTES, "routes"))
    routes = []
    for item in raw.split(","):
        words = item.split()
        if len(words) != 3 or words[1] != "via":
            raise f.fail("ROUTES", f"{item.strip()!r} is not 'NETWORK/LEN via ROUTER'")
        try:
            routes.append(Route(IPv4Network(words[0]), IPv4Address(words[2])))
        except ValueError as exc:
            raise f.fail("ROUTES", f"{item.strip()!r}: {exc}") from None
    return tuple(routes)


class BindingTable(Mapping[str, Binding]):
    """An immutable snapshot of all bindings, keyed by TAP name."""

    __slots__ = ("_entries",)

    def __init__(self, entries: Mapping[str, Binding] | None = None) -> None:
        self._entries: Mapping[str, Binding] = MappingProxyType(dict(entries or {}))

    def __getitem__(self, name: str) -> Binding:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def with_binding(self, binding: Binding) -> BindingTable:
        return BindingTable({**self._entries, binding.name: binding})

    def without(self, name: str) -> BindingTable:
        return BindingTable({k: v for k, v in self._entries.items() if k != name})


def describe(binding: Binding) -> str:
    """One line for the log: what this binding will hand out."""
    parts = [f"MAC={mac_text(binding.mac)}"]
    keys = ("indev", "ip", "subnet", "gateway", "hostname", "subnet6", "gateway6", "eui64")
    for key in (*keys, "ip6", "mtu"):
        value = getattr(binding, key)
        if value is not None:
            parts.append(f"{key.upper()}={value}")
    lists: tuple[tuple[str, tuple[object, ...] | None], ...] = (
        ("DNS", binding.dns),
        ("SEARCH", binding.search),
        ("NTP", binding.ntp),
        ("DNS6", binding.dns6),
    )
    for key, items in lists:
        if items is not None:
            parts.append(f"{key}={','.join(map(str, items))}")
    if binding.domain is not None:
        parts.append(f"DOMAIN={binding.domain}")
    if binding.routes:
        parts.append("ROUTES=" + ",".join(f"{r.network} via {r.router}" for r in binding.routes))
    if binding.tags is not None:
        parts.append(f"TAGS={binding.tags!r}")
    if binding.private:
        parts.append("PRIVATE")
    if binding.macspoof:
        parts.append("MACSPOOF")
    return " ".join(parts)
