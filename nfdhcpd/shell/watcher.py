"""Keep the binding table current from the state directory, driven by inotify.

The watcher reads files safely (`files.read_binding`: no symlinks, no hard links, no
special files, bounded size), parses them with the pure `parse_binding`, and after each batch of
events swaps in one new immutable table. A file that fails to parse is reported with
its line and reason; if it replaced a good binding, the last good one keeps serving.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable

import pyinotify

from ..core.binding import Binding, BindingTable, describe, ignored_name
from ..core.errors import BindingError
from .files import read_binding, shown

log = logging.getLogger("nfdhcpd.watcher")

_MASK = (
    pyinotify.IN_CREATE
    | pyinotify.IN_CLOSE_WRITE
    | pyinotify.IN_MOVED_TO
    | pyinotify.IN_DELETE
    | pyinotify.IN_MOVED_FROM
    | pyinotify.IN_DELETE_SELF
    | pyinotify.IN_MOVE_SELF
)


class Watcher(pyinotify.ProcessEvent):  # type: ignore[misc]
    """Owns the inotify fd; `table` is the current snapshot."""

    def __init__(self, datapath: str, on_change: Callable[[BindingTable], None]) -> None:
        super().__init__()
        self.datapath = datapath
        self.table = BindingTable()
        self._on_change = on_change
        self._dirty: set[str] = set()  # names whose files changed in this batch
        if not os.path.isdir(datapath):
            raise OSError(f"datapath {datapath}: not a directory (or missing)")
        self._wm = pyinotify.WatchManager()
        try:
            watch = self._wm.add_watch(datapath, _MASK, quiet=False)
        except pyinotify.WatchManagerError as exc:
            raise OSError(f"datapath {datapath}: cannot watch: {exc}") from None
        if watch.get(datapath, -1) < 0:
            raise OSError(f"datapath {datapath}: cannot watch")
        self._notifier = pyinotify.Notifier(self._wm, self, timeout=0)

    def fileno(self) -> int:
        return int(self._wm.get_fd())

    def close(self) -> None:
        self._notifier.stop()

    def rescan(self) -> None:
        """Rebuild the table from every file (at start, on SIGHUP, after an overflow)."""
        try:
            names = sorted(os.listdir(self.datapath))
        except OSError as exc:
            log.error("cannot list %s: %s; keeping %d bindings", self.datapath, exc, len(self))
            return
        # The first scan of thousands of files would be as many lines: a count will do.
        quiet = not self.table
        entries: dict[str, Binding] = {}
        for name in names:
            if ignored_name(name):
                continue
            binding = self._load(name, quiet=quiet)
            if binding is not None:
                entries[name] = binding
        for name in set(self.table) - set(names):
            log.info("binding %s removed", shown(name))
        self._swap(BindingTable(entries))

    def read(self) -> None:
        """Handle whatever inotify has queued; call when its fd is readable.

        Events only name the files that changed; each is read once per batch, however
        many events it had, and after an overflow none is: everything is rescanned.
        """
        rescan = False
        try:
            self._notifier.read_events()
        except UnicodeDecodeError as exc:
            # pyinotify decodes names strictly; a name that is not UTF-8 costs the batch
            log.error("undecodable file name in %s (%s): rescanning", self.datapath, exc)
            rescan = True
        # The overflow event comes last: look for it before handling the others, which
        # the rescan makes moot (so pyinotify never dispatches an overflow).
        queued = self._notifier._eventq
        if any(event.mask & pyinotify.IN_Q_OVERFLOW for event in queued):
            log.warning("inotify queue overflowed: rescanning %s", self.datapath)
            rescan = True
        if rescan:
            queued.clear()
            self._dirty.clear()
            self.rescan()
            return
        self._notifier.process_events()
        if not self._dirty:
            return
        if not os.path.isdir(self.datapath):  # gone itself: keep what we have (see above)
            self._dirty.clear()
            return
        entries = dict(self.table)
        for name in sorted(self._dirty):
            if not os.path.lexists(os.path.join(self.datapath, name)):
                if entries.pop(name, None) is not None:
                    log.info("binding %s removed", shown(name))
                continue
            binding = self._load(name)
            if binding is not None:
                entries[name] = binding
        self._dirty.clear()
        self._swap(BindingTable(entries))

    def process_default(self, event: pyinotify.Event) -> None:
        mask = event.mask
        if mask & (pyinotify.IN_DELETE_SELF | pyinotify.IN_MOVE_SELF | pyinotify.IN_IGNORED):
            log.error("state directory %s vanished; bindings frozen until SIGHUP", self.datapath)
            return
        name = event.name
        if not name or ignored_name(name):
            return
        # A symlink, hard link, FIFO or directory made here raises IN_CREATE and nothing
        # after it: it is refused (and logged) now. A new regular file is read once it
        # is written (IN_CLOSE_WRITE), never half-written.
        if mask & pyinotify.IN_CREATE and not self._not_written(name):
            return
        self._dirty.add(name)

    def _not_written(self, name: str) -> bool:
        """True if `name` is not a file that something is writing: anything but a
        regular file with one link."""
        try:
            info = os.lstat(os.path.join(self.datapath, name))
        except OSError:
            return False  # gone again: its IN_DELETE follows
        return not (stat.S_ISREG(info.st_mode) and info.st_nlink == 1)

    def _load(self, name: str, *, quiet: bool = False) -> Binding | None:
        """The new binding for `name`, or the last good one if the file is bad."""
        old = self.table.get(name)
        try:
            binding = read_binding(self.datapath, name)
        except BindingError as exc:
            keeping = "; keeping the last good binding" if old is not None else ""
            log.error(
                "invalid binding file %s%s: %s%s",
                shown(os.path.join(self.datapath, name)),
                f" line {exc.line}" if exc.line else "",
                exc.reason,
                keeping,
            )
            return old
        if old != binding or (old.warnings != binding.warnings):
            log.log(
                logging.DEBUG if quiet else logging.INFO,
                "binding %s loaded: %s",
                shown(name),
                describe(binding),
            )
            if binding.warnings:
                log.warning("binding %s: %s", shown(name), "; ".join(binding.warnings))
        return binding

    def _swap(self, table: BindingTable) -> None:
        self.table = table
        self._on_change(table)

    def __len__(self) -> int:
        return len(self.table)
