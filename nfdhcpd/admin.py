"""The admin subcommands: `nfdhcpd rules`, `nfdhcpd check [FILE...]`, `nfdhcpd status`.

They run as their own short-lived processes beside the daemon: `rules` and `check`
only read the config and the binding files, with the daemon's own parsers, so a file
`check` accepts is one the daemon serves; `status` asks the running daemon over its
control socket.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from .core.binding import describe, ignored_name
from .core.config import Config
from .core.errors import BindingError, ConfigError
from .ops.control import control_path, query
from .shell.files import load_config, read_binding

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2


def add_commands(parser: argparse.ArgumentParser) -> None:
    """The subcommands; without one, `nfdhcpd` runs the daemon as it always did."""
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", title="admin commands (without one: run the daemon)"
    )
    # -c after the subcommand too; SUPPRESS keeps a -c given before it.
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument("-c", "--config", default=argparse.SUPPRESS, help="config file")

    rules = commands.add_parser(
        "rules", parents=[config], help="print the iptables rules for the configured queues"
    )
    rules.add_argument("--mode", choices=("routed", "bridged", "both"), default="both")
    rules.add_argument("--interfaces", default="tap+", help="TAP name pattern (%(default)s)")

    check = commands.add_parser(
        "check", parents=[config], help="validate binding files, or the config and datapath"
    )
    check.add_argument("files", nargs="*", metavar="FILE", help="binding files to check")

    status = commands.add_parser(
        "status", parents=[config], help="the running daemon's bindings and their status"
    )
    status.add_argument("--json", action="store_true", help="the daemon's raw answer")
    status.add_argument("--socket", help="control socket (default: beside the pidfile)")


def run(args: argparse.Namespace) -> int:
    command: str = args.command
    if command == "check" and args.files:
        return check_files(args.files)
    if command == "status" and args.socket:
        return status(args.socket, raw=args.json)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"nfdhcpd: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if command == "rules":
        print(rules(config, args.mode, args.interfaces), end="")
        return EXIT_OK
    if command == "check":
        return check_all(config)
    return status(control_path(config.pidfile), raw=args.json)


# --- rules -----------------------------------------------------------------------


def rules(config: Config, mode: str = "both", interfaces: str = "tap+") -> str:
    """The rules of README's "iptables rules", for this config's queues, as a script."""
    matches: list[tuple[str, str, list[str]]] = []
    if mode in ("routed", "both"):
        matches.append(("routed TAPs: the packet enters on the TAP", f"-i {interfaces}", []))
    if mode in ("bridged", "both"):
        setup = ["modprobe br_netfilter"]
        if config.enable_dhcp:
            setup.append("sysctl -w net.bridge.bridge-nf-call-iptables=1")
        if config.enable_ipv6:
            setup.append("sysctl -w net.bridge.bridge-nf-call-ip6tables=1")
        why = "bridged TAPs: the packet enters on the bridge, via the TAP as bridge port"
        matches.append((why, f"-m physdev --physdev-in {interfaces}", setup))
    lines = []
    for why, match, setup in matches:
        lines += [f"# nfdhcpd, {why}", *setup]
        rule = f"-t mangle -A PREROUTING {match}"
        if config.enable_dhcp:
            lines.append(f"iptables {rule} -p udp --dport 67{_nfqueue(config.dhcp_queue)}")
        if config.enable_ipv6:
            icmp6 = f"ip6tables {rule} -p ipv6-icmp --icmpv6-type"
            lines.append(f"{icmp6} 133{_nfqueue(config.rs_queue)}")
            lines.append(f"{icmp6} 135{_nfqueue(config.ns_queue)}")
            lines.append(f"ip6tables {rule} -p udp --dport 547{_nfqueue(config.dhcpv6_queue)}")
    return "".join(f"{line}\n" for line in lines)


def _nfqueue(number: int) -> str:
    # --queue-bypass: while nfdhcpd is not running the packets pass on, not dropped.
    return f" -j NFQUEUE --queue-num {number} --queue-bypass"


# --- check -----------------------------------------------------------------------


def check_file(path: str) -> str | None:
    """None if the daemon would serve this binding file, else why not (path, line)."""
    datapath, name = os.path.split(os.path.abspath(path))
    if ignored_name(name):
        return f"{path}: ignored by nfdhcpd (hidden or temporary file name)"
    try:
        read_binding(datapath, name)
    except BindingError as exc:
        line = f" line {exc.line}" if exc.line else ""
        return f"{path}{line}: {exc.reason}"
    return None


def check_files(paths: list[str]) -> int:
    failed = 0
    for path in paths:
        error = check_file(path)
        if error is None:
            datapath, name = os.path.split(os.path.abspath(path))
            print(f"{path}: ok: {describe(read_binding(datapath, name))}")
        else:
            print(error, file=sys.stderr)
            failed += 1
    return EXIT_FAILED if failed else EXIT_OK


def check_all(config: Config) -> int:
    """The config (already loaded), then every binding in its datapath."""
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{config.path}: ok")
    try:
        names = sorted(os.listdir(config.datapath))
    except OSError as exc:
        print(f"{config.datapath}: cannot list: {exc.strerror}", file=sys.stderr)
        return EXIT_FAILED
    good = bad = 0
    for name in names:
        if ignored_name(name):
            continue
        error = check_file(os.path.join(config.datapath, name))
        if error is None:
            good += 1
        else:
            print(error, file=sys.stderr)
            bad += 1
    print(f"{config.datapath}: {good} valid binding(s), {bad} invalid")
    return EXIT_FAILED if bad else EXIT_OK


# --- status ----------------------------------------------------------------------


def status(path: str, *, raw: bool = False) -> int:
    try:
        answer = query(path)
    except (OSError, ValueError) as exc:
        print(f"nfdhcpd: cannot ask the daemon at {path} (is it running?): {exc}", file=sys.stderr)
        return EXIT_FAILED
    if raw:
        print(json.dumps(answer, indent=2))
    else:
        print(format_status(answer), end="")
    return EXIT_OK


def format_status(answer: dict[str, Any]) -> str:
    """The binding table for a terminal: one line per binding file."""
    header = ("TAP", "APPLIED", "TAP UP", "MAC", "IP", "IP6", "LAST REQUEST", "LAST REPLY")
    rows = [header]
    for b in answer["bindings"]:
        rows.append(
            (
                b["tap"],
                "yes" if b["applied"] else "NO (invalid, see nfdhcpd check)",
                "yes" if b["tap_present"] else "no",
                b.get("mac") or "-",
                b.get("ip") or "-",
                b.get("ip6") or "-",
                _when(b.get("last_request"), b.get("last_event")),
                _when(b.get("last_reply"), b.get("last_reply_event")),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    counters = ", ".join(f"{k}={v}" for k, v in answer.get("counters", {}).items())
    lines.append(f"{len(answer['bindings'])} binding file(s) in {answer.get('datapath')}")
    lines.append(f"counters: {counters or 'none yet'}")
    return "".join(f"{line}\n" for line in lines)


def _when(stamp: float | None, event: str | None) -> str:
    if not stamp:
        return "never"
    return f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(stamp))} {event}"
