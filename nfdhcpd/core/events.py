"""What became of a packet, as one typed value: its name for logs, counters and
metrics, what kind of outcome it is, and the level it is logged at.

`Event` is a `StrEnum`: each member equals its name (`Event.OFFER == "offer"`), so
counters keyed by events read the same in logs, `nfdhcpd status` and the metrics.
The core does no logging: `Level` holds the stdlib logging module's numbers, for
the shell to log at. The shell derives its sets (quiet, warning, reply, drop) from
these tables once, at import, so a packet costs a set lookup as before.
"""

from __future__ import annotations

from enum import Enum, IntEnum, StrEnum


class Outcome(Enum):
    REPLY = "reply"  # a reply was sent
    DROP = "drop"  # refused, or lost
    PASS = "pass"  # accepted on, not ours to answer
    NOTE = "note"  # taken note of (a release, a decline, a replay)


class Level(IntEnum):
    """logging.DEBUG, INFO and WARNING."""

    DEBUG = 10
    INFO = 20
    WARNING = 30


class Event(StrEnum):
    # replies
    OFFER = "offer"
    ACK = "ack"
    NAK = "nak"
    ADVERTISE = "advertise"
    REPLY = "reply"
    RA = "ra"
    NA = "na"
    RA_PERIODIC = "ra-periodic"  # an unsolicited RA (RFC 4861 6.2.4)
    # refused or lost
    MAC_MISMATCH = "mac-mismatch"
    INDEV_MISMATCH = "indev-mismatch"
    MALFORMED = "malformed"
    BAD_CHECKSUM = "bad-checksum"  # RFC 1122 4.1.3.4: silently discarded
    RATE_LIMITED = "rate-limited"
    UNEXPECTED = "unexpected"
    DISCARDED = "discarded"  # RFC 8415 16: a DHCPv6 message a server must discard
    RELAY_FORW = "relay-forw"  # a Relay-forward from a VM (RFC 8415 19)
    NO_IPV4 = "no-ipv4"
    NO_IFMAC = "no-ifmac"  # the MAC of the interface to answer from is unknown
    OTHER_SERVER = "other-server"
    SEND_ERROR = "send-error"
    ERROR = "error"  # a bug, logged with its traceback
    # passed on
    NO_BINDING = "no-binding"
    NO_SUBNET6 = "no-subnet6"  # IPv6 from a binding without SUBNET6: another router's
    UNKNOWN_QUEUE = "unknown-queue"
    NS_OWN = "ns-own"
    NS_OTHER = "ns-other"
    # noted
    RELEASE = "release"
    DECLINE = "decline"
    CONFIRM = "confirm"
    REPLAYED = "replayed"  # a request answered when its binding landed

    @property
    def outcome(self) -> Outcome:
        return _OUTCOME[self]

    @property
    def level(self) -> Level:
        """The log level of a decision with this event (repeats are budgeted apart)."""
        return _LEVEL.get(self, Level.INFO)

    @property
    def unbound(self) -> bool:
        """About a TAP with no binding, or a queue not ours: no status to note it in."""
        return self is Event.NO_BINDING or self is Event.UNKNOWN_QUEUE


_REPLIES = (Event.OFFER, Event.ACK, Event.NAK, Event.ADVERTISE, Event.REPLY, Event.RA, Event.NA)
_DROPS = (
    *(Event.MAC_MISMATCH, Event.INDEV_MISMATCH, Event.MALFORMED, Event.BAD_CHECKSUM),
    *(Event.RATE_LIMITED, Event.UNEXPECTED, Event.DISCARDED, Event.RELAY_FORW),
    *(Event.NO_IPV4, Event.NO_IFMAC, Event.OTHER_SERVER, Event.SEND_ERROR, Event.ERROR),
)
_PASSES = (Event.NO_BINDING, Event.NO_SUBNET6, Event.UNKNOWN_QUEUE, Event.NS_OWN, Event.NS_OTHER)
_OUTCOME: dict[Event, Outcome] = {
    **dict.fromkeys((*_REPLIES, Event.RA_PERIODIC), Outcome.REPLY),
    **dict.fromkeys(_DROPS, Outcome.DROP),
    **dict.fromkeys(_PASSES, Outcome.PASS),
    **dict.fromkeys((Event.RELEASE, Event.DECLINE, Event.CONFIRM, Event.REPLAYED), Outcome.NOTE),
}
#: Passed-on packets are routine; refusals that point at a broken or hostile VM warn.
#: (Over the rate limit and send errors are logged at warning by the shell itself.)
_LEVEL: dict[Event, Level] = {
    **dict.fromkeys(_PASSES, Level.DEBUG),
    **dict.fromkeys(
        (Event.DECLINE, Event.MAC_MISMATCH, Event.INDEV_MISMATCH, Event.MALFORMED, Event.ERROR),
        Level.WARNING,
    ),
}
