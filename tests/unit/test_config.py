"""config.py: GRNET's INI file, defaults, and one precise error per bad value."""

from __future__ import annotations

import dataclasses
import re
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nfdhcpd.core.config import DEFAULT_CONFIG, MODES, Config, parse_config
from nfdhcpd.core.errors import ConfigError

from ..helpers.samples import GRNET_CONFIG

PATH = "/etc/nfdhcpd/test.conf"


def test_grnet_sample() -> None:
    assert "3600 \t# 1 hour" in GRNET_CONFIG  # the sample's TAB before the comment
    config = parse_config(GRNET_CONFIG, PATH)
    assert config == Config(
        path=PATH,
        pidfile="/var/run/nfdhcpd/nfdhcpd.pid",
        datapath="/var/lib/nfdhcpd",
        logdir="/var/log/nfdhcpd",
        user="nobody",
        enable_dhcp=True,
        lease_lifetime=604800,
        lease_renewal=3600,
        server_ip=IPv4Address("192.0.2.1"),
        server_on_link=False,
        dhcp_queue=42,
        nameservers=(IPv4Address("192.0.2.2"), IPv4Address("192.0.2.3")),
        domain="example.com",
        ntp_servers=(),
        enable_ipv6=True,
        mode="auto",
        ra_period=300,
        rs_queue=43,
        ns_queue=44,
        dhcpv6_queue=45,
        nameservers6=(IPv6Address("2001:db8:100::1"), IPv6Address("2001:db8:200::2")),
        domains6=("example.com",),
    )
    assert config.warnings == ()


def test_defaults() -> None:
    config = parse_config("", PATH)
    assert config == Config(path=PATH)
    assert config.warnings == ()
    assert DEFAULT_CONFIG == "/etc/nfdhcpd/nfdhcpd.conf"
    assert Config().path == DEFAULT_CONFIG
    expected = {
        "pidfile": "/var/run/nfdhcpd/nfdhcpd.pid",
        "datapath": "/var/lib/nfdhcpd",
        "logdir": "/var/log/nfdhcpd",
        "user": "nfdhcpd",  # the package's own user (issue 12, finding 7)
        "rate_limit": 100,
        "rate_burst": 200,
        "pending_window": 30,
        "coalesce_ms": 20,
        "enable_dhcp": True,
        "lease_lifetime": 604800,
        "lease_renewal": 600,
        "server_ip": IPv4Address("1.2.3.4"),
        "server_on_link": False,
        "dhcp_queue": 42,
        "nameservers": (),
        "domain": None,
        "ntp_servers": (),
        "enable_ipv6": True,
        "mode": "auto",
        "ra_period": 300,
        "rs_queue": 43,
        "ns_queue": 44,
        "dhcpv6_queue": 45,
        "nameservers6": (),
        "domains6": (),
    }
    for key, value in expected.items():
        assert getattr(config, key) == value, key


def test_sections_without_keys_keep_defaults() -> None:
    assert parse_config("[general]\n[dhcp]\n[ipv6]\n", PATH) == Config(path=PATH)


def test_partial_config() -> None:
    config = parse_config("[dhcp]\nserver_ip = 10.0.0.1\nserver_on_link = yes\n", PATH)
    assert config.server_ip == IPv4Address("10.0.0.1")
    assert config.server_on_link is True
    assert config.lease_lifetime == 604800


def test_new_keys() -> None:
    config = parse_config("[dhcp]\nntp_servers = 192.0.2.123 192.0.2.124\n", PATH)
    assert config.ntp_servers == (IPv4Address("192.0.2.123"), IPv4Address("192.0.2.124"))


def test_empty_lists_mean_none() -> None:
    text = "[dhcp]\nnameservers =\ndomain =\n[ipv6]\nnameservers =\ndomains = \n"
    config = parse_config(text, PATH)
    assert config.nameservers == () and config.domain is None
    assert config.nameservers6 == () and config.domains6 == ()


