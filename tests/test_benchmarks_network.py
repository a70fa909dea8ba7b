"""Section 8 of the benchmark suite: PostgreSQL and Redis against their own driver. The
real measurement runs with tiny counts when the servers answer (required in .ci/run); the
ratios and the targets are checked on canned rounds. No wall-clock assertions."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))

from benchmarks import inprocess
from benchmarks.network import MEASURES, MODES, TARGETS, network_targets, summarize_rounds
from benchmarks.report import network_lines

from tests.stores.conftest import (
    POSTGRES_URL,
    REDIS_URL,
    postgres_reachable,
    redis_reachable,
    require_service,
)


def _require(kind: str) -> None:
    if kind == "postgres":
        require_service("PostgreSQL", POSTGRES_URL, postgres_reachable())
    else:
        require_service("Redis", REDIS_URL, redis_reachable())


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("postgres", marks=pytest.mark.postgres, id="postgres"),
        pytest.param("redis", marks=pytest.mark.redis, id="redis"),
    ],
)
def test_network_targets_time_every_figure_in_both_modes_without_argon2(kind: str) -> None:
    _require(kind)
    rows = network_targets([kind], iterations=40, rounds=2, warmup=5)
    assert [(r["store"], r["mode"]) for r in rows] == [(kind, mode) for mode in MODES]
    for row in rows:
        for measure in MEASURES:
            assert 0 < row[measure]["median_us"] <= row[measure]["p99_us"]
        assert len(row["rounds"]) == 2
        for ratio, numerator, denominator, at_most in TARGETS:
            per_round = sorted(
                r[numerator]["median_us"] / r[denominator]["median_us"] for r in row["rounds"]
            )
            assert row[ratio] == pytest.approx(sum(per_round) / 2)
            assert row[f"{ratio}_met"] is (row[ratio] <= at_most)
        assert row["argon2_runs"] == 0
    text = "\n".join(network_lines(rows))
    assert f"{kind} sync" in text
    assert f"{kind} async" in text


def _timed(median: float) -> dict[str, float]:
    return {"median_us": median, "p99_us": median * 2}


def _network_round(trip: float, warm: float, cached: float, memory: float) -> dict[str, Any]:
    return {
        "round_trip": _timed(trip),
        "read": _timed(trip * 1.1),
        "warm": _timed(warm),
        "cached": _timed(cached),
        "memory": _timed(memory),
    }


def test_network_ratios_are_paired_by_round_and_held_to_the_targets() -> None:
    # Round 2 is twice as slow for everything (drift): the paired ratios do not move.
    rows = summarize_rounds([_network_round(100, 140, 13, 10), _network_round(200, 280, 26, 20)])
    assert rows["warm"]["median_us"] == 210  # the median of 140 and 280
    assert rows["warm_vs_round_trip"] == pytest.approx(1.4)
    assert rows["warm_vs_round_trip_met"] is True
    assert rows["cached_vs_memory"] == pytest.approx(1.3)
    assert rows["cached_vs_memory_met"] is True
    missed = summarize_rounds([_network_round(100, 160, 14, 10)])
    assert missed["warm_vs_round_trip_met"] is False
    assert missed["cached_vs_memory_met"] is False
    text = "\n".join(network_lines([{"store": "redis", "mode": "sync", **missed}]))
    assert "1.60x MISSED" in text
    assert "1.40x MISSED" in text


def test_a_network_store_that_does_not_answer_is_reported_skipped_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(inprocess, "REDIS", "redis://127.0.0.1:1/0")  # nothing listens there
    rows = network_targets(["redis"], iterations=10, rounds=1, warmup=1)
    assert len(rows) == 1
    assert rows[0]["store"] == "redis"
    assert "StoreError" in rows[0]["skipped"]
    assert "skipped: StoreError" in "\n".join(network_lines(rows))
