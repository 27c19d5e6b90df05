"""Every file the code, the tests and the docs cite exists in the repository.

A citation is a path or a file name ending in .md or .py (`docs/benchmarks.md`,
`tests/unit/test_loop.py`, `reply6.py`): a path is looked up from the repository root
and from the citing file's folder, a bare name anywhere in the repository.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(
    p
    for folder in ("nfdhcpd", "tests", "benchmarks", "scripts", "docs", "init", "conf", "debian")
    for p in (ROOT / folder).rglob("*")
    if p.is_file()
    and p.suffix in {".py", ".md", ".sh", ".conf", ""}
    and "results" not in p.parts
    and p.name != "test_citations.py"  # its own examples
) + [ROOT / name for name in ("README.md", "CHANGELOG.md", "setup.py", "pyproject.toml")]
CITATION = re.compile(r"(?<![\w/.:${}-])((?:[\w.-]+/)*[\w-]+\.(?:md|py))\b")
#: Where a path is looked up: the root, and the package (docs/architecture.md's table).
BASES = (ROOT, ROOT / "nfdhcpd")
#: Files of other projects, cited for what they do: GRNET nfdhcpd's own modules, Ganeti's.
EXTERNAL = {"binding_config.py", "vm_net_proxy.py", "lib/hypervisor/hv_base.py"}
NAMES = {p.name for p in ROOT.rglob("*") if ".venv" not in p.parts and ".git" not in p.parts}


def cited(text: str) -> set[str]:
    """The citations in `text`; a one-letter name (x.py) is a placeholder, not a file."""
    return {m for m in CITATION.findall(text) if not m.startswith(".") and len(Path(m).stem) > 1}


def missing(source: Path) -> list[str]:
    gone = []
    for name in sorted(cited(source.read_text(errors="replace"))):
        if name in EXTERNAL:
            continue
        if "/" in name:
            if not any((base / name).exists() for base in (*BASES, source.parent)):
                gone.append(name)
        elif name not in NAMES:
            gone.append(name)
    return gone


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_cited_files_exist(source: Path) -> None:
    assert missing(source) == []


def test_the_check_finds_a_missing_file(tmp_path: Path) -> None:
    text = tmp_path / "x.md"
    text.write_text("see FEATURES.md section 2, docs/nowhere.md, docs/architecture.md, a/x.py\n")
    assert missing(text) == ["FEATURES.md", "docs/nowhere.md"]
