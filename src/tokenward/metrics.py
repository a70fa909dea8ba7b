"""What a ``Guard`` tells about its work, through one small protocol: nothing when it is
given none (``Guard(metrics=None)``, the default), which costs the request path one
``is not None`` check per decision.

The core calls the protocol where a decision ends, where a store read or an argon2 run
ends, and when the failure budget turns a refusal into a 429. It imports no metrics
library: ``tokenward.contrib.prometheus.PrometheusMetrics`` (the ``prometheus`` extra) and
``tokenward.contrib.opentelemetry.OpenTelemetryTracing`` (the ``otel`` extra) do, and
``Fanout`` hands one guard's reports to both.

What is passed is a closed vocabulary: a result, a ``FailureReason``, a ``Realm``, yes or
no, and durations. Nothing taken from a request or a token (secret, user, token name,
path, address) ever reaches an implementation, so none can put one in a label or an
attribute, and the number of series stays bounded whatever clients send.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol

from tokenward.core.tokens import Realm
from tokenward.errors import FailureReason

if TYPE_CHECKING:
    from tokenward.guard import Guard

__all__ = ["RESULTS", "Fanout", "Metrics", "Result"]

Result = Literal["granted", "refused", "passed"]
"""``granted``: a token's identity; ``refused``: a 400/401/403/429/503; ``passed``: allowed
with no identity (a public route, or an optional one without a token, judged by the
authenticator; the middleware passes public routes on without asking it)."""
RESULTS: tuple[Result, ...] = ("granted", "refused", "passed")


class Metrics(Protocol):
    """Receives what one or more guards report. Called on the request path (and on the
    verification threads), so each call must be cheap and must not block."""

    def watch(self, guard: Guard) -> None:
        """Called once by each guard built with this object. What lives in the guard (the
        verification queue, the last-use backlog) is read from it when asked (at scrape
        time), never on the request path."""
        ...

    def authenticated(
        self,
        result: Result,
        reason: FailureReason | None,
        realm: Realm | None,
        cold: bool,
        seconds: float,
    ) -> None:
        """One decision, ``seconds`` after it started. ``reason``: why, for a refusal
        (``None`` otherwise). ``realm``: of the token presented, once the request got as far
        as the store. ``cold``: argon2 ran for it."""
        ...

    def store_read(self, seconds: float, ok: bool) -> None:
        """One token read on the full path; ``ok`` is false when the store raised."""
        ...

    def verification(self, seconds: float, matched: bool) -> None:
        """One argon2 run on the verification pool (a cold verification)."""
        ...

    def limited(self) -> None:
        """A refusal answered 429: the client address had spent its failure budget."""
        ...


class Fanout:
    """Several implementations as one: ``Guard(metrics=Fanout(prometheus, tracing))``."""

    def __init__(self, *each: Metrics) -> None:
        self.each = each

    def watch(self, guard: Guard) -> None:
        for metrics in self.each:
            metrics.watch(guard)

    def authenticated(
        self,
        result: Result,
        reason: FailureReason | None,
        realm: Realm | None,
        cold: bool,
        seconds: float,
    ) -> None:
        for metrics in self.each:
            metrics.authenticated(result, reason, realm, cold, seconds)

    def store_read(self, seconds: float, ok: bool) -> None:
        for metrics in self.each:
            metrics.store_read(seconds, ok)

    def verification(self, seconds: float, matched: bool) -> None:
        for metrics in self.each:
            metrics.verification(seconds, matched)

    def limited(self) -> None:
        for metrics in self.each:
            metrics.limited()