@pytest.mark.parametrize("mode", MODES)
def test_modes(mode: str) -> None:
    assert parse_config(f"[ipv6]\nmode = {mode}\n", PATH).mode == mode


@pytest.mark.parametrize(
    ("raw", "value"), [("yes", True), ("No", False), ("1", True), ("off", False), ("TRUE", True)]
)
def test_booleans(raw: str, value: bool) -> None:
    assert parse_config(f"[dhcp]\nenable_dhcp = {raw}\n", PATH).enable_dhcp is value


# (section, key, value): each alone in an otherwise default config must be refused.
BAD_VALUES = [
    ("dhcp", "lease_lifetime", "abc"),
    ("dhcp", "lease_lifetime", "4294967296"),
    ("dhcp", "lease_lifetime", "-5"),
    ("dhcp", "lease_renewal", "1.5"),
    ("dhcp", "dhcp_queue", "70000"),
    ("dhcp", "dhcp_queue", "-1"),
    ("dhcp", "dhcp_queue", "forty-two"),
    ("dhcp", "server_ip", "1.2.3"),
    ("dhcp", "server_ip", "2001:db8::1"),
    ("dhcp", "enable_dhcp", "maybe"),
    ("dhcp", "server_on_link", "2"),
    ("dhcp", "nameservers", "192.0.2.2, dns.example"),
    ("dhcp", "domain", "bad..domain"),
    ("dhcp", "ntp_servers", "1.2.3.4.5"),
    ("ipv6", "mode", "foo"),
    ("ipv6", "mode", "AUTO"),
    ("ipv6", "ra_period", "0"),
    ("ipv6", "ra_period", "5m"),
    ("ipv6", "enable_ipv6", "perhaps"),
    ("ipv6", "rs_queue", "65536"),
    ("ipv6", "nameservers", "192.0.2.2"),
    ("ipv6", "domains", "ok.example -bad.example"),
    ("ipv6", "enable_dhcpv6", "sometimes"),
    ("general", "pidfile", "relative/nfdhcpd.pid"),
    ("general", "datapath", "var/lib/nfdhcpd"),
    ("dhcp", "lease_lifetime", ""),
    ("dhcp", "server_ip", ""),
]


