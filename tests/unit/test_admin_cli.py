"""The admin subcommands as a user runs them: `rules`, `check`, `status` (no root needed)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from nfdhcpd.core.binding import BindingTable, parse_binding
from nfdhcpd.core.events import Event
from nfdhcpd.ops.status import Served, snapshot

from ..helpers.cli import nfdhcpd, other_user, serve_status, write_config
from ..helpers.samples import GRNET_BINDING

README = Path(__file__).resolve().parents[2] / "README.md"
CONF = README.parent / "conf"


# --- rules -------------------------------------------------------------------------


def readme_rules() -> list[str]:
    """The rule lines of README's "iptables rules" section."""
    section = README.read_text().split("## iptables rules", 1)[1].split("\n## ", 1)[0]
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        lines += [line for line in block.splitlines() if line.startswith("-A nfdhcpd ")]
    return lines


def rule_lines(script: str) -> list[str]:
    return [line for line in script.splitlines() if line.startswith("-A nfdhcpd ")]


def test_rules_match_the_readme_and_the_shipped_files(tmp_path: Path) -> None:
    result = nfdhcpd("rules", "-c", str(write_config(tmp_path)))
    assert result.returncode == 0, result.stderr
    printed = rule_lines(result.stdout)
    assert sorted(printed) == sorted(readme_rules())
    assert len(printed) == 8
    shipped = rule_lines((CONF / "iptables.rules").read_text())
    shipped += rule_lines((CONF / "ip6tables.rules").read_text())
    assert sorted(printed) == sorted(shipped)
    assert all("--queue-bypass" in line and "--mark 0x0/0x100000" in line for line in printed)
    assert "sysctl -q -w net.bridge.bridge-nf-call-ip6tables=1" in result.stdout


def ruleset_body(text: str) -> str:
    """A ruleset without its header comment (the config it was made for differs)."""
    return text[text.index("# Routed TAPs") :]


def test_the_shipped_nftables_files_are_what_rules_prints(tmp_path: Path) -> None:
    """conf/ never drifts from the generator: the defaults' rulesets, byte for byte."""
    native = nfdhcpd("rules", "--nft", "-c", str(write_config(tmp_path)))
    assert native.returncode == 0, native.stderr
    assert ruleset_body(native.stdout) == ruleset_body((CONF / "nfdhcpd.nft").read_text())
    script = nfdhcpd("rules", "-c", str(write_config(tmp_path))).stdout
    limit = script.split("nft -f - <<'EOF'\n", 1)[1].split("EOF\n", 1)[0]
    assert ruleset_body(limit) == ruleset_body((CONF / "nfdhcpd-limit.nft").read_text())


def test_rules_without_a_config_file_use_the_defaults(tmp_path: Path) -> None:
    result = nfdhcpd("rules", "-c", str(tmp_path / "absent.conf"), "--mode", "routed")
    assert result.returncode == 0, result.stderr
    assert "absent.conf (absent: defaults)" in result.stdout
    assert "--queue-num 42" in result.stdout and "--queue-num 45" in result.stdout
    assert "limit rate over 100/second burst 200 packets" in result.stdout


def test_rules_follow_the_config(tmp_path: Path) -> None:
    conf = write_config(tmp_path, "[dhcp]\ndhcp_queue = 7\n[ipv6]\nenable_ipv6 = no\n")
    result = nfdhcpd("-c", str(conf), "rules", "--mode", "routed", "--interfaces", "vnet+")
    assert result.returncode == 0, result.stderr
    assert rule_lines(result.stdout) == [
        "-A nfdhcpd -i vnet+ -p udp -m udp --dport 67 -m mark --mark 0x0/0x100000 "
        "-j NFQUEUE --queue-num 7 --queue-bypass"
    ]
    assert "ip6tables" not in result.stdout and "icmpv6" not in result.stdout
    assert 'iifname "vnet*" meta nfproto ipv4 udp dport 67 jump over_limit' in result.stdout
    assert "table bridge nfdhcpd_limit {" not in result.stdout


def test_rules_without_a_rate_limit(tmp_path: Path) -> None:
    conf = write_config(tmp_path, "rate_limit = 0\n")
    result = nfdhcpd("rules", "-c", str(conf), "--mode", "bridged")
    assert result.returncode == 0, result.stderr
    assert "mark" not in "".join(rule_lines(result.stdout))
    assert "nft delete table inet nfdhcpd_limit" in result.stdout
    native = nfdhcpd("rules", "--nft", "-c", str(conf)).stdout
    assert "limit rate" not in native and "queue num 44 bypass" in native


