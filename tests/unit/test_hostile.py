"""Hostile tenants and a compromised service account (issue 12), the parts without root:
binding limits that keep every reply within one frame, the client-identifier echo,
line splitting, escaped names, the dedicated user, links created in the state directory.
"""

from __future__ import annotations

import logging
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from scapy.layers.dhcp6 import DHCP6_InfoRequest, DHCP6_Solicit, DHCP6OptClientId

from nfdhcpd.admin import format_status
from nfdhcpd.core.binding import parse_binding
from nfdhcpd.core.config import Config, parse_config, user_warning
from nfdhcpd.core.errors import BindingError
from nfdhcpd.core.reply6 import unsolicited_ra
from nfdhcpd.shell.watcher import Watcher

from ..helpers.builders import client_duid, dhcp6_request, dhcp_request, inbound, rs_request, run
from ..helpers.samples import GRNET_BINDING, TAP, TAP_MAC, make_config, table_of

LIMITS = {
    # key: (an item, how many a binding may list)
    "DNS": ("192.0.2.53", 8),
    "NTP": ("192.0.2.123", 8),
    "DNS6": ("2001:db8::53", 8),
    "SEARCH": ("a.example", 8),
    "ROUTES": ("10.{i}.0.0/16 via 192.0.2.1", 32),
}


def binding_with(key: str, count: int) -> bytes:
    item, _limit = LIMITS[key]
    items = [item.replace("{i}", str(i)) for i in range(count)]
    if key == "SEARCH":  # as long as a search list may be: 8 names, 511 characters
        items = [f"d{i}" + "x" * 53 + ".example" for i in range(count)]
    value = ", ".join(items) if key == "ROUTES" else " ".join(items)
    return (GRNET_BINDING + f'{key}="{value}"\n').encode()


# --- finding 5: list limits, so an accepted binding always works --------------------


@pytest.mark.parametrize("key", sorted(LIMITS))
def test_list_longer_than_its_limit_is_refused(key: str) -> None:
    limit = LIMITS[key][1]
    parse_binding(binding_with(key, limit), TAP)  # at the limit: accepted
    with pytest.raises(BindingError) as caught:
        parse_binding(binding_with(key, limit + 1), TAP)
    assert caught.value.reason.startswith(f"{key}: ")
    assert str(limit) in caught.value.reason


