"""Broken config files through the real command line: `nfdhcpd -f -c BAD` exits 2 and
prints exactly one line naming the file, the section, the key and the value.

The checks of `parse_config` itself live in tests/unit/test_config.py and the
first CLI cases (a too-big queue, a missing file, a file without section) in
tests/test_cli.py; this table covers every key of the schema once more, through the
process boundary: the value as written in a full file (inline comments and tabs
stripped), consistency errors between keys, and files that are not INI text at all.

Every config here disables both services and points its paths into the test's own
directory, so a config that wrongly passed validation could not bind a queue or
touch anything outside `tmp_path`; a timeout catches a daemon that wrongly starts.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ..helpers.samples import GRNET_CONFIG

EXIT_CONFIG = 2


def nfdhcpd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nfdhcpd", *args],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


def base(tmp_path: Path) -> dict[str, dict[str, str]]:
    """A valid config whose services are off and whose paths are all in tmp_path."""
    (tmp_path / "bindings").mkdir(exist_ok=True)
    return {
        "general": {
            "pidfile": str(tmp_path / "nfdhcpd.pid"),
            "datapath": str(tmp_path / "bindings"),
            "logdir": str(tmp_path / "log"),
            "user": "nobody",
        },
        "dhcp": {"enable_dhcp": "no"},
        "ipv6": {"enable_ipv6": "no"},
    }


def render(sections: dict[str, dict[str, str]]) -> str:
    return "".join(
        f"[{name}]\n" + "".join(f"{key} = {value}\n" for key, value in keys.items())
        for name, keys in sections.items()
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The contract for every bad config: status 2, one stderr line, no traceback."""
    assert result.returncode == EXIT_CONFIG, result
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("nfdhcpd: ")
    return lines[0]


#: (section, key, the value as written after "key = ", the value the line must quote)
BAD_VALUES = [
    ("general", "pidfile", "run/nfdhcpd.pid", "run/nfdhcpd.pid"),
    ("general", "datapath", "", ""),
    ("general", "logdir", "log # relative", "log"),
    ("general", "user", "", ""),
    ("general", "rate_limit", "-1", "-1"),
    ("general", "pending_window", "1h", "1h"),
    ("general", "coalesce_ms", "101", "101"),
    ("general", "coalesce_ms", "0.5", "0.5"),
    ("dhcp", "enable_dhcp", "yes please", "yes please"),
    ("dhcp", "lease_lifetime", "1w\t# one week", "1w"),
    ("dhcp", "lease_renewal", "-1", "-1"),
    ("dhcp", "server_ip", "192.0.2.256", "192.0.2.256"),
    ("dhcp", "server_ip", "010.1.2.3", "010.1.2.3"),
    ("dhcp", "server_on_link", "sometimes", "sometimes"),
    ("dhcp", "dhcp_queue", "0x2a", "0x2a"),
    ("dhcp", "nameservers", "192.0.2.2 192.0.2.300", "192.0.2.2 192.0.2.300"),
    ("dhcp", "domain", "exa mple.com", "exa mple.com"),
    ("dhcp", "ntp_servers", "ntp.example.org", "ntp.example.org"),
    ("ipv6", "enable_ipv6", "2", "2"),
    ("ipv6", "mode", "stateful", "stateful"),
    ("ipv6", "ra_period", "0", "0"),
    ("ipv6", "rs_queue", "-43", "-43"),
    ("ipv6", "ns_queue", "44.0", "44.0"),
    ("ipv6", "dhcpv6_queue", "65536", "65536"),
    ("ipv6", "dhcp_queue", "forty-five", "forty-five"),  # GRNET's deprecated alias
    ("ipv6", "nameservers", "2001:db8::zz", "2001:db8::zz"),
    ("ipv6", "domains", "example.com a..b", "example.com a..b"),
    ("ipv6", "server_duid", "xyz", "xyz"),
    ("ipv6", "server_duid", "00:01", "00:01"),
    ("ipv6", "enable_dhcpv6", "maybe", "maybe"),
]


