"""``python -m benchmarks [--quick] [--sections 1,4] [--out DIR]``: the measurements in one
run; a table on stdout, ``results.json``, ``chart.png`` (in-process) and ``http-chart.png``
(section 4, ratios to the floor) in ``--out`` (default benchmarks/results). Sections 8
(PostgreSQL and Redis against their driver) and 9 (section 4's middleware in-process) run
right after 1-3, while the machine is quiet, and are printed last."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from benchmarks.http import VARIANTS, http_runs
from benchmarks.inprocess import cold_verification, last_used_writes, request_cost
from benchmarks.network import KINDS as NETWORK_KINDS
from benchmarks.network import network_targets
from benchmarks.references import reference_costs
from benchmarks.report import chart, http_chart, table
from benchmarks.scaling import lookup_scaling
from benchmarks.servers import SERVERS
from benchmarks.shells import shell_costs

SECTIONS = frozenset(range(1, 10))


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


def sections(text: str) -> frozenset[int]:
    """``1,4`` or ``4-5``; 1 and 2 are one measurement, so either runs both."""
    chosen: set[int] = set()
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        try:
            chosen.update(range(int(first), int(last or first) + 1))
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a section list: {text!r}") from None
    if not chosen or not chosen <= SECTIONS:
        raise argparse.ArgumentTypeError(f"sections are 1 to 9, not {text!r}")
    if chosen & {1, 2}:
        chosen |= {1, 2}
    return frozenset(chosen)


def names(known: list[str]) -> Any:
    """A comma-separated subset of ``known``, checked."""

    def parse(text: str) -> list[str]:
        given = [n.strip() for n in text.split(",") if n.strip()]
        unknown = sorted(set(given) - set(known))
        if unknown or not given:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(known)}")
        return given

    return parse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations, smaller sizes")
    parser.add_argument("--out", default="benchmarks/results", type=Path)
    parser.add_argument("--stores", default="memory,sqlite,postgres,redis")
    parser.add_argument(
        "--sections", type=sections, default=SECTIONS, help="e.g. 4 or 1-3,5 (default: all)"
    )
    http = parser.add_argument_group("section 4 (HTTP)")
    http.add_argument("--http-seconds", type=int, help="per run (default 4; --quick 1)")
    http.add_argument("--http-rounds", type=int, help="interleaved rounds (default 3; --quick 1)")
    http.add_argument("--http-servers", type=names([s.name for s in SERVERS]), default=None)
    http.add_argument("--http-variants", type=names([v.name for v in VARIANTS]), default=None)
    args = parser.parse_args(argv)
    iterations = 3000 if args.quick else 20000
    stores = args.stores.split(",")
    run: frozenset[int] = args.sections
    results: dict[str, Any] = {"machine": machine(), "quick": args.quick}
    if 1 in run:
        results["request_cost"] = request_cost(stores, iterations)
    if 3 in run:
        results["cold_verification"] = cold_verification(5 if args.quick else 20)
    if 8 in run:
        network_stores = [s for s in NETWORK_KINDS if s in stores]
        results["network"] = network_targets(network_stores, iterations // 2)
    if 9 in run:
        results["shells"] = shell_costs(iterations * 5)
    if 4 in run:
        results["http"] = http_runs(
            seconds=args.http_seconds or (1 if args.quick else 4),
            rounds=args.http_rounds or (1 if args.quick else 3),
            warmup=0 if args.quick else 1,
            servers=args.http_servers,
            variants=args.http_variants,
        )
    if 5 in run:
        sizes = [1_000, 100_000] if args.quick else [1_000, 1_000_000]
        scaling_stores = [s for s in ("sqlite", "postgres") if s in stores]
        results["scaling"] = lookup_scaling(scaling_stores, sizes, iterations // 4)
    if 6 in run:
        results["last_used"] = last_used_writes(2 if args.quick else 5)
    if 7 in run:
        results["references"] = reference_costs(iterations // 10)
    args.out.mkdir(parents=True, exist_ok=True)
    written = [args.out / "results.json"]
    written[0].write_text(json.dumps(results, indent=2))
    print(table(results))
    if chart(results, args.out / "chart.png"):
        written.append(args.out / "chart.png")
    if "http" in results and http_chart(results["http"], args.out / "http-chart.png"):
        written.append(args.out / "http-chart.png")
    print(f"\nwritten: {', '.join(str(p) for p in written)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