@pytest.mark.parametrize(
    "interfaces", ["", "tap+ -j ACCEPT", 'tap"', "tap*", "a" * 16, "+", "tap+x", "tap/1", ".."]
)
def test_rules_refuse_a_bad_interface_pattern(tmp_path: Path, interfaces: str) -> None:
    result = nfdhcpd("rules", "-c", str(write_config(tmp_path)), "--interfaces", interfaces)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"nfdhcpd rules: --interfaces {interfaces!r}: ")


@pytest.mark.parametrize("interfaces", ["tap+", "vnet+", "tap12", "fwpr100p0", "a" * 15 + "+"])
def test_rules_take_a_good_interface_pattern(tmp_path: Path, interfaces: str) -> None:
    result = nfdhcpd(
        "rules", "--nft", "-c", str(write_config(tmp_path)), "--interfaces", interfaces
    )
    assert result.returncode == 0, result.stderr
    assert f'iifname "{interfaces.replace("+", "*")}"' in result.stdout


def test_rules_refuse_a_mark_that_is_not_one_bit(tmp_path: Path) -> None:
    result = nfdhcpd("rules", "-c", str(write_config(tmp_path)), "--mark", "0x3")
    assert result.returncode == 2 and "--mark 0x3" in result.stderr
    result = nfdhcpd("rules", "-c", str(write_config(tmp_path)), "--mark", "0x800")
    assert result.returncode == 0 and "--mark 0x0/0x800 " in result.stdout


def test_rules_with_a_bad_config_exit_2(tmp_path: Path) -> None:
    conf = write_config(tmp_path, "metrics = nowhere\n")
    result = nfdhcpd("rules", "-c", str(conf))
    assert result.returncode == 2
    assert "metrics" in result.stderr and str(conf) in result.stderr


# --- check -------------------------------------------------------------------------


