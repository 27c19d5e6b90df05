"""A Responder reuses each binding's encoded options; a replaced binding shows at once,
and a reloaded config comes with a new Responder (the daemon's PacketPath.configure)."""

from __future__ import annotations

from ipaddress import IPv4Address

from nfdhcpd.core.responder import Responder

from ..helpers.builders import dhcp_request, inbound, run
from ..helpers.decode import addresses, decode_reply
from ..helpers.samples import grnet_binding, make_config, table_of

DISCOVER = inbound(dhcp_request("discover", options=[("param_req_list", [1, 3, 6, 26])]))


def test_one_binding_is_resolved_and_encoded_once() -> None:
    responder = Responder(make_config())
    binding = grnet_binding()
    table = table_of(binding)
    first = responder.handle(DISCOVER, table)
    entry = responder._entries[binding.name]
    assert entry.kit is not None
    second = responder.handle(DISCOVER, table)
    assert responder._entries[binding.name] is entry and first == second


def test_replaced_binding_is_served_its_own_options() -> None:
    responder = Responder(make_config())
    first = decode_reply(responder.handle(DISCOVER, table_of(grnet_binding())))
    changed = grnet_binding(mtu=1400, dns=(IPv4Address("198.51.100.53"),))
    second = decode_reply(responder.handle(DISCOVER, table_of(changed)))
    assert first.option(26) is None
    assert second.option(26) == (1400).to_bytes(2, "big")
    assert addresses(first.option(6)) == ["192.0.2.2", "192.0.2.3"]
    assert addresses(second.option(6)) == ["198.51.100.53"]


def test_reloaded_config_is_served_at_once() -> None:
    table = table_of(grnet_binding())
    before = decode_reply(Responder(make_config()).handle(DISCOVER, table))
    reloaded = Responder(make_config(nameservers=(IPv4Address("203.0.113.9"),)))
    after = decode_reply(reloaded.handle(DISCOVER, table))
    assert addresses(before.option(6)) == ["192.0.2.2", "192.0.2.3"]
    assert addresses(after.option(6)) == ["203.0.113.9"]


def test_each_parameter_request_list_gets_its_own_order() -> None:
    table, config = table_of(grnet_binding()), make_config()
    orders = ([6, 3, 1], [1, 3, 6], [3, 6, 1])
    for prl in orders * 2:  # the second round is served from the cache
        reply = decode_reply(
            run(inbound(dhcp_request("discover", options=[("param_req_list", prl)])), table, config)
        )
        served = [code for code in reply.codes if code in prl]
        assert served == prl
