"""The protocol core does no IO: nfdhcpd/core imports only itself and non-IO stdlib.

docs/architecture.md: the core never touches a socket, a file, the clock or a logger;
the shell (nfdhcpd/shell) and the operations (nfdhcpd/ops) do all the IO. Every module
in nfdhcpd/core is checked, whatever its name: no list of core modules is kept here.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import nfdhcpd

PACKAGE = Path(nfdhcpd.__file__).parent
CORE = sorted(p.stem for p in (PACKAGE / "core").glob("*.py"))
#: The stdlib modules the core may import: pure computation on values in memory.
#: Anything else (os, io, socket, time, logging, random, ...) is IO or state of the
#: world, and fails the test until it is argued for here.
PURE_STDLIB = {
    "__future__",
    "bisect",
    "collections",
    "configparser",  # parses a string; reading the file is shell.files' job
    "dataclasses",
    "enum",
    "functools",
    "ipaddress",
    "itertools",
    "operator",
    "re",
    "shlex",
    "struct",
    "types",
    "typing",
}
#: Must never be loaded by importing the core (directly or through the stdlib).
FORBIDDEN_LOADED = [
    *("netfilterqueue", "pyinotify", "daemon", "prometheus_client", "scapy"),
    *("select", "selectors", "socket", "asyncio", "asyncore", "subprocess"),
]
FORBIDDEN_CALLS = {"open", "print", "input", "exec", "eval", "__import__"}


def test_the_core_is_found() -> None:
    assert {"responder", "binding", "config", "dhcp4", "frames", "wire", "errors"} <= set(CORE)


def _load_check(modules: list[str]) -> dict[str, list[str]]:
    """Import `modules` in a fresh interpreter: what IO modules and which nfdhcpd
    modules outside the core that loaded."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps({\n"
        f"    'io': [m for m in {FORBIDDEN_LOADED!r} if m in sys.modules],\n"
        "    'outside': sorted(m for m in sys.modules if m.startswith('nfdhcpd.')\n"
        "                      and m != 'nfdhcpd.core' and not m.startswith('nfdhcpd.core.')),\n"
        "}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=PACKAGE.parent,
        timeout=60,
    )
    loaded: dict[str, list[str]] = json.loads(result.stdout)
    return loaded


def test_importing_the_core_loads_no_io_module() -> None:
    assert _load_check([f"nfdhcpd.core.{name}" for name in CORE]) == {"io": [], "outside": []}


def test_the_subprocess_check_can_fail() -> None:
    """Guard against a vacuous check: the watcher does load pyinotify and the shell."""
    loaded = _load_check(["nfdhcpd.shell.watcher"])
    assert "pyinotify" in loaded["io"]
    assert "nfdhcpd.shell.watcher" in loaded["outside"]


def _imports(tree: ast.AST) -> tuple[set[str], set[str]]:
    """(absolute module names, relative imports as written) of one module."""
    absolute: set[str] = set()
    relative: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            absolute |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                absolute.add(node.module)
            elif node.level > 1:
                relative.add("." * node.level + (node.module or ""))
    return absolute, relative


@pytest.mark.parametrize("name", CORE)
def test_core_source_imports_only_core_and_pure_stdlib(name: str) -> None:
    tree = ast.parse((PACKAGE / "core" / f"{name}.py").read_text(), filename=f"{name}.py")
    absolute, relative = _imports(tree)
    assert not relative, f"imports from outside nfdhcpd/core: {sorted(relative)}"
    roots = {module.split(".")[0] for module in absolute}
    assert roots <= PURE_STDLIB, sorted(roots - PURE_STDLIB)
    calls = {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert not calls & FORBIDDEN_CALLS, sorted(calls & FORBIDDEN_CALLS)


def test_the_source_check_can_fail() -> None:
    """The same check on a shell module finds what it must."""
    tree = ast.parse((PACKAGE / "shell" / "watcher.py").read_text())
    absolute, relative = _imports(tree)
    assert "pyinotify" in absolute
    assert "..core.binding" in relative
