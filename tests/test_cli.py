"""The command line contract that needs no root: version, config errors, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from nfdhcpd import __version__


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nfdhcpd", *args], capture_output=True, text=True, timeout=30
    )


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"nfdhcpd {__version__}"


def test_bad_value_is_one_line_naming_file_section_key_value(tmp_path: Path) -> None:
    conf = tmp_path / "nfdhcpd.conf"
    conf.write_text("[general]\ndatapath = /tmp\n[dhcp]\ndhcp_queue = 70000 # too big\n")
    result = run("-f", "-c", str(conf))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    line = lines[0]
    for part in (str(conf), "[dhcp]", "dhcp_queue", "70000", "outside 0..65535"):
        assert part in line


def test_missing_config_file(tmp_path: Path) -> None:
    result = run("-f", "-c", str(tmp_path / "absent.conf"))
    assert result.returncode == 2
    assert "absent.conf" in result.stderr
    assert "cannot read" in result.stderr


def test_unparsable_ini(tmp_path: Path) -> None:
    conf = tmp_path / "nfdhcpd.conf"
    conf.write_text("no section header\n")
    result = run("-f", "-c", str(conf))
    assert result.returncode == 2
    assert str(conf) in result.stderr