@pytest.mark.parametrize(("section", "key", "value"), BAD_VALUES)
def test_bad_value(section: str, key: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(f"[{section}]\n{key} = {value}\n", PATH)
    error = info.value
    assert (error.path, error.section, error.key, error.value) == (PATH, section, key, value)
    message = str(error)
    assert "\n" not in message
    assert message.startswith(f"{PATH}: [{section}] {key} = {value!r}: ")
    assert error.reason


def test_bad_value_in_the_grnet_sample() -> None:
    text = GRNET_CONFIG.replace("lease_lifetime = 604800 # 1 week", "lease_lifetime = abc # x")
    with pytest.raises(ConfigError) as info:
        parse_config(text, PATH)
    assert str(info.value).startswith(f"{PATH}: [dhcp] lease_lifetime = 'abc': ")


@pytest.mark.parametrize(("renewal", "lifetime"), [(3600, 3600), (7200, 3600), (600, 3)])
def test_renewal_not_shorter_than_lifetime_becomes_half(renewal: int, lifetime: int) -> None:
    """GRNET accepted these; T1 is then RFC 2131 4.4.5's default, half the lease (the
    GRNET cases in test_grnet_dropin.py check the warning)."""
    text = f"[dhcp]\nlease_lifetime = {lifetime}\nlease_renewal = {renewal}\n"
    config = parse_config(text, PATH)
    assert config.lease_renewal == lifetime // 2
    assert any("lease_renewal" in w for w in config.warnings)


@pytest.mark.parametrize("lifetime", [0, 1, 2])
def test_lease_too_short_to_renew_is_the_default(lifetime: int) -> None:
    config = parse_config(f"[dhcp]\nlease_lifetime = {lifetime}\n", PATH)
    assert config.lease_lifetime == 604800
    assert any("lease_lifetime" in w for w in config.warnings)


@pytest.mark.parametrize(
    ("text", "section", "key", "number"),
    [
        ("[dhcp]\ndhcp_queue = 43\n", "ipv6", "rs_queue", "43"),
        ("[ipv6]\nns_queue = 43\n", "ipv6", "ns_queue", "43"),
        ("[ipv6]\ndhcpv6_queue = 44\n", "ipv6", "dhcpv6_queue", "44"),
        ("[ipv6]\ndhcp_queue = 42\n", "ipv6", "dhcpv6_queue", "42"),
    ],
)
def test_duplicate_queues(text: str, section: str, key: str, number: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, PATH)
    error = info.value
    assert (error.path, error.section, error.key, error.value) == (PATH, section, key, number)
    assert "same queue" in error.reason
    assert f"[{section}] {key} = {number!r}" in str(error)


def test_disabled_services_may_share_queues() -> None:
    assert parse_config("[dhcp]\nenable_dhcp = no\ndhcp_queue = 43\n", PATH).dhcp_queue == 43
    config = parse_config("[ipv6]\nenable_ipv6 = no\nrs_queue = 42\nns_queue = 42\n", PATH)
    assert config.rs_queue == 42


def test_deprecated_ipv6_dhcp_queue_alias() -> None:
    config = parse_config("[ipv6]\ndhcp_queue = 47\n", PATH)
    assert config.dhcpv6_queue == 47
    assert config.dhcp_queue == 42
    assert any(
        "dhcp_queue" in w and "deprecated" in w and "dhcpv6_queue" in w for w in config.warnings
    )
    assert all(w.startswith(PATH) for w in config.warnings)


def test_dhcp_section_dhcp_queue_is_not_deprecated() -> None:
    config = parse_config("[dhcp]\ndhcp_queue = 47\n", PATH)
    assert config.dhcp_queue == 47
    assert config.warnings == ()


@pytest.mark.parametrize(("raw", "mode"), [("no", "slaac"), ("false", "slaac"), ("yes", "auto")])
def test_legacy_enable_dhcpv6(raw: str, mode: str) -> None:
    config = parse_config(f"[ipv6]\nenable_dhcpv6 = {raw}\n", PATH)
    assert config.mode == mode
    assert any("enable_dhcpv6" in w and "deprecated" in w for w in config.warnings)


def test_unknown_keys_and_sections_are_warnings() -> None:
    text = "[dhcp]\nfoo = bar\n[metrics]\nport = 9100\n[ipv6]\nenable_dhcpv6_x = 1\n"
    config = parse_config(text, PATH)
    assert config == Config(path=PATH)
    warnings = " | ".join(config.warnings)
    assert len(config.warnings) == 3
    assert "foo" in warnings and "[metrics]" in warnings and "enable_dhcpv6_x" in warnings


def test_keys_are_case_insensitive() -> None:
    assert parse_config("[dhcp]\nLease_Lifetime = 7200\n", PATH).lease_lifetime == 7200


def test_semicolon_comments() -> None:
    assert parse_config("[dhcp]\ndhcp_queue = 50 ; queue\n", PATH).dhcp_queue == 50


@pytest.mark.parametrize(
    "text",
    [
        "lease_lifetime = 5\n",
        "[dhcp]\n[dhcp]\n",
        "[dhcp]\nx = 1\nx = 2\n",
        "[dhcp\n",
        "[dhcp]\n=x\n",
        "[dhcp]\nno value line\n",
    ],
)
def test_syntax_errors_name_the_file(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, PATH)
    assert str(info.value).startswith(PATH)
    assert "\n" not in str(info.value)


@settings(max_examples=500)
@given(st.text(max_size=300))
def test_arbitrary_text(text: str) -> None:
    try:
        config = parse_config(text, PATH)
    except ConfigError as exc:
        assert str(exc).startswith(PATH)
        return
    assert isinstance(config, Config)


KEYS = {
    "general": ["pidfile", "datapath", "logdir", "user"],
    "dhcp": [
        "enable_dhcp",
        "lease_lifetime",
        "lease_renewal",
        "server_ip",
        "server_on_link",
        "dhcp_queue",
        "nameservers",
        "domain",
        "ntp_servers",
    ],
    "ipv6": [
        "enable_ipv6",
        "mode",
        "ra_period",
        "rs_queue",
        "ns_queue",
        "dhcpv6_queue",
        "dhcp_queue",
        "nameservers",
        "domains",
        "enable_dhcpv6",
    ],
}
VALUES = [
    "yes",
    "no",
    "42",
    "43",
    "0",
    "1",
    "300",
    "604800",
    "1.2.3.4",
    "2001:db8::1",
    "auto",
    "slaac",
    "/var/x",
    "example.com",
    "",
    "%(x)s",
    "x # y",
    "4294967294",
    "-1",
]


@st.composite
def config_texts(draw: st.DrawFn) -> str:
    lines = []
    for section in draw(st.lists(st.sampled_from(sorted(KEYS)), max_size=3, unique=True)):
        lines.append(f"[{section}]")
        for _ in range(draw(st.integers(0, 5))):
            key = draw(st.sampled_from(KEYS[section]))
            value = draw(st.sampled_from(VALUES) | st.text(max_size=12))
            lines.append(f"{key} = {value}")
    return "\n".join(lines) + "\n"


@settings(max_examples=500)
@given(config_texts())
def test_schema_soup(text: str) -> None:
    try:
        config = parse_config(text, PATH)
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith(PATH)
        if exc.key is not None:
            assert f"[{exc.section}] {exc.key} = " in message
        return
    assert config.lease_renewal < config.lease_lifetime
    assert config.mode in MODES
    queues = []
    if config.enable_dhcp:
        queues.append(config.dhcp_queue)
    if config.enable_ipv6:
        queues += [config.rs_queue, config.ns_queue, config.dhcpv6_queue]
    assert len(queues) == len(set(queues))


# --- each key declared once: the field metadata, checked against conf/nfdhcpd.conf ----

SHIPPED = Path(__file__).resolve().parents[2] / "conf" / "nfdhcpd.conf"


def shipped_keys() -> set[tuple[str, str]]:
    """(section, key) of every key conf/nfdhcpd.conf sets, commented out or not."""
    keys, section = set(), ""
    for line in SHIPPED.read_text().splitlines():
        text = line.lstrip("#; ").strip()
        if text.startswith("[") and text.endswith("]"):
            section = text[1:-1]
        elif re.match(r"^[a-z_0-9]+ ?=", text):
            keys.add((section, text.split("=", 1)[0].strip()))
    return keys


def declared_keys() -> dict[tuple[str, str], str]:
    """(section, key) -> Config field, from the fields' metadata (aliases left out)."""
    declared = {}
    for f in dataclasses.fields(Config):
        if f.metadata:
            declared[(f.metadata["section"], f.metadata["key"] or f.name)] = f.name
    return declared


def test_every_declared_key_is_documented_in_the_shipped_config() -> None:
    assert set(declared_keys()) <= shipped_keys()


def test_the_shipped_config_sets_only_declared_keys() -> None:
    legacy = {("ipv6", "enable_dhcpv6"), ("ipv6", "dhcp_queue")}
    assert shipped_keys() - legacy <= set(declared_keys())


def test_the_shipped_config_is_the_defaults() -> None:
    assert parse_config(SHIPPED.read_text(), str(SHIPPED)) == Config(path=str(SHIPPED))


def test_only_path_and_warnings_are_not_keys() -> None:
    undeclared = {f.name for f in dataclasses.fields(Config) if not f.metadata}
    assert undeclared == {"path", "warnings"}
