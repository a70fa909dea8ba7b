"""Prometheus metrics (``pip install 'tokenward[prometheus]'``): ``Guard(metrics=
PrometheusMetrics(registry))``, and ``metrics_app`` to serve them to a token holding the
``metrics`` ACL.

Every ``PrometheusMetrics`` on one registry shares that registry's collectors, so several
guards in one process (an app factory run per test, two apps in one server) add to the same
series instead of failing on a duplicate registration; a registry of its own keeps an app's
series apart. The verification queue and the last-use backlog are read from the guards when
the registry is collected, never on the request path.

Labels take their values from a closed vocabulary (``tokenward.metrics``): no secret, user,
token name, path or address can reach one. Every metric is described in docs/metrics.md.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Iterable

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from tokenward.asgi import request_from_scope, route_path, run_lifespan
from tokenward.asgi_io import ASGIApp, Receive, Scope, Send, send_response
from tokenward.authenticator import Authenticator
from tokenward.core.acl import METRICS
from tokenward.core.settings import Rule
from tokenward.core.tokens import Realm
from tokenward.errors import FailureReason
from tokenward.guard import Guard
from tokenward.metrics import RESULTS, Result

__all__ = ["MetricsASGI", "MetricsPort", "PrometheusMetrics", "metrics_app"]

# From a warm grant (microseconds) to a cold one behind a queue (seconds).
LATENCY_BUCKETS = (
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip
ARGON2_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
NO_REASON = "none"  # the reason label of a grant or a pass


class _Live(Collector):
    """What the guards hold right now, read when the registry is collected."""

    def __init__(self) -> None:
        self._guards: weakref.WeakSet[Guard] = weakref.WeakSet()
        self._lock = threading.Lock()

    def add(self, guard: Guard) -> None:
        with self._lock:
            self._guards.add(guard)

    def describe(self) -> Iterable[Metric]:
        return self._families(0, 0, 0, 0)

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            guards = list(self._guards)
        running = queued = backlog = writes = 0
        for guard in guards:
            now_running, now_queued = guard.verifications.load()
            running += now_running
            queued += now_queued
            # The tracker's tokens with a last use not yet written (read-only, no lock: a
            # dict's size is one atomic read).
            backlog += guard.usage.backlog
            writes += guard.usage.writes
        return self._families(running, queued, backlog, writes)

    @staticmethod
    def _families(running: int, queued: int, backlog: int, writes: int) -> list[Metric]:
        return [
            GaugeMetricFamily(
                "tokenward_verifications_running",
                "Cold verifications (argon2 runs) running now.",
                value=running,
            ),
            GaugeMetricFamily(
                "tokenward_verifications_queued",
                "Cold verifications waiting for a free verification thread.",
                value=queued,
            ),
            GaugeMetricFamily(
                "tokenward_last_use_backlog",
                "Tokens whose last use is noted in memory and not yet written to the store.",
                value=backlog,
            ),
            CounterMetricFamily(
                "tokenward_last_use_writes",
                "Batches of last uses written to the store.",
                value=writes,
            ),
        ]


class _Series:
    """The collectors of one registry, shared by every ``PrometheusMetrics`` on it."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.authentications = Counter(
            "tokenward_authentications",
            "Authentication decisions by result (granted, refused, passed) and refusal reason.",
            ("result", "reason"),
            registry=registry,
        )
        self.duration = Histogram(
            "tokenward_authentication_duration_seconds",
            "Time to decide a request, from the header to the decision.",
            ("result",),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.store_reads = Histogram(
            "tokenward_store_read_duration_seconds",
            "Token reads from the store on the full path, failed ones included.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.store_errors = Counter(
            "tokenward_store_errors",
            "Store operations that raised (the request was refused with 503).",
            ("operation",),
            registry=registry,
        )
        self.verifications = Counter(
            "tokenward_verifications",
            "Cold verifications (argon2 runs) by result (matched, mismatched).",
            ("result",),
            registry=registry,
        )
        self.verification_duration = Histogram(
            "tokenward_verification_duration_seconds",
            "Time of one argon2 run, not counting the wait in the queue.",
            buckets=ARGON2_BUCKETS,
            registry=registry,
        )
        self.rate_limited = Counter(
            "tokenward_rate_limited",
            "Refusals answered 429: the client address had spent its failure budget.",
            registry=registry,
        )
        self.live = _Live()
        registry.register(self.live)
        # Children bound once: labels() on every request would cost a lock and a lookup.
        self.durations = {result: self.duration.labels(result) for result in RESULTS}
        self.outcomes: dict[tuple[Result, FailureReason | None], Counter] = {}
        self.matched = self.verifications.labels("matched")
        self.mismatched = self.verifications.labels("mismatched")
        self.read_errors = self.store_errors.labels("read")

    def outcome(self, result: Result, reason: FailureReason | None) -> Counter:
        child = self.authentications.labels(result, NO_REASON if reason is None else reason.value)
        return self.outcomes.setdefault((result, reason), child)


_shared: weakref.WeakKeyDictionary[CollectorRegistry, _Series] = weakref.WeakKeyDictionary()
_shared_lock = threading.Lock()


def _series(registry: CollectorRegistry) -> _Series:
    with _shared_lock:
        series = _shared.get(registry)
        if series is None:
            series = _shared[registry] = _Series(registry)
        return series


class PrometheusMetrics:
    """Reports a guard's work into ``registry`` (default: prometheus_client's global
    ``REGISTRY``). Give an app's own registry to keep its series there."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.registry = registry
        self._series = series = _series(registry)
        self._outcomes = series.outcomes
        self._durations = series.durations

    def __repr__(self) -> str:
        return f"PrometheusMetrics({self.registry!r})"

    def watch(self, guard: Guard) -> None:
        self._series.live.add(guard)

    def authenticated(
        self,
        result: Result,
        reason: FailureReason | None,
        realm: Realm | None,
        cold: bool,
        seconds: float,
    ) -> None:
        counter = self._outcomes.get((result, reason))
        if counter is None:
            counter = self._series.outcome(result, reason)
        counter.inc()
        self._durations[result].observe(seconds)

    def store_read(self, seconds: float, ok: bool) -> None:
        self._series.store_reads.observe(seconds)
        if not ok:
            self._series.read_errors.inc()

    def verification(self, seconds: float, matched: bool) -> None:
        series = self._series
        (series.matched if matched else series.mismatched).inc()
        series.verification_duration.observe(seconds)

    def limited(self) -> None:
        self._series.rate_limited.inc()


# -- serving the scrape ------------------------------------------------------------------


def metrics_app(
    source: Guard | Authenticator, registry: CollectorRegistry = REGISTRY
) -> MetricsASGI:
    """An ASGI app answering ``GET`` with ``registry``'s samples, to a token holding the
    ``metrics`` ACL (or ``all``), judged by ``source``'s guard (its store, proxies, failure
    budget). Mount it where the scraper looks (``/metrics``); it answers on any path."""
    guard = source if isinstance(source, Guard) else source.guard
    return MetricsASGI(guard.authenticator_for((Rule.require("/", METRICS),)), registry)


class MetricsASGI:
    def __init__(self, authenticator: Authenticator, registry: CollectorRegistry) -> None:
        self.authenticator = authenticator
        self.registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await run_lifespan(receive, send, self.authenticator)
            return
        if scope["type"] != "http":
            return  # a websocket: the server closes it unaccepted
        if scope.get("method") != "GET":
            await send_response(send, 405, (("allow", "GET"), ("content-length", "0")))
            return
        request = request_from_scope(scope, self.authenticator.settings)
        decision = await self.authenticator.authenticate_async(request)
        refusal = decision.refusal
        if refusal is not None:
            await send_response(send, refusal.status, refusal.headers, refusal.body)
            return
        encoder, content_type = choose_encoder(_header(scope, b"accept"))
        body = encoder(self.registry)
        headers = (("content-type", content_type), ("content-length", str(len(body))))
        await send_response(send, 200, headers, body)


class MetricsPort:
    """``app``, except on connections to ``port``, where only ``/metrics`` is served (by
    ``metrics``) and every other path is a 404: the scrape endpoint on a port of its own,
    as ``tokenward serve --metrics-port`` runs it. Lifespan goes to ``app``."""

    def __init__(self, app: ASGIApp, metrics: ASGIApp, port: int) -> None:
        self.app = app
        self.metrics = metrics
        self.port = port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        if scope["type"] == "lifespan" or not server or server[1] != self.port:
            await self.app(scope, receive, send)
        elif scope["type"] == "http" and route_path(scope) == "/metrics":
            await self.metrics(scope, receive, send)
        elif scope["type"] == "http":
            body = json.dumps({"error": "not found"}).encode()
            headers = (("content-type", "application/json"), ("content-length", str(len(body))))
            await send_response(send, 404, headers, body)


def _header(scope: Scope, name: bytes) -> str:
    return b", ".join(value for key, value in scope.get("headers", ()) if key == name).decode(
        "latin-1"
    )
