"""``python -m benchmarks [--quick] [--out DIR]``: every measurement in one run; a table on
stdout, ``results.json`` and ``chart.png`` in ``--out`` (default benchmarks/results)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from benchmarks.http import http_runs
from benchmarks.inprocess import cold_verification, last_used_writes, request_cost
from benchmarks.references import reference_costs
from benchmarks.report import chart, table
from benchmarks.scaling import lookup_scaling


def machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations, smaller sizes")
    parser.add_argument("--out", default="benchmarks/results", type=Path)
    parser.add_argument("--stores", default="memory,sqlite,postgres,redis")
    args = parser.parse_args(argv)
    iterations = 3000 if args.quick else 20000
    stores = args.stores.split(",")
    results: dict[str, Any] = {"machine": machine(), "quick": args.quick}
    results["request_cost"] = request_cost(stores, iterations)
    results["cold_verification"] = cold_verification(5 if args.quick else 20)
    results["http"] = http_runs(3 if args.quick else 10)
    sizes = [1_000, 100_000] if args.quick else [1_000, 1_000_000]
    scaling_stores = [s for s in ("sqlite", "postgres") if s in stores]
    results["scaling"] = lookup_scaling(scaling_stores, sizes, iterations // 4)
    results["last_used"] = last_used_writes(2 if args.quick else 5)
    results["references"] = reference_costs(iterations // 10)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    print(table(results))
    chart(results, args.out / "chart.png")
    print(f"\nwritten: {args.out / 'results.json'}, {args.out / 'chart.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
