"""The warm path decides exactly as the full path does.

``Authenticator.warm`` answers a request that repeats one the process granted a moment ago
without re-judging what cannot have changed. These tests generate interleavings of requests
(through the ASGI shell, the WSGI shell and ``authenticate``) with everything that can change
between two requests: revocation, rotation with and without grace, edits of ACLs, addresses,
expiry and read-only, the clock passing an expiry, an owner suspended, deleted or restricted,
last-use writes, and the store's records replaced by another process. After every request the
shells' answer, and what the audit log was told, must equal the full path's answer to the
same request, judged afresh by a second guard on the same store whose warm entries are
dropped before each request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
from collections.abc import Callable, Iterable, MutableMapping
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
)

from tokenward import (
    Authenticator,
    FailureReason,
    MemoryStore,
    Owner,
    Realm,
    RequestInfo,
    Rule,
    Settings,
    TokenwardASGIMiddleware,
    TokenwardWSGIMiddleware,
)
from tokenward.audit import AuditEvent
from tokenward.core.tokens import TokenRecord
from tokenward.errors import TokenNotFoundError, ValidationError
from tokenward.guard import Guard
from tokenward.stores.base import TokenStore, Usage
from tokenward.stores.sqlite import SQLiteStore
from tokenward.testing import FAST_ARGON2, FrozenClock

PEERS = ("192.0.2.10", "192.0.2.10", "10.0.0.1", "192.0.2.11", "2001:db8::7")
ROUTES = (
    ("GET", "/api"),
    ("POST", "/api"),
    ("DELETE", "/dns/zone"),
    ("GET", "/dns/zone"),
    ("GET", "/admin"),
    ("HEAD", "/admin"),
    ("GET", "/maybe"),
)
SETTINGS = Settings(
    argon2=FAST_ARGON2,
    rules=(
        Rule.public("/health"),
        Rule.require("/dns", "zone"),
        Rule.require("/admin", "all"),
        Rule.optional("/maybe"),
    ),
)
BEHIND_PROXY = Settings(
    argon2=FAST_ARGON2,
    rules=SETTINGS.rules,
    trusted_proxies=("10.0.0.1",),
    proxy_header="x-forwarded-for",
)
HTTPS_ONLY = Settings(argon2=FAST_ARGON2, rules=SETTINGS.rules, https_only=True)


class Directory:
    """Owners that tests suspend, restrict or delete between requests."""

    def __init__(self) -> None:
        self.owners: dict[str, Owner | None] = {}

    def owner(self, realm: Realm, user: str) -> Owner | None:
        return self.owners.get(user, Owner())


Outcome = tuple[int, dict[str, object] | None]


def _identity_app_asgi() -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        identity = scope.get("tokenward.identity")
        body = json.dumps(None if identity is None else identity.as_dict()).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return app


def _identity_app_wsgi(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    identity = environ.get("tokenward.identity")
    start_response("200 OK", [])
    return [json.dumps(None if identity is None else identity.as_dict()).encode()]


class WarmPath(RuleBasedStateMachine):
    tokens = Bundle("tokens")

    def __init__(self) -> None:
        super().__init__()
        self.clock = FrozenClock()
        self.directory = Directory()
        self.loop = asyncio.new_event_loop()
        self.warm_events: list[AuditEvent] = []
        self.full_events: list[AuditEvent] = []
        self.store: TokenStore = MemoryStore()
        self.settings = SETTINGS
        self.count = 0
        self.secrets: list[str] = []

    @initialize(
        target=tokens,
        store=st.sampled_from(["memory", "sqlite"]),
        which=st.sampled_from(["plain", "proxy", "https"]),
        readonly=st.booleans(),
        acls=st.sampled_from([None, ["zone"]]),
    )
    def start(self, store: str, which: str, readonly: bool, acls: list[str] | None) -> Any:
        if store == "sqlite":
            self.directory_on_disk = tempfile.TemporaryDirectory()
            self.store = SQLiteStore(Path(self.directory_on_disk.name) / "tokens.db")
        self.settings = {"plain": SETTINGS, "proxy": BEHIND_PROXY, "https": HTTPS_ONLY}[which]
        common: dict[str, Any] = {
            "clock": self.clock,
            "directory": self.directory,
            "background_flush": False,
        }
        self.warm = Guard(self.store, self.settings, audit=self.warm_events.append, **common)
        self.full = Guard(self.store, self.settings, audit=self.full_events.append, **common)
        # Tokens are managed without the directory: an owner suspended later keeps them.
        self.admin = Guard(self.store, self.settings, clock=self.clock, background_flush=False)
        self.asgi = TokenwardASGIMiddleware(_identity_app_asgi(), self.warm)
        self.wsgi = TokenwardWSGIMiddleware(_identity_app_wsgi, self.warm)
        return self.mint(
            user="alice", acls=acls, addresses=(), lifetime=3600, readonly=readonly, realm="cpanel"
        )

    def teardown(self) -> None:
        self.loop.close()
        if hasattr(self, "warm"):
            for guard in (self.warm, self.full, self.admin):
                guard.close()
        self.store.close()
        if hasattr(self, "directory_on_disk"):
            self.directory_on_disk.cleanup()

    # -- what can change between two requests ---------------------------------------------

    @rule(
        target=tokens,
        user=st.sampled_from(["alice", "bob"]),
        acls=st.sampled_from([None, ["zone"], ["all"], ["other"]]),
        addresses=st.sampled_from([(), ("192.0.2.0/24",), ("2001:db8::/32",)]),
        lifetime=st.sampled_from([None, 30, 3600]),
        readonly=st.booleans(),
        realm=st.sampled_from(["cpanel", "whm"]),
    )
    def mint(
        self,
        *,
        user: str,
        acls: list[str] | None,
        addresses: tuple[str, ...],
        lifetime: int | None,
        readonly: bool,
        realm: str,
    ) -> tuple[str, str, str, str]:
        self.count += 1
        name = f"t{self.count}"
        expires = None if lifetime is None else int(self.clock()) + lifetime
        created = self.admin.service.create(
            user,
            name,
            realm=realm,
            acls=acls,
            whitelist_ips=addresses,
            expires_at=expires,
            readonly=readonly,
        )
        self.secrets.append(created.secret)
        return realm, user, name, created.secret

    @rule(token=consumes(tokens))
    def revoke(self, token: tuple[str, str, str, str]) -> None:
        realm, user, name, _ = token
        self.admin.service.revoke(user, [name], realm=realm)

    @rule(token=consumes(tokens), target=tokens, grace=st.sampled_from([None, 60]))
    def rotate(self, token: tuple[str, str, str, str], grace: int | None) -> Any:
        realm, user, name, _ = token
        try:
            created = self.admin.service.rotate(user, name, realm=realm, grace=grace)
        except (ValidationError, TokenNotFoundError):  # expired or gone: nothing changes
            return token
        self.secrets.append(created.secret)
        return realm, user, name, created.secret

    @rule(
        token=tokens,
        acls=st.sampled_from([["zone"], ["all"], ["other"]]),
        addresses=st.sampled_from([(), ("192.0.2.11/32",), ("10.0.0.0/8",)]),
        readonly=st.booleans(),
    )
    def edit(
        self,
        *,
        token: tuple[str, str, str, str],
        acls: list[str],
        addresses: tuple[str, ...],
        readonly: bool,
    ) -> None:
        realm, user, name, _ = token
        changes: dict[str, Any] = {"acls": acls, "whitelist_ips": addresses, "readonly": readonly}
        with contextlib.suppress(ValidationError, TokenNotFoundError):  # no change, or gone
            self.admin.service.update(user, name, realm=realm, **changes)

    @rule(seconds=st.sampled_from([0.5, 1, 29, 31, 61, 4000]))
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(
        user=st.sampled_from(["alice", "bob"]),
        owner=st.sampled_from(
            [Owner(), Owner(active=False), None, Owner(acls=frozenset({"zone"}))]
        ),
    )
    def owner_changes(self, user: str, owner: Owner | None) -> None:
        self.directory.owners[user] = owner

    @rule()
    def last_use_written(self) -> None:
        self.warm.usage.flush()
        self.full.usage.flush()

    @rule(token=tokens)
    def written_by_another_process(self, token: tuple[str, str, str, str]) -> None:
        """The same record saved again (as another host's edit that changed nothing the
        request depends on): a new object in the store, so the warm entry must not match."""
        realm, user, name, _ = token
        record = self.store.find(Realm(realm), user, name)
        if record is not None:
            self.store.record_usage([Usage(record.id, int(self.clock()) + 1, "198.51.100.1")])

    # -- requests -------------------------------------------------------------------------

    @rule(
        token=tokens,
        route=st.sampled_from(ROUTES),
        peer=st.sampled_from(PEERS),
        forwarded=st.sampled_from([None, None, "192.0.2.10", "203.0.113.9, 10.0.0.1"]),
        scheme=st.sampled_from(["http", "https"]),
        shell=st.sampled_from(["asgi", "wsgi", "authenticate"]),
        user=st.sampled_from([None, None, "alice"]),
        # Spellings the parser accepts: each is its own warm entry (the key is the value as
        # sent), and a change to the token must reach every one of them.
        spelling=st.sampled_from(
            ["{} {}:{}", "{} {}:{}", "{}  {}:{}", "{} {}:{} ", "{} {}:{}\r\n"]
        ),
        upper=st.booleans(),
    )
    def request(
        self,
        *,
        token: tuple[str, str, str, str],
        route: tuple[str, str],
        peer: str,
        forwarded: str | None,
        scheme: str,
        shell: str,
        user: str | None,
        spelling: str,
        upper: bool,
    ) -> None:
        realm, owner, _, secret = token
        scheme_name = realm.upper() if upper else realm
        self.last = (spelling.format(scheme_name, user or owner, secret), peer, forwarded)
        self.last_token, self.last_route, self.last_scheme = token, route, scheme
        self._compare(shell, route, scheme)
        self._compare(shell, route, scheme)  # the same again: warm, if it was granted

    @precondition(lambda self: hasattr(self, "last"))
    @rule(
        data=st.data(),
        change=st.sampled_from(
            ["revoke", "rotate", "edit", "time", "owner", "written", "rewritten", "nothing"]
        ),
        route=st.sampled_from(ROUTES),
        scheme=st.sampled_from(["https", "http"]),
        shell=st.sampled_from(["asgi", "wsgi", "authenticate"]),
    )
    def change_between(
        self,
        data: st.DataObject,
        change: str,
        route: tuple[str, str],
        scheme: str,
        shell: str,
    ) -> None:
        """The last request again (warm if granted), one change to its token, its owner or
        the clock, then the same credentials on a route, method and scheme drawn afresh."""
        self._compare(shell, self.last_route, self.last_scheme)
        token = self.last_token
        if change == "revoke":
            self.revoke(token)
        elif change == "rotate":
            self.rotate(token, data.draw(st.sampled_from([None, 60])))
        elif change == "edit":
            self.edit(
                token=token,
                acls=data.draw(st.sampled_from([["zone"], ["all"], ["other"]])),
                addresses=data.draw(st.sampled_from([(), ("192.0.2.11/32",), ("10.0.0.0/8",)])),
                readonly=data.draw(st.booleans()),
            )
        elif change == "time":
            self.time_passes(data.draw(st.sampled_from([0.5, 1, 31, 3601])))
        elif change == "owner":
            self.owner_changes(
                token[1],
                data.draw(
                    st.sampled_from(
                        [Owner(), Owner(active=False), None, Owner(acls=frozenset({"zone"}))]
                    )
                ),
            )
        elif change == "written":
            self.last_use_written()
        elif change == "rewritten":
            self.written_by_another_process(token)
        self._compare(shell, route, scheme)

    @precondition(lambda self: hasattr(self, "last"))
    @rule(
        route=st.sampled_from(ROUTES),
        scheme=st.sampled_from(["https", "http"]),
        shell=st.sampled_from(["asgi", "wsgi", "authenticate"]),
    )
    def again(self, route: tuple[str, str], scheme: str, shell: str) -> None:
        """The last request's credentials and peer, after whatever changed since, on a
        route, method and scheme of its own: where a stale warm entry would show."""
        self._compare(shell, route, scheme)

    def _compare(self, shell: str, route: tuple[str, str], scheme: str) -> None:
        header, peer, forwarded = self.last
        method, path = route
        before = len(self.warm_events), len(self.full_events)
        sent = {"method": method, "path": path, "header": header, "peer": peer}
        got = self._through(shell, forwarded=forwarded, scheme=scheme, **sent)
        expected = self._full_path(forwarded=forwarded, scheme=scheme, **sent)
        assert got == expected
        warm_kinds = [(e.kind, e.reason) for e in self.warm_events[before[0] :]]
        full_kinds = [(e.kind, e.reason) for e in self.full_events[before[1] :]]
        assert warm_kinds == full_kinds

    @invariant()
    def no_secret_in_warm_entries(self) -> None:
        if hasattr(self, "warm"):
            held = repr(list(self.warm.authenticator._warm.items()))
            assert not any(secret in held for secret in self.secrets)

    def _through(
        self,
        shell: str,
        *,
        method: str,
        path: str,
        header: str,
        peer: str,
        forwarded: str | None,
        scheme: str,
    ) -> Outcome:
        if shell == "authenticate":
            info = RequestInfo(method, path, (header,), peer, forwarded, scheme)
            return _outcome(self.warm.authenticator.authenticate(info))
        if shell == "wsgi":
            environ: dict[str, Any] = {
                "REQUEST_METHOD": method,
                "PATH_INFO": path,
                "HTTP_AUTHORIZATION": header,
                "REMOTE_ADDR": peer,
                "wsgi.url_scheme": scheme,
            }
            if forwarded is not None:
                environ["HTTP_X_FORWARDED_FOR"] = forwarded
            statuses: list[str] = []
            body = b"".join(
                self.wsgi(environ, lambda status, headers, *_: statuses.append(status))  # type: ignore[arg-type]
            )
            return _answer(int(statuses[0].split()[0]), body)
        headers = [(b"authorization", header.encode())]
        if forwarded is not None:
            headers.append((b"x-forwarded-for", forwarded.encode()))
        scope = {
            "type": "http",
            "method": method,
            "path": path,
            "root_path": "",
            "scheme": scheme,
            "client": (peer, 50000),
            "headers": headers,
        }
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(dict(message))

        self.loop.run_until_complete(self.asgi(scope, receive, send))
        return _answer(sent[0]["status"], sent[1]["body"])

    def _full_path(
        self,
        *,
        method: str,
        path: str,
        header: str,
        peer: str,
        forwarded: str | None,
        scheme: str,
    ) -> Outcome:
        full = self.full.authenticator
        full._warm.clear()  # the reference judges every request from scratch
        info = RequestInfo(method, path, (header,), peer, forwarded, scheme)
        return _outcome(full.authenticate(info))


def _answer(status: int, body: bytes) -> Outcome:
    if status != 200:
        return status, None
    found: dict[str, object] | None = json.loads(body)
    return status, found


def _outcome(decision: Any) -> Outcome:
    if decision.refusal is not None:
        return decision.refusal.status, None
    return 200, None if decision.identity is None else decision.identity.as_dict()


WarmPath.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_warm_path_decides_as_the_full_path = WarmPath.TestCase


def _hits(authenticator: Authenticator) -> Callable[[], int]:
    calls = {"full": 0}
    real = authenticator._read

    def counting(*args: Any) -> Any:
        calls["full"] += 1
        return real(*args)

    authenticator._read = counting  # type: ignore[method-assign,assignment]
    return lambda: calls["full"]


def _scope(header: str, path: str = "/api") -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "root_path": "",
        "scheme": "http",
        "client": ("192.0.2.10", 50000),
        "headers": [(b"authorization", header.encode())],
    }


def _call_asgi(app: Any, scope: dict[str, Any]) -> int:
    sent: list[dict[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    asyncio.run(app(scope, receive, send))
    status: int = sent[0]["status"]
    return status


def test_a_repeated_request_skips_the_full_path_and_a_revocation_ends_that() -> None:
    """The warm path is taken (else the property above proves nothing about it), and a
    change in the store sends the next request back to the full path."""
    store = MemoryStore()
    guard = Guard(store, SETTINGS, clock=FrozenClock(), background_flush=False)
    app = TokenwardASGIMiddleware(_identity_app_asgi(), guard)
    created = guard.service.create("alice", "ci")
    header = f"cpanel alice:{created.secret}"
    full_path_reads = _hits(guard.authenticator)
    assert _call_asgi(app, _scope(header)) == 200
    assert full_path_reads() == 1
    for _ in range(3):
        assert _call_asgi(app, _scope(header)) == 200
    assert full_path_reads() == 1  # three warm answers
    guard.service.update("alice", "ci", acls=["other"])
    assert _call_asgi(app, _scope(header, "/admin")) == 403
    guard.service.revoke("alice", ["ci"])
    assert _call_asgi(app, _scope(header)) == 401
    guard.close()


def test_the_warm_path_keeps_no_secret() -> None:
    """Its entries are keyed by the keyed lookup digest, the peer and the forwarding
    header: the secret the request carried is nowhere in them."""
    guard = Guard(MemoryStore(), SETTINGS, clock=FrozenClock(), background_flush=False)
    app = TokenwardASGIMiddleware(_identity_app_asgi(), guard)
    created = guard.service.create("alice", "ci")
    assert _call_asgi(app, _scope(f"cpanel alice:{created.secret}")) == 200
    entries = guard.authenticator._warm
    assert entries
    assert created.secret not in repr(entries)
    for key in entries:
        assert created.secret not in key
    guard.close()


def test_a_store_error_on_the_warm_path_is_a_503_never_a_pass() -> None:
    class Failing(MemoryStore):
        failing = False

        def get(self, digest: str) -> TokenRecord | None:
            if self.failing:
                from tokenward import StoreError

                raise StoreError("down")
            return super().get(digest)

    store = Failing()
    guard = Guard(store, SETTINGS, clock=FrozenClock(), background_flush=False)
    app = TokenwardASGIMiddleware(_identity_app_asgi(), guard)
    created = guard.service.create("alice", "ci")
    header = f"cpanel alice:{created.secret}"
    assert _call_asgi(app, _scope(header)) == 200
    store.failing = True
    assert _call_asgi(app, _scope(header)) == 503
    guard.close()


def test_reasons_stay_those_of_the_full_path() -> None:
    """A warm entry never turns a refusal into another refusal: an expired token is
    EXPIRED on the first request after its last second, warm or not."""
    clock = FrozenClock()
    guard = Guard(MemoryStore(), SETTINGS, clock=clock, background_flush=False)
    created = guard.service.create("alice", "ci", expires_at=int(clock()) + 10)
    info = RequestInfo("GET", "/api", (f"cpanel alice:{created.secret}",), "192.0.2.10")
    assert guard.authenticator.authenticate(info).allowed
    clock.advance(10.5)
    assert guard.authenticator.authenticate(info).allowed  # the whole last second
    clock.advance(1)
    assert guard.authenticator.authenticate(info).reason is FailureReason.EXPIRED
    guard.close()


def test_an_address_forgotten_by_the_audit_is_news_again_on_the_warm_path() -> None:
    """The audit hears of a token used from a new address once per address this process
    remembers; after the per-token memory of 64 addresses is full and starts afresh, an
    address seen long ago is news again, and a warm entry must not swallow that."""
    events: list[AuditEvent] = []
    guard = Guard(
        MemoryStore(), SETTINGS, clock=FrozenClock(), audit=events.append, background_flush=False
    )
    created = guard.service.create("alice", "ci")
    header = f"cpanel alice:{created.secret}"

    def from_peer(peer: str) -> None:
        info = RequestInfo("GET", "/api", (header,), peer)
        assert guard.authenticator.authenticate(info).allowed

    from_peer("192.0.2.1")
    from_peer("192.0.2.1")  # warm now
    for last in range(2, 66):
        from_peer(f"192.0.2.{last}")
    news = [e.client_ip for e in events if e.kind == "auth.new_address"]
    assert news.count("192.0.2.1") == 1
    from_peer("192.0.2.1")
    news = [e.client_ip for e in events if e.kind == "auth.new_address"]
    assert news.count("192.0.2.1") == 2
    guard.close()
