"""A long fuzz run of `responder.handle` over DHCPv4, ND (RS, NS) and DHCPv6.

Not part of the test suite. A plain mutation loop (no hypothesis: a million cases
need the speed) seeded from the valid scapy-built requests of `tests/helpers/fuzz.py`
(the kit of `tests/unit/test_fuzz_handlers.py`), whose mutation operators, scenarios
(bound VM with the right MAC, wrong MAC, unbound TAP, bridged, ...) and invariant check
it reuses. Per case it picks a protocol round-robin, then a seed, 1 to 6 mutations
(bit flips, byte sets, truncation, extension, insertion, deletion, inserted
protocol options), whether to mutate the whole IP packet or the message re-wrapped
with fixed-up lengths, a scenario and a config; one case in ten is random bytes and
one in twenty goes to another protocol's queue. Any exception from `handle` is a
crash; an `AssertionError` from the invariant check is a violation; both are counted
and the first few of each kind are kept with a hex repro.

    .venv/bin/python benchmarks/fuzz_long.py --cases 1000000 --seed 1 --workers 2

Prints a summary and writes it as JSON (--json). Exit status 1 if anything was found.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import traceback
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers.fuzz import (
    CONFIGS,
    DHCP4_CODES,
    DHCP6_CODES,
    KINDS,
    ND_TYPES,
    QUEUES,
    SCENARIOS,
    SEEDS,
    UNKNOWN_QUEUE,
    Mutation,
    build_case,
    dhcp4_option,
    dhcp6_option,
    handle_checked,
    ia_na,
    nd_option,
)

SEEDS_BY_KIND = {kind: [s for s in SEEDS if s.kind == kind] for kind in KINDS}
KEEP = 5  # repros kept per distinct finding


def _bytes(rng: random.Random, low: int, high: int) -> bytes:
    return rng.randbytes(rng.randint(low, high))


def random_option(rng: random.Random, kind: str) -> bytes:
    """The same shapes as the hypothesis strategy: well-formed or lying lengths."""
    lying = rng.random() < 0.3
    if kind == "dhcp4":
        code = rng.choice(DHCP4_CODES) if rng.random() < 0.7 else rng.randrange(256)
        return dhcp4_option(code, _bytes(rng, 0, 40), rng.randrange(256) if lying else None)
    if kind in ("rs", "ns"):
        code = rng.choice(ND_TYPES) if rng.random() < 0.7 else rng.randrange(256)
        return nd_option(code, _bytes(rng, 0, 40), rng.randrange(9) if lying else None)
    if rng.random() < 0.3:
        addresses = [_bytes(rng, 0, 30) for _ in range(rng.randint(0, 3))]
        return ia_na(rng.randbytes(4), addresses, _bytes(rng, 0, 8))
    code = rng.choice(DHCP6_CODES) if rng.random() < 0.7 else rng.randrange(65536)
    return dhcp6_option(code, _bytes(rng, 0, 40), rng.randrange(65536) if lying else None)


def random_mutations(rng: random.Random, kind: str) -> list[Mutation]:
    mutations: list[Mutation] = []
    for _ in range(rng.randint(1, 6)):
        op = rng.choice(("flip", "flip", "set", "set", "truncate", "extend", "insert", "delete"))
        if rng.random() < 0.2:
            op = "option"
        pos = rng.randrange(2000)
        if op == "option":
            value = random_option(rng, kind)
        elif op in ("extend", "insert"):
            value = _bytes(rng, 1, 24)
        else:
            value = rng.randbytes(1)
        mutations.append((op, pos, value))
    return mutations


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    last = frames[-1] if frames else None
    place = f"{Path(last.filename).name}:{last.lineno}" if last else "?"
    return f"{type(exc).__name__} at {place}: {str(exc)[:120]}"


def worker(index: int, cases: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed * 1000 + index)
    events: Counter[str] = Counter()
    findings: dict[str, dict[str, Any]] = {}
    crashes = violations = 0
    for case in range(cases):
        kind = KINDS[case % len(KINDS)]
        scenario = rng.choice(SCENARIOS)
        config = rng.choice(CONFIGS)
        queue = QUEUES[kind]
        if rng.random() < 0.1:
            payload = _bytes(rng, 0, 700)
            label = f"{kind}:random"
        else:
            source = rng.choice(SEEDS_BY_KIND[kind])
            payload = build_case(source, random_mutations(rng, kind), rng.random() < 0.3)
            label = f"{kind}:{source.name}"
        if rng.random() < 0.05:
            queue = rng.choice([*QUEUES.values(), UNKNOWN_QUEUE])
        try:
            decision = handle_checked(scenario, queue, payload, config)
        except AssertionError as exc:
            violations += 1
            key = "violation: " + _where(exc)
        except Exception as exc:
            crashes += 1
            key = "crash: " + _where(exc)
        else:
            events[f"{kind}:{decision.event}"] += 1
            continue
        entry = findings.setdefault(key, {"count": 0, "repros": []})
        entry["count"] += 1
        if len(entry["repros"]) < KEEP:
            entry["repros"].append(
                {
                    "case": label,
                    "scenario": scenario.name,
                    "queue": queue,
                    "config": CONFIGS.index(config),
                    "payload": payload.hex(),
                }
            )
    return {
        "cases": cases,
        "crashes": crashes,
        "violations": violations,
        "events": dict(events),
        "findings": findings,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, help="write the summary here")
    args = parser.parse_args(argv)

    share = [args.cases // args.workers] * args.workers
    share[0] += args.cases - sum(share)
    started = time.monotonic()
    cpu = time.process_time()
    with ProcessPoolExecutor(args.workers) as pool:
        parts = list(pool.map(worker, range(args.workers), share, [args.seed] * args.workers))
    elapsed = time.monotonic() - started

    events: Counter[str] = Counter()
    findings: dict[str, dict[str, Any]] = {}
    for part in parts:
        events.update(part["events"])
        for key, entry in part["findings"].items():
            merged = findings.setdefault(key, {"count": 0, "repros": []})
            merged["count"] += entry["count"]
            merged["repros"] = (merged["repros"] + entry["repros"])[:KEEP]
    summary = {
        "cases": sum(p["cases"] for p in parts),
        "crashes": sum(p["crashes"] for p in parts),
        "violations": sum(p["violations"] for p in parts),
        "seed": args.seed,
        "worker_seeds": [args.seed * 1000 + i for i in range(args.workers)],
        "workers": args.workers,
        "seconds": round(elapsed, 1),
        "cases_per_second": round(args.cases / elapsed),
        "parent_cpu_seconds": round(time.process_time() - cpu, 1),
        "events": dict(sorted(events.items())),
        "findings": findings,
    }
    print(
        f"{summary['cases']} cases in {elapsed:.0f} s ({summary['cases_per_second']}/s, "
        f"{args.workers} workers, seed {args.seed}): {summary['crashes']} crashes, "
        f"{summary['violations']} invariant violations"
    )
    for key, entry in findings.items():
        print(f"  {entry['count']:8d}  {key}")
        print(f"            repro: {entry['repros'][0]}")
    print("events:")
    for kind in KINDS:
        mine = {k.split(":", 1)[1]: v for k, v in events.items() if k.startswith(kind + ":")}
        print(f"  {kind}: " + ", ".join(f"{k}={v}" for k, v in sorted(mine.items())))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1) + "\n")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
