"""The admin subcommands: `nfdhcpd rules`, `nfdhcpd check [FILE...]`, `nfdhcpd status`,
`nfdhcpd prune`.

They run as their own short-lived processes beside the daemon: `rules` and `check`
only read the config and the binding files, with the daemon's own parsers, so a file
`check` accepts is one the daemon serves; `status` asks the running daemon over its
control socket, and `prune` removes the binding files whose TAP it has seen gone.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pwd
import socket
import stat
import sys
import time
from typing import Any

from .core.binding import describe, ignored_name, valid_ifname
from .core.config import Config, user_warning
from .core.errors import BindingError, ConfigError
from .ops.control import control_path, query
from .ops.rules import DEFAULT_MARK, MODES, RulesError, iptables_script, nft_script
from .shell.files import load_config, read_binding, shown
from .shell.privileges import PrivilegeError, check_user, readable_by, unreadable_config

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
#: Seconds a binding's TAP must have been missing before `status` calls it stale and
#: `prune` removes it: an hour outlasts any reboot or migration of a Ganeti instance.
STALE_AFTER = 3600
#: The first line of the binding files nfdhcpd's own hooks write.
HOOK_HEADER = b"# nfdhcpd binding "


def add_commands(parser: argparse.ArgumentParser) -> None:
    """The subcommands; without one, `nfdhcpd` runs the daemon as it always did."""
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", title="admin commands (without one: run the daemon)"
    )
    # -c after the subcommand too; SUPPRESS keeps a -c given before it.
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument("-c", "--config", default=argparse.SUPPRESS, help="config file")

    rules = commands.add_parser(
        "rules",
        parents=[config],
        help="print the netfilter rules for the configured queues (a script safe to rerun)",
    )
    rules.add_argument("--mode", choices=MODES, default="both")
    rules.add_argument(
        "--interfaces", default="tap+", help="TAP name, or prefix ending in + (%(default)s)"
    )
    rules.add_argument(
        "--mark",
        type=lambda text: int(text, 0),
        default=DEFAULT_MARK,
        help="mark bit of packets over the rate limit (%(default)#x)",
    )
    rules.add_argument("--nft", action="store_true", help="a native nftables ruleset instead")

    check = commands.add_parser(
        "check", parents=[config], help="validate binding files, or the config and datapath"
    )
    check.add_argument("files", nargs="*", metavar="FILE", help="binding files to check")

    status = commands.add_parser(
        "status", parents=[config], help="the running daemon's bindings and their status"
    )
    status.add_argument("--json", action="store_true", help="the daemon's raw answer")
    status.add_argument("--socket", help="control socket (default: beside the pidfile)")
    prune = commands.add_parser(
        "prune",
        parents=[config],
        help="remove the binding files whose TAP has long been gone",
    )
    for sub in (status, prune):
        sub.add_argument(
            "--stale-after",
            type=float,
            default=STALE_AFTER,
            metavar="SECONDS",
            help="a binding whose TAP has been gone this long is stale (%(default)d)",
        )
    prune.add_argument(
        "--any", action="store_true", help="also files no nfdhcpd hook wrote (hand-written)"
    )
    prune.add_argument("--dry-run", action="store_true", help="say what would be removed")
    prune.add_argument("--socket", help="control socket (default: beside the pidfile)")


def run(args: argparse.Namespace) -> int:
    command: str = args.command
    if command == "check" and args.files:
        return check_files(args.files, _user_of(args.config))
    if command == "status" and args.socket:
        return status(args.socket, raw=args.json, stale_after=args.stale_after)
    if command == "rules" and not os.path.exists(args.config):
        # The rules are wanted before the config is written, or without one at all.
        return rules(dataclasses.replace(Config(), path=f"{args.config} (absent: defaults)"), args)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"nfdhcpd: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if command == "rules":
        return rules(config, args)
    if command == "check":
        try:
            user = check_user(config.user)
        except PrivilegeError as exc:  # the daemon would refuse to start
            print(f"nfdhcpd: {config.path}: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        return check_all(config, user)
    socket_path = args.socket or control_path(config.pidfile)
    if command == "prune":
        return prune(config, socket_path, args.stale_after, any_file=args.any, dry=args.dry_run)
    return status(socket_path, raw=args.json, stale_after=args.stale_after)


# --- rules -----------------------------------------------------------------------


def rules(config: Config, args: argparse.Namespace) -> int:
    """Print the rules (ops/rules.py); a bad option is one line and exit 2."""
    try:
        if args.nft:
            text = nft_script(config, args.mode, args.interfaces)
        else:
            text = iptables_script(config, args.mode, args.interfaces, args.mark)
    except RulesError as exc:
        print(f"nfdhcpd rules: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(text, end="")
    return EXIT_OK


# --- -t: the config as a reload would take it -------------------------------------


def test_config(path: str) -> int:
    """`nfdhcpd -t`: 0 when a reload (or start) would take this config, else 2 with the
    reason on stderr: init scripts run it before they signal the daemon."""
    try:
        config = load_config(path)
        user = check_user(config.user)
    except (ConfigError, PrivilegeError) as exc:
        print(f"nfdhcpd: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not os.path.isdir(config.datapath):
        print(f"nfdhcpd: {path}: datapath {config.datapath}: not a directory", file=sys.stderr)
        return EXIT_CONFIG
    if not readable_by(path, user):  # the daemon re-reads it as `user`
        print(f"nfdhcpd: {unreadable_config(path, config.user)}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"{path}: ok")
    return EXIT_OK


# --- check -----------------------------------------------------------------------


def _user_of(config_path: str) -> pwd.struct_passwd | None:
    """The daemon's user, if the config says (binding files must be readable by it)."""
    try:
        return check_user(load_config(config_path).user)
    except (ConfigError, PrivilegeError):
        return None


