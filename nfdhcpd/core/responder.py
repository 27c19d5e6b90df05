"""Turn one queued packet into one decision: the protocol core, free of IO.

Theory of operation
-------------------
The shell hands us an `Inbound`: the queue it came from, the logical and physical
ingress interfaces (names), the layer-2 source NFQUEUE saw, the MAC we should
answer from, and the IP packet. `handle` returns a `Decision`: exactly one verdict
for the kernel, the frames to inject, and an event name and reason for the log and
the counters. It never raises for bad input: a `MalformedPacket` becomes a DROP.

The order of checks is the product's contract (README: "Binding files", "What it answers"):

1. Which service? The queue number picks the protocol handler; an unknown queue
   is ACCEPTed untouched.
2. Whose TAP? The binding is looked up by the *physical* ingress interface
   (physindev when bridged, indev when routed). No binding: ACCEPT, so the packet
   continues as if we did not exist (another DHCP server may answer it). The same
   for IPv6 from a binding without SUBNET6: another router may serve that VM.
3. Is it really that VM? A set INDEV must equal the logical ingress device, and
   the layer-2 source must equal MAC unless MACSPOOF. Otherwise DROP.
4. Only then is the packet parsed, and the reply chosen by message type through
   a dispatch table. Everything we answer, and everything we refuse, is DROPped:
   the TAP is ours, nothing behind us should see it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from . import reply4, reply6, reply_dhcp6
from .binding import Binding
from .config import Config
from .decision import Decision, Frame, Inbound, Verdict
from .errors import BadChecksum, MalformedPacket
from .wire import mac_text

__all__ = ["Decision", "Frame", "Inbound", "Verdict", "handle"]


def handle(inbound: Inbound, table: Mapping[str, Binding], config: Config) -> Decision:
    """Decide the fate of one queued packet (see the module docstring)."""
    service = _service(inbound.queue, config)
    if service is None:
        return Decision(Verdict.ACCEPT, "unknown-queue", f"queue {inbound.queue} is not ours")
    binding = table.get(inbound.tap)
    if binding is None:
        return Decision(Verdict.ACCEPT, "no-binding", f"no binding for {inbound.tap}")
    if not in_scope(inbound.queue, binding, config):
        # No IPv6 service for this VM: its RS, NS and DHCPv6 are for another router or
        # server on the link, untouched.
        return Decision(Verdict.ACCEPT, "no-subnet6", f"{inbound.tap}: binding has no SUBNET6")
    if binding.indev is not None and binding.indev != inbound.indev:
        return Decision(
            Verdict.DROP,
            "indev-mismatch",
            f"{inbound.tap}: arrived via {inbound.indev}, binding says INDEV={binding.indev}",
        )
    if not binding.macspoof and inbound.hwsrc != binding.mac:
        seen = mac_text(inbound.hwsrc) if inbound.hwsrc else "unknown"
        return Decision(
            Verdict.DROP,
            "mac-mismatch",
            f"{inbound.tap}: source MAC {seen}, binding says {mac_text(binding.mac)}",
        )
    try:
        return service(inbound, binding, config)
    except BadChecksum as bad:  # its own name: mypyc types an `as` variable once
        return Decision(Verdict.DROP, "bad-checksum", f"{inbound.tap}: {bad}")
    except MalformedPacket as exc:
        return Decision(Verdict.DROP, "malformed", f"{inbound.tap}: malformed: {exc}")


def in_scope(queue: int, binding: Binding | None, config: Config) -> bool:
    """Whether packets of this queue from this binding's TAP are nfdhcpd's to answer (or
    refuse): a bound TAP's DHCP, and its IPv6 when the binding has SUBNET6. The rate
    limit applies to these only; everything else passes on as if nfdhcpd did not exist."""
    if binding is None:
        return False
    return binding.subnet6 is not None or (config.enable_dhcp and queue == config.dhcp_queue)


Service = Callable[[Inbound, Binding, Config], Decision]


def _service(queue: int, config: Config) -> Service | None:
    if config.enable_dhcp and queue == config.dhcp_queue:
        return reply4.serve
    if config.enable_ipv6:
        services6: dict[int, Service] = {
            config.rs_queue: reply6.serve_rs,
            config.ns_queue: reply6.serve_ns,
            config.dhcpv6_queue: reply_dhcp6.serve_dhcp6,
        }
        return services6.get(queue)
    return None
