"""Metrics and spans: what a guard reports after a mixed load, that nothing taken from a
request or a token reaches a label or an attribute, the scrape endpoint's access rule, and
that nothing of it is imported unless asked for."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import webtest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.util.types import Attributes
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from tokenward import (
    FailureReason,
    Guard,
    MemoryStore,
    Realm,
    RequestInfo,
    Rule,
    StoreError,
    TokenRecord,
    TokenwardWSGIMiddleware,
)
from tokenward.contrib.opentelemetry import SPAN_NAME, OpenTelemetryTracing
from tokenward.contrib.prometheus import MetricsPort, PrometheusMetrics, metrics_app
from tokenward.core.acl import WHM_ACLS, normalize_acls
from tokenward.management.views import acl_warnings
from tokenward.metrics import RESULTS, Fanout, Result
from tokenward.server import TokenwardServer
from tokenward.testing import FrozenClock, MintedToken, TokenFactory, fast_settings

SETTINGS = fast_settings(
    rules=(Rule.public("/health"), Rule.optional("/maybe"), Rule.require("/dns", "edit-dns")),
    max_failures=2,
)
PEER, ATTACKER, OTHER, LAST = "198.51.100.7", "203.0.113.9", "2001:db8::bad", "192.0.2.200"
UNKNOWN = "cpanel hostile-user-a:" + "Q" * 32
HOSTILE_PATH = '/dns/"} 1 private-zone-9c1'
UNSAFE_PATH = '/dns/"}\nprivate-zone-9c1'
HOSTILE_HEADER = 'cpanel ev"il}:' + "Z" * 32
LABEL_VOCABULARY = {
    *RESULTS,
    "none",
    *(reason.value for reason in FailureReason),
    "matched",
    "mismatched",
    "read",
}


class Switchable(MemoryStore):
    down = False

    def get(self, digest: str) -> TokenRecord | None:
        if self.down:
            raise StoreError("down")
        return super().get(digest)


class RecordedSpan(trace.NonRecordingSpan):
    def __init__(self, name: str, attributes: Attributes, start_time: int | None) -> None:
        super().__init__(trace.INVALID_SPAN_CONTEXT)
        self.name = name
        self.attributes = dict(attributes or {})
        self.start_time = start_time
        self.end_time: int | None = None
        self.status: trace.Status | None = None

    def set_status(
        self, status: trace.Status | trace.StatusCode, description: str | None = None
    ) -> None:
        assert isinstance(status, trace.Status)
        self.status = status

    def end(self, end_time: int | None = None) -> None:
        self.end_time = end_time


class RecordingTracer(trace.NoOpTracer):
    """The API's own no-op tracer, keeping the spans tokenward starts: no SDK needed."""

    def __init__(self) -> None:
        self.spans: list[RecordedSpan] = []

    def start_span(  # noqa: PLR0917 - the API's signature
        self,
        name: str,
        context: Context | None = None,
        kind: trace.SpanKind = trace.SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[trace.Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace.Span:
        span = RecordedSpan(name, attributes, start_time)
        self.spans.append(span)
        return span


class RecordingProvider(trace.NoOpTracerProvider):
    def __init__(self) -> None:
        self.tracer = RecordingTracer()

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return self.tracer


class Load:
    """A guard with Prometheus metrics and recorded spans, after a mixed load."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.provider = RecordingProvider()
        self.store = Switchable()
        self.clock = FrozenClock()
        self.guard = Guard(
            self.store,
            SETTINGS,
            clock=self.clock,
            background_flush=False,
            metrics=Fanout(PrometheusMetrics(self.registry), OpenTelemetryTracing(self.provider)),
        )
        factory = TokenFactory(self.store, self.clock)
        self.dns = factory.mint("hostile-user-a", "leaky-token-name", acls=["edit-dns"])
        self.narrow = factory.mint("other-user-b", "narrow-token-name", acls=["list-accts"])
        self.app = webtest.TestApp(TokenwardWSGIMiddleware(dns_app, self.guard))

    def get(self, path: str, header: str | None = None, peer: str = PEER) -> int:
        headers = {} if header is None else {"Authorization": header}
        response = self.app.get(
            path, headers=headers, extra_environ={"REMOTE_ADDR": peer}, expect_errors=True
        )
        return int(response.status_int)

    def run(self) -> None:
        dns = self.dns.header
        assert self.get("/dns/private-zone-name", dns) == 200  # cold: argon2 runs
        assert self.get("/dns/private-zone-name", dns) == 200  # warm path
        assert self.get("/dns/private-zone-name", dns) == 200
        assert self.get("/dns/zones", self.narrow.header) == 403  # cold, then missing ACL
        assert self.get("/dns/zones", UNKNOWN, peer=OTHER) == 401
        assert [self.get("/", UNKNOWN, peer=ATTACKER) for _ in range(3)] == [401, 401, 429]
        assert self.get("/maybe") == 200  # passed: optional, no token
        assert self.get("/health") == 200  # public: the shell never asks the authenticator
        assert self.get("/", "cpanel nocolon") == 401  # malformed
        self.store.down = True
        assert self.get("/dns/zones", dns) == 503
        self.store.down = False
        refused = self.guard.authenticator.authenticate(
            RequestInfo("GET", HOSTILE_PATH, (HOSTILE_HEADER,), OTHER)
        )
        assert refused.reason is FailureReason.UNKNOWN_TOKEN
        unsafe = self.guard.authenticator.authenticate(
            RequestInfo("GET", UNSAFE_PATH, (self.dns.header,), LAST)
        )
        assert unsafe.reason is FailureReason.UNSAFE_PATH

    def hostile(self) -> list[str]:
        """Everything a label or attribute must never carry."""
        tokens = (self.dns, self.narrow)
        return [
            *(token.secret for token in tokens),
            *(token.created.record.user for token in tokens),
            *(token.created.record.name for token in tokens),
            *(token.created.record.digest for token in tokens),
            "Q" * 32,
            "Z" * 32,
            'ev"il}',
            "private-zone",
            "/dns",
            HOSTILE_PATH,
            UNSAFE_PATH,
            PEER,
            LAST,
            ATTACKER,
            OTHER,
        ]


def dns_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("200 OK", [("content-type", "text/plain")])
    return [b"ok"]


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(
    scraped: Mapping[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return scraped[name, frozenset(labels.items())]


@pytest.fixture(scope="module")
def load() -> Iterator[Load]:
    done = Load()
    done.run()
    yield done
    done.guard.close()


def test_a_mixed_load_is_counted_by_result_and_reason(load: Load) -> None:
    scraped = samples(generate_latest(load.registry).decode())
    total = "tokenward_authentications_total"
    assert value(scraped, total, result="granted", reason="none") == 3
    assert value(scraped, total, result="passed", reason="none") == 1
    assert value(scraped, total, result="refused", reason="unknown_token") == 5
    assert value(scraped, total, result="refused", reason="missing_acl") == 1
    assert value(scraped, total, result="refused", reason="malformed") == 1
    assert value(scraped, total, result="refused", reason="store_unavailable") == 1
    assert value(scraped, total, result="refused", reason="unsafe_path") == 1
    counted = [s for (name, _), s in scraped.items() if name == total]
    assert sum(counted) == 13  # no other series: the public route is not the authenticator's
    duration = "tokenward_authentication_duration_seconds_count"
    assert value(scraped, duration, result="granted") == 3
    assert value(scraped, duration, result="refused") == 9
    assert value(scraped, duration, result="passed") == 1


def test_cold_verifications_store_reads_errors_and_429s_are_counted(load: Load) -> None:
    scraped = samples(generate_latest(load.registry).decode())
    assert value(scraped, "tokenward_verifications_total", result="matched") == 2
    assert value(scraped, "tokenward_verifications_total", result="mismatched") == 0
    assert value(scraped, "tokenward_verification_duration_seconds_count") == 2
    # Every full-path read (the warm path's are in its decision's time), one failed.
    assert value(scraped, "tokenward_store_read_duration_seconds_count") == 8
    assert value(scraped, "tokenward_store_errors_total", operation="read") == 1
    assert value(scraped, "tokenward_rate_limited_total") == 1
    assert value(scraped, "tokenward_verifications_running") == 0
    assert value(scraped, "tokenward_verifications_queued") == 0


def test_the_last_use_backlog_and_writes_are_read_at_scrape_time(load: Load) -> None:
    before = samples(generate_latest(load.registry).decode())
    assert value(before, "tokenward_last_use_backlog") == 1  # the one token granted
    load.guard.usage.flush()
    after = samples(generate_latest(load.registry).decode())
    assert value(after, "tokenward_last_use_backlog") == 0
    assert (
        value(after, "tokenward_last_use_writes_total")
        == value(before, "tokenward_last_use_writes_total") + 1
    )


def test_no_label_carries_a_secret_user_token_name_path_or_address(load: Load) -> None:
    text = generate_latest(load.registry).decode()
    found = [secret for secret in load.hostile() if secret in text]
    assert found == []
    for (_, labels), _ in samples(text).items():
        for name, label in labels:
            if name == "le":
                float(label)  # a bucket's bound
            else:
                assert label in LABEL_VOCABULARY, (name, label)


def test_a_span_per_decision_with_bounded_attributes_only(load: Load) -> None:
    spans = load.provider.tracer.spans
    assert len(spans) == 13
    assert {span.name for span in spans} == {SPAN_NAME}
    hostile = load.hostile()
    for span in spans:
        assert span.start_time is not None
        assert span.end_time is not None
        assert span.start_time <= span.end_time
        assert set(span.attributes) <= {
            "tokenward.result",
            "tokenward.reason",
            "tokenward.realm",
            "tokenward.cold_verification",
        }
        assert [v for v in span.attributes.values() if str(v) in hostile] == []
    first = spans[0].attributes
    assert first == {
        "tokenward.result": "granted",
        "tokenward.realm": "cpanel",
        "tokenward.cold_verification": True,
    }
    assert spans[1].attributes["tokenward.cold_verification"] is False  # the warm path
    faults = [span for span in spans if span.status is not None]
    assert [span.attributes["tokenward.reason"] for span in faults] == ["store_unavailable"]
    assert faults[0].status is not None
    assert faults[0].status.status_code is trace.StatusCode.ERROR


def test_without_an_sdk_the_apis_tracer_records_nothing_and_costs_no_error(
    clock: FrozenClock,
) -> None:
    store = MemoryStore()
    token = TokenFactory(store, clock).mint()
    tracing = OpenTelemetryTracing()
    guard = Guard(store, fast_settings(), clock=clock, metrics=tracing, background_flush=False)
    assert isinstance(tracing.tracer, trace.ProxyTracer)
    assert guard.authenticator.authenticate(RequestInfo("GET", "/", (token.header,), PEER)).allowed
    guard.close()


def test_several_guards_on_one_registry_share_its_series(clock: FrozenClock) -> None:
    registry = CollectorRegistry()
    guards = [
        Guard(MemoryStore(), fast_settings(), clock=clock, metrics=PrometheusMetrics(registry))
        for _ in range(2)
    ]
    for guard in guards:
        token = TokenFactory(guard.store, clock).mint()
        request = RequestInfo("GET", "/", (token.header,), PEER)
        assert guard.authenticator.authenticate(request).allowed
    scraped = samples(generate_latest(registry).decode())
    assert value(scraped, "tokenward_authentications_total", result="granted", reason="none") == 2
    assert value(scraped, "tokenward_last_use_backlog") == 2  # one token in each guard
    for guard in guards:
        guard.close()


def test_metrics_named_by_a_dotted_path_use_the_default_registry_again_and_again() -> None:
    config = {"STORE": "memory://", "METRICS": "tokenward.contrib.prometheus.PrometheusMetrics"}
    first, second = Guard.from_mapping(config), Guard.from_mapping(config)
    assert isinstance(first.metrics, PrometheusMetrics)
    assert isinstance(second.metrics, PrometheusMetrics)
    first.close()
    second.close()


def test_the_verification_queue_and_overload_refusals_are_seen(clock: FrozenClock) -> None:
    store = MemoryStore()
    registry = CollectorRegistry()
    settings = fast_settings(max_concurrent_verifications=1, max_queued_verifications=1)
    guard = Guard(store, settings, clock=clock, metrics=PrometheusMetrics(registry))
    factory = TokenFactory(store, clock)
    tokens = [factory.mint() for _ in range(3)]
    entered, release = threading.Event(), threading.Event()
    hasher = guard.verifications.hasher
    real_verify = hasher.verify

    def held(verifier: str, secret: str) -> None:
        entered.set()
        release.wait(timeout=10)
        real_verify(verifier, secret)

    hasher.verify = held  # type: ignore[method-assign]

    def request(token: MintedToken) -> RequestInfo:
        return RequestInfo("GET", "/", (token.header,), PEER)

    async def burst() -> tuple[dict[Any, float], list[bool]]:
        auth = guard.authenticator
        first = asyncio.create_task(auth.authenticate_async(request(tokens[0])))
        second = asyncio.create_task(auth.authenticate_async(request(tokens[1])))
        await asyncio.to_thread(entered.wait, 10)
        third = await auth.authenticate_async(request(tokens[2]))  # no room: overloaded
        assert third.reason is FailureReason.OVERLOADED
        during = samples(generate_latest(registry).decode())
        release.set()
        decisions = await asyncio.gather(first, second)
        return during, [decision.allowed for decision in decisions]

    during, allowed = asyncio.run(burst())
    assert allowed == [True, True]
    assert value(during, "tokenward_verifications_running") == 1
    assert value(during, "tokenward_verifications_queued") == 1
    overloaded = {"result": "refused", "reason": "overloaded"}
    assert value(during, "tokenward_authentications_total", **overloaded) == 1
    after = samples(generate_latest(registry).decode())
    assert value(after, "tokenward_verifications_running") == 0
    assert value(after, "tokenward_verifications_queued") == 0
    guard.close()


class AsyncStore(MemoryStore):
    """A store read through its own ``aget``, as a network store is."""

    down = False

    async def aget(self, digest: str) -> TokenRecord | None:
        if self.down:
            raise StoreError("down")
        return self.get(digest)


class Recorder:
    """A user's own ``Metrics``: the calls, as made."""

    def __init__(self) -> None:
        self.guards: list[Guard] = []
        self.decisions: list[tuple[object, ...]] = []
        self.reads: list[bool] = []
        self.verifications: list[bool] = []
        self.limits = 0

    def watch(self, guard: Guard) -> None:
        self.guards.append(guard)

    def authenticated(
        self,
        result: Result,
        reason: FailureReason | None,
        realm: Realm | None,
        cold: bool,
        seconds: float,
    ) -> None:
        assert seconds >= 0
        self.decisions.append((result, reason, realm, cold))

    def store_read(self, seconds: float, ok: bool) -> None:
        self.reads.append(ok)

    def verification(self, seconds: float, matched: bool) -> None:
        self.verifications.append(matched)

    def limited(self) -> None:
        self.limits += 1


def test_a_store_read_through_aget_is_timed_and_its_failure_counted(clock: FrozenClock) -> None:
    store = AsyncStore()
    recorder = Recorder()
    guard = Guard(store, fast_settings(), clock=clock, metrics=recorder, background_flush=False)
    assert recorder.guards == [guard]
    token = TokenFactory(store, clock).mint(realm="whm")
    request = RequestInfo("GET", "/", (token.header,), PEER)
    assert asyncio.run(guard.authenticator.authenticate_async(request)).allowed
    store.down = True
    refused = asyncio.run(guard.authenticator.authenticate_async(request))
    assert refused.reason is FailureReason.STORE_UNAVAILABLE
    assert recorder.reads == [True, False]
    assert recorder.verifications == [True]
    assert recorder.decisions == [
        ("granted", None, Realm.WHM, True),
        ("refused", FailureReason.STORE_UNAVAILABLE, Realm.WHM, False),
    ]
    guard.close()


# -- the scrape endpoint ------------------------------------------------------------------


@pytest.fixture
def scrape(clock: FrozenClock) -> Iterator[tuple[TestClient, TokenFactory]]:
    store = MemoryStore()
    registry = CollectorRegistry()
    guard = Guard(store, fast_settings(), clock=clock, metrics=PrometheusMetrics(registry))
    yield TestClient(metrics_app(guard, registry)), TokenFactory(store, clock)
    guard.close()


@pytest.mark.parametrize(
    ("acls", "status"),
    [
        pytest.param(None, 401, id="no-token"),
        pytest.param(["edit-dns"], 403, id="without-metrics"),
        pytest.param(["metrics"], 200, id="metrics"),
        pytest.param(["all"], 200, id="all"),
    ],
)
def test_metrics_are_served_to_a_token_with_the_metrics_acl_only(
    scrape: tuple[TestClient, TokenFactory], acls: list[str] | None, status: int
) -> None:
    client, factory = scrape
    headers = {} if acls is None else factory.mint("prometheus", acls=acls).headers
    response = client.get("/metrics", headers=headers)
    assert response.status_code == status
    assert ("tokenward_authentications_total" in response.text) is (status == 200)


def test_a_scrape_config_s_cpanel_credentials_are_a_token_and_only_get_is_served(
    scrape: tuple[TestClient, TokenFactory],
) -> None:
    client, factory = scrape
    token = factory.mint("prometheus", acls=["metrics"])
    # Prometheus' `authorization: {type: cpanel, credentials: user:TOKEN}` sends this header.
    headers = {"Authorization": f"cpanel prometheus:{token.secret}"}
    plain = client.get("/metrics", headers=headers)
    assert plain.headers["content-type"].startswith("text/plain")
    openmetrics = client.get(
        "/metrics", headers={**headers, "Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.endswith("# EOF\n")
    posted = client.post("/metrics", headers=headers)
    assert (posted.status_code, posted.headers["allow"]) == (405, "GET")


def test_on_its_own_port_only_metrics_is_served_and_the_app_keeps_the_rest(
    clock: FrozenClock,
) -> None:
    store = MemoryStore()
    registry = CollectorRegistry()
    guard = Guard(store, fast_settings(), clock=clock, metrics=PrometheusMetrics(registry))
    token = TokenFactory(store, clock).mint("prometheus", acls=["metrics"])
    app = MetricsPort(TokenwardServer(guard.authenticator), metrics_app(guard, registry), 9464)
    on_port = TestClient(app, base_url="http://testserver:9464")
    elsewhere = TestClient(app, base_url="http://testserver:2083")
    assert on_port.get("/metrics", headers=token.headers).status_code == 200
    assert on_port.get("/health").status_code == 404
    assert elsewhere.get("/health").status_code == 200
    assert "tokenward_" not in elsewhere.get("/metrics", headers=token.headers).text
    guard.close()


# -- what it costs when off -----------------------------------------------------------------


def test_importing_tokenward_imports_no_metrics_library() -> None:
    code = (
        "import sys, tokenward, tokenward.metrics, tokenward.cli, tokenward.server\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('prometheus_client', 'opentelemetry')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_a_guard_without_metrics_reports_nothing(clock: FrozenClock) -> None:
    store = MemoryStore()
    guard = Guard(store, fast_settings(), clock=clock, background_flush=False)
    token = TokenFactory(store, clock).mint()
    assert guard.metrics is guard.authenticator.metrics is guard.verifications.metrics is None
    assert guard.authenticator.authenticate(RequestInfo("GET", "/", (token.header,), PEER)).allowed
    guard.close()


def test_metrics_is_a_known_acl_so_the_cli_does_not_warn_about_it() -> None:
    assert acl_warnings(["metrics"]) == ()
    assert normalize_acls(["metrics"], WHM_ACLS) == {"metrics"}


def test_the_example_in_docs_metrics_md_runs_as_printed(tmp_path: Path) -> None:
    text = (Path(__file__).parents[1] / "docs" / "metrics.md").read_text()
    found = re.search(r"```python\n(.*?)```", text, re.S)
    assert found is not None, "docs/metrics.md has no python block"
    db = tmp_path / "tokens.db"
    code = found.group(1).replace("sqlite:////var/lib/myapp/tokens.db", f"sqlite:///{db}")
    assert str(db) in code  # the example still opens the store this test points it at
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/metrics.md", "exec"), namespace)  # noqa: S102 - our own docs
    guard = namespace["guard"]
    assert isinstance(guard, Guard)
    factory = TokenFactory(guard.store)
    user, scraper = factory.mint("alice"), factory.mint("prometheus", acls=["metrics"])
    assert TestClient(namespace["app"]).get("/", headers=user.headers).text == "hello"
    scraped = samples(TestClient(namespace["scrape"]).get("/", headers=scraper.headers).text)
    granted = {"result": "granted", "reason": "none"}
    # The app's request and the scrape's own: the scrape is authenticated by the same guard.
    assert value(scraped, "tokenward_authentications_total", **granted) == 2
    guard.close()
