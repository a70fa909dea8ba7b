"""The table printed at the end of a run, and the charts. Sections a run left out
(``--sections``) are left out of both."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.shells import shell_lines


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
    renders: tuple[tuple[str, Callable[[Any], list[str]]], ...] = (
        ("http", http_lines),  # 4
        ("scaling", _scaling_lines),  # 5
        ("last_used", _last_used_lines),  # 6
        ("references", lambda _: _references_header(_reference_lines(results))),  # 7
        ("network", network_lines),  # 8
        ("shells", shell_lines),  # 9
    )
    for key, render in renders:
        if key in results:
            lines += ["", *render(results[key])]
    return "\n".join(lines)


def _scaling_lines(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["5. lookup cost against the number of tokens"]
    for row in rows:
        if "skipped" in row:
            lines.append(f"  {row['store']:9} skipped: {row['skipped'][:60]}")
            continue
        lines.append(
            f"  {row['store']:9} {row['tokens']:>9,} tokens  request {_us(row['request'])}"
            f"  raw get {row['raw_get']['median_us']:.1f} µs"
        )
    return lines + _scaling_ratios(rows)


def _references_header(lines: list[str]) -> list[str]:
    return ["7. reference libraries, same machine, same run", *lines]


def _last_used_lines(u: dict[str, Any]) -> list[str]:
    return [
        "6. last-used writes under sustained load on one token",
        f"  {u['requests']:,} requests in {u['seconds']} s -> {u['store_writes']} store "
        f"writes ({u['writes_per_s']:.2f}/s; interval {u['interval_s']} s, "
        f"at most {u['max_allowed']})",
    ]


def network_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Section 8: per store and mode, the four figures (median over rounds, µs) and the two
    ratios, paired by round, against issue 15's targets."""
    lines = [
        "8. PostgreSQL and Redis against their driver (median µs over interleaved rounds)",
        "  round trip: SELECT 1 / PING on the store's own pool or client; read: the store's "
        "get/aget; warm: a warm token",
        "  through the authenticator; cached: the same with ?tokenward_cache=5; memory: the "
        "memory store's warm token",
        f"  {'':16} {'round trip':>10} {'read':>8} {'warm':>8} {'cached':>8} {'memory':>8}   "
        f"{'warm/trip (≤1.5)':>17} {'cached/memory (≤1.3)':>21}",
    ]
    for row in rows:
        if "skipped" in row:
            lines.append(f"  {row['store']:16} skipped: {row['skipped'][:70]}")
            continue
        figures = " ".join(
            f"{row[m]['median_us']:{w}.1f}"
            for m, w in (("round_trip", 10), ("read", 8), ("warm", 8), ("cached", 8), ("memory", 8))
        )
        lines.append(
            f"  {row['store'] + ' ' + row['mode']:16} {figures}   "
            f"{_target(row, 'warm_vs_round_trip'):>17} {_target(row, 'cached_vs_memory'):>21}"
        )
    runs = sorted({row["argon2_runs"] for row in rows if "argon2_runs" in row})
    if runs:
        lines.append(f"  argon2 runs while timing: {', '.join(str(n) for n in runs)}")
    return lines


def _target(row: dict[str, Any], ratio: str) -> str:
    return f"{row[ratio]:.2f}x {'met' if row[f'{ratio}_met'] else 'MISSED'}"


