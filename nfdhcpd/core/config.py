"""The daemon's configuration: GRNET nfdhcpd's INI format, every key validated.

`parse_config` turns the text of the file into a frozen `Config` or raises one
`ConfigError` naming file, section, key and value. Unknown sections and keys are not
fatal (old and foreign configs must load) but are returned as warnings to log.
"""

from __future__ import annotations

import configparser
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import AddressValueError, IPv4Address, IPv6Address
from typing import TypeVar

from .binding import valid_domain
from .errors import ConfigError
from .limits import MAX_ADDRESSES, list_error, search_error

DEFAULT_CONFIG = "/etc/nfdhcpd/nfdhcpd.conf"
MODES = ("auto", "slaac", "slaac+dhcpv6", "dhcpv6")
T = TypeVar("T")
# GRNET's dummy server identifier: off-link, so a renewing VM unicasts it via its
# gateway, which is this host, where the PREROUTING rule catches it.
_GRNET_SERVER_IP = IPv4Address("1.2.3.4")
DEFAULT_LEASE = 604800  # a week
DEFAULT_RENEWAL = 600
MIN_LEASE = 3  # the shortest lease with whole seconds 0 < T1 < T2 < lease


@dataclass(frozen=True, slots=True)
class Config:
    """Every key with its documented default (see conf/nfdhcpd.conf)."""

    path: str = DEFAULT_CONFIG
    # [general]
    pidfile: str = "/var/run/nfdhcpd/nfdhcpd.pid"
    datapath: str = "/var/lib/nfdhcpd"
    logdir: str = "/var/log/nfdhcpd"
    user: str = "nfdhcpd"  # the package's own (finding 7 of issue 12: not nobody)
    rate_limit: int = 100
    rate_burst: int = 200
    pending_window: int = 30
    coalesce_ms: int = 20
    metrics: tuple[str, int] | None = None  # (address, port) of the Prometheus endpoint
    trace: str | None = None  # pcap file of every handled packet
    # [dhcp]
    enable_dhcp: bool = True
    lease_lifetime: int = DEFAULT_LEASE
    lease_renewal: int = DEFAULT_RENEWAL
    server_ip: IPv4Address = _GRNET_SERVER_IP
    server_on_link: bool = False
    dhcp_queue: int = 42
    nameservers: tuple[IPv4Address, ...] = ()
    domain: str | None = None
    ntp_servers: tuple[IPv4Address, ...] = ()
    # [ipv6]
    enable_ipv6: bool = True
    mode: str = "auto"
    ra_period: int = 300
    rs_queue: int = 43
    ns_queue: int = 44
    dhcpv6_queue: int = 45
    nameservers6: tuple[IPv6Address, ...] = ()
    domains6: tuple[str, ...] = ()
    server_duid: bytes = b""  # empty: derived from /etc/machine-id by the daemon
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def rebinding_time(self) -> int:
        """T2: 7/8 of the lease (RFC 2131 4.4.5), kept above T1 when lease_renewal is long."""
        t2 = self.lease_lifetime * 7 // 8
        if t2 <= self.lease_renewal:
            t2 = (self.lease_renewal + self.lease_lifetime) // 2
        return t2


_BOOLS = {"1": True, "yes": True, "true": True, "on": True}
_BOOLS |= {"0": False, "no": False, "false": False, "off": False}


def _bool(raw: str) -> bool:
    try:
        return _BOOLS[raw.lower()]
    except KeyError:
        raise ValueError("not a boolean (yes/no, true/false, on/off, 1/0)") from None


