"""``POST /credentials/revoke``: anyone reports leaked credentials, and they stop working.

No authentication: a secret scanning service, or a user who pasted a token in a chat, has
no token to sign with. So that it cannot be used to test tokens, the answer is the same
whether or not anything matched (202, ``{"status": "received", "count": N}``, ``N`` the
number of items sent), and it is sent before the store is read: the report goes on
``LeakRevoker``'s queue as lookup digests. Every POST counts against a budget per client
address (the guard's failed-authentication budget when it keeps one), answered 429 with
``Retry-After`` once spent. A full queue is 503 for every caller alike.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

from tokenward.asgi import request_from_scope, route_path
from tokenward.asgi_io import BodyTooLargeError, Receive, Scope, Send, read_body, send_response
from tokenward.audit import AuditEvent
from tokenward.core.network import Address
from tokenward.core.responses import Refusal
from tokenward.errors import ValidationError
from tokenward.limits import FailureLimiter, MemoryFailureLimiter, budget_key
from tokenward.management.leaks import LeakReport, LeakRevoker, read_report

if TYPE_CHECKING:
    from tokenward.guard import Guard

__all__ = ["DEFAULT_BUDGET", "MAX_BODY", "RevokeEndpointASGI"]

MAX_BODY = 64 << 10  # bytes: 100 credentials of the longest accepted length, and room to spare
DEFAULT_BUDGET = (30, 300.0)  # requests per window (seconds) per client address


def _answer(status: int, payload: object, *extra: tuple[str, str]) -> Refusal:
    body = json.dumps(payload).encode()
    headers = (
        ("content-type", "application/json"),
        ("content-length", str(len(body))),
        ("cache-control", "no-store"),
        *extra,
    )
    return Refusal(status, headers, body)


_NOT_FOUND = _answer(404, {"error": "not found"})
_NOT_ALLOWED = _answer(405, {"error": "method not allowed: POST a JSON body"}, ("allow", "POST"))
_NOT_JSON = _answer(415, {"error": "the body must be application/json"})
_TOO_LARGE = _answer(413, {"error": f"request body too large (at most {MAX_BODY} bytes)"})


class RevokeEndpointASGI:
    """The endpoint, mounted at ``/credentials/revoke`` (it answers its mount point only).

    ``limiter``: the budget; by default the guard's ``limiter`` when it has one (a report
    then counts as a failed attempt), else ``budget`` requests per window per address.
    ``revoker``: the queue, by default one over the guard's ``TokenService``."""

    def __init__(
        self,
        guard: Guard,
        *,
        limiter: FailureLimiter | None = None,
        budget: tuple[int, float] = DEFAULT_BUDGET,
        revoker: LeakRevoker | None = None,
    ) -> None:
        self.guard = guard
        self.limiter = limiter or guard.limiter or MemoryFailureLimiter(*budget)
        self.revoker = revoker or LeakRevoker(guard.service)
        retry = ("retry-after", str(guard.settings.retry_after))
        self._full = _answer(503, {"error": "too many reports waiting: try again later"}, retry)

    def __repr__(self) -> str:
        return f"RevokeEndpointASGI({self.revoker!r})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        answer = await self._handle(scope, receive)
        if isinstance(answer, Refusal):
            await send_response(send, answer.status, answer.headers, answer.body)
            return
        # Answered first, with its place in the queue promised: the worker starts on the
        # report (and on the store) only once the answer is on its way, so nothing of that
        # work, which differs for a match, is inside the reporter's response time.
        report, client = answer
        try:
            await send_response(send, 202, *_received(report.count))
        finally:  # a reporter gone before its answer still reported the credentials
            try:
                self._audit(scope, report, client)
            finally:
                self.revoker.submit(report, reserved=True)

    async def aclose(self) -> None:
        """Process what waits (the server's lifespan shutdown calls it, store still open)."""
        await asyncio.to_thread(self.revoker.close)

    async def _handle(  # noqa: PLR0911 - one return per check, in order
        self, scope: Scope, receive: Receive
    ) -> Refusal | tuple[LeakReport, Address | None]:
        """A refusal, or the report to accept (its place in the queue reserved)."""
        if route_path(scope) != "/":
            return _NOT_FOUND
        if scope.get("method") != "POST":
            return _NOT_ALLOWED
        guard = self.guard
        request = request_from_scope(scope, guard.settings)
        client = guard.settings.client_address(request)
        # Every call counts, before anything about it is known: matched or not, well formed
        # or not.
        wait = self.limiter.record_failure(budget_key(client), guard.clock())
        if wait:
            return guard.responses.too_many_requests(wait)
        headers = dict(scope.get("headers", ()))
        kind = headers.get(b"content-type", b"").partition(b";")[0].strip().lower()
        if kind != b"application/json":
            return _NOT_JSON
        try:
            body = await read_body(receive, MAX_BODY, scope)
        except BodyTooLargeError:
            return _TOO_LARGE
        address = "unknown" if client is None else str(client)
        try:
            report = read_report(body, f"revoke endpoint {address}")
        except ValidationError as exc:
            return _answer(400, {"error": str(exc)})
        if not self.revoker.reserve():
            return self._full
        return report, client

    def _audit(self, scope: Scope, report: LeakReport, client: Address | None) -> None:
        guard = self.guard
        if guard.audit is not None:
            guard.audit(
                AuditEvent(
                    kind="leak.reported",
                    at=guard.clock(),
                    client_ip=None if client is None else str(client),
                    method="POST",
                    path=scope.get("root_path") or "/",
                    detail=f"{report.count} credential(s), {report.tokens} distinct token(s)",
                )
            )


def _received(count: int) -> tuple[tuple[tuple[str, str], ...], bytes]:
    """The headers and body of the one answer to an accepted report: they depend on the
    number of items sent, and on nothing else."""
    answer = _answer(202, {"status": "received", "count": count})
    return answer.headers, answer.body
