"""The protocol core does no IO: it imports none of the shell's modules or IO libraries.

ARCHITECTURE.md: the core never touches a socket, a file, the clock or a logger; the
shell (daemon, watcher, inject, links, cli, nfq) is the only place that does IO.
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
SHELL = {
    *("daemon", "watcher", "inject", "links", "cli", "nfq", "privileges", "__main__"),
    *("trace", "control", "metrics", "admin", "status"),
}
#: The modules named in the brief, always checked even if a glob would miss one.
NAMED_CORE = ["responder", "binding", "config", "dhcp4", "frames", "wire", "errors"]
CORE = sorted(
    {p.stem for p in PACKAGE.glob("*.py") if p.stem not in SHELL | {"__init__"}} | set(NAMED_CORE)
)
#: Must never be loaded by importing the core (directly or through the stdlib).
FORBIDDEN_LOADED = [
    "netfilterqueue",
    "pyinotify",
    "daemon",
    "select",
    "selectors",
    "socket",
    "asyncio",
    "asyncore",
    "subprocess",
    *(f"nfdhcpd.{name}" for name in sorted(SHELL)),
]
#: Must never be imported by a core module's own source.
FORBIDDEN_IMPORTS = {
    "os",
    "io",
    "socket",
    "select",
    "selectors",
    "time",
    "logging",
    "subprocess",
    "threading",
    "signal",
    "fcntl",
    "asyncio",
    "netfilterqueue",
    "pyinotify",
    "daemon",
    "pathlib",
    "shutil",
    "tempfile",
    "random",
}
FORBIDDEN_CALLS = {"open", "print", "input", "exec", "eval", "__import__"}


def test_core_list_is_sane() -> None:
    assert set(NAMED_CORE) <= set(CORE)
    for name in CORE:
        assert (PACKAGE / f"{name}.py").is_file(), name


def test_importing_the_core_loads_no_io_module() -> None:
    code = (
        "import importlib, json, sys\n"
        f"for name in {CORE!r}:\n"
        "    importlib.import_module('nfdhcpd.' + name)\n"
        f"print(json.dumps([m for m in {FORBIDDEN_LOADED!r} if m in sys.modules]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=PACKAGE.parent,
        timeout=60,
    )
    assert json.loads(result.stdout) == []


def test_the_subprocess_check_can_fail() -> None:
    """Guard against a vacuous check: importing the watcher does load pyinotify."""
    code = "import sys, nfdhcpd.watcher; print('pyinotify' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "True"


def _imports(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                found.add(node.module)
            elif node.level == 1:
                if node.module:
                    found.add(f"nfdhcpd.{node.module}")
                else:
                    found |= {f"nfdhcpd.{alias.name}" for alias in node.names}
    return found


@pytest.mark.parametrize("name", CORE)
def test_core_source_imports_no_io(name: str) -> None:
    tree = ast.parse((PACKAGE / f"{name}.py").read_text(), filename=f"{name}.py")
    imports = _imports(tree)
    roots = {module.split(".")[0] for module in imports}
    assert not roots & FORBIDDEN_IMPORTS, sorted(roots & FORBIDDEN_IMPORTS)
    shell = {f"nfdhcpd.{s}" for s in SHELL}
    assert not imports & shell, sorted(imports & shell)
    calls = {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert not calls & FORBIDDEN_CALLS, sorted(calls & FORBIDDEN_CALLS)
