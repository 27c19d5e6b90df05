"""conf/bash-completion/nfdhcpd, driven the way bash drives it.

bash-completion's own library is loaded, COMP_WORDS/COMP_CWORD/COMP_LINE/COMP_POINT
are set as readline would set them for a command line typed up to its end, and the
completion function is called; what it put in COMPREPLY is the answer. The options
it offers are compared with what `nfdhcpd ... --help` lists.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COMPLETION = REPO / "conf" / "bash-completion" / "nfdhcpd"
LIBRARY = Path("/usr/share/bash-completion/bash_completion")

pytestmark = pytest.mark.skipif(
    shutil.which("bash") is None or not LIBRARY.exists(),
    reason="bash and bash-completion (scripts/setup)",
)

DRIVER = """
source {library}
source {completion}
complete -p nfdhcpd >/dev/null || exit 3
COMP_LINE=$1
COMP_POINT=${{#COMP_LINE}}
read -ra COMP_WORDS <<< "$COMP_LINE"
if [[ $COMP_LINE == *' ' ]]; then COMP_WORDS+=(''); fi
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
_nfdhcpd nfdhcpd "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\\n' "${{COMPREPLY[@]}}"
"""


def complete(line: str, cwd: Path | None = None) -> list[str]:
    script = DRIVER.format(library=LIBRARY, completion=COMPLETION)
    result = subprocess.run(["bash", "-c", script, "bash", line], cwd=cwd,
                            capture_output=True, text=True, timeout=30)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return sorted(w for w in result.stdout.splitlines() if w)


def commands() -> list[str]:
    """The subcommands `nfdhcpd --help` lists under COMMAND."""
    text = subprocess.run([sys.executable, "-m", "nfdhcpd", "--help"], check=True,
                          capture_output=True, text=True, timeout=60).stdout  # fmt: skip
    listing = text.split("\n  COMMAND\n", 1)[1]
    return sorted(re.findall(r"(?m)^    (\w+) ", listing))


def help_options(*command: str) -> set[str]:
    text = subprocess.run([sys.executable, "-m", "nfdhcpd", *command, "--help"], check=True,
                          capture_output=True, text=True, timeout=60).stdout  # fmt: skip
    return set(re.findall(r"(?<![\w-])--?[a-z][a-z-]*", text.split("\n", 1)[1]))


def test_commands() -> None:
    assert {"check", "prune", "rules", "status"} <= set(commands())
    assert complete("nfdhcpd ") == commands()
    assert complete("nfdhcpd st") == ["status"]
    assert complete("nfdhcpd -d -c x.conf r") == ["rules"]


def test_options_are_exactly_the_programs() -> None:
    """For the program and every subcommand its --help lists, so a new one is seen."""
    for words in ([], *([c] for c in commands())):
        offered = set(complete(" ".join(["nfdhcpd", *words, "-"])))
        assert offered == help_options(*words), words


def test_option_values() -> None:
    assert complete("nfdhcpd rules --mode ") == ["both", "bridged", "routed"]
    assert complete("nfdhcpd rules --mode b") == ["both", "bridged"]
    assert complete("nfdhcpd -c x rules --interfaces v") == ["vnet+"]


def test_files_after_config_and_for_check(tmp_path: Path) -> None:
    (tmp_path / "nfdhcpd.conf").write_text("")
    (tmp_path / "tap10").write_text("")
    assert complete("nfdhcpd -c nf", cwd=tmp_path) == ["nfdhcpd.conf"]
    assert complete("nfdhcpd check ta", cwd=tmp_path) == ["tap10"]
    assert complete("nfdhcpd status --socket ", cwd=tmp_path) == ["nfdhcpd.conf", "tap10"]
    assert complete("nfdhcpd rules ta", cwd=tmp_path) == []