def test_the_reviewers_dns6_binding_is_refused_by_check(tmp_path: Path) -> None:
    """4,199 DNS6 addresses in under 64 KiB: `check` accepted it, and its RA did not fit
    in 65,535 bytes (the daemon died at each RA round and each restart's first scan)."""
    dns6 = ",".join(f"::{i:x}" for i in range(1, 4200))
    path = tmp_path / TAP
    path.write_text(GRNET_BINDING + f"DNS6={dns6}\n")
    assert path.stat().st_size < 64 * 1024
    result = subprocess.run(
        [sys.executable, "-m", "nfdhcpd", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "DNS6: " in result.stderr


def _longest_binding() -> bytes:
    """Every list at its limit, and the longest names a binding may hold."""
    label = "x" * 63
    name = ".".join([label] * 3) + ".example"  # 200 characters
    text = GRNET_BINDING + f"HOSTNAME={name}\nDOMAIN={name}\n"
    for key in LIMITS:
        text += binding_with(key, LIMITS[key][1]).decode().splitlines()[-1] + "\n"
    return text.encode()


def test_a_binding_at_every_limit_gets_replies_within_the_minimum_mtus() -> None:
    """IPv4 hosts must take 576-byte datagrams (RFC 791), IPv6 links carry 1280 (RFC 8200
    section 5): replies of a binding at every limit fit those, so they fit any TAP."""
    binding = parse_binding(_longest_binding(), TAP)
    assert len(binding.dns6 or ()) == LIMITS["DNS6"][1]
    config = make_config(domains6=binding.search or ())
    table = table_of(binding)
    ack = run(inbound(dhcp_request("discover")), table, config)
    assert ack.frames and all(len(f.data) - 14 <= 576 for f in ack.frames)
    ra = unsolicited_ra(binding, config, TAP_MAC)
    assert ra is not None and len(ra.data) - 14 <= 1280
    for request in (rs_request(),):
        decision = run(inbound(request, queue=43), table, config)
        assert decision.frames and all(len(f.data) - 14 <= 1280 for f in decision.frames)
    for message in (DHCP6_InfoRequest(), DHCP6_Solicit()):
        packet = dhcp6_request(message, DHCP6OptClientId(duid=client_duid()))
        decision = run(inbound(packet, queue=45), table, config)
        assert decision.frames and all(len(f.data) - 14 <= 1280 for f in decision.frames)


# --- finding 6: the client-identifier echo counts against the reply size ------------


def _discover_with_client_id(size: int) -> bytes:
    """A DISCOVER whose client identifier (option 61) is `size` bytes, split over several
    option 61 instances as RFC 3396 allows for long values."""
    plain = dhcp_request("discover")
    cut = plain.index(b"\x35\x01\x01") + 3  # after the message type option
    value = bytes([1]) + bytes((i % 251) + 1 for i in range(size - 1))
    chunks = [value[i : i + 243] for i in range(0, size, 243)]
    extra = b"".join(bytes([61, len(c)]) + c for c in chunks)
    head, tail = plain[:cut], plain[cut:]
    packet = bytearray(head + extra + tail)
    # Fix the IP total length and UDP length; zero the UDP checksum (optional in IPv4).
    total = len(packet)
    packet[2:4] = total.to_bytes(2, "big")
    packet[10:12] = b"\0\0"
    checksum = _ip_checksum(bytes(packet[:20]))
    packet[10:12] = checksum.to_bytes(2, "big")
    packet[24:26] = (total - 20).to_bytes(2, "big")
    packet[26:28] = b"\0\0"
    return bytes(packet)


def _ip_checksum(header: bytes) -> int:
    total = sum(int.from_bytes(header[i : i + 2], "big") for i in range(0, len(header), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def test_a_client_id_too_long_to_echo_is_dropped_not_the_reply() -> None:
    binding = parse_binding((GRNET_BINDING + "MTU=1500\n").encode(), TAP)
    decision = run(inbound(_discover_with_client_id(1215)), table_of(binding))
    assert decision.event == "offer", decision.reason
    (frame,) = decision.frames
    assert len(frame.data) - 14 <= 576  # no option 57: the client takes 576 bytes
    assert b"\x3d" not in _option_codes(frame.data)


def test_a_client_id_that_fits_is_still_echoed() -> None:
    decision = run(
        inbound(_discover_with_client_id(40)), table_of(parse_binding(GRNET_BINDING.encode(), TAP))
    )
    (frame,) = decision.frames
    assert b"\x3d" in _option_codes(frame.data)


def _option_codes(frame: bytes) -> bytes:
    options = frame[14 + 20 + 8 + 240 :]
    codes = bytearray()
    i = 0
    while i < len(options) and options[i] != 255:
        if options[i] == 0:
            i += 1
            continue
        codes.append(options[i])
        i += 2 + options[i + 1]
    return bytes(codes)


# --- finding 9: lines end at \n only ---------------------------------------------------


@pytest.mark.parametrize("brk", ["\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"])
def test_only_newline_ends_a_line(brk: str) -> None:
    """Python's str.splitlines also breaks at these; the Ganeti hook and a shell do not."""
    text = GRNET_BINDING.replace('TAGS=""', f'TAGS="a{brk}b"')
    binding = parse_binding(text.encode(), TAP)
    assert binding.ip == IPv4Address("192.0.2.100")
    assert binding.tags is not None and brk in binding.tags


# --- finding 7: a dedicated user ---------------------------------------------------------


def test_the_default_user_is_the_packages_own() -> None:
    assert Config().user == "nfdhcpd"
    assert user_warning(parse_config("", "/test/nfdhcpd.conf")) is None
    config = parse_config("[general]\nuser = nobody\n", "/test/nfdhcpd.conf")
    assert config.user == "nobody"
    warning = user_warning(config)
    assert warning is not None and "nobody" in warning and "shared" in warning


# --- finding 8: names escaped wherever printed -----------------------------------------

HOSTILE_NAME = "tap\x1b]2;owned\x07\x1b[2J"


def test_status_escapes_names() -> None:
    answer = {
        "bindings": [
            {"tap": HOSTILE_NAME, "applied": False, "tap_present": False},
        ],
        "datapath": "/var/lib/nfdhcpd\x1b[2J",
        "counters": {},
    }
    text = format_status(answer)
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b" in text


def test_check_escapes_names(tmp_path: Path) -> None:
    bad = tmp_path / "tap\x1b[2J"
    bad.write_text("MAC=nonsense\n")
    folder = tmp_path / "d\x1b[1m"
    folder.mkdir()
    good = folder / "tap10"
    good.write_text(GRNET_BINDING)
    result = subprocess.run(
        [sys.executable, "-m", "nfdhcpd", "check", str(bad), str(good)],
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert b"\x1b" not in result.stdout + result.stderr
    assert b"\\x1b[2J" in result.stderr and b"\\x1b[1m" in result.stdout


# --- finding 11: links and FIFOs created in the state directory ------------------------


@pytest.fixture
def watcher(tmp_path: Path) -> Iterator[tuple[Watcher, Path]]:
    datapath = tmp_path / "state"
    datapath.mkdir()
    w = Watcher(str(datapath), lambda table: None)
    w.rescan()
    try:
        yield w, datapath
    finally:
        w.close()


def _pump(w: Watcher, seconds: float = 0.5) -> None:
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        if select.select([w.fileno()], [], [], remaining)[0]:
            w.read()


@pytest.mark.parametrize(
    "kind",
    ["symlink", "hardlink", "fifo"],
)
def test_a_link_or_fifo_created_live_is_refused_at_once(
    kind: str, watcher: tuple[Watcher, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w, datapath = watcher
    outside = tmp_path / "outside"
    outside.write_text(GRNET_BINDING)
    path = datapath / "tap7"
    if kind == "symlink":
        path.symlink_to(outside)
    elif kind == "hardlink":
        os.link(outside, path)
    else:
        os.mkfifo(path)
    with caplog.at_level(logging.ERROR, logger="nfdhcpd.watcher"):
        _pump(w)
    assert "tap7" not in w.table
    refused = [r.getMessage() for r in caplog.records if "tap7" in r.getMessage()]
    assert refused and "refused" in refused[0], refused


def test_a_hard_linked_binding_is_not_served_at_a_rescan_either(tmp_path: Path) -> None:
    """A second name for a file is another writer's file (or a way to make one appear)."""
    datapath = tmp_path / "state"
    datapath.mkdir()
    (tmp_path / "outside").write_text(GRNET_BINDING)
    os.link(tmp_path / "outside", datapath / "tap7")
    w = Watcher(str(datapath), lambda table: None)
    try:
        w.rescan()
        assert "tap7" not in w.table
    finally:
        w.close()
