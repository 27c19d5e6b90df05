"""GRNET nfdhcpd 0.17 as a drop-in: what its config and binding files meant there, they
mean here, or they load with one warning line saying what changed (issue 10).

The expectations come from GRNET's own sources (github.com/grnet/nfdhcpd, tag 0.17):
`nfdhcpd/__init__.py` (configobj spec: `ra_period` and leases `integer(min=0 or 1,
max=4294967295)`, `user` as a uid or a name), `binding_config.py` (a flag is true when
its value is not empty: `binding.private is None`), `vm_net_proxy.py` (router lifetime
14400 on every RA whatever GATEWAY6 says, domain from HOSTNAME after its first dot when
`domain` is unset, `server_on_link` = GATEWAY else the subnet's first host), and from
RFC 4861 6.2.1 for the router lifetime nfdhcpd puts in place of GRNET's 14400 s.
"""

from __future__ import annotations

import pwd
from ipaddress import IPv4Address

import pytest
from scapy.layers.dhcp6 import DHCP6_InfoRequest, DHCP6OptClientId
from scapy.layers.inet6 import ICMPv6ND_RA, ICMPv6NDOptPrefixInfo

from nfdhcpd.core.config import parse_config
from nfdhcpd.core.reply6 import unsolicited_ra
from nfdhcpd.core.responder import Decision, Verdict
from nfdhcpd.shell.privileges import check_user

from ..helpers.builders import (
    client_duid,
    dhcp6_request,
    dhcp_request,
    inbound,
    ns_request,
    rs_request,
    run,
)
from ..helpers.decode import decode_frame6, decode_reply, decode_reply6
from ..helpers.samples import (
    DHCP6_QUEUE,
    GATEWAY6,
    GRNET_BINDING,
    GRNET_CONFIG,
    NS_QUEUE,
    RS_QUEUE,
    TAP,
    TAP_LL,
    TAP_MAC,
    V6_CONFIG,
    VM_IP,
    binding_from,
    make_config,
    table_of,
)

#: GRNET 0.17's nfdhcpd.conf, the file its package installed (the README's sample has
#: `mode = auto` where this one still has the older `enable_dhcpv6 = yes`).
GRNET_017_CONF = GRNET_CONFIG.replace("mode = auto\n", "enable_dhcpv6 = yes\n")

#: RFC 4861 6.2.1: AdvDefaultLifetime is 0 or MaxRtrAdvInterval..9000 s.
RFC4861_MAX_ROUTER_LIFETIME = 9000
#: What a default route must outlive: an hour of daemon downtime, starting up to one
#: jittered period (1.1 x ra_period, RFC 4861 6.2.1 jitter here) after the last RA.
DOWNTIME = 3600


def config_with(section: str, line: str, text: str = GRNET_CONFIG) -> str:
    """GRNET's sample config with `line` appended to `section` (later keys win)."""
    head, sep, tail = text.partition(f"[{section}]\n")
    assert sep, section
    return f"{head}{sep}{line}\n{tail}"


def replace_line(old: str, new: str, text: str = GRNET_CONFIG) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


# --- the config file -------------------------------------------------------------


@pytest.mark.parametrize(("given", "used"), [(1, 4), (2, 4), (3600, 1800), (86400, 1800)])
def test_ra_period_grnet_accepted_is_clamped_with_a_warning(given: int, used: int) -> None:
    text = replace_line("ra_period = 300 # seconds", f"ra_period = {given}")
    config = parse_config(text, "/etc/nfdhcpd/nfdhcpd.conf")
    assert config.ra_period == used
    lines = [w for w in config.warnings if "ra_period" in w]
    assert len(lines) == 1, config.warnings
    assert str(given) in lines[0] and str(used) in lines[0], lines


def test_ra_period_inside_the_range_is_silent() -> None:
    config = parse_config(GRNET_CONFIG, "/etc/nfdhcpd/nfdhcpd.conf")
    assert config.ra_period == 300
    assert config.warnings == ()


