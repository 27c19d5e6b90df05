"""The packet path runs compiled by mypyc (setup.py); the .py files stay the reference.

Checks that the installed build is compiled and fresh, and fuzzes the compiled
`handle` against an interpreted copy of the same sources: same verdict, event,
reason and byte-identical frames, so whatever the scapy-decoding tests show of one
holds for the other.
"""

from __future__ import annotations

import ast
import importlib
import importlib.machinery
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given

import nfdhcpd
from nfdhcpd.core.config import Config
from nfdhcpd.core.decision import Decision

from ..helpers.fuzz import (
    FUZZ,
    QUEUES,
    UNKNOWN_QUEUE,
    Scenario,
    Seed,
    configs,
    mutated_cases,
    scenarios,
)

PACKAGE = Path(nfdhcpd.__file__).parent
PURE = os.environ.get("NFDHCPD_PURE") == "1"
needs_compiled = pytest.mark.skipif(PURE, reason="NFDHCPD_PURE=1: installed uncompiled")


def compiled_names() -> list[str]:
    """setup.py's COMPILED list, read without running setup()."""
    tree = ast.parse((PACKAGE.parent / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "COMPILED":
            names: list[str] = []
            for element in ast.walk(node.value):
                if isinstance(element, ast.Constant) and isinstance(element.value, str):
                    names.append(element.value)
            return names
    raise AssertionError("setup.py has no COMPILED list")


@needs_compiled
@pytest.mark.parametrize("name", compiled_names())
def test_packet_path_module_is_compiled_and_fresh(name: str) -> None:
    module = importlib.import_module(f"nfdhcpd.{name}")
    path = Path(module.__file__ or "")
    assert path.name.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)), (
        f"nfdhcpd.{name} imported from {path}, not a mypyc extension: run scripts/setup"
    )
    source = PACKAGE / f"{name.replace('.', '/')}.py"
    assert path.stat().st_mtime >= source.stat().st_mtime, (
        f"{path.name} is older than {source.name}: run scripts/setup to rebuild"
    )


@needs_compiled
def test_the_send_helper_is_built_and_fresh() -> None:
    """shell/_sendll.c, which sends replies by interface index (inject.py), is built
    with the compiled modules; without it every reply would go by name."""
    from nfdhcpd.shell import _sendll, inject

    path = Path(_sendll.__file__ or "")
    assert path.stat().st_mtime >= (PACKAGE / "shell" / "_sendll.c").stat().st_mtime, (
        f"{path.name} is older than _sendll.c: run scripts/setup to rebuild"
    )
    assert inject._native is _sendll.send_to_index


@pytest.fixture(scope="module")
def interpreted(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """`responder` from a copy of the package's .py files alone, under another name."""
    root = tmp_path_factory.mktemp("pure")
    shutil.copytree(
        PACKAGE, root / "nfdhcpd_pure", ignore=shutil.ignore_patterns("*.so", "__pycache__")
    )
    sys.path.insert(0, str(root))
    try:
        module = importlib.import_module("nfdhcpd_pure.core.responder")
    finally:
        sys.path.remove(str(root))
    assert module.__file__ is not None and module.__file__.endswith(".py")
    return module


def summary(decision: Decision) -> tuple[object, ...]:
    return (
        decision.verdict.value,
        decision.event,
        decision.reason,
        tuple((f.ifname, f.data) for f in decision.frames),
    )


@needs_compiled
@FUZZ
@given(case=mutated_cases(), scenario=scenarios, config=configs)
def test_compiled_and_interpreted_decide_alike(
    interpreted: ModuleType, case: tuple[Seed, bytes], scenario: Scenario, config: Config
) -> None:
    from nfdhcpd.core.responder import handle

    seed, payload = case
    for queue in (QUEUES[seed.kind], UNKNOWN_QUEUE):
        inbound = scenario.inbound(queue, payload)
        assert summary(handle(inbound, scenario.table, config)) == summary(
            interpreted.handle(inbound, scenario.table, config)
        )
