"""The benchmark suite's in-process sections still run and report sane shapes (tiny counts;
no wall-clock assertions: speed is measured by `python -m benchmarks`, not asserted here)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from benchmarks.inprocess import last_used_writes, request_cost
from benchmarks.report import table
from benchmarks.scaling import lookup_scaling


def test_request_cost_reports_every_case_and_no_argon2_after_warm_up() -> None:
    rows = request_cost(["memory", "sqlite"], iterations=50)
    timed = [r for r in rows if "median_us" in r]
    assert {(r["store"], r["case"]) for r in timed} == {
        (store, case) for store in ("memory", "sqlite") for case in ("warm", "unknown", "malformed")
    }
    assert all(0 < r["median_us"] <= r["p99_us"] for r in timed)
    assert [r["count"] for r in rows if "count" in r] == [0, 0]


def test_last_used_writes_stay_within_one_per_interval() -> None:
    result = last_used_writes(seconds=0.3, interval=0.1)
    assert result["requests"] > 0
    assert result["store_writes"] <= result["max_allowed"]


def test_scaling_and_table_render() -> None:
    rows = lookup_scaling(["sqlite"], [10, 100], iterations=20)
    assert [r["tokens"] for r in rows] == [10, 100]
    text = table(
        {
            "machine": {"cpus": 2, "cpu": "test", "python": "3.11"},
            "request_cost": request_cost(["memory"], iterations=20),
            "cold_verification": [],
            "http": [{"skipped": "not in unit tests"}],
            "scaling": rows,
            "last_used": last_used_writes(0.1, 0.05),
            "references": [],
        }
    )
    assert "10 tokens" in text
    assert "skipped: not in unit tests" in text
