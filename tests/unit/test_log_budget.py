"""The daemon's log budget: one line per TAP and event per period, repeats counted."""

from __future__ import annotations

from nfdhcpd.shell.packet_path import LogBudget


def test_first_line_logs_repeats_are_quiet_then_counted() -> None:
    budget = LogBudget(period=60.0)
    key = ("tap1", "ack")
    assert budget.spend(key, 0.0) == 0
    assert budget.spend(key, 1.0) is None
    assert budget.spend(key, 59.9) is None
    assert budget.spend(key, 60.0) == 2  # the two kept quiet are owned up to
    assert budget.spend(key, 61.0) is None


def test_keys_are_independent() -> None:
    budget = LogBudget(period=60.0)
    assert budget.spend(("tap1", "ack"), 0.0) == 0
    assert budget.spend(("tap2", "ack"), 0.0) == 0
    assert budget.spend(("tap1", "offer"), 0.0) == 0
    assert budget.spend(("tap1", "ack"), 0.0) is None


def test_memory_is_bounded() -> None:
    budget = LogBudget(period=60.0, max_keys=3)
    for i in range(10):
        assert budget.spend((f"tap{i}", "ack"), 0.0) == 0
    assert len(budget._keys) <= 3
