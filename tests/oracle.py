"""tshark as an independent oracle: Wireshark's dissectors decode what the tests capture.

nfdhcpd's own tests decode its replies with scapy and with hand-written readers; both
encode a reading of the RFCs by the people who wrote the daemon. Wireshark's dissectors
were written by others, for every implementation out there, and they flag what they
find wrong as *Expert Info* items (RFC violations, bad lengths, bad checksums) or mark
the packet *Malformed*. Any item of severity warning or error fails the test that
produced the frame.

tshark takes about half a second to start, so frames are gathered (per test module in
the unit suite, per test in the end-to-end suite) into one pcap file and decoded by one
tshark run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

#: pcap link types (https://www.tcpdump.org/linktypes.html).
LINKTYPE_ETHERNET = 1
LINKTYPE_LINUX_SLL = 113

#: Expert Info severities (epan/proto.h PI_CHAT .. PI_ERROR).
SEVERITIES = {0x00200000: "chat", 0x00400000: "note", 0x00600000: "warning", 0x00800000: "error"}
WARNING = 0x00600000

#: Verify checksums too: tshark leaves IPv4 and UDP checksums unchecked by default
#: (ICMPv6's it always checks).
_PREFERENCES = ("ip.check_checksum:TRUE", "udp.check_checksum:TRUE")


@dataclasses.dataclass(frozen=True)
class Finding:
    """One Expert Info item of severity warning or error that tshark reported."""

    frame: int  # 1-based, in the pcap file
    severity: str
    message: str
    malformed: bool

    def __str__(self) -> str:
        kind = "MALFORMED" if self.malformed else self.severity
        return f"frame {self.frame}: {kind}: {self.message}"


def tshark() -> str | None:
    return shutil.which("tshark")


def write_pcap(path: Path, frames: Iterable[bytes], linktype: int = LINKTYPE_ETHERNET) -> int:
    """A classic pcap file of `frames` (timestamps zero); returns how many were written."""
    count = 0
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
        for frame in frames:
            out.write(struct.pack("<IIII", 0, 0, len(frame), len(frame)))
            out.write(frame)
            count += 1
    return count


def check_pcap(path: Path, *, display_filter: str | None = None) -> list[Finding]:
    """Decode `path` with tshark; every warning/error Expert Info item and Malformed mark.

    `display_filter` restricts the check to some frames (e.g. the replies of a capture
    that also holds the clients' requests).
    """
    exe = tshark()
    if exe is None:
        raise RuntimeError("tshark is not installed (Debian package tshark; run scripts/setup)")
    args = [exe, "-n", "-r", str(path), "-T", "json"]
    for preference in _PREFERENCES:
        args += ["-o", preference]
    if display_filter:
        args += ["-Y", display_filter]
    args += ["-e", "frame.number", "-e", "_ws.expert.severity", "-e", "_ws.expert.message"]
    args += ["-e", "_ws.malformed"]
    # tshark refuses to run from an unreadable cwd and warns about root on stderr.
    proc = subprocess.run(
        args, capture_output=True, text=True, timeout=300, check=False, cwd=tempfile.gettempdir()
    )
    if proc.returncode != 0:
        raise RuntimeError(f"tshark failed on {path} ({proc.returncode}): {proc.stderr.strip()}")
    findings = _findings(json.loads(proc.stdout or "[]"))
    if findings:
        findings = _without_echoes(exe, path, findings)
    return findings


def _findings(packets: list[dict[str, Any]]) -> list[Finding]:
    findings: list[Finding] = []
    for packet in packets:
        layers = packet["_source"]["layers"]
        number = int(layers["frame.number"][0])
        severities = [int(s) for s in layers.get("_ws.expert.severity", [])]
        messages = layers.get("_ws.expert.message", [])
        malformed = "_ws.malformed" in layers
        for severity, message in zip(severities, messages, strict=False):
            if severity >= WARNING:
                name = SEVERITIES.get(severity, hex(severity))
                findings.append(Finding(number, name, message, "Malformed" in message))
        if malformed and not any(f.frame == number and f.malformed for f in findings):
            findings.append(Finding(number, "error", "Malformed Packet", True))
    return findings


#: Fields whose content the server must return unaltered, so what tshark thinks of it
#: is the client's doing: the DHCPv4 client identifier (RFC 6842 section 3) and the
#: DHCPv6 Client Identifier option (RFC 8415 18.3), which a fuzzing client fills with
#: anything.
ECHOED_FIELDS = ("dhcp.client_id", "dhcp.option.type=61", "dhcpv6.option.type=1")


def _without_echoes(exe: str, path: Path, findings: list[Finding]) -> list[Finding]:
    """Drop the findings that sit inside an echoed field (full dissection tree of the
    frames concerned: a second tshark run, only when the first one found something)."""
    frames = sorted({f.frame for f in findings})
    args = [exe, "-n", "-r", str(path), "-T", "json"]
    for preference in _PREFERENCES:
        args += ["-o", preference]
    args += ["-Y", "frame.number in {" + ", ".join(map(str, frames)) + "}"]
    proc = subprocess.run(
        args, capture_output=True, text=True, timeout=300, check=False, cwd=tempfile.gettempdir()
    )
    if proc.returncode != 0:
        raise RuntimeError(f"tshark failed on {path} ({proc.returncode}): {proc.stderr.strip()}")
    # tshark's JSON repeats keys (one "dhcp.option.type_tree" per option): keep pairs.
    packets = json.loads(proc.stdout, object_pairs_hook=lambda pairs: pairs)
    echoed: set[tuple[int, str]] = set()
    for packet in packets:
        layers = dict(dict(packet)["_source"])["layers"]
        number = int(dict(dict(layers)["frame"])["frame.number"])
        for message, where in _experts(layers, ()):
            if any(key.startswith(ECHOED_FIELDS) for key in where):
                echoed.add((number, message))
    return [f for f in findings if (f.frame, f.message) not in echoed]


def _experts(node: Any, where: tuple[str, ...]) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(message, where) of every Expert Info item and Malformed mark in a dissection
    tree; `where` holds the names of the enclosing fields and of their siblings, and
    `dhcp.option.type=N` / `dhcpv6.option.type=N` for the option whose dissection
    raised it (tshark puts some items next to the option's fields, not under them, and
    the Malformed layer of an exception after the layer it ended)."""
    if not isinstance(node, list):
        return
    pairs = [item for item in node if isinstance(item, tuple) and len(item) == 2]
    # A DHCPv6 option's code is a field of its own subtree; a DHCPv4 option's precedes
    # its subtree (handled below).
    here = (*where, *(f"{k}={v}" if k == "dhcpv6.option.type" else k for k, v in pairs))
    option = None
    previous: Any = None
    for item in node:
        if not (isinstance(item, tuple) and len(item) == 2):
            yield from _experts(item, here)
            continue
        key, value = item
        if key == "dhcp.option.type":
            option = value
        at = (*here, f"dhcp.option.type={option}") if option is not None else here
        if key == "_ws.expert" and isinstance(value, list):
            yield str(dict(value).get("_ws.expert.message", "")), at
        elif key == "_ws.malformed" and isinstance(value, list):
            yield from _experts(value, (*at, *_last_option(previous)))
        elif key == "_ws.malformed":
            yield "Malformed Packet", at
        elif key == "dhcp.option.type_tree":
            yield from _experts(value, (*here, f"dhcp.option.type={option}"))
        else:
            yield from _experts(value, here)
        previous = value


def _last_option(layer: Any) -> tuple[str, ...]:
    """`dhcp.option.type=N` / `dhcpv6.option.type=N` of a layer's last option."""
    if not isinstance(layer, list):
        return ()
    found: tuple[str, ...] = ()
    for item in layer:
        if isinstance(item, tuple) and len(item) == 2:
            key, value = item
            if key == "dhcp.option.type":
                found = (f"dhcp.option.type={value}",)
            elif key == "dhcpv6.option.type_str_tree" and isinstance(value, list):
                fields: dict[str, object] = dict(p for p in value if isinstance(p, tuple))
                code = fields.get("dhcpv6.option.type")
                found = (f"dhcpv6.option.type={code}",)
    return found


def check_frames(frames: Sequence[bytes], linktype: int = LINKTYPE_ETHERNET) -> list[Finding]:
    """`check_pcap` on frames in memory (one tshark run for all of them)."""
    if not frames:
        return []
    with tempfile.TemporaryDirectory(prefix="nfdt-tshark-") as tmp:
        path = Path(tmp) / "frames.pcap"
        write_pcap(path, frames, linktype)
        return check_pcap(path)


class Collector:
    """Frames gathered from many tests, checked together, findings traced to their test."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.origins: list[str] = []
        self._exempt: str | None = None
        #: (origin, reason) of the frames left out by `exempt`
        self.exempted: list[tuple[str, str]] = []

    def add(self, frame: bytes, origin: str | None = None) -> None:
        if origin is None:  # "tests/unit/x.py::test_y (call)" while a test runs
            origin = os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" ", 1)[0]
        if self._exempt is not None:
            self.exempted.append((origin, self._exempt))
            return
        self.frames.append(frame)
        self.origins.append(origin)

    @contextlib.contextmanager
    def exempt(self, reason: str) -> Iterator[None]:
        """Leave the frames added in the block out of the check, for a known limit of
        the dissectors (`reason` says which), never for a defect of ours."""
        self._exempt = reason
        try:
            yield
        finally:
            self._exempt = None

    def check(self) -> list[str]:
        """Decode the frames gathered so far, forget them; a line per finding."""
        frames, origins = self.frames, self.origins
        self.frames, self.origins = [], []
        findings = check_frames(frames)
        return [f"{origins[f.frame - 1]}: {f} [{frames[f.frame - 1].hex()}]" for f in findings]


def report(lines: Sequence[str], what: str) -> str:
    shown = "\n".join(lines[:20])
    more = f"\n... and {len(lines) - 20} more" if len(lines) > 20 else ""
    return f"tshark flags {len(lines)} item(s) in {what}:\n{shown}{more}"
