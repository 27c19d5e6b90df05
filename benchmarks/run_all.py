#!/usr/bin/env python3
"""Run every benchmark in turn, then regenerate docs/benchmarks.md.

    .venv/bin/python benchmarks/run_all.py           # the full runs (~10 minutes, root)
    .venv/bin/python benchmarks/run_all.py --quick   # a smoke run (~2 minutes)

The benchmarks run one after another, never together: they would compete for the CPU.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUICK = {
    "paced.py": ["--rates", "500,4000", "--distinct-rates", "", "--capacity-rates", "30000"],
    "throughput.py": ["--rates", "1000,2000,4000", "--duration", "3"],
    "scale.py": ["--bindings", "2000", "--samples", "20", "--vm-index", "42"],
    "micro.py": ["--repeat", "3"],
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="run all benchmarks, then report.py")
    parser.add_argument("--quick", action="store_true", help="short smoke runs")
    parser.add_argument(
        "--only", default="paced,throughput,scale,micro", help="comma-separated subset to run"
    )
    args = parser.parse_args(argv)
    failed = []
    for name in args.only.split(","):
        script = f"{name}.py"
        extra = QUICK.get(script, []) if args.quick else []
        print(f"=== {script} {' '.join(extra)}", flush=True)
        if subprocess.run([sys.executable, str(HERE / script), *extra], check=False).returncode:
            failed.append(script)
    subprocess.run([sys.executable, str(HERE / "report.py")], check=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
