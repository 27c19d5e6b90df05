"""The shipped ferm rules (conf/nfdhcpd.ferm) through Debian's real ferm, unpacked by
scripts/setup into .cache/ferm (`ferm --noexec --lines` prints what it would load):
the same NFQUEUE rules as `nfdhcpd rules`, and the hook that loads the rate limit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FERM = REPO / ".cache" / "ferm" / "usr" / "sbin" / "ferm"


def nfdhcpd_rule_lines(tmp_path: Path) -> list[str]:
    script = subprocess.run(
        [sys.executable, "-m", "nfdhcpd", "rules", "-c", str(tmp_path / "absent.conf")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return [line for line in script.splitlines() if line.startswith("-A nfdhcpd ")]


def canonical(rule: str) -> frozenset[str]:
    """A rule as its set of option words, long and short spellings made one."""
    words = rule.replace("--match", "-m").replace("--protocol", "-p").replace("--jump", "-j")
    words = words.replace("--in-interface", "-i").replace("-m udp ", "").replace("-m icmp6 ", "")
    words = words.replace("--mark 0x0/", "--mark 0/")
    parts = words.split()
    return frozenset(" ".join(parts[i : i + 2]) for i in range(2, len(parts), 2))


def test_ferm_loads_the_rules_nfdhcpd_prints(tmp_path: Path) -> None:
    if not FERM.exists():
        pytest.fail("ferm is not unpacked: run scripts/setup", pytrace=False)
    result = subprocess.run(
        ["perl", str(FERM), "--noexec", "--lines", str(REPO / "conf" / "nfdhcpd.ferm")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "nft -f /etc/nfdhcpd/nfdhcpd-limit.nft"  # the rate limit, first
    assert lines.count("-A PREROUTING --jump nfdhcpd") == 2  # iptables and ip6tables
    ferm_rules = {canonical(line) for line in lines if line.startswith("-A nfdhcpd ")}
    printed = {canonical(line) for line in nfdhcpd_rule_lines(tmp_path)}
    assert len(printed) == 8
    assert ferm_rules == printed
