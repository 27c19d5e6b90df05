"""Effective: each per-binding override of a config default, resolved in one place."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from nfdhcpd.core.effective import ROUTER_LIFETIME, resolve

from ..helpers.samples import grnet_binding, make_config

DNS = (IPv4Address("198.51.100.53"),)
DNS6 = (IPv6Address("2001:db8::53"),)


def test_config_defaults_apply_without_overrides() -> None:
    config = make_config(
        ntp_servers=(IPv4Address("192.0.2.123"),), nameservers6=DNS6, domains6=("v6.example",)
    )
    e = resolve(grnet_binding(), config)
    assert e.router == IPv4Address("192.0.2.1")
    assert e.server_id == config.server_ip
    assert e.dns == config.nameservers and e.ntp == config.ntp_servers
    assert e.domain == "example.com" and e.search == ("example.com",)
    assert e.dns6 == DNS6 and e.domains6 == ("v6.example",)
    assert e.router_lifetime == ROUTER_LIFETIME


def test_binding_overrides_win() -> None:
    binding = grnet_binding(
        dns=DNS, domain="vm.example", search=("a.example", "b.example"), ntp=(), dns6=()
    )
    e = resolve(binding, make_config(nameservers6=DNS6))
    assert e.dns == DNS and e.domain == "vm.example"
    assert e.search == ("a.example", "b.example") == e.domains6
    assert e.ntp == () and e.dns6 == ()  # set empty: none, not the config's


def test_search_falls_back_to_the_domain_only_for_dhcpv4() -> None:
    e = resolve(grnet_binding(domain="vm.example"), make_config(domain=None))
    assert e.search == ("vm.example",) and e.domains6 == ()
    assert resolve(grnet_binding(), make_config(domain=None)).search == ()


def test_a_fully_qualified_hostname_gives_the_last_fallback_domain() -> None:
    binding = grnet_binding(hostname="vm1.fqdn.example")
    e = resolve(binding, make_config(domain=None))
    assert e.domain == "fqdn.example" and e.search == ("fqdn.example",)
    assert e.domains6 == ("fqdn.example",)
    assert resolve(binding, make_config(domain="conf.example")).domain == "conf.example"


def test_private_has_no_router_and_no_default_route() -> None:
    e = resolve(grnet_binding(private=True), make_config())
    assert e.router is None and e.router_lifetime == 0


def test_server_on_link_answers_from_the_gateway_else_the_first_host() -> None:
    on_link = make_config(server_on_link=True)
    assert resolve(grnet_binding(), on_link).server_id == IPv4Address("192.0.2.1")
    assert resolve(grnet_binding(gateway=None), on_link).server_id == IPv4Address("192.0.2.1")
    assert resolve(grnet_binding(), make_config()).server_id == make_config().server_ip


def test_router_lifetime_only_when_the_host_is_the_default_router() -> None:
    assert resolve(grnet_binding(), make_config(ra_period=1800)).router_lifetime == 9000
    bridged = grnet_binding(gateway6=None, indev="br0")
    assert bridged.default_router6 is False
    assert resolve(bridged, make_config()).router_lifetime == 0
