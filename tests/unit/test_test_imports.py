"""Tests and benchmarks share code through named modules (tests/helpers, tests/e2e/site.py,
...), never by importing a conftest or a test module: a conftest is pytest's to load
(importing it twice registers its hooks and fixtures twice), and a test module imported
for its helpers runs its module-level setup and drags its tests into another module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: The trees whose Python may import test code.
TREES = ("tests", "benchmarks", "scripts")


def _is_test_code(module: str) -> bool:
    last = module.rsplit(".", 1)[-1]
    return last == "conftest" or last.startswith("test_")


def forbidden_imports(source: str, package: str) -> list[str]:
    """The imports of a conftest or test module in `source`, a module of `package`
    (dotted, for resolving relative imports)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if any(map(_is_test_code, a.name.split(".")))]
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".") if package else []
            base = parts[: len(parts) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            if any(map(_is_test_code, module.split("."))):
                found.append(module)
            # `from . import conftest`, `from .unit import test_fuzz_handlers`
            found += [f"{module}.{a.name}" for a in node.names if _is_test_code(a.name)]
    return found


def python_files() -> list[Path]:
    return sorted(p for tree in TREES for p in (REPO / tree).rglob("*.py"))


def package_of(path: Path) -> str:
    return ".".join(path.relative_to(REPO).parent.parts)


def test_there_are_files_to_check() -> None:
    names = {p.relative_to(REPO).as_posix() for p in python_files()}
    assert {"tests/unit/test_dhcp4.py", "tests/helpers/samples.py"} <= names
    assert "benchmarks/fuzz_long.py" in names


@pytest.mark.parametrize("path", python_files(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_no_module_imports_a_conftest_or_a_test_module(path: Path) -> None:
    assert forbidden_imports(path.read_text(), package_of(path)) == []


@pytest.mark.parametrize(
    ("source", "package", "found"),
    [
        ("from .conftest import TAP", "tests.unit", ["tests.unit.conftest"]),
        ("from .test_daemon import Site", "tests.unit", ["tests.unit.test_daemon"]),
        ("from ..e2e.conftest import Site", "tests.conformance", ["tests.e2e.conftest"]),
        (
            "from tests.unit.test_fuzz_handlers import SEEDS",
            "benchmarks",
            ["tests.unit.test_fuzz_handlers"],
        ),
        ("from . import conftest", "tests.unit", ["tests.unit.conftest"]),
        ("import tests.unit.test_loop", "", ["tests.unit.test_loop"]),
        ("def f():\n    from .test_loop import Host\n", "tests.unit", ["tests.unit.test_loop"]),
    ],
)
def test_the_import_check_can_fail(source: str, package: str, found: list[str]) -> None:
    assert forbidden_imports(source, package) == found


@pytest.mark.parametrize(
    "source",
    [
        "from ..helpers.samples import TAP",
        "from .site import Site, e2e_ready",
        "from tests.helpers.fuzz import SEEDS",
        "from . import netns",
        "import pytest",
    ],
)
def test_the_import_check_allows_helper_modules(source: str) -> None:
    assert forbidden_imports(source, "tests.unit") == []
