"""Running the nfdhcpd command line as a user would, on a configuration in a temporary
directory."""

from __future__ import annotations

import os
import pwd
import select
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from nfdhcpd.ops.control import ControlServer, listen_unix, status_handler


def nfdhcpd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nfdhcpd", *args], capture_output=True, text=True, timeout=60
    )


def other_user() -> str:
    """A user these tests do not run as, for a daemon's [general] user that must be
    unable to read a file the test wrote with mode 0600: nobody, or daemon when the
    tests run as nobody (.ci/run's unprivileged lane)."""
    return "daemon" if pwd.getpwnam("nobody").pw_uid == os.geteuid() else "nobody"


def write_config(tmp_path: Path, extra: str = "") -> Path:
    datapath = tmp_path / "bindings"
    datapath.mkdir(exist_ok=True)
    conf = tmp_path / "nfdhcpd.conf"
    conf.write_text(
        f"[general]\ndatapath = {datapath}\npidfile = {tmp_path}/run/nfdhcpd.pid\n"
        # The default user (nfdhcpd) is the package's: a test machine may not have it.
        + ("" if "user =" in extra else "user = nobody\n")
        + extra
    )
    return conf


def serve_status(socket: Path, answer: Callable[[], dict[str, Any]]) -> Iterator[Path]:
    """A control socket at `socket` answering `status` with `answer()`, served the way
    the daemon's loop does it (in a thread here); for `yield from` in a fixture."""
    server = ControlServer()
    server.listen(listen_unix(str(socket)), status_handler(answer))
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            if select.select([server.fileno()], [], [], 0.05)[0]:
                server.service()

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        yield socket
    finally:
        stop.set()
        thread.join()
        server.close()
