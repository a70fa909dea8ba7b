"""The "Manage API Tokens" page as a pure ASGI app (``tokenward serve`` mounts it at
``/tokens``; it works under any mount point, links follow ``scope["root_path"]``).

Each request: static file, or sign-in, or a session (cookie → server-side session → the
token record re-read and re-checked) → one ``TokenService`` call with the session's identity
as ``actor``, so the page can never do more than the token it was opened with.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import secrets
from collections.abc import Callable
from importlib import resources
from typing import ParamSpec, TypeVar

from tokenward.asgi import Receive, Scope, Send, run_lifespan
from tokenward.authenticator import Authenticator
from tokenward.core.clock import Clock
from tokenward.core.crypto import lookup_digest
from tokenward.core.header import format_authorization
from tokenward.core.tokens import Identity, Realm
from tokenward.errors import (
    StoreError,
    ValidationError,
)
from tokenward.management.service import TokenService
from tokenward.management.web import handlers
from tokenward.management.web.forms import field
from tokenward.management.web.layout import PageContext, error_page, signin_page
from tokenward.management.web.plumbing import (
    Fields,
    FormError,
    Reply,
    WebRequest,
    cookie,
    read_form,
    send_reply,
)
from tokenward.management.web.sessions import Session, SessionStore

__all__ = ["MANAGE_ACLS", "TokenPageASGI"]

MANAGE_ACLS = frozenset({"manage-api-tokens"})
SESSION_COOKIE = "tokenward_session"
SIGNIN_COOKIE = "tokenward_signin"
_STATIC = {
    "/static/tokens.js": "text/javascript; charset=utf-8",
    "/static/tokens.css": "text/css; charset=utf-8",
    "/static/favicon.svg": "image/svg+xml",
}
# Why the sign-in page is shown, by a fixed key: the query never carries free text to echo.
_SIGNIN_REASONS = {
    "signed-out": ("ok", "You have signed out."),
    "ended": (
        "warning",
        "Your session has ended: it was idle too long, or the token you signed in with was "
        "revoked, expired, rotated or lost the manage-api-tokens ACL. Sign in again.",
    ),
    "revoked-own": (
        "warning",
        "You revoked the token you were signed in with, so you have been signed out.",
    ),
}
_IN_CLEAR = (
    "This page is not served over HTTPS: a token typed here can be read by anyone on the "
    "network path. Serve tokenward behind a TLS proxy (docs/deploy.md) before signing in."
)
_FAILED_SIGNIN = (
    "Sign-in failed. Check the token type, the username and the token: it must be valid, "
    "not expired, allowed from your address and hold the manage-api-tokens ACL (or all)."
)

P = ParamSpec("P")
T = TypeVar("T")


def _load_static() -> dict[str, bytes]:
    folder = resources.files("tokenward.management.web").joinpath("static")
    return {path: folder.joinpath(path.rsplit("/", 1)[1]).read_bytes() for path in _STATIC}


class TokenPageASGI:
    """The token management page. ``authenticator`` checks the sign-in token (and its
    settings say which proxies to trust); ``service`` does every change."""

    def __init__(
        self,
        service: TokenService,
        authenticator: Authenticator,
        *,
        idle_timeout: float = 900.0,
        max_age: float = 8 * 3600.0,
        max_sessions: int = 10_000,
        clock: Clock | None = None,
    ) -> None:
        self.service = service
        self.authenticator = authenticator
        self.clock = clock or service.clock
        self.sessions = SessionStore(
            clock=self.clock, idle_timeout=idle_timeout, max_age=max_age, limit=max_sessions
        )
        self.static = _load_static()
        self.routes: dict[tuple[str, str], handlers.Route] = handlers.ROUTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # when run on its own rather than mounted
            await run_lifespan(receive, send, self.authenticator)
            return
        if scope["type"] != "http":
            return
        request = WebRequest.from_scope(scope, self.authenticator.settings)
        try:
            reply = await self._handle(request, scope, receive)
        except StoreError:
            ctx = PageContext(request.root)
            page = error_page(
                ctx, "Token store unavailable", "The token store is not answering. Try again."
            )
            reply = Reply.html(503, page)
        await send_reply(send, reply, head=request.method == "HEAD")

    async def run(self, function: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """A service call off the event loop: it may hash (argon2) and wait on the store."""
        return await asyncio.to_thread(function, *args, **kwargs)

    # -- routing --------------------------------------------------------------------------

    async def _handle(self, request: WebRequest, scope: Scope, receive: Receive) -> Reply:
        method = "GET" if request.method == "HEAD" else request.method
        path, signing_in = request.path, request.path == "/signin"
        handler = self.routes.get((method, path))
        if handler is None and not (signing_in and method == "POST"):
            return self._no_route(request, method)
        fields = await self._form(request, scope, receive) if method == "POST" else {}
        if isinstance(fields, Reply):
            return fields
        if signing_in:
            return await self._signin(request, fields)
        session = self.sessions.get(request.cookies.get(SESSION_COOKIE))
        identity = None if session is None else await self._revalidate(session, request)
        if session is None or identity is None or handler is None:
            return self._signed_out(request, session)
        if method == "POST" and not session.csrf_matches(field(fields, "csrf")):
            return self._refuse(request, "The form has expired or did not come from this page.")
        return await handler(handlers.Call(self, request, session, identity, fields))

    async def _form(self, request: WebRequest, scope: Scope, receive: Receive) -> Fields | Reply:
        if not request.same_origin():
            return self._refuse(request, "The form was sent from another site.")
        try:
            return await read_form(scope, receive)
        except FormError as exc:
            ctx = PageContext(request.root)
            return Reply.html(exc.status, error_page(ctx, "Form refused", str(exc)))

    def _no_route(self, request: WebRequest, method: str) -> Reply:
        """Static files, and the answers for paths or methods that have no page."""
        if method == "GET" and request.path == "/favicon.ico":  # mounted at the root: no 404
            return Reply(200, self.static["/static/favicon.svg"], "image/svg+xml")
        if method == "GET" and request.path in _STATIC:
            reply = Reply(200, self.static[request.path], _STATIC[request.path])
            reply.cache = "no-cache"
            return reply
        if method == "GET" and request.path == "/signin":
            return Reply.redirect(f"{request.root}/")  # the sign-in form is at the root
        ctx = PageContext(request.root)
        allowed = sorted({m for m, path in self.routes if path == request.path})
        if allowed:
            page = error_page(ctx, "Method not allowed", "Use the page's links and buttons.")
            return Reply.html(405, page, ("allow", ", ".join(allowed)))
        return Reply.html(404, error_page(ctx, "Not found", "There is no such page here."))

    def _refuse(self, request: WebRequest, why: str) -> Reply:
        page = error_page(
            PageContext(request.root), "Request refused", f"{why} Nothing was changed."
        )
        return Reply.html(403, page)

    # -- sessions -------------------------------------------------------------------------

    async def _revalidate(self, session: Session, request: WebRequest) -> Identity | None:
        """The session's token as it is now: still there (same id, same secret), owner
        active, not expired, used from an allowed address, still holding the ACL."""
        identity = await self.authenticator.identity_now(
            session.digest,
            token_id=session.token_id,
            user=session.user,
            client=request.client,
            required=MANAGE_ACLS,
        )
        return identity if identity is not None and identity.realm is session.realm else None

    def _signed_out(self, request: WebRequest, session: Session | None) -> Reply:
        stale = session is not None or SESSION_COOKIE in request.cookies
        if session is not None:
            self.sessions.end(session)
        clear = [self.clear_cookie(request)] if stale else []
        if request.method in ("GET", "HEAD") and request.path == "/":
            reason = "ended" if stale else request.arg("reason")
            return self.signin_reply(request, reason, *clear)
        target = f"{request.root}/?reason=ended" if stale else f"{request.root}/"
        return Reply.redirect(target, *clear)

    def signin_reply(
        self,
        request: WebRequest,
        reason: str = "",
        *headers: tuple[str, str],
        status: int = 200,
        user: str = "",
        realm: Realm = Realm.CPANEL,
        error: str = "",
    ) -> Reply:
        """The sign-in form, with a fresh nonce in a cookie and in the form (a sign-in
        POST must come from this form: no logging a victim in to someone else's session)."""
        nonce = secrets.token_urlsafe(24)
        notices = [_SIGNIN_REASONS[reason]] if reason in _SIGNIN_REASONS else []
        if request.in_clear:
            notices.append(("warning", _IN_CLEAR))
        if error:
            notices.append(("error", error))
        ctx = PageContext(request.root, notices=notices)
        page = signin_page(ctx, nonce, user, realm)
        nonce_cookie = cookie(
            SIGNIN_COOKIE,
            nonce,
            path=self.cookie_path(request),
            secure=request.secure,
            max_age=3600,
        )
        return Reply.html(status, page, nonce_cookie, *headers)

    async def _signin(self, request: WebRequest, fields: Fields) -> Reply:
        sent, expected = field(fields, "nonce"), request.cookies.get(SIGNIN_COOKIE, "")
        if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
            error = "The sign-in form expired or did not come from this page. Please try again."
            return self.signin_reply(request, status=403, error=error)
        user, secret = field(fields, "user").strip(), field(fields, "token").strip()
        try:
            realm = Realm.parse(field(fields, "realm") or "cpanel")
        except ValidationError:
            realm = Realm.CPANEL
        info = dataclasses.replace(
            request.info,
            authorization=(format_authorization(realm, user, secret),),
            path=request.root + request.path,
        )
        decision = await self.authenticator.authenticate_async(info)
        identity = decision.identity
        if identity is None or not identity.has_acls(MANAGE_ACLS):
            status = decision.refusal.status if decision.refusal is not None else 401
            if status == 503:
                error = "The token store is not answering. Try again shortly."
            elif status == 429:
                error = "Too many failed attempts from your address. Wait a minute and try again."
            else:
                status, error = 401, _FAILED_SIGNIN
            return self.signin_reply(request, status=status, user=user, realm=realm, error=error)
        previous = self.sessions.get(request.cookies.get(SESSION_COOKIE))
        if previous is not None:  # a sign-in always starts a new session id
            self.sessions.end(previous)
        value, _ = self.sessions.open(
            realm=identity.realm,
            user=identity.user,
            token_id=identity.token_id,
            digest=lookup_digest(realm, secret),
        )
        path = self.cookie_path(request)
        return Reply.redirect(
            f"{request.root}/",
            cookie(SESSION_COOKIE, value, path=path, secure=request.secure),
            cookie(SIGNIN_COOKIE, "", path=path, secure=request.secure, max_age=0),
        )

    @staticmethod
    def cookie_path(request: WebRequest) -> str:
        return request.root or "/"

    def clear_cookie(self, request: WebRequest) -> tuple[str, str]:
        path = self.cookie_path(request)
        return cookie(SESSION_COOKIE, "", path=path, secure=request.secure, max_age=0)
