"""`nfdhcpd [-c FILE] [-f|--foreground] [-d|--debug] [--trace FILE] [--version]`, and the
admin subcommands `rules`, `check` and `status` (see admin.py)."""

from __future__ import annotations

import argparse

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
    parser.add_argument("--version", action="version", version=f"nfdhcpd {__version__}")
    admin.add_commands(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command is not None:
        return admin.run(args)
    # Imported here: the admin commands need neither NetfilterQueue nor prometheus_client.
    from .shell.start import start

    return start(args)