def check_file(path: str, user: pwd.struct_passwd | None = None) -> str | None:
    """None if the daemon would serve this binding file, else why not (path, line)."""
    datapath, name = os.path.split(os.path.abspath(path))
    if ignored_name(name):
        return f"{path}: ignored by nfdhcpd (hidden or temporary file name)"
    try:
        read_binding(datapath, name)
    except BindingError as exc:
        line = f" line {exc.line}" if exc.line else ""
        return f"{path}{line}: {exc.reason}"
    if user is not None and not readable_by(path, user):
        return f"{path}: not readable by the daemon's user {user.pw_name}, which reads it"
    return None


def check_files(paths: list[str], user: pwd.struct_passwd | None = None) -> int:
    failed = 0
    for path in paths:
        error = check_file(path, user)
        if error is None:
            datapath, name = os.path.split(os.path.abspath(path))
            binding = read_binding(datapath, name)
            print(shown(f"{path}: ok: {describe(binding)}"))
            _warn(path, binding.warnings)
        else:
            print(shown(error), file=sys.stderr)
            failed += 1
    return EXIT_FAILED if failed else EXIT_OK


def _warn(path: str, warnings: tuple[str, ...]) -> None:
    if warnings:
        print(f"{path}: warning: {'; '.join(warnings)}", file=sys.stderr)


def check_all(config: Config, user: pwd.struct_passwd | None = None) -> int:
    """The config (already loaded), then every binding in its datapath."""
    for warning in (*config.warnings, user_warning(config)):
        if warning is not None:
            print(shown(f"warning: {warning}"), file=sys.stderr)
    if user is not None and not readable_by(config.path, user):
        print(shown(f"warning: {unreadable_config(config.path, config.user)}"), file=sys.stderr)
    print(shown(f"{config.path}: ok"))
    try:
        names = sorted(os.listdir(config.datapath))
    except OSError as exc:
        print(shown(f"{config.datapath}: cannot list: {exc.strerror}"), file=sys.stderr)
        return EXIT_FAILED
    good = bad = 0
    for name in names:
        if ignored_name(name):
            continue
        path = os.path.join(config.datapath, name)
        error = check_file(path, user)
        if error is None:
            good += 1
            _warn(path, read_binding(config.datapath, name).warnings)
        else:
            print(shown(error), file=sys.stderr)
            bad += 1
    print(shown(f"{config.datapath}: {good} valid binding(s), {bad} invalid"))
    return EXIT_FAILED if bad else EXIT_OK


# --- status ----------------------------------------------------------------------


def _ask(path: str) -> dict[str, Any] | None:
    try:
        return query(path)
    except (OSError, ValueError) as exc:
        print(
            shown(f"nfdhcpd: cannot ask the daemon at {path} (is it running?): {exc}"),
            file=sys.stderr,
        )
        return None


