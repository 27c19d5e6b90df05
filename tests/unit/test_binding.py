"""binding.py: GRNET binding files, every refusal naming file, line and reason."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nfdhcpd.core.binding import (
    MAX_BINDING_SIZE,
    Binding,
    BindingTable,
    Route,
    ignored_name,
    parse_binding,
    valid_domain,
    valid_ifname,
)
from nfdhcpd.core.errors import BindingError

from ..helpers.samples import GRNET_BINDING, VM_MAC, grnet_binding

MINIMAL = "MAC=aa:6b:39:22:33:44\nIP=192.0.2.100\nSUBNET=192.0.2.0/24\n"


def parse(text: str | bytes, name: str = "tap10") -> Binding:
    return parse_binding(text.encode() if isinstance(text, str) else text, name)


def test_grnet_sample() -> None:
    binding = parse(GRNET_BINDING)
    assert binding == Binding(
        name="tap10",
        mac=VM_MAC,
        indev="tap10",
        ip=IPv4Address("192.0.2.100"),
        hostname="testing-vm",
        tags=None,  # TAGS="" is unset
        subnet=IPv4Network("192.0.2.0/24"),
        gateway=IPv4Address("192.0.2.1"),
        subnet6=IPv6Network("2001:db8:aaaa:bbbb::/64"),
        gateway6=IPv6Address("2001:db8:aaaa:bbbb::1"),
        eui64=IPv6Address("2001:db8:aaaa:bbbb:a86b:39ff:fe22:3344"),
        private=False,  # PRIVATE= is unset, i.e. false
        mtu=None,
        macspoof=False,
        dns=None,
        domain=None,
        search=None,
        ntp=None,
        routes=(),
    )


def test_minimal_binding() -> None:
    binding = parse("MAC=aa:6b:39:22:33:44\n", "tap0")
    assert binding == Binding(name="tap0", mac=VM_MAC)
    assert binding.ip is None and binding.indev is None and binding.routes == ()


def test_shell_quotes_comments_and_export() -> None:
    text = (
        "# written by kvm-ifup-custom\n"
        "\n"
        "  MAC='aa:6b:39:22:33:44'  \n"
        'HOSTNAME="testing-vm" # trailing comment\n'
        "export IP=192.0.2.100\n"
        "SUBNET=192.0.2.0/24 # the subnet\n"
        "TAGS='nfdhcpd web tier'\n"
        'ROUTES="10.1.0.0/16 via 192.0.2.254, 10.2.0.0/16 via 192.0.2.253"\n'
        "DNS='192.0.2.53,192.0.2.54'\n"
        "NTP=192.0.2.123\n"
        "SEARCH='a.example b.example.'\n"
        "DOMAIN=example.org\n"
        "MTU='1450'\n"
        "MACSPOOF=yes\n"
        "PRIVATE=1\n"
        "mtu_unknown_key=ignored\n"
    )
    binding = parse(text)
    assert binding.mac == VM_MAC
    assert binding.hostname == "testing-vm"
    assert binding.ip == IPv4Address("192.0.2.100")
    assert binding.tags == "nfdhcpd web tier"
    assert binding.routes == (
        Route(IPv4Network("10.1.0.0/16"), IPv4Address("192.0.2.254")),
        Route(IPv4Network("10.2.0.0/16"), IPv4Address("192.0.2.253")),
    )
    assert binding.dns == (IPv4Address("192.0.2.53"), IPv4Address("192.0.2.54"))
    assert binding.ntp == (IPv4Address("192.0.2.123"),)
    assert binding.search == ("a.example", "b.example.")
    assert binding.domain == "example.org"
    assert binding.mtu == 1450
    assert binding.macspoof is True
    assert binding.private is True


def test_lowercase_keys_and_crlf() -> None:
    binding = parse("mac=aa:6b:39:22:33:44\r\nhostname=vm1\r\n")
    assert binding.mac == VM_MAC
    assert binding.hostname == "vm1"


def test_later_duplicate_keys_win() -> None:
    binding = parse(GRNET_BINDING + "IP=192.0.2.101\nHOSTNAME=second\nMAC=aa:6b:39:22:33:45\n")
    assert binding.ip == IPv4Address("192.0.2.101")
    assert binding.hostname == "second"
    assert binding.mac == bytes.fromhex("aa6b39223345")


def test_later_empty_value_unsets() -> None:
    binding = parse(GRNET_BINDING + "HOSTNAME=\nINDEV=''\n")
    assert binding.hostname is None
    assert binding.indev is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", False),
        ("no", False),
        ("0", False),
        ("false", False),
        ("Off", False),
        ("yes", True),
        ("1", True),
        ("true", True),
        ("ON", True),
        ("y", True),
    ],
)
def test_booleans(value: str, expected: bool) -> None:
    assert parse(f"{MINIMAL}PRIVATE={value}\nMACSPOOF={value}\n").private is expected
    assert parse(f"{MINIMAL}MACSPOOF={value}\n").macspoof is expected


def test_dash_mac_and_uppercase() -> None:
    assert parse("MAC=AA-6B-39-22-33-44\n").mac == VM_MAC


def test_small_subnets() -> None:
    assert parse("MAC=aa:6b:39:22:33:44\nIP=192.0.2.0\nSUBNET=192.0.2.0/31\n").ip is not None
    assert parse("MAC=aa:6b:39:22:33:44\nIP=192.0.2.7\nSUBNET=192.0.2.7/32\n").ip is not None


# (file content, line the error must name (0 = whole file), text the reason must contain)
BAD: dict[str, tuple[bytes, int, str]] = {
    "binary-junk": (b"\x7fELF\x02\x01\x01\x00\x00\x00\x00", 0, "NUL"),
    "nul": (MINIMAL.encode() + b"HOSTNAME=vm\x00\n", 0, "NUL"),
    "non-utf8": (MINIMAL.encode() + b"HOSTNAME=caf\xe9\n", 0, "UTF-8"),
    "junk-text": (b"\x01\x02\x03 garbage\n", 1, "KEY=VALUE"),
    "no-equals": (b"MAC=aa:6b:39:22:33:44\nIP 192.0.2.100\n", 2, "KEY=VALUE"),
    "missing-mac": (b"IP=192.0.2.100\nSUBNET=192.0.2.0/24\n", 0, "MAC: missing"),
    "empty-mac": (b"MAC=\n", 1, "MAC: missing"),
    "bad-mac": (b"INDEV=tap10\nMAC=aa:6b:39:22:33:zz\n", 2, "MAC"),
    "short-mac": (b"MAC=aa:6b:39:22:33\n", 1, "MAC"),
    "multicast-mac": (b"MAC=01:00:5e:00:00:01\n", 1, "multicast"),
    "broadcast-mac": (b"MAC=ff:ff:ff:ff:ff:ff\n", 1, "multicast"),
    "ip-outside-subnet": (
        b"MAC=aa:6b:39:22:33:44\nIP=10.0.0.5\nSUBNET=192.0.2.0/24\n",
        2,
        "outside SUBNET",
    ),
    "ip-without-subnet": (b"MAC=aa:6b:39:22:33:44\nIP=192.0.2.100\n", 0, "SUBNET: missing"),
    "bad-ip": (b"MAC=aa:6b:39:22:33:44\nIP=192.0.2.300\nSUBNET=192.0.2.0/24\n", 2, "IP"),
    "network-address": (
        b"MAC=aa:6b:39:22:33:44\nIP=192.0.2.0\nSUBNET=192.0.2.0/24\n",
        2,
        "network or broadcast",
    ),
    "broadcast-address": (
        b"MAC=aa:6b:39:22:33:44\nIP=192.0.2.255\nSUBNET=192.0.2.0/24\n",
        2,
        "broadcast",
    ),
    "bad-subnet-prefix": (
        b"MAC=aa:6b:39:22:33:44\nIP=192.0.2.100\nSUBNET=192.0.2.0/33\n",
        3,
        "SUBNET",
    ),
    "subnet-host-bits": (
        b"MAC=aa:6b:39:22:33:44\nIP=192.0.2.100\nSUBNET=192.0.2.1/24\n",
        3,
        "SUBNET",
    ),
    "gateway-is-ip": (MINIMAL.encode() + b"GATEWAY=192.0.2.100\n", 4, "GATEWAY"),
    "bad-gateway": (MINIMAL.encode() + b"GATEWAY=gw\n", 4, "GATEWAY"),
    "mtu-0": (MINIMAL.encode() + b"MTU=0\n", 4, "MTU"),
    "mtu-67": (MINIMAL.encode() + b"MTU=67\n", 4, "MTU"),
    "mtu-70000": (MINIMAL.encode() + b"MTU=70000\n", 4, "MTU"),
    "mtu-abc": (MINIMAL.encode() + b"MTU=abc\n", 4, "MTU"),
    "bad-hostname": (MINIMAL.encode() + b"HOSTNAME=bad!host\n", 4, "HOSTNAME"),
    "hostname-leading-dash": (MINIMAL.encode() + b"HOSTNAME=-vm\n", 4, "HOSTNAME"),
    "hostname-long-label": (MINIMAL.encode() + b"HOSTNAME=" + b"a" * 64 + b"\n", 4, "HOSTNAME"),
    "bad-domain": (MINIMAL.encode() + b"DOMAIN=a..b\n", 4, "DOMAIN"),
    "bad-search": (MINIMAL.encode() + b"SEARCH='ok.example bad..example'\n", 4, "SEARCH"),
    "bad-dns": (MINIMAL.encode() + b"DNS=192.0.2.53,1.2.3\n", 4, "DNS"),
    "bad-ntp": (MINIMAL.encode() + b"NTP=ntp.example\n", 4, "NTP"),
    "routes-no-via": (MINIMAL.encode() + b"ROUTES='10.0.0.0/8 192.0.2.1'\n", 4, "ROUTES"),
    "routes-bad-net": (MINIMAL.encode() + b"ROUTES='10.0.0.0/33 via 192.0.2.1'\n", 4, "ROUTES"),
    "routes-host-bits": (MINIMAL.encode() + b"ROUTES='10.0.0.1/8 via 192.0.2.1'\n", 4, "ROUTES"),
    "routes-bad-router": (MINIMAL.encode() + b"ROUTES='10.0.0.0/8 via gw'\n", 4, "ROUTES"),
    "routes-empty-item": (MINIMAL.encode() + b"ROUTES='10.0.0.0/8 via 192.0.2.1,'\n", 4, "ROUTES"),
    "unterminated-quote": (MINIMAL.encode() + b'HOSTNAME="testing-vm\n', 4, "quotation"),
    "bad-indev": (MINIMAL.encode() + b"INDEV='br 0'\n", 4, "INDEV"),
    "indev-too-long": (MINIMAL.encode() + b"INDEV=" + b"b" * 16 + b"\n", 4, "INDEV"),
    "bad-subnet6": (MINIMAL.encode() + b"SUBNET6=2001:db8::1/64\n", 4, "SUBNET6"),
    "eui64-outside": (
        MINIMAL.encode() + b"SUBNET6=2001:db8:1::/64\nEUI64=2001:db8:2::1\n",
        5,
        "EUI64",
    ),
    "too-large": (b"#" * (MAX_BINDING_SIZE + 1), 0, "larger than"),
}


@pytest.mark.parametrize(("data", "line", "reason"), BAD.values(), ids=BAD.keys())
def test_bad_binding(data: bytes, line: int, reason: str) -> None:
    with pytest.raises(BindingError) as info:
        parse_binding(data, "tap42")
    error = info.value
    assert error.name == "tap42"
    assert error.line == line
    assert reason in error.reason
    text = str(error)
    assert text.startswith(f"tap42:{line}: " if line else "tap42: ")
    assert reason in text


@pytest.mark.parametrize(
    "name",
    ["a/b", "x" * 16, ".", "..", "", "tap 0", "tap:0", "tap\n", "tap\t1", "\x00", "t\x7f"],
)
def test_invalid_file_names(name: str) -> None:
    assert not valid_ifname(name)
    with pytest.raises(BindingError) as info:
        parse_binding(GRNET_BINDING.encode(), name)
    assert "not a valid interface name" in str(info.value)
    assert info.value.name == name


def test_undecodable_file_name_is_a_binding_error() -> None:
    """os.listdir() hands undecodable names over as surrogate escapes (PEP 383).

    Such a name is no interface name; it must be refused with BindingError, not
    crash with UnicodeEncodeError (parse_binding raises nothing else).
    """
    name = b"tap\xff".decode("utf-8", "surrogateescape")
    with pytest.raises(BindingError):
        parse_binding(GRNET_BINDING.encode(), name)


@pytest.mark.parametrize("name", ["tap10", "x" * 15, "br-ex", "eth0.100", "tap_1", "vnet0@x"])
def test_valid_file_names(name: str) -> None:
    assert valid_ifname(name)
    assert parse_binding(GRNET_BINDING.encode(), name).name == name


@pytest.mark.parametrize(
    ("name", "ignored"),
    [
        (".x", True),
        (".tap10", True),
        ("x.tmp", True),
        ("x~", True),
        ("x.swp", True),
        (".tap10.swp", True),
        ("tap10", False),
        ("tmp", False),
        ("x.tmpl", False),
        ("swp", False),
        ("a.b", False),
    ],
)
def test_ignored_name(name: str, ignored: bool) -> None:
    assert ignored_name(name) is ignored


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("example.com", True),
        ("example.com.", True),
        ("a" * 63 + ".com", True),
        ("a" * 64 + ".com", False),
        (".".join(["a" * 49] * 5) + "bc", True),
        ("x" * 254, False),
        ("", False),
        (".", False),
        ("a..b", False),
        ("-a.com", False),
        ("a-.com", False),
        ("_srv.example", True),
        ("ex ample.com", False),
        ("é.com", False),
    ],
)
def test_valid_domain(name: str, valid: bool) -> None:
    assert valid_domain(name) is valid


def test_truncations() -> None:
    """Every prefix of a binding file parses or raises BindingError, nothing else."""
    full = GRNET_BINDING + "MTU=1450\nROUTES='10.1.0.0/16 via 192.0.2.254'\nDNS=192.0.2.53\n"
    data = full.encode()
    outcomes = set()
    for end in range(len(data) + 1):
        try:
            parse_binding(data[:end], "tap10")
            outcomes.add("ok")
        except BindingError:
            outcomes.add("error")
    assert outcomes == {"ok", "error"}


def test_binding_table_is_immutable() -> None:
    first = grnet_binding()
    second = parse("MAC=02:00:00:00:00:02\n", "tap11")
    empty = BindingTable()
    one = empty.with_binding(first)
    two = one.with_binding(second)
    assert len(empty) == 0 and "tap10" not in empty
    assert dict(one) == {"tap10": first}
    assert dict(two) == {"tap10": first, "tap11": second}
    replaced = two.with_binding(parse("MAC=02:00:00:00:00:03\n", "tap10"))
    assert two["tap10"] is first
    assert replaced["tap10"].mac == bytes.fromhex("020000000003")
    fewer = two.without("tap10")
    assert dict(fewer) == {"tap11": second}
    assert dict(two) == {"tap10": first, "tap11": second}
    assert dict(two.without("nope")) == dict(two)
    assert two.get("nope") is None
    assert sorted(two) == ["tap10", "tap11"]
    with pytest.raises(TypeError):
        two["tap12"] = first  # type: ignore[index]
    with pytest.raises(TypeError):
        two._entries["tap12"] = first  # type: ignore[index]


def test_table_copies_its_input() -> None:
    source = {"tap10": grnet_binding()}
    table = BindingTable(source)
    source.clear()
    assert "tap10" in table


def test_binding_is_frozen() -> None:
    binding = grnet_binding()
    with pytest.raises(AttributeError):
        binding.ip = None  # type: ignore[misc]


@settings(max_examples=500)
@given(st.binary(max_size=300))
def test_arbitrary_bytes(data: bytes) -> None:
    try:
        binding = parse_binding(data, "tap10")
    except BindingError as exc:
        assert str(exc).startswith("tap10")
        return
    assert isinstance(binding, Binding)


KEYS = [
    "MAC",
    "IP",
    "SUBNET",
    "GATEWAY",
    "INDEV",
    "HOSTNAME",
    "TAGS",
    "SUBNET6",
    "GATEWAY6",
    "EUI64",
    "PRIVATE",
    "MTU",
    "MACSPOOF",
    "DNS",
    "DOMAIN",
    "SEARCH",
    "NTP",
    "ROUTES",
]
PLAUSIBLE = [
    "aa:6b:39:22:33:44",
    "192.0.2.100",
    "192.0.2.0/24",
    "192.0.2.1",
    "10.0.0.0/8 via 192.0.2.1",
    "2001:db8::/64",
    "2001:db8::1",
    "yes",
    "no",
    "1450",
    "tap10",
    "example.com",
    "'",
    '"',
    "",
    "01:00:5e:00:00:01",
    "192.0.2.0/33",
    "a b",
    "\\",
    "#",
    "0",
    "65536",
]
value = st.sampled_from(PLAUSIBLE) | st.text(max_size=20)
line = st.tuples(st.sampled_from(KEYS), value).map(lambda kv: f"{kv[0]}={kv[1]}")


@settings(max_examples=500)
@given(st.lists(line | st.text(max_size=15), max_size=10))
def test_key_value_soup(lines: list[str]) -> None:
    try:
        binding = parse_binding("\n".join(lines).encode(), "tap10")
    except BindingError:
        return
    assert isinstance(binding, Binding)
    if binding.ip is not None:
        assert binding.subnet is not None and binding.ip in binding.subnet
    if binding.mtu is not None:
        assert 68 <= binding.mtu <= 65535
    assert not binding.mac[0] & 1


@settings(max_examples=300)
@given(st.text(max_size=20))
def test_arbitrary_names(name: str) -> None:
    try:
        binding = parse_binding(b"MAC=aa:6b:39:22:33:44\n", name)
    except BindingError:
        assert not valid_ifname(name)
        return
    assert binding.name == name


@pytest.mark.parametrize("gateway6", ["2001:db8:aaaa:bbbb::1", "fe80::1"])
def test_gateway6_inside_subnet6_or_link_local_is_accepted(gateway6: str) -> None:
    """Inside the prefix (the R flag) or link-local (routed hosting's fe80::1)."""
    binding = parse_binding((GRNET_BINDING + f"GATEWAY6={gateway6}\n").encode(), "tap10")
    assert binding.gateway6 == IPv6Address(gateway6)


def test_gateway6_elsewhere_is_refused_naming_the_key() -> None:
    """Issue 11 defect 1: a global GATEWAY6 outside SUBNET6 can be neither the prefix's
    router address nor the RAs' (link-local) source."""
    with pytest.raises(BindingError) as info:
        parse_binding((GRNET_BINDING + "GATEWAY6=2001:db8:ffff::1\n").encode(), "tap10")
    assert "GATEWAY6" in str(info.value) and "outside SUBNET6" in str(info.value)
