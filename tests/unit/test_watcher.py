"""files.read_binding and the Watcher: safe reads of binding files, the inotify table."""

from __future__ import annotations

import logging
import os
import select
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pyinotify
import pytest

from nfdhcpd.core.binding import MAX_BINDING_SIZE, BindingTable, describe, parse_binding
from nfdhcpd.core.errors import BindingError
from nfdhcpd.shell.files import read_binding
from nfdhcpd.shell.watcher import Watcher

from ..helpers.samples import GRNET_BINDING, VM_MAC

OTHER = "MAC=02:00:00:00:00:11\nIP=192.0.2.11\nSUBNET=192.0.2.0/24\n"
BAD = "MAC=aa:6b:39:22:33:44\nMTU=abc\n"


class Recorder:
    """The on_change callback: remembers every table it was handed."""

    def __init__(self) -> None:
        self.tables: list[BindingTable] = []

    def __call__(self, table: BindingTable) -> None:
        self.tables.append(table)


@pytest.fixture
def datapath(tmp_path: Path) -> Path:
    path = tmp_path / "state"
    path.mkdir()
    return path


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def watcher(datapath: Path, recorder: Recorder) -> Iterator[Watcher]:
    w = Watcher(str(datapath), recorder)
    try:
        yield w
    finally:
        w.close()


def pump(watcher: Watcher, until: Callable[[], bool], timeout: float = 5.0) -> None:
    """Feed inotify events to the watcher, as the daemon's poll loop does, until `until()`."""
    deadline = time.monotonic() + timeout
    while not until():
        remaining = deadline - time.monotonic()
        assert remaining > 0, "timed out waiting for the watcher"
        readable, _, _ = select.select([watcher.fileno()], [], [], remaining)
        if readable:
            watcher.read()


def lose_events(watcher: Watcher) -> None:
    """Read and throw away what inotify queued, as if the kernel queue had overflowed.

    Only read when the fd is readable: a blocking read of an empty inotify fd waits.
    """
    while select.select([watcher.fileno()], [], [], 0.2)[0]:
        watcher._notifier.read_events()
        watcher._notifier._eventq.clear()


def queue_overflow(watcher: Watcher) -> None:
    """Put an IN_Q_OVERFLOW where the kernel's would land: in the notifier's queue of
    events read but not yet handled (a real one needs 16,384 events; see benchmarks)."""
    watcher._notifier._eventq.append(pyinotify._RawEvent(-1, pyinotify.IN_Q_OVERFLOW, 0, ""))


def kick(watcher: Watcher, datapath: Path) -> None:
    """Queue one harmless event (an ignored file) and let the watcher read it."""
    (datapath / ".kick").write_text("")
    readable, _, _ = select.select([watcher.fileno()], [], [], 5)
    assert readable
    watcher.read()


def settle(watcher: Watcher, datapath: Path) -> None:
    """Write a sentinel binding and wait for it: every earlier event has been handled."""
    sentinel = f"sent{time.monotonic_ns() % 10**9}"
    (datapath / sentinel).write_text("MAC=02:00:00:00:00:99\n")
    pump(watcher, lambda: sentinel in watcher.table)


# --- read_binding ---------------------------------------------------------------


def test_read_binding(datapath: Path) -> None:
    (datapath / "tap10").write_text(GRNET_BINDING)
    binding = read_binding(str(datapath), "tap10")
    assert binding.name == "tap10"
    assert binding.mac == VM_MAC


def test_read_binding_refuses_symlink(datapath: Path, tmp_path: Path) -> None:
    target = tmp_path / "outside"
    target.write_text(GRNET_BINDING)
    (datapath / "tap11").symlink_to(target)
    with pytest.raises(BindingError) as info:
        read_binding(str(datapath), "tap11")
    assert info.value.name == "tap11"
    assert "symbolic link" in str(info.value)
    assert str(info.value).startswith("tap11")


def test_read_binding_refuses_directory(datapath: Path) -> None:
    (datapath / "tap12").mkdir()
    with pytest.raises(BindingError) as info:
        read_binding(str(datapath), "tap12")
    assert str(info.value).startswith("tap12")
    assert "directory" in str(info.value)


def test_read_binding_refuses_fifo_without_blocking(datapath: Path) -> None:
    os.mkfifo(datapath / "tap13")
    started = time.monotonic()
    with pytest.raises(BindingError) as info:
        read_binding(str(datapath), "tap13")
    assert time.monotonic() - started < 2
    assert str(info.value).startswith("tap13")
    assert "not a regular file" in str(info.value)


def test_read_binding_refuses_huge_file(datapath: Path) -> None:
    (datapath / "tap14").write_bytes(b"MAC=aa:6b:39:22:33:44\n" + b"#" * MAX_BINDING_SIZE)
    with pytest.raises(BindingError) as info:
        read_binding(str(datapath), "tap14")
    assert str(info.value).startswith("tap14")
    assert "larger than" in str(info.value)


def test_read_binding_missing_file(datapath: Path) -> None:
    with pytest.raises(BindingError) as info:
        read_binding(str(datapath), "tap15")
    assert "cannot open" in str(info.value)


