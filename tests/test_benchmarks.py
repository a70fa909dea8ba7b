"""The benchmark suite's in-process sections still run and report sane shapes (tiny counts;
no wall-clock assertions: speed is measured by `python -m benchmarks`, not asserted here).
Section 4's apps are checked in-process (the Django project in a process of its own), its
parsing and bookkeeping on canned input, and short real runs behind gunicorn when wrk is
installed. Section 8: tests/test_benchmarks_network.py."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest
import webtest
from starlette.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parents[1]))

from benchmarks import apps, django_project
from benchmarks.http import (
    DJANGO_FLOOR,
    FLOOR,
    VARIANTS,
    Target,
    choose_variants,
    http_runs,
    mint_sqlite,
    parse_wrk,
    summarize,
    write_floor_tokens,
)
from benchmarks.inprocess import last_used_writes, request_cost
from benchmarks.report import http_lines, table
from benchmarks.scaling import lookup_scaling
from benchmarks.servers import CLOCK_TICKS, ROOT, SERVERS, Running, tree_cpu
from benchmarks.shells import shell_costs

from tokenward.stores.url import STORE_ENV


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
            "http": {"skipped": "not in unit tests"},
            "scaling": rows,
            "last_used": last_used_writes(0.1, 0.05),
            "references": [],
        }
    )
    assert "10 tokens" in text
    assert "skipped: not in unit tests" in text


def test_sections_left_out_of_a_run_are_left_out_of_the_table() -> None:
    # (benchmarks.__main__ is not imported here: mypy would follow it to the reference
    # libraries, which only the bench extra installs.)
    assert table({"machine": {"cpus": 2, "cpu": "test", "python": "3.11"}}).count("\n") == 0


# -- section 4 ------------------------------------------------------------------------------


@pytest.fixture
def bench_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """What the runner hands a server process, and the headers it would send."""
    url = f"sqlite:///{tmp_path}/http.db"
    headers = {"sqlite": mint_sqlite(url), "floor": write_floor_tokens(tmp_path / "floor.json")}
    monkeypatch.setenv(STORE_ENV, url)
    monkeypatch.setenv(apps.FLOOR_TOKENS_ENV, str(tmp_path / "floor.json"))
    monkeypatch.setenv(apps.HEADER_FILE_ENV, str(tmp_path / "memory.header"))
    assert (tmp_path / "floor.json").stat().st_mode & 0o777 == 0o600
    return headers


def _header(variant: str, headers: dict[str, str], tmp_path: Path) -> str:
    if variant == "tokenward-memory":
        return (tmp_path / "memory.header").read_text()
    return headers["sqlite" if variant == "tokenward-sqlite" else "floor"]


IN_PROCESS = [v for v in VARIANTS if not v.django]  # the Django ones: in their own process


@pytest.mark.parametrize("variant", [v for v in IN_PROCESS if v.asgi], ids=lambda v: v.name)
def test_every_asgi_variant_answers_whoami_the_same_and_refuses_a_wrong_token(
    variant: Any, bench_env: dict[str, str], tmp_path: Path
) -> None:
    app = getattr(apps, variant.asgi)()
    header = _header(variant.name, bench_env, tmp_path)
    client = TestClient(app)
    whoami = client.get("/whoami", headers={"Authorization": header})
    assert whoami.status_code == 200
    assert whoami.json() == apps.bench_identity().as_dict()
    wrong = header[:-4] + ("AAAA" if not header.endswith("AAAA") else "BBBB")
    assert client.get("/whoami", headers={"Authorization": wrong}).status_code == 401
    assert client.get("/whoami").status_code == 401
    if "/health" in variant.paths:
        assert client.get("/health").status_code == 200
    if hasattr(app, "authenticator"):
        app.authenticator.close()


@pytest.mark.parametrize("variant", [v for v in IN_PROCESS if v.wsgi], ids=lambda v: v.name)
def test_every_wsgi_variant_answers_whoami_the_same_and_refuses_a_wrong_token(
    variant: Any, bench_env: dict[str, str], tmp_path: Path
) -> None:
    app = getattr(apps, variant.wsgi)()
    header = _header(variant.name, bench_env, tmp_path)
    client = webtest.TestApp(app)
    whoami = client.get("/whoami", headers={"Authorization": header})
    assert whoami.json == apps.bench_identity().as_dict()
    client.get("/whoami", headers={"Authorization": header + "x"}, status=401)
    client.get("/whoami", status=401)
    client.get("/health", status=200)
    if hasattr(app, "close"):
        app.close()


WRK_OUTPUT = """Running 1s test @ http://127.0.0.1:8000/whoami
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.30ms  400.00us  12.00ms   90.00%
    Req/Sec    12.00k     1.00k   13.00k    80.00%
  Latency Distribution
     50%    1.21ms
     75%    1.40ms
     90%    1.70ms
     99%  850.00us
  12345 requests in 1.00s, 2.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:  12345.67
