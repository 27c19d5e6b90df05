"""Metadata lives in pyproject.toml; this file compiles the packet path with mypyc.

mypyc turns the type-annotated modules below into C extensions (`handle()` for a
DHCPv4 message: about 8 µs instead of 13 to 14, see docs/benchmarks.md); they import
exactly like the .py files beside them, which stay the source of truth. One small C
module, shell/_sendll.c, sends a reply to an interface by index (see shell/inject.py).
NFDHCPD_PURE=1 installs pure Python: neither, inject.py then sends by name.
"""

import os

from setuptools import Extension, setup

#: The modules every packet goes through (dotted, under nfdhcpd); the rest (CLI, admin,
#: the loop and the daemon's wiring, privileges, metrics, control socket, trace, inotify)
#: run once per wake-up or more rarely and stay interpreted.
COMPILED = [
    *("core.errors", "core.wire", "core.frames", "core.dhcp4", "core.dhcp6", "core.ndp"),
    *("core.decision", "core.binding", "core.config", "core.reply4", "core.reply6"),
    *("core.reply_dhcp6", "core.events", "core.effective", "core.responder", "core.cursor"),
    *("core.options4", "core.describe"),
    *("shell.packet_path", "shell.pending", "shell.ratelimit", "shell.nfq", "shell.links"),
    *("shell.inject", "shell.loop", "shell.replies", "ops.status"),
]

ext_modules = []
if os.environ.get("NFDHCPD_PURE") != "1":
    from mypyc.build import mypycify

    # mypyc type-checks what it compiles, and pip builds before it installs the runtime
    # dependencies: without the project's strict config (scripts/test runs mypy with
    # it), their modules are simply Any here.
    options = ["--config-file=", "--ignore-missing-imports"]
    ext_modules = mypycify(
        [*options, *(f"nfdhcpd/{name.replace('.', '/')}.py" for name in COMPILED)],
        opt_level="3",
        group_name="nfdhcpd",
    )
    ext_modules.append(Extension("nfdhcpd.shell._sendll", ["nfdhcpd/shell/_sendll.c"]))

setup(ext_modules=ext_modules)
