"""The kinds of bad input, each naming where it was wrong.

Any other exception raised by the core is a bug, not bad input.
"""

from __future__ import annotations


class MalformedPacket(ValueError):
    """A packet from a VM that cannot be parsed; names the field and its offset."""

    def __init__(self, field: str, offset: int, reason: str) -> None:
        super().__init__(f"{field} at offset {offset}: {reason}")
        self.field = field
        self.offset = offset
        self.reason = reason


class BadChecksum(MalformedPacket):
    """A UDP or ICMPv6 checksum that does not verify (RFC 1122 4.1.3.4, RFC 4861
    6.1.1 and 7.1.1, RFC 8200 8.1): the packet was damaged, it is silently dropped.
    NFQUEUE hands packets over before the kernel's UDP or ICMPv6 layer checks them."""


class BindingError(ValueError):
    """An unusable binding file; names the file, the line (0 = whole file) and why."""

    def __init__(self, name: str, line: int, reason: str) -> None:
        where = f"{name}:{line}" if line else name
        super().__init__(f"{where}: {reason}")
        self.name = name
        self.line = line
        self.reason = reason


class ConfigError(ValueError):
    """An unusable configuration; names file, section, key and value."""

    def __init__(
        self, path: str, section: str, key: str | None, value: str | None, reason: str
    ) -> None:
        where = f"{path}: [{section}]"
        if key is not None:
            where += f" {key} = {value!r}"
        super().__init__(f"{where}: {reason}")
        self.path = path
        self.section = section
        self.key = key
        self.value = value
        self.reason = reason