def http_lines(http: dict[str, Any]) -> list[str]:
    """Section 4: per server, one line per variant and path; ``x`` columns are ratios to
    the floor on the same server and path (paired by round, then the median); ``xD``
    columns, for the Django variants, ratios to the Django floor (the same DRF view with a
    dict-lookup authentication class)."""
    title = (
        f"4. HTTP on 127.0.0.1 (wrk -t1 -c{http.get('connections', 16)}, one server worker; "
        f"median of {http.get('rounds', '?')} interleaved round(s) of {http.get('seconds', '?')} s)"
    )
    if "skipped" in http:
        return [title, f"  skipped: {http['skipped']}"]
    lines = [
        title,
        "  CPU: the server's process tree, µs per request (user, system); "
        "x: ratio to the floor, same server and path; xD: ratio to the Django floor",
        f"  {'':36} {'path':8} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'CPU usr':>7} "
        f"{'sys':>6} {'non-2xx':>7} {'sock':>4}  {'x req/s':>7} {'x p50':>6} {'x p99':>6} "
        f"{'x CPU':>6}  {'xD req/s':>8} {'xD CPU':>6}",
    ]
    variants = http.get("variants", {})
    nan = float("nan")
    for server, label in http.get("servers", {}).items():
        lines.append(f"  {label}")
        for row in (r for r in http["rows"] if r["server"] == server):
            ratio = row.get("vs_floor", {})
            line = (
                f"    {variants.get(row['variant'], row['variant']):34} {row['path']:8} "
                f"{row['requests_per_s']:7.0f} {row['p50_ms']:7.2f} {row['p99_ms']:7.2f} "
                f"{row['cpu_user_us']:7.1f} {row['cpu_system_us']:6.1f} "
                f"{row['non_2xx']:7d} {row['socket_errors']:4d}  "
                f"{ratio.get('requests_per_s', nan):7.2f} {ratio.get('p50_ms', nan):6.2f} "
                f"{ratio.get('p99_ms', nan):6.2f} {ratio.get('cpu_us', nan):6.2f}"
            )
            if "vs_baseline" in row:
                baseline = row["vs_baseline"]
                line += f"  {baseline['requests_per_s']:8.2f} {baseline['cpu_us']:6.2f}"
            lines.append(line)
    bad = [r for r in http["rows"] if r["non_2xx"] or r["socket_errors"]]
    if bad:
        lines.append(
            f"  WARNING: {len(bad)} target(s) had non-2xx answers or socket errors: "
            "their figures are not comparable"
        )
    for name, reason in http.get("left_out", {}).items():
        lines.append(f"  left out: {variants.get(name, name)}: {reason}")
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
    "django-floor": "#9a9a9a",
    "drf-api-key": "#e07a5f",
    "knox": "#81338f",
    "tokenward-drf": "#17494d",
}


def http_chart(http: dict[str, Any], path: Path) -> bool:
    """Section 4 as ratios to the floor, per server: requests/s (higher is better) and the
    server's CPU per request (lower is better); /health bars hatched; over each Django
    variant's bar, "D" and its ratio to the Django floor."""
    rows = [r for r in http.get("rows", []) if r["variant"] != "floor" and "vs_floor" in r]
    plt = _pyplot() if rows else None
    if plt is None:
        return False
    servers = [s for s in http["servers"] if any(r["server"] == s for r in rows)]
    series = list(dict.fromkeys((r["variant"], r["path"]) for r in rows))
    width = 0.8 / len(series)
    figure, axes = plt.subplots(1, 2, figsize=(12, 5), sharey=False)
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
            bars = axis.bar(
                [x + (i - (len(series) - 1) / 2) * width for x in range(len(servers))],
                [by_server.get(s, float("nan")) for s in servers],
                width,
                label=f"{http['variants'].get(variant, variant)} {route}",
                color=_HTTP_COLORS.get(variant, "#777777"),
                hatch="//" if route == "/health" else None,
                edgecolor="white",
            )
            # Over each Django bar, its ratio to the Django floor: the library's own cost.
            baseline = {
                r["server"]: r["vs_baseline"][metric]
                for r in rows
                if (r["variant"], r["path"]) == (variant, route) and "vs_baseline" in r
            }
            for server, bar in zip(servers, bars, strict=True):
                if server in baseline and variant != "django-floor":
                    axis.annotate(
                        f"D {baseline[server]:.2f}",
                        (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center",
                        va="bottom",
                        fontsize=6,
                        rotation=90,
                    )
        drawn = [r["vs_floor"][metric] for r in rows if r["vs_floor"][metric] > 0]
        if drawn and max(drawn) / min(drawn) > 8:  # Django under ASGI: 0.02 next to 0.9
            axis.set_yscale("log")
        axis.margins(y=0.15)  # room for the "D" labels
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
        f"(median of {http.get('rounds', '?')} round(s)); D: ratio to the Django floor",
        fontsize=11,
    )
    legend_rows = -(-len(series) // 3)
    figure.tight_layout(rect=(0, 0.03 + 0.035 * legend_rows, 1, 1))  # the legend below
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True
