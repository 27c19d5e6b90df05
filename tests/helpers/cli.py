"""Running the nfdhcpd command line as a user would, on a configuration in a temporary
directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def nfdhcpd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nfdhcpd", *args], capture_output=True, text=True, timeout=60
    )


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
