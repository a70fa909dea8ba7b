"""OpenTelemetry spans (``pip install 'tokenward[otel]'``, the API only):
``Guard(metrics=OpenTelemetryTracing())``.

One span per decision, ``tokenward.authenticate``, with its real start and end, a child of
the span current when the decision is made (the framework's request span). It is recorded
once the decision is known, so spans a store driver's own instrumentation makes are its
siblings, not its children. Its attributes come from a closed vocabulary: the result, the
refusal reason, the realm and whether argon2 ran; never a user, a token name, a secret, a
path or an address.

With no SDK installed (or none configured) the API's tracer records nothing; once an
application configures one, spans appear without anything to change here. Counts and
latencies are ``tokenward.contrib.prometheus``'s job: the other reports are not spans.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from tokenward import __version__
from tokenward.core.tokens import Realm
from tokenward.errors import FailureReason
from tokenward.metrics import Result

if TYPE_CHECKING:
    from tokenward.guard import Guard

__all__ = ["SPAN_NAME", "OpenTelemetryTracing"]

SPAN_NAME = "tokenward.authenticate"
# The server could not judge the request: the span's status is an error. Every other
# refusal is the check working, not a fault.
_FAULTS = frozenset({FailureReason.STORE_UNAVAILABLE, FailureReason.OVERLOADED})


class OpenTelemetryTracing:
    """``tracer_provider``: the global one (``trace.set_tracer_provider``) by default."""

    def __init__(self, tracer_provider: trace.TracerProvider | None = None) -> None:
        self.tracer = trace.get_tracer("tokenward", __version__, tracer_provider)

    def watch(self, guard: Guard) -> None:
        """Nothing to read from a guard: spans are made per decision."""

    def authenticated(
        self,
        result: Result,
        reason: FailureReason | None,
        realm: Realm | None,
        cold: bool,
        seconds: float,
    ) -> None:
        end = time.time_ns()
        attributes: dict[str, str | bool] = {
            "tokenward.result": result,
            "tokenward.cold_verification": cold,
        }
        if reason is not None:
            attributes["tokenward.reason"] = reason.value
        if realm is not None:
            attributes["tokenward.realm"] = realm.value
        span = self.tracer.start_span(
            SPAN_NAME, start_time=end - int(seconds * 1e9), attributes=attributes
        )
        if reason is not None and reason in _FAULTS:
            span.set_status(Status(StatusCode.ERROR, reason.value))
        span.end(end_time=end)

    def store_read(self, seconds: float, ok: bool) -> None:
        """Inside the decision's span, not a span of its own."""

    def verification(self, seconds: float, matched: bool) -> None:
        """Shown by the span's ``tokenward.cold_verification``."""

    def limited(self) -> None:
        """Shown by the refusal's span (its reason); the 429 is Prometheus' count."""
