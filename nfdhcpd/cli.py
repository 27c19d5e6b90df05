"""`nfdhcpd [-c FILE] [-f|--foreground] [-d|--debug] [--trace FILE] [-t] [--version]`, and the
admin subcommands `rules`, `check` and `status` (see admin.py)."""

from __future__ import annotations

import argparse
import os

from . import __version__, admin
from .core.config import DEFAULT_CONFIG


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="nfdhcpd",
        description="Answer the DHCP requests of VMs from NFQUEUE, per binding file.",
    )
    parser.add_argument("-c", "--config", default=DEFAULT_CONFIG, help="config file (%(default)s)")
    parser.add_argument(
        "-f", "--foreground", action="store_true", help="stay in the foreground, log to stderr"
    )
    parser.add_argument("-d", "--debug", action="store_true", help="log every packet, decoded")
    parser.add_argument(
        "--trace", metavar="FILE", help="write every handled packet to this pcap file"
    )
    parser.add_argument(
        "-t",
        "--test-config",
        action="store_true",
        help="check the config as a reload would (it, its user, datapath) and exit",
    )
    parser.add_argument("--version", action="version", version=f"nfdhcpd {__version__}")
    admin.add_commands(parser)
    args = parser.parse_args(argv)
    # The daemon chdirs to / when it detaches, and SIGHUP re-reads this path.
    args.config = os.path.abspath(args.config)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command is not None:
        return admin.run(args)
    if args.test_config:
        return admin.test_config(args.config)
    # Imported here: the admin commands need neither NetfilterQueue nor prometheus_client.
    from .shell.start import start

    return start(args)