def test_read_binding_bad_content_names_line(datapath: Path) -> None:
    (datapath / "tap16").write_text(BAD)
    with pytest.raises(BindingError) as info:
        read_binding(str(datapath), "tap16")
    assert (info.value.name, info.value.line) == ("tap16", 2)


def test_read_binding_binary_junk(datapath: Path) -> None:
    (datapath / "tap17").write_bytes(os.urandom(512) + b"\0")
    with pytest.raises(BindingError):
        read_binding(str(datapath), "tap17")


# --- Watcher ---------------------------------------------------------------------


def test_rescan_loads_valid_files_and_skips_the_rest(
    datapath: Path, tmp_path: Path, watcher: Watcher, recorder: Recorder
) -> None:
    (datapath / "tap10").write_text(GRNET_BINDING)
    (datapath / "tap11").write_text(OTHER)
    for ignored in (".tap12", "tap13.tmp", "tap14~", "tap15.swp"):
        (datapath / ignored).write_text(OTHER)
    (datapath / "tap16").write_text(BAD)
    (datapath / "tap17").mkdir()
    (tmp_path / "outside").write_text(OTHER)
    (datapath / "tap18").symlink_to(tmp_path / "outside")
    (datapath / "bad name").write_text(OTHER)
    watcher.rescan()
    assert sorted(watcher.table) == ["tap10", "tap11"]
    assert watcher.table["tap10"].mac == VM_MAC
    assert recorder.tables[-1] is watcher.table
    assert len(watcher) == 2


def test_invalid_file_is_logged_with_file_line_reason(
    datapath: Path, watcher: Watcher, caplog: pytest.LogCaptureFixture
) -> None:
    (datapath / "tap16").write_text(BAD)
    with caplog.at_level(logging.ERROR, logger="nfdhcpd.watcher"):
        watcher.rescan()
    assert "tap16" not in watcher.table
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert str(datapath / "tap16") in messages
    assert "line 2" in messages or "tap16:2" in messages
    assert "MTU" in messages and "abc" in messages


def test_close_write_adds(datapath: Path, watcher: Watcher, recorder: Recorder) -> None:
    watcher.rescan()
    (datapath / "tap10").write_text(GRNET_BINDING)
    pump(watcher, lambda: "tap10" in watcher.table)
    assert watcher.table["tap10"].mac == VM_MAC
    assert recorder.tables[-1] is watcher.table


def test_atomic_rename_into_place(datapath: Path, watcher: Watcher) -> None:
    watcher.rescan()
    (datapath / "tap10").write_text(OTHER)
    pump(watcher, lambda: "tap10" in watcher.table)
    old_table = watcher.table
    (datapath / "tap10.tmp").write_text(GRNET_BINDING)
    os.rename(datapath / "tap10.tmp", datapath / "tap10")
    pump(watcher, lambda: watcher.table["tap10"].mac == VM_MAC)
    assert "tap10.tmp" not in watcher.table
    assert old_table["tap10"].mac == bytes.fromhex("020000000011")  # old snapshot untouched


def test_hidden_temp_files_never_enter(datapath: Path, watcher: Watcher) -> None:
    watcher.rescan()
    for name in (".tap20", "tap21.tmp", "tap22~", "tap23.swp"):
        (datapath / name).write_text(OTHER)
    settle(watcher, datapath)
    assert not any(name.startswith(("tap2", ".tap2")) for name in watcher.table)


def test_delete_removes(datapath: Path, watcher: Watcher, recorder: Recorder) -> None:
    (datapath / "tap10").write_text(GRNET_BINDING)
    (datapath / "tap11").write_text(OTHER)
    watcher.rescan()
    before = watcher.table
    os.unlink(datapath / "tap10")
    pump(watcher, lambda: "tap10" not in watcher.table)
    assert "tap11" in watcher.table
    assert "tap10" in before
    assert recorder.tables[-1] is watcher.table


def test_move_out_removes(datapath: Path, tmp_path: Path, watcher: Watcher) -> None:
    (datapath / "tap10").write_text(GRNET_BINDING)
    watcher.rescan()
    os.rename(datapath / "tap10", tmp_path / "tap10.moved")
    pump(watcher, lambda: "tap10" not in watcher.table)


def test_rename_to_ignored_name_removes(datapath: Path, watcher: Watcher) -> None:
    (datapath / "tap10").write_text(GRNET_BINDING)
    watcher.rescan()
    os.rename(datapath / "tap10", datapath / ".tap10.old")
    pump(watcher, lambda: "tap10" not in watcher.table)


def test_invalid_update_keeps_last_good(datapath: Path, watcher: Watcher) -> None:
    (datapath / "tap10").write_text(GRNET_BINDING)
    watcher.rescan()
    good = watcher.table["tap10"]
    (datapath / "tap10").write_text(BAD)
    settle(watcher, datapath)
    assert watcher.table["tap10"] == good
    (datapath / "tap10.tmp").write_bytes(b"\0\1\2 junk")
    os.rename(datapath / "tap10.tmp", datapath / "tap10")
    settle(watcher, datapath)
    assert watcher.table["tap10"] == good
    # A later valid update is taken.
    (datapath / "tap10").write_text(OTHER)
    pump(watcher, lambda: watcher.table["tap10"].mac == bytes.fromhex("020000000011"))


