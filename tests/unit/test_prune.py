"""Stale bindings: `nfdhcpd status` says since when a binding's TAP has been gone, and
`nfdhcpd prune` removes the binding files whose TAP has been gone long enough.

Stock Ganeti runs no ifdown script, so the binding of a stopped VM stays behind. The
daemon notes when a status query first finds a TAP missing; prune (root, from a timer)
asks it and removes what has been gone for --stale-after seconds, checking each file
itself again. The daemon is the real control socket with the real snapshot, served in
a thread; `lo` is the one interface that exists everywhere.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nfdhcpd.core.binding import BindingTable, parse_binding
from nfdhcpd.ops.status import Served, snapshot

from ..helpers.cli import nfdhcpd, serve_status, write_config

HOOK = "# nfdhcpd binding of vm1.example.org NIC 0, written by nfdhcpd's Ganeti hook\n"
BODY = "MAC=aa:00:00:11:22:33\nIP=192.0.2.10\nSUBNET=192.0.2.0/24\n"
#: Names no interface of this machine has (the e2e testbed's TAPs live in namespaces).
GONE, HAND, PRESENT = "nfdtgone0", "nfdthand0", "lo"


@pytest.fixture
def datapath(tmp_path: Path) -> Path:
    write_config(tmp_path)
    path = tmp_path / "bindings"
    (path / GONE).write_text(HOOK + BODY)
    (path / HAND).write_text(BODY)  # written by hand: no hook's first line
    (path / PRESENT).write_text(HOOK + BODY)
    return path


@pytest.fixture
def daemon(tmp_path: Path, datapath: Path) -> Iterator[Path]:
    """The real snapshot of the three bindings, as the daemon answers it."""
    names = (GONE, HAND, PRESENT)
    table = BindingTable({n: parse_binding((datapath / n).read_bytes(), n) for n in names})
    served = Served()
    yield from serve_status(
        tmp_path / "nfdhcpd.sock", lambda: snapshot(table, served, str(datapath), {})
    )


def rows(socket: Path, *args: str) -> dict[str, dict[str, Any]]:
    result = nfdhcpd("status", "--json", "--socket", str(socket), *args)
    assert result.returncode == 0, result.stderr
    return {row["tap"]: row for row in json.loads(result.stdout)["bindings"]}


def test_status_says_since_when_the_tap_is_gone(daemon: Path) -> None:
    before = time.time()
    first = rows(daemon)
    assert first[PRESENT]["tap_present"] is True and first[PRESENT]["tap_gone_since"] is None
    since = first[GONE]["tap_gone_since"]
    assert first[GONE]["tap_present"] is False and before - 1 <= since <= time.time()
    assert first[HAND]["tap_gone_since"] is not None
    time.sleep(0.05)
    assert rows(daemon)[GONE]["tap_gone_since"] == since  # first seen, not last


def test_status_table_marks_stale_bindings(daemon: Path) -> None:
    result = nfdhcpd("status", "--socket", str(daemon))
    assert result.returncode == 0, result.stderr
    header, *lines = result.stdout.splitlines()
    assert header.split()[:6] == ["TAP", "APPLIED", "TAP", "UP", "TAP", "GONE"]
    line = next(x for x in lines if x.startswith(GONE))
    assert line.split()[1:4] == ["yes", "no", "0m00s"] and "STALE" not in line
    result = nfdhcpd("status", "--socket", str(daemon), "--stale-after", "0")
    line = next(x for x in result.stdout.splitlines() if x.startswith(GONE))
    assert "STALE" in line
    line = next(x for x in result.stdout.splitlines() if x.startswith(f"{PRESENT} "))
    assert line.split()[3] == "-"


def prune(tmp_path: Path, socket: Path, *args: str) -> tuple[int, str, str]:
    conf = tmp_path / "nfdhcpd.conf"
    result = nfdhcpd("prune", "-c", str(conf), "--socket", str(socket), *args)
    return result.returncode, result.stdout, result.stderr


def test_prune_removes_what_a_hook_wrote_and_whose_tap_is_gone(
    tmp_path: Path, datapath: Path, daemon: Path
) -> None:
    # Nothing has been gone for an hour (the default) yet.
    assert prune(tmp_path, daemon) == (0, "", "")
    assert sorted(p.name for p in datapath.iterdir()) == sorted([GONE, HAND, PRESENT])

    status, out, _ = prune(tmp_path, daemon, "--stale-after", "0", "--dry-run")
    assert status == 0 and f"would remove {datapath}/{GONE}: TAP gone since" in out
    assert (datapath / GONE).exists()

    status, out, err = prune(tmp_path, daemon, "--stale-after", "0")
    assert status == 0, err
    assert f"removed {datapath}/{GONE}: TAP gone since" in out
    assert f"kept {datapath}/{HAND}: no nfdhcpd hook wrote it (--any removes it too)" in out
    assert sorted(p.name for p in datapath.iterdir()) == sorted([HAND, PRESENT])

    status, out, _ = prune(tmp_path, daemon, "--stale-after", "0", "--any")
    assert status == 0 and f"removed {datapath}/{HAND}" in out
    assert [p.name for p in datapath.iterdir()] == [PRESENT]  # its TAP exists


def crafted(tmp_path: Path, datapath: str, bindings: list[dict[str, Any]]) -> Iterator[Path]:
    """A daemon answering whatever it likes (a compromised one, say)."""
    answer = {"pid": 1, "time": time.time(), "datapath": datapath, "bindings": bindings}
    return serve_status(tmp_path / "crafted.sock", lambda: answer)


def test_prune_checks_each_file_itself(tmp_path: Path, datapath: Path) -> None:
    """The daemon's word that a TAP is gone is not enough: a file rewritten since, a
    symlink, a TAP that is back, a name that is no interface's stay."""
    hour_ago = time.time() - 7200
    (datapath / "nfdtlink0").symlink_to(datapath / GONE)
    os.utime(datapath / HAND, (hour_ago - 10, hour_ago - 10))
    bindings = [
        {"tap": GONE, "tap_gone_since": hour_ago},  # but written a moment ago
        {"tap": HAND, "tap_gone_since": hour_ago},  # old and gone: goes with --any
        {"tap": "nfdtlink0", "tap_gone_since": hour_ago},
        {"tap": PRESENT, "tap_gone_since": hour_ago},
        {"tap": "../nfdhcpd.conf", "tap_gone_since": hour_ago},
        {"tap": ".hidden", "tap_gone_since": hour_ago},
    ]
    for socket in crafted(tmp_path, str(datapath), bindings):
        status, out, err = prune(tmp_path, socket, "--any")
    assert status == 0, err
    assert f"kept {datapath}/{GONE}: rewritten since its TAP went" in out
    assert f"removed {datapath}/{HAND}" in out
    assert f"kept {datapath}/nfdtlink0: Too many levels of symbolic links" in out
    assert f"kept {datapath}/{PRESENT}: its TAP is back" in out
    assert (tmp_path / "nfdhcpd.conf").exists()
    assert sorted(p.name for p in datapath.iterdir()) == sorted([GONE, "nfdtlink0", PRESENT])


def test_prune_trusts_only_the_configs_datapath(tmp_path: Path, datapath: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / GONE).write_text(HOOK + BODY)
    bindings = [{"tap": GONE, "tap_gone_since": 0.0}]
    for socket in crafted(tmp_path, str(elsewhere), bindings):
        status, out, err = prune(tmp_path, socket, "--any")
    assert status == 1 and out == ""
    assert f"the daemon serves '{elsewhere}', the config names '{datapath}'" in err
    assert (elsewhere / GONE).exists() and (datapath / GONE).exists()


def test_prune_without_a_daemon(tmp_path: Path, datapath: Path) -> None:
    status, _, err = prune(tmp_path, tmp_path / "no.sock")
    assert status == 1 and "(is it running?)" in err
    assert (datapath / GONE).exists()
