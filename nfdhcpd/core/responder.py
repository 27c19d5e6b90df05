"""Turn one queued packet into one decision: the protocol core, free of IO.

Theory of operation
-------------------
The shell hands us an `Inbound`: the queue it came from, the logical and physical
ingress interfaces (names), the layer-2 source NFQUEUE saw, the MAC we should
answer from, and the IP packet. `Responder.handle` returns a `Decision`: exactly one
verdict for the kernel, the frames to inject, and an `Event` and reason for the log
and the counters. It never raises for bad input: a `MalformedPacket` becomes a DROP.

A `Responder` serves one config: it keeps, per binding, what the binding hands out
(`Effective`) and its encoded DHCPv4 options (`reply4.Kit`), made anew when the
binding is replaced; the shell makes a new Responder when the config is reloaded.

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
from .effective import Effective, resolve
from .errors import BadChecksum, MalformedPacket
from .events import Event
from .wire import mac_text

__all__ = ["Decision", "Frame", "Inbound", "Responder", "Verdict", "handle", "in_scope"]

#: Bindings whose resolution is kept at most; past that the memory starts afresh.
_MAX_ENTRIES = 65536


class _Entry:
    """One binding's resolution under the Responder's config; its kit made on first use."""

    __slots__ = ("binding", "effective", "kit", "kit_made")

    def __init__(self, binding: Binding, effective: Effective) -> None:
        self.binding = binding
        self.effective = effective
        self.kit: reply4.Kit | None = None
        self.kit_made = False


Service = Callable[[Inbound, _Entry], Decision]


class Responder:
    def __init__(self, config: Config) -> None:
        self.config = config
        self._entries: dict[str, _Entry] = {}
        self._services: dict[int, Service] = {}
        if config.enable_ipv6:
            self._services[config.rs_queue] = self._rs
            self._services[config.ns_queue] = self._ns
            self._services[config.dhcpv6_queue] = self._dhcp6
        if config.enable_dhcp:  # after IPv6: the DHCPv4 queue wins a shared number
            self._services[config.dhcp_queue] = self._dhcp4
        self._ns_queue = config.ns_queue if config.enable_ipv6 else None

    def handle(self, inbound: Inbound, table: Mapping[str, Binding]) -> Decision:
        """Decide the fate of one queued packet (see the module docstring)."""
        service = self._services.get(inbound.queue)
        if service is None:
            return Decision(
                Verdict.ACCEPT, Event.UNKNOWN_QUEUE, f"queue {inbound.queue} is not ours"
            )
        binding = table.get(inbound.tap)
        if binding is None:
            # Kept to answer when the binding lands; but not an NS, which is no request
            # to answer later: the VM's neighbour cache retries.
            return Decision(
                Verdict.ACCEPT,
                Event.NO_BINDING,
                f"no binding for {inbound.tap}",
                replay=inbound.queue != self._ns_queue,
            )
        if not in_scope(inbound.queue, binding, self.config):
            # No IPv6 service for this VM: its RS, NS and DHCPv6 are for another router or
            # server on the link, untouched.
            return Decision(
                Verdict.ACCEPT, Event.NO_SUBNET6, f"{inbound.tap}: binding has no SUBNET6"
            )
        if binding.indev is not None and binding.indev != inbound.indev:
            return Decision(
                Verdict.DROP,
                Event.INDEV_MISMATCH,
                f"{inbound.tap}: arrived via {inbound.indev}, binding says INDEV={binding.indev}",
            )
        if not binding.macspoof and inbound.hwsrc != binding.mac:
            seen = mac_text(inbound.hwsrc) if inbound.hwsrc else "unknown"
            return Decision(
                Verdict.DROP,
                Event.MAC_MISMATCH,
                f"{inbound.tap}: source MAC {seen}, binding says {mac_text(binding.mac)}",
            )
        try:
            return service(inbound, self._entry(binding))
        except BadChecksum as bad:  # its own name: mypyc types an `as` variable once
            return Decision(Verdict.DROP, Event.BAD_CHECKSUM, f"{inbound.tap}: {bad}")
        except MalformedPacket as exc:
            return Decision(Verdict.DROP, Event.MALFORMED, f"{inbound.tap}: malformed: {exc}")

    def _entry(self, binding: Binding) -> _Entry:
        """`binding`'s resolution, made anew when the binding was replaced."""
        entry = self._entries.get(binding.name)
        if entry is None or entry.binding is not binding:
            if len(self._entries) >= _MAX_ENTRIES:
                self._entries.clear()
            entry = self._entries[binding.name] = _Entry(binding, resolve(binding, self.config))
        return entry

    def _dhcp4(self, inbound: Inbound, entry: _Entry) -> Decision:
        if not entry.kit_made:
            entry.kit = reply4.make_kit(entry.binding, self.config, entry.effective)
            entry.kit_made = True
        return reply4.serve(inbound, entry.kit)

    def _rs(self, inbound: Inbound, entry: _Entry) -> Decision:
        return reply6.serve_rs(inbound, entry.binding, self.config, entry.effective)

    def _ns(self, inbound: Inbound, entry: _Entry) -> Decision:
        return reply6.serve_ns(inbound, entry.binding, self.config)

    def _dhcp6(self, inbound: Inbound, entry: _Entry) -> Decision:
        return reply_dhcp6.serve_dhcp6(inbound, entry.binding, self.config, entry.effective)


def in_scope(queue: int, binding: Binding | None, config: Config) -> bool:
    """Whether packets of this queue from this binding's TAP are nfdhcpd's to answer (or
    refuse): a bound TAP's DHCP, and its IPv6 when the binding has SUBNET6. The rate
    limit applies to these only; everything else passes on as if nfdhcpd did not exist."""
    if binding is None:
        return False
    return binding.subnet6 is not None or (config.enable_dhcp and queue == config.dhcp_queue)


def handle(inbound: Inbound, table: Mapping[str, Binding], config: Config) -> Decision:
    """One packet decided by a Responder of its own (nothing encoded is reused): for
    tests and tools; the daemon keeps one Responder per config."""
    return Responder(config).handle(inbound, table)