def test_check_a_good_file(tmp_path: Path) -> None:
    path = tmp_path / "tap10"
    path.write_text(GRNET_BINDING)
    result = nfdhcpd("check", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{path}: ok: MAC=aa:6b:39:22:33:44")
    assert "IP=192.0.2.100" in result.stdout


def test_check_a_bad_file_names_file_line_and_reason(tmp_path: Path) -> None:
    good = tmp_path / "tap10"
    good.write_text(GRNET_BINDING)
    bad = tmp_path / "tap11"
    bad.write_text("MAC=aa:6b:39:22:33:44\n# comment\nIP=192.0.2.300\nSUBNET=192.0.2.0/24\n")
    result = nfdhcpd("check", str(good), str(bad))
    assert result.returncode == 1
    assert result.stderr.strip() == f"{bad} line 3: IP: '192.0.2.300' is not an IPv4 address"
    assert f"{good}: ok" in result.stdout


def test_check_files_the_daemon_would_not_read(tmp_path: Path) -> None:
    (tmp_path / "tap1.tmp").write_text(GRNET_BINDING)
    (tmp_path / "tap2").symlink_to(tmp_path / "tap1.tmp")
    result = nfdhcpd("check", str(tmp_path / "tap1.tmp"), str(tmp_path / "tap2"), "/nonexistent")
    assert result.returncode == 1
    errors = result.stderr.splitlines()
    assert errors[0].endswith("tap1.tmp: ignored by nfdhcpd (hidden or temporary file name)")
    assert errors[1] == f"{tmp_path / 'tap2'}: is a symbolic link, refused"
    assert errors[2].startswith("/nonexistent: cannot open")


@pytest.fixture
def shared_path() -> Iterator[Path]:
    """A directory the daemon's user (nobody) can traverse, unlike pytest's tmp_path:
    `check` says when that user could not read a file."""
    path = Path(tempfile.mkdtemp(prefix="nfdt-check-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def test_check_the_config_and_datapath(shared_path: Path) -> None:
    tmp_path = shared_path
    conf = write_config(tmp_path)
    datapath = tmp_path / "bindings"
    (datapath / "tap10").write_text(GRNET_BINDING)
    (datapath / ".tap12.tmp").write_text("garbage")  # ignored, as the daemon does
    result = nfdhcpd("check", "-c", str(conf))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{conf}: ok",
        f"{datapath}: 1 valid binding(s), 0 invalid",
    ]

    (datapath / "tap11").write_text("MAC=nonsense\n")
    result = nfdhcpd("-c", str(conf), "check")
    assert result.returncode == 1
    assert f"{datapath / 'tap11'} line 1: MAC" in result.stderr
    assert f"{datapath}: 1 valid binding(s), 1 invalid" in result.stdout


def test_check_a_bad_config_exit_2(tmp_path: Path) -> None:
    conf = write_config(tmp_path, "[dhcp]\nlease_lifetime = forever\n")
    result = nfdhcpd("check", "-c", str(conf))
    assert result.returncode == 2
    assert "[dhcp] lease_lifetime" in result.stderr


def test_daemon_invocation_unchanged(tmp_path: Path) -> None:
    """`nfdhcpd -f -c FILE` is still the daemon: a bad config stops it with exit 2."""
    conf = write_config(tmp_path, "rate_limit = -1\n")
    result = nfdhcpd("-f", "-c", str(conf))
    assert result.returncode == 2
    assert "rate_limit" in result.stderr


# --- status ------------------------------------------------------------------------


@pytest.fixture
def fake_daemon(tmp_path: Path) -> Iterator[Path]:
    """A control socket answering with the real snapshot of a small table."""
    datapath = tmp_path / "bindings"
    datapath.mkdir()
    (datapath / "tap10").write_text(GRNET_BINDING)
    (datapath / "tap11").write_text("MAC=nonsense\n")
    table = BindingTable({"tap10": parse_binding(GRNET_BINDING.encode(), "tap10")})
    served = Served()
    served.note("tap10", 42, Event.OFFER, replied=True)
    served.note("tap10", 42, Event.MAC_MISMATCH, replied=False)
    counters = {Event.OFFER: 1, Event.MAC_MISMATCH: 1}
    path = tmp_path / "nfdhcpd.sock"
    yield from serve_status(path, lambda: snapshot(table, served, str(datapath), counters))
    assert not path.exists()  # removed at exit


def test_status_json(fake_daemon: Path) -> None:
    result = nfdhcpd("status", "--json", "--socket", str(fake_daemon))
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    tap10, tap11 = answer["bindings"]
    assert tap10["tap"] == "tap10" and tap10["applied"] is True
    assert tap10["tap_present"] is False  # no such interface here
    assert tap10["ip"] == "192.0.2.100" and tap10["mac"] == "aa:6b:39:22:33:44"
    assert tap10["last_event"] == "mac-mismatch" and tap10["last_reply_event"] == "offer"
    assert tap10["last_request"] >= tap10["last_reply"] > 0
    assert tap11 == {
        "tap": "tap11",
        "applied": False,
        "tap_present": False,
        "tap_gone_since": tap10["tap_gone_since"],
    }
    assert answer["counters"] == {"mac-mismatch": 1, "offer": 1}


def test_status_table(fake_daemon: Path) -> None:
    result = nfdhcpd("status", "--socket", str(fake_daemon))
    assert result.returncode == 0, result.stderr
    header, tap10, tap11, *footer = result.stdout.splitlines()
    assert header.split()[:3] == ["TAP", "APPLIED", "TAP"]
    assert tap10.split()[:6] == ["tap10", "yes", "no", "0m00s", "aa:6b:39:22:33:44", "192.0.2.100"]
    assert tap10.endswith("offer") and "mac-mismatch" in tap10
    assert tap11.split()[:2] == ["tap11", "NO"]
    assert footer[-1] == "counters: mac-mismatch=1, offer=1"


def test_status_without_a_daemon(tmp_path: Path) -> None:
    result = nfdhcpd("status", "-c", str(write_config(tmp_path)))
    assert result.returncode == 1
    assert f"{tmp_path}/run/nfdhcpd.sock (is it running?)" in result.stderr


# --- what the admin commands load -------------------------------------------------

HEAVY = ["netfilterqueue", "prometheus_client", "pyinotify", "nfdhcpd.shell.daemon"]


def loaded_by(tmp_path: Path, code: str) -> list[str]:
    """Which of HEAVY a fresh interpreter has loaded after running `code`."""
    script = f"import sys\n{code}\nprint('LOADED', *(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1].split()[1:]


def test_check_loads_neither_netfilterqueue_nor_prometheus(shared_path: Path) -> None:
    tmp_path = shared_path
    conf = write_config(tmp_path)
    (tmp_path / "bindings" / "tap10").write_text(GRNET_BINDING)
    code = (
        "from nfdhcpd import cli\n"
        f"assert cli.main(['check', '-c', {str(conf)!r}]) == 0\n"
        f"assert cli.main(['rules', '-c', {str(conf)!r}]) == 0"
    )
    assert loaded_by(tmp_path, code) == []


def test_the_load_check_can_fail(tmp_path: Path) -> None:
    assert loaded_by(tmp_path, "import nfdhcpd.shell.start") == HEAVY


# --- what the daemon's user can read, -t --------------------------------------------


def test_check_says_what_the_daemons_user_cannot_read(shared_path: Path) -> None:
    """SIGHUP re-reads the config as [general] user; the watcher reads bindings as it."""
    user = other_user()
    conf = write_config(shared_path, f"user = {user}\n")
    binding = shared_path / "bindings" / "tap10"
    binding.write_text(GRNET_BINDING)
    conf.chmod(0o600)
    binding.chmod(0o600)
    result = nfdhcpd("check", "-c", str(conf))
    assert result.returncode == 1, result.stderr
    assert f"{conf} is not readable by [general] user {user}" in result.stderr
    assert f"{binding}: not readable by the daemon's user {user}" in result.stderr

    conf.chmod(0o644)
    binding.chmod(0o644)
    result = nfdhcpd("check", "-c", str(conf))
    assert result.returncode == 0, result.stderr
    # Only a warning about the user (not the package's nfdhcpd user) may be left.
    assert [line for line in result.stderr.splitlines() if f"user = {user}" not in line] == []


def test_check_prints_every_option_and_the_binding_warnings(shared_path: Path) -> None:
    conf = write_config(shared_path)
    binding = shared_path / "bindings" / "tap10"
    extra = (
        "DNS=192.0.2.53\nDOMAIN=vm.example\nSEARCH='a.example b.example'\nNTP=192.0.2.123\n"
        "ROUTES='10.1.0.0/16 via 192.0.2.254'\nMACSPOOF=on-request\nFOO=1\n"
        'TAGS="nfdhcpd ip-less-routed"\n'
    )
    binding.write_text(GRNET_BINDING + extra)
    result = nfdhcpd("check", "-c", str(conf), str(binding))
    assert result.returncode == 0, result.stderr
    for shown in (
        "DNS=192.0.2.53",
        "DOMAIN=vm.example",
        "SEARCH=a.example,b.example",
        "NTP=192.0.2.123",
        "ROUTES=10.1.0.0/16 via 192.0.2.254",
        "TAGS='nfdhcpd ip-less-routed'",
        "MACSPOOF",
    ):
        assert shown in result.stdout, result.stdout
    [warning] = result.stderr.splitlines()
    assert warning.startswith(f"{binding}: warning: ")
    assert "MACSPOOF=on-request read as set" in warning and "unknown key FOO" in warning


@pytest.mark.parametrize(
    ("extra", "exit_status", "said"),
    [
        ("", 0, "ok"),
        ("user = 65534\n", 0, "ok"),
        ("user = no-such-user-here\n", 2, "no such user"),
        ("[dhcp]\nlease_lifetime = soon\n", 2, "lease_lifetime"),
        ("[ipv6]\nra_period = 1\n", 0, "ra_period"),
    ],
)
def test_test_config(shared_path: Path, extra: str, exit_status: int, said: str) -> None:
    conf = write_config(shared_path, extra)
    result = nfdhcpd("-t", "-c", str(conf))
    assert result.returncode == exit_status, result.stderr
    assert said in result.stdout + result.stderr


def test_test_config_refuses_what_a_reload_could_not_read(shared_path: Path) -> None:
    user = other_user()
    conf = write_config(shared_path, f"user = {user}\n")
    conf.chmod(0o600)
    result = nfdhcpd("-t", "-c", str(conf))
    assert result.returncode == 2
    assert f"not readable by [general] user {user}" in result.stderr
    (shared_path / "bindings").rmdir()
    conf.chmod(0o644)
    result = nfdhcpd("-t", "-c", str(conf))
    assert result.returncode == 2
    assert "datapath" in result.stderr


def test_relative_config_is_made_absolute(shared_path: Path) -> None:
    write_config(shared_path)
    result = subprocess.run(
        [sys.executable, "-m", "nfdhcpd", "-t", "-c", "nfdhcpd.conf"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=shared_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{shared_path / 'nfdhcpd.conf'}: ok\n"
