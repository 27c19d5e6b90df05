"""The daemon's configuration: GRNET nfdhcpd's INI format, every key validated.

`parse_config` turns the text of the file into a frozen `Config` or raises one
`ConfigError` naming file, section, key and value. Unknown sections and keys are not
fatal (old and foreign configs must load) but are returned as warnings to log.
"""

from __future__ import annotations

import configparser
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from ipaddress import AddressValueError, IPv4Address, IPv6Address
from typing import NamedTuple, TypeVar

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


def _key(
    section: str,
    parse: Callable[[str], object],
    *,
    key: str | None = None,
    empty: bool = False,
    alias: str | None = None,
) -> dict[str, object]:
    """A config key's declaration, as its field's metadata: the `[section] key` it is
    read from (the field's name unless `key`), how the text is parsed, whether it may
    be empty (meaning none, the default), and a deprecated `alias` still read."""
    return {"section": section, "key": key, "parse": parse, "empty": empty, "alias": alias}


@dataclass(frozen=True, slots=True)
class Config:
    """Every key, declared once: its default, its `[section] key`, its parser
    (conf/nfdhcpd.conf documents them; tests/unit/test_config.py checks it does)."""

    path: str = DEFAULT_CONFIG
    # [general]
    pidfile: str = field(default="/var/run/nfdhcpd/nfdhcpd.pid", metadata=_key("general", _path))
    datapath: str = field(default="/var/lib/nfdhcpd", metadata=_key("general", _path))
    logdir: str = field(default="/var/log/nfdhcpd", metadata=_key("general", _path))
    #: the package's own (finding 7 of issue 12: not nobody)
    user: str = field(default="nfdhcpd", metadata=_key("general", str))
    #: packets a second per ingress interface (0: no limit), and the burst allowed
    rate_limit: int = field(default=100, metadata=_key("general", _int_range(0, 1_000_000)))
    rate_burst: int = field(default=200, metadata=_key("general", _int_range(1, 1_000_000)))
    #: seconds a request from a TAP without binding is kept, to answer once it lands
    pending_window: int = field(default=30, metadata=_key("general", _int_range(0, 3600)))
    #: under load, wait this long for packets to gather before reading the queues again
    coalesce_ms: int = field(default=20, metadata=_key("general", _int_range(0, 100)))
    #: (address, port) of the Prometheus endpoint, ADDRESS:PORT ([::1]:9167); empty: off
    metrics: tuple[str, int] | None = field(
        default=None, metadata=_key("general", _listen, empty=True)
    )
    #: pcap file every handled packet is written to; empty: off
    trace: str | None = field(default=None, metadata=_key("general", _path, empty=True))
    # [dhcp]
    enable_dhcp: bool = field(default=True, metadata=_key("dhcp", _bool))
    lease_lifetime: int = field(default=DEFAULT_LEASE, metadata=_key("dhcp", _SECONDS))
    lease_renewal: int = field(default=DEFAULT_RENEWAL, metadata=_key("dhcp", _SECONDS))
    server_ip: IPv4Address = field(default=_GRNET_SERVER_IP, metadata=_key("dhcp", IPv4Address))
    server_on_link: bool = field(default=False, metadata=_key("dhcp", _bool))
    dhcp_queue: int = field(default=42, metadata=_key("dhcp", _QUEUE))
    nameservers: tuple[IPv4Address, ...] = field(
        default=(), metadata=_key("dhcp", _v4_list, empty=True)
    )
    domain: str | None = field(default=None, metadata=_key("dhcp", _domain, empty=True))
    ntp_servers: tuple[IPv4Address, ...] = field(
        default=(), metadata=_key("dhcp", _v4_list, empty=True)
    )
    # [ipv6]
    enable_ipv6: bool = field(default=True, metadata=_key("ipv6", _bool))
    mode: str = field(default="auto", metadata=_key("ipv6", _mode))
    #: MaxRtrAdvInterval; outside RA_PERIOD_RANGE clamped, see _grnet_values
    ra_period: int = field(default=300, metadata=_key("ipv6", _int_range(1, 0xFFFFFFFF)))
    rs_queue: int = field(default=43, metadata=_key("ipv6", _QUEUE))
    ns_queue: int = field(default=44, metadata=_key("ipv6", _QUEUE))
    #: `dhcp_queue` was GRNET's name for it in [ipv6]
    dhcpv6_queue: int = field(default=45, metadata=_key("ipv6", _QUEUE, alias="dhcp_queue"))
    nameservers6: tuple[IPv6Address, ...] = field(
        default=(), metadata=_key("ipv6", _v6_list, key="nameservers", empty=True)
    )
    domains6: tuple[str, ...] = field(
        default=(), metadata=_key("ipv6", _domains, key="domains", empty=True)
    )
    #: empty: derived from /etc/machine-id by the daemon (shell.files.default_duid)
    server_duid: bytes = field(default=b"", metadata=_key("ipv6", _duid, empty=True))
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def rebinding_time(self) -> int:
        """T2: 7/8 of the lease (RFC 2131 4.4.5), kept above T1 when lease_renewal is long."""
        t2 = self.lease_lifetime * 7 // 8
        if t2 <= self.lease_renewal:
            t2 = (self.lease_renewal + self.lease_lifetime) // 2
        return t2


class _Key(NamedTuple):
    field: str
    parse: Callable[[str], object]
    empty: bool
    deprecated: str | None  # the key to use instead


def _schema() -> dict[str, dict[str, _Key]]:
    """section -> key -> declaration, from Config's fields."""
    schema: dict[str, dict[str, _Key]] = {}
    for f in fields(Config):
        meta = f.metadata
        if not meta:
            continue
        section = schema.setdefault(str(meta["section"]), {})
        key = str(meta["key"] or f.name)
        parse: Callable[[str], object] = meta["parse"]
        section[key] = _Key(f.name, parse, bool(meta["empty"]), None)
        if meta["alias"]:
            section[str(meta["alias"])] = _Key(f.name, parse, bool(meta["empty"]), key)
    return schema


_SCHEMA = _schema()

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
            declared = schema[key]
            if raw == "" and declared.empty:
                continue  # an empty list or domain means "none", the default
            if declared.deprecated:
                warnings.append(
                    f"{path}: [{section}] {key} is deprecated, use {declared.deprecated}"
                )
            values[declared.field] = _convert(path, section, key, raw, declared.parse)
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