def status(path: str, *, raw: bool = False, stale_after: float = STALE_AFTER) -> int:
    answer = _ask(path)
    if answer is None:
        return EXIT_FAILED
    if raw:
        print(json.dumps(answer, indent=2))
    else:
        print(format_status(answer, stale_after), end="")
    return EXIT_OK


def format_status(answer: dict[str, Any], stale_after: float = STALE_AFTER) -> str:
    """The binding table for a terminal: one line per binding file. Every name is
    escaped (`shown`): a file name can hold terminal escape sequences."""
    header = (
        "TAP", "APPLIED", "TAP UP", "TAP GONE", "MAC", "IP", "IP6", "LAST REQUEST", "LAST REPLY"
    )  # fmt: skip
    rows = [header]
    now = answer.get("time") or time.time()
    for b in answer["bindings"]:
        rows.append(
            (
                shown(b["tap"]),
                "yes" if b["applied"] else "NO (invalid, see nfdhcpd check)",
                "yes" if b["tap_present"] else "no",
                _gone(b.get("tap_gone_since"), now, stale_after),
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
    datapath = shown(str(answer.get("datapath")))
    lines.append(f"{len(answer['bindings'])} binding file(s) in {datapath}")
    lines.append(f"counters: {counters or 'none yet'}")
    return "".join(f"{line}\n" for line in lines)


def _gone(since: float | None, now: float, stale_after: float) -> str:
    """How long the TAP has been missing, as the daemon saw it; "stale" past the limit."""
    if since is None:
        return "-"
    age = max(0, int(now - since))
    text = f"{age // 3600}h{age // 60 % 60:02d}m" if age >= 3600 else f"{age // 60}m{age % 60:02d}s"
    return f"{text} STALE" if age >= stale_after else text


def prune(config: Config, path: str, stale_after: float, *, any_file: bool, dry: bool) -> int:
    """Remove the binding files whose TAP the daemon has seen gone for `stale_after`
    seconds. Only files in the config's datapath are touched, whatever the daemon says
    (it runs unprivileged; this, as root), each checked again before it goes: the TAP
    still missing, a regular file not rewritten since, written by an nfdhcpd hook."""
    answer = _ask(path)
    if answer is None:
        return EXIT_FAILED
    datapath = config.datapath
    if answer.get("datapath") != datapath:
        print(
            f"nfdhcpd: the daemon serves {answer.get('datapath')!r}, the config names"
            f" {datapath!r}: nothing pruned",
            file=sys.stderr,
        )
        return EXIT_FAILED
    now = time.time()
    failed = False
    for row in answer.get("bindings", []):
        tap, since = row.get("tap"), row.get("tap_gone_since")
        if not isinstance(since, (int, float)) or now - since < stale_after:
            continue
        if not isinstance(tap, str) or not valid_ifname(tap) or ignored_name(tap):
            continue
        file = os.path.join(datapath, tap)
        why_not = _keep(file, tap, now - stale_after, any_file)
        if why_not is not None:
            print(f"kept {file}: {why_not}")
            continue
        gone = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since))
        if dry:
            print(f"would remove {file}: TAP gone since {gone}")
            continue
        try:
            os.unlink(file)
        except OSError as exc:
            print(f"nfdhcpd: cannot remove {file}: {exc.strerror}", file=sys.stderr)
            failed = True
            continue
        print(f"removed {file}: TAP gone since {gone}")
    return EXIT_FAILED if failed else EXIT_OK


def _keep(file: str, tap: str, cutoff: float, any_file: bool) -> str | None:
    """Why `file` must stay after all, or None."""
    if tap_exists(tap):
        return "its TAP is back"
    try:
        fd = os.open(file, os.O_RDONLY | os.O_NOFOLLOW | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError as exc:
        return exc.strerror or "cannot open it"
    with os.fdopen(fd, "rb") as binding:
        info = os.fstat(binding.fileno())
        if not stat.S_ISREG(info.st_mode):
            return "not a regular file"
        if info.st_mtime > cutoff:
            return "rewritten since its TAP went"
        if not any_file and binding.read(len(HOOK_HEADER)) != HOOK_HEADER:
            return "no nfdhcpd hook wrote it (--any removes it too)"
    return None


def tap_exists(name: str) -> bool:
    try:
        socket.if_nametoindex(name)
    except OSError:
        return False
    return True


def _when(stamp: float | None, event: str | None) -> str:
    if not stamp:
        return "never"
    return f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(stamp))} {event}"
