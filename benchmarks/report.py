"""The table printed at the end of a run, and the chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _us(row: dict[str, Any]) -> str:
    if "skipped" in row:
        return f"skipped: {row['skipped'][:70]}"
    return f"{row['median_us']:9.1f} µs median {row['p99_us']:9.1f} µs p99"


def table(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [f"machine: {m['cpus']} x {m['cpu']}, Python {m['python']}", ""]
    lines.append("1-2. in-process cost per request (Authenticator.authenticate)")
    for row in results["request_cost"]:
        if "count" in row:
            lines.append(f"  {row['store']:9} {row['case']:28} {row['count']}")
        else:
            lines.append(f"  {row['store']:9} {row.get('case', ''):28} {_us(row)}")
    lines += ["", "3. first (cold) verification"]
    lines += [f"  {row['profile']:42} {_us(row)}" for row in results["cold_verification"]]
    lines += ["", "4. HTTP on 127.0.0.1 (wrk, 16 connections, one server worker)"]
    for row in results["http"]:
        if "skipped" in row:
            lines.append(f"  skipped: {row['skipped']}")
            continue
        for label in ("alone", "tokenward"):
            r = row[label]
            lines.append(
                f"  {row['server']:9} {label:10} {r['requests_per_s']:9.0f} req/s "
                f"p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms"
            )
        lines.append(f"  {row['server']:9} ratio      {row['ratio']:.2f}")
    lines += ["", "5. lookup cost against the number of tokens"]
    for row in results["scaling"]:
        if "skipped" in row:
            lines.append(f"  {row['store']:9} skipped: {row['skipped'][:60]}")
            continue
        lines.append(
            f"  {row['store']:9} {row['tokens']:>9,} tokens  request {_us(row['request'])}"
            f"  raw get {row['raw_get']['median_us']:.1f} µs"
        )
    lines += _scaling_ratios(results["scaling"])
    u = results["last_used"]
    lines += [
        "",
        "6. last-used writes under sustained load on one token",
        f"  {u['requests']:,} requests in {u['seconds']} s -> {u['store_writes']} store "
        f"writes ({u['writes_per_s']:.2f}/s; interval {u['interval_s']} s, "
        f"at most {u['max_allowed']})",
    ]
    lines += ["", "7. reference libraries, same machine, same run"]
    lines += _reference_lines(results)
    return "\n".join(lines)


def _scaling_ratios(scaling: list[dict[str, Any]]) -> list[str]:
    by_store: dict[str, list[dict[str, Any]]] = {}
    for row in scaling:
        if "request" in row:
            by_store.setdefault(row["store"], []).append(row)
    return [
        f"  {store:9} {rows[-1]['tokens']:,} vs {rows[0]['tokens']:,} tokens: "
        f"{rows[-1]['request']['median_us'] / rows[0]['request']['median_us']:.2f}x"
        for store, rows in by_store.items()
        if len(rows) >= 2
    ]


def _reference_lines(results: dict[str, Any]) -> list[str]:
    warm = {
        r["store"]: r["median_us"]
        for r in results["request_cost"]
        if r.get("case") == "warm" and "median_us" in r
    }
    lines = []
    for row in results["references"]:
        lines.append(f"  {row.get('library', ''):44} {_us(row)}")
        if "median_us" in row:
            faster = ", ".join(f"{s} {row['median_us'] / us:.1f}x" for s, us in warm.items())
            lines.append(f"    tokenward is faster by: {faster}")
    return lines


def chart(results: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(no chart: install the bench extra for matplotlib)")
        return
    labels, values = [], []
    for row in results["request_cost"]:
        if row.get("case") == "warm" and "median_us" in row:
            labels.append(f"tokenward\n{row['store']}")
            values.append(row["median_us"])
    for row in results["references"]:
        if "median_us" in row:
            labels.append(row["library"].split(" (")[0].replace("djangorestframework-", "drf-"))
            values.append(row["median_us"])
    figure, axis = plt.subplots(figsize=(8, 4))
    axis.bar(labels, values, color=["#2b7a78"] * (len(values) - 2) + ["#b23a48"] * 2)
    axis.set_ylabel("µs per authenticated request (median)")
    axis.set_title("In-process verification of a warm token")
    axis.tick_params(axis="x", labelsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