def test_invalid_file_kept_by_rescan(datapath: Path, watcher: Watcher) -> None:
    (datapath / "tap10").write_text(GRNET_BINDING)
    watcher.rescan()
    good = watcher.table["tap10"]
    (datapath / "tap10").write_text(BAD)
    watcher.rescan()
    assert watcher.table["tap10"] == good


def test_invalid_new_file_not_added(datapath: Path, watcher: Watcher) -> None:
    watcher.rescan()
    (datapath / "tap10").write_text(BAD)
    settle(watcher, datapath)
    assert "tap10" not in watcher.table


def test_symlink_moved_in_is_refused(datapath: Path, tmp_path: Path, watcher: Watcher) -> None:
    watcher.rescan()
    (tmp_path / "outside").write_text(GRNET_BINDING)
    (datapath / "tap10.tmp").symlink_to(tmp_path / "outside")
    os.rename(datapath / "tap10.tmp", datapath / "tap10")
    settle(watcher, datapath)
    assert "tap10" not in watcher.table


def test_overflow_event_triggers_rescan(datapath: Path, watcher: Watcher) -> None:
    (datapath / "tap10").write_text(GRNET_BINDING)
    settle(watcher, datapath)
    os.unlink(datapath / "tap10")
    (datapath / "tap10").write_text(OTHER)
    (datapath / "tap11").write_text(OTHER)
    lose_events(watcher)
    assert "tap11" not in watcher.table
    queue_overflow(watcher)
    kick(watcher, datapath)
    assert "tap11" in watcher.table
    assert watcher.table["tap10"].mac == bytes.fromhex("020000000011")
    assert not watcher._notifier._eventq  # the batch was dropped for the rescan


def test_without_the_overflow_lost_events_stay_lost(datapath: Path, watcher: Watcher) -> None:
    """The control for the test above: only the overflow event brings tap10 in."""
    (datapath / "tap10").write_text(GRNET_BINDING)
    lose_events(watcher)
    kick(watcher, datapath)
    assert "tap10" not in watcher.table
    queue_overflow(watcher)
    kick(watcher, datapath)
    assert "tap10" in watcher.table


def test_undecodable_file_name_is_skipped_by_rescan(datapath: Path, watcher: Watcher) -> None:
    (datapath / "tap10").write_text(GRNET_BINDING)
    with open(os.path.join(os.fsencode(datapath), b"tap\xff"), "w") as f:
        f.write(OTHER)
    watcher.rescan()  # must not raise: no file can stop the daemon
    assert "tap10" in watcher.table


def test_undecodable_file_name_event_does_not_crash(datapath: Path, watcher: Watcher) -> None:
    watcher.rescan()
    with open(os.path.join(os.fsencode(datapath), b"tap\xff"), "w") as f:
        f.write(OTHER)
    (datapath / "tap10").write_text(GRNET_BINDING)
    deadline = time.monotonic() + 5
    while "tap10" not in watcher.table:
        assert time.monotonic() < deadline, "timed out"
        if select.select([watcher.fileno()], [], [], 1)[0]:
            watcher.read()  # must not raise


def test_vanished_directory_freezes_table(datapath: Path, watcher: Watcher) -> None:
    (datapath / "tap10").write_text(GRNET_BINDING)
    watcher.rescan()
    os.rename(datapath, datapath.parent / "moved")
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline:
        if select.select([watcher.fileno()], [], [], 0.1)[0]:
            watcher.read()
    assert "tap10" in watcher.table
    watcher.rescan()  # cannot list: keeps the table
    assert "tap10" in watcher.table


def test_watching_a_missing_directory_fails(tmp_path: Path) -> None:
    with pytest.raises(Exception):  # noqa: B017 - pyinotify's own error type
        Watcher(str(tmp_path / "missing"), Recorder())


def test_describe() -> None:
    line = describe(parse_binding((GRNET_BINDING + "MTU=1450\nMACSPOOF=yes\n").encode(), "tap10"))
    for part in ("MAC=aa:6b:39:22:33:44", "INDEV=tap10", "IP=192.0.2.100", "MTU=1450", "MACSPOOF"):
        assert part in line
    assert "PRIVATE" not in line


def test_a_file_is_read_once_per_batch(
    datapath: Path, watcher: Watcher, caplog: pytest.LogCaptureFixture
) -> None:
    """Five rewrites queued before the watcher runs: one read, one error, not five."""
    for _ in range(5):
        (datapath / "tap10").write_text("MAC=nonsense\n")
    assert select.select([watcher.fileno()], [], [], 5)[0]
    with caplog.at_level("ERROR", logger="nfdhcpd.watcher"):
        watcher.read()
    errors = [r for r in caplog.records if "tap10" in r.getMessage()]
    assert len(errors) == 1, [r.getMessage() for r in errors]
