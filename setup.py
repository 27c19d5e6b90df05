"""Metadata lives in pyproject.toml; this file compiles the packet path with mypyc.

mypyc turns the type-annotated modules below into C extensions (`handle()` for a
DHCPv4 message: about 8 µs instead of 13 to 14, see docs/benchmarks.md); they import
exactly like the .py files beside them, which stay the source of truth.
NFDHCPD_PURE=1 installs pure Python.
"""

import os

from setuptools import setup

#: The modules every packet goes through; the rest (CLI, admin, privileges, metrics,
#: control socket, trace, inotify) run rarely and stay interpreted.
COMPILED = [
    *("errors", "wire", "frames", "dhcp4", "dhcp6", "ndp", "decision", "binding", "config"),
    *("reply4", "reply6", "responder", "daemon", "nfq", "links", "inject", "status"),
    "ratelimit",
]

ext_modules = []
if os.environ.get("NFDHCPD_PURE") != "1":
    from mypyc.build import mypycify

    # mypyc type-checks what it compiles, and pip builds before it installs the runtime
    # dependencies: without the project's strict config (scripts/test runs mypy with
    # it), their modules are simply Any here.
    options = ["--config-file=", "--ignore-missing-imports"]
    ext_modules = mypycify(
        [*options, *(f"nfdhcpd/{name}.py" for name in COMPILED)],
        opt_level="3",
        group_name="nfdhcpd",
    )

setup(ext_modules=ext_modules)
