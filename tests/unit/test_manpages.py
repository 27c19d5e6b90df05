"""scripts/manpages: the man pages built from README.md, rendered by man-db.

The pages are built at package build time from README.md (debian/rules), so they
cannot drift from it; these tests build them the same way, render each with
`man --warnings` (groff's warnings on), and check that what README lists (config
keys, binding keys, options) is in the rendered pages.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "manpages"
README = (REPO / "README.md").read_text()
PAGES = ("nfdhcpd.8", "nfdhcpd.conf.5", "nfdhcpd-binding.5")

pytestmark = pytest.mark.skipif(shutil.which("man") is None, reason="man-db (scripts/setup)")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("man")
    subprocess.run([sys.executable, str(SCRIPT), str(out)], check=True, timeout=60)
    return out


def man(page: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MANWIDTH": "80", "LC_ALL": "C.UTF-8", "MANPAGER": "cat"}
    return subprocess.run(["man", "--warnings", "-l", str(page)], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def table_keys(heading: str, column: int) -> list[str]:
    """The code spans of `column` in the first table of README section `heading`."""
    body = README.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in body.splitlines() if line.startswith("| ")][1:]
    return [k for row in rows for k in re.findall(r"`([^`]+)`", row.split("|")[column + 1])]


def test_builds_exactly_the_three_pages(built: Path) -> None:
    assert sorted(p.name for p in built.iterdir()) == sorted(PAGES)


@pytest.mark.parametrize("name", PAGES)
def test_renders_without_warnings(built: Path, name: str) -> None:
    result = man(built / name)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    title = name.rsplit(".", 1)[0].upper()
    assert result.stdout.splitlines()[0].startswith(f"{title}({name.rsplit('.', 1)[1]})")
    assert "NAME" in result.stdout and "SEE ALSO" in result.stdout


def test_warnings_are_reported_by_this_check(tmp_path: Path) -> None:
    """The control: `man --warnings` does print groff's warnings on stderr here."""
    bad = tmp_path / "bad.1"
    bad.write_text(".TH BAD 1\n.SH NAME\nbad \\- page\n.XQ undefined macro\n")
    assert "warning" in man(bad).stderr


def test_config_page_has_every_config_key(built: Path) -> None:
    text = man(built / "nfdhcpd.conf.5").stdout
    keys = table_keys("Configuration", 1)
    assert len(keys) > 20
    for key in keys:
        assert key in text, key


def test_binding_page_has_every_binding_key_and_the_hooks(built: Path) -> None:
    text = man(built / "nfdhcpd-binding.5").stdout
    keys = table_keys("Binding files", 0)
    assert {"MAC", "INDEV", "SUBNET6", "ROUTES"} <= set(keys)
    for key in keys:
        assert key in text, key
    assert "urn:nfdhcpd:libvirt:1" in text and "fwbr<VMID>i<N>" in text


def test_daemon_page_has_every_option_of_the_program(built: Path) -> None:
    text = man(built / "nfdhcpd.8").stdout

    def help_text(*command: str) -> str:
        return subprocess.run([sys.executable, "-m", "nfdhcpd", *command, "--help"], check=True,
                              capture_output=True, text=True, timeout=60).stdout  # fmt: skip

    # Every subcommand the program lists, so a new one cannot be missed here.
    main = help_text()
    commands = re.findall(r"(?m)^    (\w+) ", main.split("\n  COMMAND\n", 1)[1])
    assert {"rules", "check", "status", "prune"} <= set(commands)
    for command in commands:
        assert f"nfdhcpd {command}" in text, command
    helps = [main, *(help_text(c) for c in commands)]
    options = {o for h in helps for o in re.findall(r"(?<![\w-])--[a-z][a-z-]+", h)} - {"--help"}
    assert {"--foreground", "--trace", "--mode", "--json", "--stale-after", "--any"} <= options
    for option in options:
        assert option in text, option


def test_missing_readme_section_is_an_error(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(README.replace("\n## Binding files\n", "\n## Bindings\n"))
    result = subprocess.run([sys.executable, str(SCRIPT), "--readme", str(readme),
                             str(tmp_path / "out")], capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 1
    assert "README.md has no section '## Binding files'" in result.stderr


def test_package_installs_the_built_pages() -> None:
    listed = (REPO / "debian" / "nfdhcpd.manpages").read_text().split()
    assert sorted(Path(p).name for p in listed) == sorted(PAGES)
    assert "scripts/manpages" in (REPO / "debian" / "rules").read_text()