Transfer/sec:      2.00MB
"""


def test_wrk_output_is_parsed_with_units() -> None:
    parsed = parse_wrk(WRK_OUTPUT)
    assert parsed == {
        "requests_per_s": 12345.67,
        "requests": 12345,
        "p50_ms": 1.21,
        "p99_ms": pytest.approx(0.85),
        "non_2xx": 7,
        "socket_errors": 3,
    }
    assert math.isnan(parse_wrk("")["requests_per_s"])


def test_tree_cpu_counts_the_descendants_of_a_process() -> None:
    burn = (
        "import threading, time\nwhile time.process_time() < 0.2: pass\n"
        "print('done', flush=True)\nthreading.Event().wait()  # until its parent kills it"
    )
    parent = (
        "import subprocess, sys\n"
        f"g = subprocess.Popen([sys.executable, '-c', {burn!r}], stdout=subprocess.PIPE)\n"
        "print(g.stdout.readline().decode().strip(), flush=True)\n"
        "sys.stdin.readline(); g.kill(); g.wait()"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", parent], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == b"done"
        user, system = tree_cpu(process.pid)
        assert user + system >= 0.15 * CLOCK_TICKS
    finally:
        process.communicate(b"\n", timeout=30)


def _target(server: str, variant: str, path: str, rounds: list[dict[str, float]]) -> Target:
    chosen = next(v for v in VARIANTS if v.name == variant)
    found = next(s for s in SERVERS if s.name == server)
    target = Target(found, chosen, path, cast(Running, None), None)
    target.rounds = rounds
    return target


def _round(rps: float, cpu: float) -> dict[str, float]:
    return {
        "requests_per_s": rps,
        "requests": int(rps),
        "p50_ms": 1000 / rps,
        "p99_ms": 2000 / rps,
        "non_2xx": 0,
        "socket_errors": 0,
        "cpu_user_us": cpu * 0.75,
        "cpu_system_us": cpu * 0.25,
        "cpu_us": cpu,
    }


def test_ratios_are_paired_by_round_then_the_median_against_the_same_path() -> None:
    # Round 2 is slow for everyone (drift): paired ratios ignore it, raw medians would not.
    floor = _target("uvicorn", "floor", "/whoami", [_round(100, 10), _round(50, 20)])
    health = _target("uvicorn", "floor", "/health", [_round(200, 5), _round(200, 5)])
    guarded = _target("uvicorn", "tokenward-sqlite", "/whoami", [_round(80, 12.5), _round(40, 25)])
    rows = summarize([floor, health, guarded])
    ratio = rows[2]["vs_floor"]
    assert ratio["requests_per_s"] == pytest.approx(0.8)
    assert ratio["cpu_us"] == pytest.approx(1.25)
    assert rows[2]["requests_per_s"] == 60  # the median of 80 and 40
    assert rows[0]["vs_floor"]["requests_per_s"] == 1.0
    text = "\n".join(
        http_lines(
            {
                "seconds": 1,
                "rounds": 2,
                "connections": 16,
                "servers": {"uvicorn": "uvicorn[standard]"},
                "variants": {"floor": "floor", "tokenward-sqlite": "tokenward, SQLite"},
                "rows": rows,
            }
        )
    )
    assert "tokenward, SQLite" in text
    assert "0.80" in text
    assert "WARNING" not in text


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_a_short_real_run_behind_gunicorn_answers_every_request() -> None:
    result = http_runs(1, 1, 0, servers=["gunicorn-uvicorn"], variants=["tokenward-memory"])
    assert "skipped" not in result, result.get("skipped")
    rows = result["rows"]
    assert [(r["variant"], r["path"]) for r in rows] == [
        (v, p) for v in ("floor", "tokenward-memory") for p in ("/whoami", "/health")
    ]
    for row in rows:
        assert row["requests"] > 0
        assert row["non_2xx"] == 0
        assert row["cpu_us"] > 0
        assert row["vs_floor"]["requests_per_s"] > 0


# -- section 4: the Django variants ---------------------------------------------------------


def test_django_variants_run_only_where_django_deploys_run_them() -> None:
    for variant in (v for v in VARIANTS if v.django):
        assert [s.name for s in SERVERS if variant.factory(s)] == ["uvicorn", "gunicorn"]
        assert variant.baseline == DJANGO_FLOOR
        assert variant.paths == ("/whoami",)


def test_naming_a_variant_keeps_the_floors_its_ratios_need() -> None:
    chosen, left_out = choose_variants(["tokenward-drf"])
    assert [v.name for v in chosen] == [FLOOR, DJANGO_FLOOR, "tokenward-drf"]
    assert left_out == {}


def test_a_variant_whose_library_is_missing_is_left_out_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "knox" else real(name)
    )
    chosen, left_out = choose_variants(["knox", "tokenward-memory"])
    assert [v.name for v in chosen] == [FLOOR, "tokenward-memory", DJANGO_FLOOR]
    assert left_out == {"knox": "knox is not installed (the bench extra)"}
    text = "\n".join(http_lines({"servers": {}, "variants": {}, "rows": [], "left_out": left_out}))
    assert "left out: knox: knox is not installed (the bench extra)" in text


@pytest.mark.slow
def test_every_django_variant_answers_whoami_the_same_and_refuses_a_wrong_token(
    bench_env: dict[str, str], tmp_path: Path
) -> None:
    # Django's settings are per process: the project is set up and checked in its own.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    headers = {"floor": bench_env["floor"], "tokenward": bench_env["sqlite"]}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.django_project", "check", str(tmp_path)],
        input=json.dumps(headers),
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout)
    assert set(found) == {v for v in django_project.VARIANTS if django_project.available(v)}
    assert {"floor", "tokenward"} <= set(found)
    for variant, answer in found.items():
        assert answer["status"] == 200, variant
        assert answer["body"] == apps.bench_identity().as_dict(), variant
        assert answer["wrong"] in (401, 403), variant
        assert answer["none"] in (401, 403), variant
    assert (tmp_path / django_project.TOKENS_FILE).stat().st_mode & 0o777 == 0o600


def test_django_variants_are_also_paired_with_the_django_floor() -> None:
    floor = _target("gunicorn", "floor", "/whoami", [_round(1000, 100), _round(500, 200)])
    django = _target("gunicorn", "django-floor", "/whoami", [_round(500, 200), _round(250, 400)])
    knox = _target("gunicorn", "knox", "/whoami", [_round(250, 400), _round(125, 800)])
    rows = summarize([floor, django, knox])
    assert "vs_baseline" not in rows[0]
    assert rows[1]["vs_baseline"]["requests_per_s"] == 1.0
    assert rows[2]["baseline"] == DJANGO_FLOOR
    assert rows[2]["vs_floor"]["requests_per_s"] == pytest.approx(0.25)
    assert rows[2]["vs_baseline"]["requests_per_s"] == pytest.approx(0.5)
    assert rows[2]["vs_baseline"]["cpu_us"] == pytest.approx(2.0)
    text = http_lines(
        {
            "servers": {"gunicorn": "gunicorn, sync worker"},
            "variants": {"floor": "floor", "django-floor": "Django floor", "knox": "knox"},
            "rows": rows,
        }
    )
    knox_line = next(line for line in text if line.strip().startswith("knox"))
    assert knox_line.split()[-2:] == ["0.50", "2.00"]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
@pytest.mark.skipif(not django_project.available("knox"), reason="the bench extra is not installed")
def test_a_short_real_run_of_a_django_reference_behind_gunicorn() -> None:
    result = http_runs(1, 1, 0, servers=["gunicorn"], variants=["knox"])
    assert "skipped" not in result, result.get("skipped")
    rows = {(r["variant"], r["path"]): r for r in result["rows"]}
    assert set(rows) == {
        (FLOOR, "/whoami"),
        (FLOOR, "/health"),
        (DJANGO_FLOOR, "/whoami"),
        ("knox", "/whoami"),
    }
    for row in rows.values():
        assert row["requests"] > 0
        assert row["non_2xx"] == 0
    assert rows[("knox", "/whoami")]["vs_baseline"]["requests_per_s"] > 0


def test_section_9_times_every_middleware_on_a_granted_request_against_the_floor() -> None:
    keys = (STORE_ENV, apps.FLOOR_TOKENS_ENV, apps.HEADER_FILE_ENV)
    before = {key: os.environ.get(key) for key in keys}
    rows = shell_costs(iterations=70, rounds=2, warmup=5)
    assert {key: os.environ.get(key) for key in keys} == before  # the factories' settings go
    assert {(r["shell"], r["variant"], r["path"]) for r in rows} == {
        (shell, variant, path)
        for shell in ("asgi", "wsgi")
        for variant in ("floor", "starlette", "tokenward-sqlite", "tokenward-memory")
        for path in ("/whoami", "/health")
        if not (variant == "starlette" and (shell == "wsgi" or path == "/health"))
    }
    assert all(r["median_us"] > 0 for r in rows)
    assert all(r["over_floor_us"] == 0 for r in rows if r["variant"] == "floor")
    text = table({"machine": {"cpus": 2, "cpu": "test", "python": "3.11"}, "shells": rows})
    assert "9. section 4's middleware in-process" in text
    assert text.count("over the floor") == len(rows)