@pytest.mark.parametrize(
    ("section", "key", "written", "value"),
    BAD_VALUES,
    ids=[f"{s}.{k}={v!r}" for s, k, _, v in BAD_VALUES],
)
def test_bad_value(tmp_path: Path, section: str, key: str, written: str, value: str) -> None:
    sections = base(tmp_path)
    sections[section][key] = written
    conf = tmp_path / "bad.conf"
    conf.write_text(render(sections))

    line = one_line(nfdhcpd("-f", "-c", str(conf)))

    assert line.startswith(f"nfdhcpd: {conf}: [{section}] {key} = {value!r}: "), line
    assert len(line) > len(f"nfdhcpd: {conf}: [{section}] {key} = {value!r}: ")  # a reason


@pytest.mark.parametrize(
    ("changes", "section", "key", "value", "reason"),
    [
        (
            # Unused queue numbers: had validation let this through, nothing would notice.
            {
                "dhcp": {"enable_dhcp": "yes", "dhcp_queue": "64001"},
                "ipv6": {"enable_ipv6": "yes", "rs_queue": "64001"},
            },
            "ipv6",
            "rs_queue",
            "64001",
            "same queue",
        ),
    ],
)
def test_inconsistent_keys(
    tmp_path: Path,
    changes: dict[str, dict[str, str]],
    section: str,
    key: str,
    value: str,
    reason: str,
) -> None:
    sections = base(tmp_path)
    for name, keys in changes.items():
        sections[name].update(keys)
    conf = tmp_path / "bad.conf"
    conf.write_text(render(sections))

    line = one_line(nfdhcpd("-f", "-c", str(conf)))

    assert f"{conf}: [{section}] {key} = {value!r}: " in line, line
    assert reason in line


def test_bad_value_in_the_full_grnet_sample(tmp_path: Path) -> None:
    """The value is quoted without the tab and inline comment that follow it."""
    text = GRNET_CONFIG.replace("lease_renewal = 3600 \t# 1 hour", "lease_renewal = 1h \t# 1 hour")
    assert text != GRNET_CONFIG
    conf = tmp_path / "nfdhcpd.conf"
    conf.write_text(text)

    line = one_line(nfdhcpd("-f", "-c", str(conf)))

    assert line.startswith(f"nfdhcpd: {conf}: [dhcp] lease_renewal = '1h': "), line


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("non-utf8", b"[dhcp]\ndomain = caf\xe9.example\n", ["cannot read", "utf-8"]),
        ("binary", bytes(range(256)) * 4, ["cannot read"]),
        ("no-section", b"enable_dhcp = yes\n", ["no section headers"]),
        ("duplicate-key", b"[dhcp]\nenable_dhcp = no\nenable_dhcp = no\n", ["dhcp", "enable_dhcp"]),
        ("duplicate-section", b"[dhcp]\n[ipv6]\n[dhcp]\n", ["dhcp", "already exists"]),
        (
            "garbage-line",
            b"[dhcp]\nthis is not a key value line\n",
            [r"line\s+2", "not a key value line"],
        ),
    ],
)
def test_file_that_is_not_an_ini_config(
    tmp_path: Path, name: str, content: bytes, expected: list[str]
) -> None:
    conf = tmp_path / f"{name}.conf"
    conf.write_bytes(content)

    line = one_line(nfdhcpd("-f", "-c", str(conf)))

    assert str(conf) in line
    for part in expected:
        assert re.search(part, line, re.IGNORECASE), line


def test_directory_as_config(tmp_path: Path) -> None:
    line = one_line(nfdhcpd("-f", "-c", str(tmp_path)))
    assert str(tmp_path) in line and "cannot read" in line


@pytest.mark.skipif(os.geteuid() != 0, reason="the daemon starts as root and drops to nobody")
def test_a_good_base_is_accepted(tmp_path: Path) -> None:
    """The table's base config itself is valid: each row fails only for its own value.

    With both services off the daemon binds no queue and only watches tmp_path; it is
    stopped by SIGTERM once it has logged that it serves.
    """
    conf = tmp_path / "good.conf"
    conf.write_text(render(base(tmp_path)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "nfdhcpd", "-f", "-c", str(conf)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        lines = iter(proc.stderr.readline, "")
        line = next((x for x in lines if "serving" in x or "cannot start" in x), "")
        assert "serving 0 bindings" in line, line
    finally:
        proc.terminate()
        status = proc.wait(timeout=10)
    assert status == 0


def test_syntax_error_names_its_section(tmp_path: Path) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text("[general]\n[dhcp]\nthis is not a key value line\n")

    line = one_line(nfdhcpd("-f", "-c", str(conf)))

    assert f"{conf}: [dhcp]" in line, line