def test_infinite_lease_is_accepted() -> None:
    """RFC 2131 3.3: 0xffffffff is an infinite lease; GRNET's max was 4294967295."""
    text = replace_line("lease_lifetime = 604800 # 1 week", "lease_lifetime = 4294967295")
    config = parse_config(text, "/c")
    assert config.lease_lifetime == 0xFFFFFFFF
    assert config.lease_renewal == 3600
    assert config.lease_renewal < config.rebinding_time < config.lease_lifetime
    assert config.warnings == ()


def test_zero_lease_is_accepted_with_a_warning() -> None:
    """GRNET sent a lease of 0 s (every address expired at once); nfdhcpd uses its
    default instead and says so in one line."""
    text = replace_line("lease_lifetime = 604800 # 1 week", "lease_lifetime = 0")
    config = parse_config(text, "/c")
    assert config.lease_lifetime == 604800
    [warning] = config.warnings
    assert "lease_lifetime" in warning and "604800" in warning


@pytest.mark.parametrize(("lease", "renewal"), [(3600, 3600), (3600, 7200), (600, 599), (60, 0)])
def test_renewal_not_below_the_lease_is_accepted_with_a_warning(lease: int, renewal: int) -> None:
    """GRNET took any 0..2^32-1; T1 must leave room for T2 (RFC 2131 4.4.5), so it
    becomes half the lease, its RFC default."""
    text = replace_line("lease_lifetime = 604800 # 1 week", f"lease_lifetime = {lease}")
    text = replace_line("lease_renewal = 3600 \t# 1 hour", f"lease_renewal = {renewal}", text)
    config = parse_config(text, "/c")
    assert config.lease_lifetime == lease
    assert config.lease_renewal == lease // 2
    assert config.lease_renewal < config.rebinding_time < config.lease_lifetime
    [warning] = config.warnings
    assert "lease_renewal" in warning and str(lease // 2) in warning


def test_quoted_values_read_as_configobj_read_them() -> None:
    """configobj (GRNET's parser) strips the quotes of a value and of each list item."""
    text = GRNET_CONFIG
    text = replace_line("domain = example.com\n", 'domain = "example.com"\n', text)
    text = replace_line("server_ip = 192.0.2.1", "server_ip = '192.0.2.1'", text)
    text = replace_line("user = nobody #", 'user = "nobody" #', text)
    text = replace_line(
        "nameservers = 192.0.2.2, 192.0.2.3", 'nameservers = "192.0.2.2", "192.0.2.3"', text
    )
    config = parse_config(text, "/c")
    assert config.domain == "example.com"
    assert config.server_ip == IPv4Address("192.0.2.1")
    assert config.user == "nobody"
    assert config.nameservers == (IPv4Address("192.0.2.2"), IPv4Address("192.0.2.3"))
    assert config.warnings == ()


def test_one_quoted_value_keeps_its_commas() -> None:
    config = parse_config('[general]\ntrace = "/var/tmp/a,b.pcap"\n', "/c")
    assert config.trace == "/var/tmp/a,b.pcap"


def test_numeric_user_is_a_uid_as_in_grnet() -> None:
    """GRNET: pwd.getpwuid(int(user)) first. `check` and the start share check_user."""
    nobody = pwd.getpwnam("nobody")
    assert check_user(str(nobody.pw_uid)).pw_name == "nobody"


@pytest.mark.parametrize("mode", ["slaac", "dhcpv6", "slaac+dhcpv6"])
@pytest.mark.parametrize("first", ["mode", "enable_dhcpv6"])
def test_enable_dhcpv6_never_overrides_mode(mode: str, first: str) -> None:
    lines = {"mode": f"mode = {mode}", "enable_dhcpv6": "enable_dhcpv6 = no"}
    other = "enable_dhcpv6" if first == "mode" else "mode"
    text = replace_line("mode = auto\n", f"{lines[first]}\n{lines[other]}\n")
    config = parse_config(text, "/c")
    assert config.mode == mode
    [warning] = config.warnings
    assert "enable_dhcpv6" in warning and "ignored" in warning


def test_grnet_017_conf_loads_with_one_warning() -> None:
    """GRNET 0.17 ignored enable_dhcpv6 (its spec had `mode`, default auto)."""
    config = parse_config(GRNET_017_CONF, "/etc/nfdhcpd/nfdhcpd.conf")
    assert config.mode == "auto"
    [warning] = config.warnings
    assert "enable_dhcpv6" in warning


# --- binding files -----------------------------------------------------------------


@pytest.mark.parametrize("key", ["PRIVATE", "MACSPOOF"])
@pytest.mark.parametrize("value", ["private", "x", "enabled", "2"])
def test_grnet_truthy_flag_values_are_true_with_a_warning(key: str, value: str) -> None:
    """GRNET: any non-empty value sets the flag."""
    binding = binding_from(GRNET_BINDING + f"{key}={value}\n")
    assert getattr(binding, key.lower()) is True
    said = [w for w in binding.warnings if f"{key}={value}" in w]
    assert len(said) == 1 and "set" in said[0], binding.warnings


@pytest.mark.parametrize("key", ["PRIVATE", "MACSPOOF"])
@pytest.mark.parametrize("value", ["no", "0", "false", "off"])
def test_false_words_are_false_and_the_change_is_said(key: str, value: str) -> None:
    """GRNET read `PRIVATE=no` as set; nfdhcpd reads it as the admin wrote it and warns."""
    binding = binding_from(GRNET_BINDING + f"{key}={value}\n")
    assert getattr(binding, key.lower()) is False
    [warning] = binding.warnings
    assert key in warning and "GRNET" in warning


@pytest.mark.parametrize("key", ["PRIVATE", "MACSPOOF"])
@pytest.mark.parametrize("value", ["yes", "1", "true", "on"])
def test_true_words_are_true(key: str, value: str) -> None:
    binding = binding_from(GRNET_BINDING + f"{key}={value}\n")
    assert getattr(binding, key.lower()) is True


def test_unknown_keys_are_warnings() -> None:
    binding = binding_from(GRNET_BINDING + "NFDHCPD_EXTRA=1\nGATEWAY7=x\n")
    [warning] = binding.warnings
    assert "NFDHCPD_EXTRA" in warning and "GATEWAY7" in warning


def test_grnet_sample_binding_has_no_warnings() -> None:
    assert binding_from(GRNET_BINDING).warnings == ()


# --- IPv6 router: empty GATEWAY6, lifetime ----------------------------------------------

#: snf-network's binding for a routed TAP on a network without gateway6.
ROUTED_NO_GW6 = GRNET_BINDING.replace(f"GATEWAY6={GATEWAY6}\n", "GATEWAY6=\n")
BRIDGED_NO_GW6 = ROUTED_NO_GW6.replace("INDEV=tap10", "INDEV=br0")


def router_lifetime(decision: Decision) -> int:
    return int(decode_reply6(decision)[ICMPv6ND_RA].routerlifetime)


def test_empty_gateway6_on_a_routed_tap_still_advertises_the_host() -> None:
    """GRNET advertised itself (lifetime 14400) whatever GATEWAY6 said; on a routed TAP
    the host is the VM's only router, so its default route must stay."""
    binding = binding_from(ROUTED_NO_GW6)
    assert binding.gateway6 is None
    decision = run(inbound(rs_request(), queue=RS_QUEUE), table_of(binding), V6_CONFIG)
    assert router_lifetime(decision) == RFC4861_MAX_ROUTER_LIFETIME
    prefix = decode_reply6(decision)[ICMPv6NDOptPrefixInfo]
    assert prefix.R == 0  # no router address to announce in the prefix option
    frame = unsolicited_ra(binding, V6_CONFIG, TAP_MAC)
    assert frame is not None
    periodic = decode_frame6(frame.data)[ICMPv6ND_RA]
    assert periodic.routerlifetime == RFC4861_MAX_ROUTER_LIFETIME
    assert binding.warnings == ()


def test_empty_gateway6_on_a_bridged_tap_is_no_router_and_says_so() -> None:
    """On a bridge the VMs' router is elsewhere: no default route to the host, and the
    binding's load line says what GRNET did instead."""
    binding = binding_from(BRIDGED_NO_GW6)
    packet = inbound(rs_request(), queue=RS_QUEUE, indev="br0", physindev=TAP)
    decision = run(packet, table_of(binding), V6_CONFIG)
    assert router_lifetime(decision) == 0
    [warning] = binding.warnings
    assert "GATEWAY6" in warning and "GRNET" in warning


@pytest.mark.parametrize("ra_period", [4, 300, 1800])
def test_router_lifetime_outlives_an_hour_of_downtime(ra_period: int) -> None:
    config = make_config(**{**_v6(), "ra_period": ra_period})
    decision = run(inbound(rs_request(), queue=RS_QUEUE), None, config)
    lifetime = router_lifetime(decision)
    assert lifetime >= DOWNTIME + 1.1 * ra_period
    assert 1.1 * ra_period <= lifetime <= RFC4861_MAX_ROUTER_LIFETIME


def _v6() -> dict[str, object]:
    return {
        "server_duid": V6_CONFIG.server_duid,
        "nameservers6": V6_CONFIG.nameservers6,
        "domains6": V6_CONFIG.domains6,
    }


# --- DHCPv4: domain fallback, server_on_link -------------------------------------------


def test_domain_falls_back_to_the_fqdn_hostname() -> None:
    """GRNET: domain = HOSTNAME after its first dot when [dhcp] domain is unset."""
    binding = binding_from(GRNET_BINDING.replace("HOSTNAME=testing-vm", "HOSTNAME=vm1.grnet.gr"))
    config = make_config(domain=None)
    reply = decode_reply(run(inbound(dhcp_request("discover")), table_of(binding), config))
    assert reply.option(15) == b"grnet.gr"
    assert reply.option(12) == b"vm1.grnet.gr"


def test_no_domain_from_a_bare_hostname() -> None:
    """GRNET sent the bare host name itself as the domain: not kept (a bug)."""
    config = make_config(domain=None)
    reply = decode_reply(run(inbound(dhcp_request("discover")), None, config))
    assert reply.option(15) is None


def test_server_on_link_without_gateway_is_the_subnets_first_host() -> None:
    binding = binding_from(GRNET_BINDING.replace("GATEWAY=192.0.2.1\n", "GATEWAY=\n"))
    config = make_config(server_on_link=True)
    reply = decode_reply(run(inbound(dhcp_request("discover")), table_of(binding), config))
    assert reply.option(54) == IPv4Address("192.0.2.1").packed
    assert reply.bootp.yiaddr == VM_IP


# --- scope: bound, but no SUBNET6 -------------------------------------------------------

#: A bound VM whose network has no IPv6 (snf-network writes SUBNET6= and EUI64= empty).
NO_IPV6 = (
    GRNET_BINDING.replace(f"GATEWAY6={GATEWAY6}\n", "GATEWAY6=\n")
    .replace("SUBNET6=2001:db8:aaaa:bbbb::/64\n", "SUBNET6=\n")
    .replace("EUI64=2001:db8:aaaa:bbbb:a86b:39ff:fe22:3344\n", "EUI64=\n")
)


@pytest.mark.parametrize("what", ["rs", "ns", "dhcpv6"])
def test_bound_vm_without_subnet6_gets_its_ipv6_passed_on(what: str) -> None:
    """Another router or DHCPv6 server on the link must see these untouched (ACCEPT)."""
    packets = {
        "rs": (rs_request(), RS_QUEUE),
        "ns": (ns_request(TAP_LL), NS_QUEUE),  # the router address nfdhcpd answers for
        "dhcpv6": (
            dhcp6_request(DHCP6_InfoRequest(trid=7), DHCP6OptClientId(duid=client_duid())),
            DHCP6_QUEUE,
        ),
    }
    payload, queue = packets[what]
    decision = run(inbound(payload, queue=queue), table_of(binding_from(NO_IPV6)), V6_CONFIG)
    assert decision.verdict is Verdict.ACCEPT, decision
    assert decision.frames == ()
