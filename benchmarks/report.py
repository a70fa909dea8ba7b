"""The table printed at the end of a run, and the charts. Sections a run left out
(``--sections``) are left out of both."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _us(row: dict[str, Any]) -> str:
    if "skipped" in row:
        return f"skipped: {row['skipped'][:70]}"
    return f"{row['median_us']:9.1f} µs median {row['p99_us']:9.1f} µs p99"


def table(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [f"machine: {m['cpus']} x {m['cpu']}, Python {m['python']}"]
    if "request_cost" in results:
        lines += ["", "1-2. in-process cost per request (Authenticator.authenticate)"]
        for row in results["request_cost"]:
            if "count" in row:
                lines.append(f"  {row['store']:9} {row['case']:28} {row['count']}")
            else:
                lines.append(f"  {row['store']:9} {row.get('case', ''):28} {_us(row)}")
    if "cold_verification" in results:
        lines += ["", "3. first (cold) verification"]
        lines += [f"  {row['profile']:42} {_us(row)}" for row in results["cold_verification"]]
    if "http" in results:
        lines += ["", *http_lines(results["http"])]
    if "scaling" in results:
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
    if "last_used" in results:
        u = results["last_used"]
        lines += [
            "",
            "6. last-used writes under sustained load on one token",
            f"  {u['requests']:,} requests in {u['seconds']} s -> {u['store_writes']} store "
            f"writes ({u['writes_per_s']:.2f}/s; interval {u['interval_s']} s, "
            f"at most {u['max_allowed']})",
        ]
    if "references" in results:
        lines += ["", "7. reference libraries, same machine, same run"]
        lines += _reference_lines(results)
    return "\n".join(lines)


def http_lines(http: dict[str, Any]) -> list[str]:
    """Section 4: per server, one line per variant and path; ``x`` columns are ratios to
    the floor on the same server and path (paired by round, then the median)."""
    title = (
        f"4. HTTP on 127.0.0.1 (wrk -t1 -c{http.get('connections', 16)}, one server worker; "
        f"median of {http.get('rounds', '?')} interleaved round(s) of {http.get('seconds', '?')} s)"
    )
    if "skipped" in http:
        return [title, f"  skipped: {http['skipped']}"]
    lines = [
        title,
        "  CPU: the server's process tree, µs per request (user, system); "
        "x: ratio to the floor, same server and path",
        f"  {'':36} {'path':8} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'CPU usr':>7} "
        f"{'sys':>6} {'non-2xx':>7} {'sock':>4}  {'x req/s':>7} {'x p50':>6} {'x p99':>6} "
        f"{'x CPU':>6}",
    ]
    variants = http.get("variants", {})
    nan = float("nan")
    for server, label in http.get("servers", {}).items():
        lines.append(f"  {label}")
        for row in (r for r in http["rows"] if r["server"] == server):
            ratio = row.get("vs_floor", {})
            lines.append(
                f"    {variants.get(row['variant'], row['variant']):34} {row['path']:8} "
                f"{row['requests_per_s']:7.0f} {row['p50_ms']:7.2f} {row['p99_ms']:7.2f} "
                f"{row['cpu_user_us']:7.1f} {row['cpu_system_us']:6.1f} "
                f"{row['non_2xx']:7d} {row['socket_errors']:4d}  "
                f"{ratio.get('requests_per_s', nan):7.2f} {ratio.get('p50_ms', nan):6.2f} "
                f"{ratio.get('p99_ms', nan):6.2f} {ratio.get('cpu_us', nan):6.2f}"
            )
    bad = [r for r in http["rows"] if r["non_2xx"] or r["socket_errors"]]
    if bad:
        lines.append(
            f"  WARNING: {len(bad)} target(s) had non-2xx answers or socket errors: "
            "their figures are not comparable"
        )
    return lines


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
        for r in results.get("request_cost", [])
        if r.get("case") == "warm" and "median_us" in r
    }
    lines = []
    for row in results["references"]:
        lines.append(f"  {row.get('library', ''):44} {_us(row)}")
        if "median_us" in row and warm:
            faster = ", ".join(f"{s} {row['median_us'] / us:.1f}x" for s, us in warm.items())
            lines.append(f"    tokenward is faster by: {faster}")
    return lines


def _pyplot() -> Any:
    """matplotlib's pyplot off-screen, or None: the charts are optional (the bench extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(no chart: install the bench extra for matplotlib)")
        return None
    return plt


def chart(results: dict[str, Any], path: Path) -> bool:
    """In-process cost of a warm token per store, and the reference libraries; False when
    there was nothing to draw (or no matplotlib)."""
    labels, values, colors = [], [], []
    for row in results.get("request_cost", []):
        if row.get("case") == "warm" and "median_us" in row:
            labels.append(f"tokenward\n{row['store']}")
            values.append(row["median_us"])
            colors.append("#2b7a78")
    for row in results.get("references", []):
        if "median_us" in row:
            labels.append(row["library"].split(" (")[0].replace("djangorestframework-", "drf-"))
            values.append(row["median_us"])
            colors.append("#b23a48")
    plt = _pyplot() if values else None
    if plt is None:
        return False
    figure, axis = plt.subplots(figsize=(8, 4))
    axis.bar(labels, values, color=colors)
    axis.set_ylabel("µs per authenticated request (median)")
    axis.set_title("In-process verification of a warm token")
    axis.tick_params(axis="x", labelsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


_HTTP_COLORS = {
    "tokenward-sqlite": "#2b7a78",
    "tokenward-memory": "#3aafa9",
    "starlette": "#b23a48",
}


def http_chart(http: dict[str, Any], path: Path) -> bool:
    """Section 4 as ratios to the floor, per server: requests/s (higher is better) and the
    server's CPU per request (lower is better); /health bars hatched."""
    rows = [r for r in http.get("rows", []) if r["variant"] != "floor" and "vs_floor" in r]
    plt = _pyplot() if rows else None
    if plt is None:
        return False
    servers = [s for s in http["servers"] if any(r["server"] == s for r in rows)]
    series = list(dict.fromkeys((r["variant"], r["path"]) for r in rows))
    width = 0.8 / len(series)
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=False)
    for axis, metric, title in (
        (axes[0], "requests_per_s", "requests/s ÷ floor (higher is better)"),
        (axes[1], "cpu_us", "server CPU per request ÷ floor (lower is better)"),
    ):
        for i, (variant, route) in enumerate(series):
            by_server = {
                r["server"]: r["vs_floor"][metric]
                for r in rows
                if (r["variant"], r["path"]) == (variant, route)
            }
            axis.bar(
                [x + (i - (len(series) - 1) / 2) * width for x in range(len(servers))],
                [by_server.get(s, float("nan")) for s in servers],
                width,
                label=f"{http['variants'].get(variant, variant)} {route}",
                color=_HTTP_COLORS.get(variant, "#777777"),
                hatch="//" if route == "/health" else None,
                edgecolor="white",
            )
        axis.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
        axis.set_xticks(range(len(servers)))
        axis.set_xticklabels(
            [http["servers"][s].replace(" (", "\n(").replace(" + ", "\n+ ") for s in servers],
            fontsize=7,
        )
        axis.set_title(title, fontsize=10)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    figure.suptitle(
        f"HTTP, one worker, wrk -c{http.get('connections', 16)}: ratio to the floor "
        f"(median of {http.get('rounds', '?')} round(s))",
        fontsize=11,
    )
    figure.tight_layout(rect=(0, 0.1, 1, 1))  # the legend below
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True