def _int_range(low: int, high: int) -> Callable[[str], int]:
    def conv(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError("not an integer") from None
        if not low <= value <= high:
            raise ValueError(f"outside {low}..{high}")
        return value

    return conv


def _items(raw: str) -> list[str]:
    return raw.replace(",", " ").split()


def _addresses(raw: str) -> list[str]:
    items = _items(raw)
    error = list_error(items, MAX_ADDRESSES, "addresses")
    if error is not None:
        raise ValueError(error)
    return items


def _v4_list(raw: str) -> tuple[IPv4Address, ...]:
    return tuple(IPv4Address(i) for i in _addresses(raw))


def _v6_list(raw: str) -> tuple[IPv6Address, ...]:
    return tuple(IPv6Address(i) for i in _addresses(raw))


def _domain(raw: str) -> str:
    if not valid_domain(raw):
        raise ValueError("not a domain name")
    return raw


def _domains(raw: str) -> tuple[str, ...]:
    items = _items(raw)
    error = search_error(items)
    if error is not None:
        raise ValueError(error)
    return tuple(_domain(i) for i in items)


def _mode(raw: str) -> str:
    if raw not in MODES:
        raise ValueError(f"not one of {', '.join(MODES)}")
    return raw


def _duid(raw: str) -> bytes:
    """Hex, colons allowed; a DUID is a 2-byte type and up to 128 bytes (RFC 8415 11.1)."""
    try:
        duid = bytes.fromhex(raw.replace(":", ""))
    except ValueError:
        raise ValueError("not hexadecimal") from None
    if not 3 <= len(duid) <= 130:
        raise ValueError(f"{len(duid)} bytes, a DUID has 3 to 130")
    return duid


def _listen(raw: str) -> tuple[str, int]:
    """ADDRESS:PORT with a literal address, IPv6 in brackets: no DNS at start-up."""
    host, sep, port = raw.rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError("not ADDRESS:PORT with a port 1..65535 (e.g. 127.0.0.1:9167)")
    try:
        if host.startswith("[") and host.endswith("]"):
            return str(IPv6Address(host[1:-1])), int(port)
        return str(IPv4Address(host)), int(port)
    except AddressValueError:
        raise ValueError(f"{host!r} is not an IPv4 address or an [IPv6] address") from None


def _path(raw: str) -> str:
    if not raw.startswith("/"):
        raise ValueError("not an absolute path")
    return raw


_QUEUE = _int_range(0, 65535)
# GRNET's configobj spec took leases of 0..2^32-1; 0xFFFFFFFF is "infinity" (RFC 2131 3.3).
_SECONDS = _int_range(0, 0xFFFFFFFF)
#: MaxRtrAdvInterval's range (RFC 4861 6.2.1); GRNET took 1..2^32-1, clamped with a warning.
RA_PERIOD_RANGE = (4, 1800)

# section -> key -> (Config field, converter)
_SCHEMA: dict[str, dict[str, tuple[str, Callable[[str], object]]]] = {
    "general": {
        "pidfile": ("pidfile", _path),
        "datapath": ("datapath", _path),
        "logdir": ("logdir", _path),
        "user": ("user", str),
        # packets a second per ingress interface (0: no limit), and the burst allowed
        "rate_limit": ("rate_limit", _int_range(0, 1_000_000)),
        "rate_burst": ("rate_burst", _int_range(1, 1_000_000)),
        # seconds a request from a TAP without binding is kept, to answer once it lands
        "pending_window": ("pending_window", _int_range(0, 3600)),
        # under load, wait this long for packets to gather before reading the queues again
        "coalesce_ms": ("coalesce_ms", _int_range(0, 100)),
        # Prometheus endpoint, ADDRESS:PORT (IPv6 as [::1]:9167); empty: off
        "metrics": ("metrics", _listen),
        # pcap file every handled packet is written to; empty: off
        "trace": ("trace", _path),
    },
    "dhcp": {
        "enable_dhcp": ("enable_dhcp", _bool),
        "lease_lifetime": ("lease_lifetime", _SECONDS),
        "lease_renewal": ("lease_renewal", _SECONDS),
        "server_ip": ("server_ip", IPv4Address),
        "server_on_link": ("server_on_link", _bool),
        "dhcp_queue": ("dhcp_queue", _QUEUE),
        "nameservers": ("nameservers", _v4_list),
        "domain": ("domain", _domain),
        "ntp_servers": ("ntp_servers", _v4_list),
    },
    "ipv6": {
        "enable_ipv6": ("enable_ipv6", _bool),
        "mode": ("mode", _mode),
        "ra_period": ("ra_period", _int_range(1, 0xFFFFFFFF)),  # clamped, see _grnet_values
        "rs_queue": ("rs_queue", _QUEUE),
        "ns_queue": ("ns_queue", _QUEUE),
        "dhcpv6_queue": ("dhcpv6_queue", _QUEUE),
        "dhcp_queue": ("dhcpv6_queue", _QUEUE),  # GRNET's old name, deprecated
        "nameservers": ("nameservers6", _v6_list),
        "domains": ("domains6", _domains),
        "server_duid": ("server_duid", _duid),
    },
}
_MAY_BE_EMPTY = frozenset(
    {"nameservers", "domain", "ntp_servers", "domains", "server_duid", "metrics", "trace"}
)
# GRNET 0.15's key; 0.16 replaced it by mode and 0.17 ignored it.
_LEGACY = ("ipv6", "enable_dhcpv6")
_QUOTES = ('"', "'")


def _unquote(raw: str) -> str:
    """configobj's (GRNET's parser) quoting: a value, or each item of a comma list, may be
    enclosed in matching single or double quotes, which are not part of it."""
    if not any(q in raw for q in _QUOTES):
        return raw
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in _QUOTES and raw[0] not in raw[1:-1]:
        return raw[1:-1]  # one quoted value, commas and all
    items = [item.strip() for item in raw.split(",")]
    return ", ".join(
        item[1:-1] if len(item) >= 2 and item[0] == item[-1] and item[0] in _QUOTES else item
        for item in items
    )


def parse_config(text: str, path: str = DEFAULT_CONFIG) -> Config:
    """Parse and validate the text of the config file found at `path`."""
    parser = configparser.ConfigParser(
        inline_comment_prefixes=("#", ";"), interpolation=None, strict=True
    )
    try:
        parser.read_string(text, source=path)
    except configparser.Error as exc:
        section = _section_at(text, getattr(exc, "lineno", None) or _first_error_line(exc))
        raise ConfigError(path, section, None, None, str(exc).replace("\n", " ")) from None

    values: dict[str, object] = {"path": path}
    warnings: list[str] = []
    legacy_dhcpv6: bool | None = None
    for section in parser.sections():
        schema = _SCHEMA.get(section)
        if schema is None:
            warnings.append(f"{path}: unknown section [{section}] ignored")
            continue
        for key, raw in parser.items(section):
            raw = _unquote(raw)
            if (section, key) == _LEGACY:
                legacy_dhcpv6 = _convert(path, section, key, raw, _bool)
                continue
            if key not in schema:
                warnings.append(f"{path}: unknown key [{section}] {key} ignored")
                continue
            name, conv = schema[key]
            if raw == "" and key in _MAY_BE_EMPTY:
                continue  # an empty list or domain means "none", the default
            if section == "ipv6" and key == "dhcp_queue":
                warnings.append(f"{path}: [ipv6] dhcp_queue is deprecated, use dhcpv6_queue")
            values[name] = _convert(path, section, key, raw, conv)
    if legacy_dhcpv6 is not None:
        warnings.append(_legacy_mode(path, values, legacy_dhcpv6))
    _grnet_values(path, values, warnings)
    config = Config(**values, warnings=tuple(warnings))  # type: ignore[arg-type]
    _check_consistency(config)
    return config


def _legacy_mode(path: str, values: dict[str, object], enabled: bool) -> str:
    """enable_dhcpv6 never overrides an explicit mode; alone, yes is mode auto (what GRNET
    0.16 and 0.17 ran, ignoring the key) and no is mode slaac (GRNET 0.15's meaning)."""
    if "mode" in values:
        return f"{path}: [ipv6] enable_dhcpv6 ignored: mode = {values['mode']} is set"
    values["mode"] = "auto" if enabled else "slaac"
    return f"{path}: [ipv6] enable_dhcpv6 is deprecated, read as mode = {values['mode']}; use mode"


def _grnet_values(path: str, values: dict[str, object], warnings: list[str]) -> None:
    """Values GRNET 0.17 accepted that nfdhcpd cannot use as they are: replaced by what
    serves the VMs, each with one warning saying so."""
    period = values.get("ra_period")
    if isinstance(period, int):
        low, high = RA_PERIOD_RANGE
        used = min(max(period, low), high)
        if used != period:
            values["ra_period"] = used
            warnings.append(
                f"{path}: [ipv6] ra_period = {period} is outside {low}..{high} "
                f"(MaxRtrAdvInterval, RFC 4861 6.2.1); using {used}"
            )
    short = values.get("lease_lifetime")
    if isinstance(short, int) and short < MIN_LEASE:
        values["lease_lifetime"] = DEFAULT_LEASE
        warnings.append(
            f"{path}: [dhcp] lease_lifetime = {short} leaves no time to renew "
            f"(at least {MIN_LEASE} s for 0 < T1 < T2 < lease); using {DEFAULT_LEASE}"
        )
    lease = values.get("lease_lifetime", DEFAULT_LEASE)
    renewal = values.get("lease_renewal", DEFAULT_RENEWAL)
    assert isinstance(lease, int) and isinstance(renewal, int)
    if renewal == 0 or renewal >= lease - 1:
        values["lease_renewal"] = lease // 2
        warnings.append(
            f"{path}: [dhcp] lease_renewal = {renewal} leaves no room before "
            f"lease_lifetime ({lease}) for the rebinding time (RFC 2131 4.4.5); "
            f"using half the lease, {lease // 2}"
        )


def user_warning(config: Config) -> str | None:
    """What to say at start (and in `check`) when `user` is nobody: whatever else runs
    as nobody could signal the daemon and ask its control socket. Not one of the
    config's warnings: GRNET's own config names nobody and loads without any."""
    if config.user != "nobody":
        return None
    return (
        f"{config.path}: [general] user = nobody is shared with other services; "
        "a dedicated user (the package's nfdhcpd) keeps them away from nfdhcpd"
    )


def _first_error_line(exc: configparser.Error) -> int | None:
    """The line of the first bad line a ParsingError collected."""
    errors = getattr(exc, "errors", None)
    return errors[0][0] if errors else None


def _section_at(text: str, lineno: int | None) -> str:
    """The section a line of the file belongs to, for the error message."""
    section = "?"
    if lineno is not None:
        for line in text.splitlines()[: lineno - 1]:
            stripped = line.strip()
            if stripped.startswith("[") and stripped.endswith("]"):
                section = stripped[1:-1]
    return section


def _convert(path: str, section: str, key: str, raw: str, conv: Callable[[str], T]) -> T:
    if raw == "":
        raise ConfigError(path, section, key, raw, "empty value")
    try:
        return conv(raw)
    except (ValueError, AddressValueError) as exc:
        raise ConfigError(path, section, key, raw, str(exc)) from None


def _check_consistency(config: Config) -> None:
    queues: dict[int, str] = {}
    if config.enable_dhcp:
        queues[config.dhcp_queue] = "dhcp_queue"
    if config.enable_ipv6:
        for key in ("rs_queue", "ns_queue", "dhcpv6_queue"):
            number = getattr(config, key)
            if number in queues:
                section = "dhcp" if queues[number] == "dhcp_queue" else "ipv6"
                raise ConfigError(
                    config.path,
                    "ipv6",
                    key,
                    str(number),
                    f"same queue as [{section}] {queues[number]}",
                )
            queues[number] = key
