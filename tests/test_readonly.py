"""Read-only tokens (cPanel 11.137's ``readonly=1``): refused any method that may change
something, whatever their ACLs, and a first-class property of every way tokens are made,
changed and shown: the service, delegation, the CLI, both HTTP APIs and the web page."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import httpx
import pytest
import webtest
from starlette.testclient import TestClient

from tests.adapters.targets import django_app
from tests.api.harness import InProcessApi
from tests.web.conftest import SignedIn, WebServer, sign_in_http, web_server
from tokenward import (
    Authenticator,
    FailureReason,
    MemoryStore,
    RequestInfo,
    TokenService,
    TokenwardASGIMiddleware,
    TokenwardWSGIMiddleware,
    ValidationError,
    open_store,
)
from tokenward.cli import main
from tokenward.core.policy import UNRESTRICTED, authorize
from tokenward.core.tokens import Identity, Realm, TokenRecord
from tokenward.management.diagnose import check_header
from tokenward.testing import FAST_ARGON2, FrozenClock, MintedToken, TokenFactory

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

# -- the request path ------------------------------------------------------------------

METHODS = [
    pytest.param("GET", True, 200, id="GET-allowed"),
    pytest.param("HEAD", True, 200, id="HEAD-allowed"),
    pytest.param("OPTIONS", True, 200, id="OPTIONS-allowed"),
    pytest.param("TRACE", True, 200, id="TRACE-allowed"),
    pytest.param("POST", True, 403, id="POST-refused"),
    pytest.param("PUT", True, 403, id="PUT-refused"),
    pytest.param("PATCH", True, 403, id="PATCH-refused"),
    pytest.param("DELETE", True, 403, id="DELETE-refused"),
    pytest.param("POST", False, 200, id="read-write-POST-allowed"),
    pytest.param("DELETE", False, 200, id="read-write-DELETE-allowed"),
]


def wsgi_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"app"]


async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"app"})


def through(shell: str, auth: Authenticator, method: str, token: MintedToken) -> tuple[int, bytes]:
    if shell == "wsgi":
        app = webtest.TestApp(TokenwardWSGIMiddleware(wsgi_app, authenticator=auth))
        response = app.request("/x", method=method, headers=token.headers, expect_errors=True)
        return response.status_int, response.body
    client = TestClient(TokenwardASGIMiddleware(asgi_app, authenticator=auth))
    answer = client.request(method, "/x", headers=token.headers)
    return answer.status_code, answer.content


@pytest.mark.parametrize("shell", ["wsgi", "asgi"])
@pytest.mark.parametrize(("method", "readonly", "status"), METHODS)
def test_a_read_only_token_may_read_but_every_other_method_is_a_403_whatever_its_acls(
    authenticator: Authenticator,
    factory: TokenFactory,
    *,
    shell: str,
    method: str,
    readonly: bool,
    status: int,
) -> None:
    """``all`` does not make a read-only token writable, and the 403 is the usual one."""
    token = factory.mint(acls=["all"], readonly=readonly)
    got, body = through(shell, authenticator, method, token)
    assert got == status
    if status == 403:
        assert body == authenticator.responses.forbidden.body


def test_a_read_only_tokens_warm_get_never_lets_a_later_post_through(
    authenticator: Authenticator, factory: TokenFactory
) -> None:
    """The grant cache is keyed by record and ACLs, not the method: read-write grants are
    still cached (the same decision object), read-only ones are judged every time."""
    writer, reader = factory.mint(), factory.mint(readonly=True)

    def ask(method: str, token: MintedToken) -> Any:
        return authenticator.authenticate(RequestInfo(method, "/", (token.header,), "192.0.2.1"))

    assert ask("POST", writer) is ask("POST", writer)
    for _ in range(2):
        assert ask("GET", reader).allowed
        refused = ask("POST", reader)
        assert (refused.reason, refused.refusal) == (
            FailureReason.READ_ONLY,
            authenticator.responses.forbidden,
        )
    identity = ask("GET", reader).identity
    assert identity is not None
    assert identity.readonly
    assert identity.as_dict()["readonly"] is True


def test_check_names_the_read_only_refusal_and_what_to_do(
    store: MemoryStore, factory: TokenFactory, clock: FrozenClock
) -> None:
    """``tokenward check`` exists to turn an anonymous refusal into a reason."""
    token = factory.mint(readonly=True)
    refused = check_header(store, token.header, method="post", argon2=FAST_ARGON2, clock=clock)
    assert not refused.accepted
    assert refused.lines[0] == "refused: read_only (POST with a read-only token)"
    assert "--read-write" in refused.lines[1]
    accepted = check_header(store, token.header, argon2=FAST_ARGON2, clock=clock)
    assert accepted.accepted
    assert any(line.startswith("read-only: only GET") for line in accepted.lines)


@pytest.fixture
def drf_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'drf.db'}"
    monkeypatch.setenv("TOKENWARD_STORE", url)
    return url


def test_django_rest_framework_answers_a_read_only_write_with_its_403(drf_url: str) -> None:
    """DRF maps refusals itself: a read-only write must be PermissionDenied, not a 401."""
    django_app("wsgi")
    from django.test import RequestFactory
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from tokenward.contrib.drf import HasTokenACLs, TokenwardAuthentication

    class Zones(APIView):
        authentication_classes = (TokenwardAuthentication,)
        permission_classes = (HasTokenACLs,)
        required_acls: ClassVar = ("edit-dns",)

        def get(self, request: Any) -> Response:
            return Response({"ok": True})

        def post(self, request: Any) -> Response:
            return Response({"ok": True})

    token = TokenFactory(open_store(drf_url)).mint("carol", acls=["all"], readonly=True)
    view, rf = Zones.as_view(), RequestFactory()
    assert view(rf.get("/zones", headers=token.headers)).status_code == 200
    assert view(rf.post("/zones", headers=token.headers)).status_code == 403


# -- the service and delegation --------------------------------------------------------


@pytest.fixture
def service(clock: FrozenClock) -> TokenService:
    return TokenService(MemoryStore(), argon2=FAST_ARGON2, clock=clock)


def test_the_service_makes_keeps_shows_and_clears_read_only(service: TokenService) -> None:
    """Every path that changes tokens goes through the service: it must carry the flag."""
    created = service.create("alice", "ro", readonly=True)
    assert created.record.readonly
    assert service.rotate("alice", "ro").record.readonly  # rotation keeps it
    assert service.show("alice", "ro").to_json()["readonly"] is True
    assert not service.update("alice", "ro", readonly=False).readonly
    with pytest.raises(ValidationError, match="nothing to change"):
        service.update("alice", "ro", readonly=False)
    assert not service.create("alice", "rw").record.readonly  # read-write by default


def actor(record: TokenRecord) -> Identity:
    """The identity a request with ``record``'s token carries."""
    return authorize(record, UNRESTRICTED, frozenset())


@pytest.fixture
def caller(service: TokenService) -> Identity:
    """A read-only token that may manage tokens; beside it a read-only and a read-write one."""
    service.create("alice", "ro", readonly=True)
    service.create("alice", "rw")
    return actor(service.create("alice", "caller", readonly=True).record)


Action = Callable[[TokenService, Identity], TokenRecord]

REFUSED: list[Any] = [
    pytest.param(lambda s, a: s.create("alice", "n", readonly=False, actor=a), id="mint-rw"),
    pytest.param(lambda s, a: s.update("alice", "ro", readonly=False, actor=a), id="clear-ro"),
    pytest.param(lambda s, a: s.update("alice", "caller", readonly=False, actor=a), id="clear-own"),
    pytest.param(lambda s, a: s.rotate("alice", "rw", actor=a), id="rotate-rw-token"),
    pytest.param(lambda s, a: s.update("alice", "rw", acls=["x-y"], actor=a), id="edit-rw"),
]
ALLOWED: list[Any] = [
    pytest.param(lambda s, a: s.create("alice", "n", actor=a).record, id="mint-inherits-ro"),
    pytest.param(lambda s, a: s.create("alice", "n", readonly=True, actor=a).record, id="mint-ro"),
    pytest.param(lambda s, a: s.rotate("alice", "ro", actor=a).record, id="rotate-ro-token"),
    pytest.param(lambda s, a: s.update("alice", "ro", acls=["edit-dns"], actor=a), id="edit-ro"),
]


@pytest.mark.parametrize("action", REFUSED)
def test_a_read_only_caller_never_hands_out_or_rotates_a_writable_secret(
    service: TokenService, caller: Identity, action: Action
) -> None:
    """Else a read-only token with ``manage-api-tokens`` could mint itself a writable one."""
    before = service.store.list()
    with pytest.raises(ValidationError, match="read-only"):
        action(service, caller)
    assert service.store.list() == before


@pytest.mark.parametrize("action", ALLOWED)
def test_a_read_only_caller_manages_read_only_tokens(
    service: TokenService, caller: Identity, action: Action
) -> None:
    """Within its own limits it delegates as any narrow token does (no flag: inherited)."""
    assert action(service, caller).readonly


# -- the CLI ---------------------------------------------------------------------------


@pytest.fixture
def cli(
    tmp_path: Path,
    clock: FrozenClock,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., str]:
    monkeypatch.setenv("TOKENWARD_ARGON2", "fast")

    def run(*argv: str) -> str:
        capsys.readouterr()
        assert main([*argv, "--store", f"sqlite:///{tmp_path / 't.db'}"], clock=clock) == 0
        return capsys.readouterr().out

    return run


def test_the_cli_creates_lists_shows_and_switches_read_only(cli: Callable[..., str]) -> None:
    """An operator must be able to see which tokens cannot write, and change that."""
    created = json.loads(cli("create", "--user", "alice", "--name", "ro", "--readonly", "--json"))
    assert created["readonly"] is True
    assert [t["readonly"] for t in json.loads(cli("list", "--json"))] == [True]
    header, row = cli("list").splitlines()
    assert row.split()[header.split().index("ACCESS")] == "read-only"
    assert "access:         read-only" in cli("show", "--user", "alice", "--name", "ro")
    cli("update", "--user", "alice", "--name", "ro", "--read-write")
    shown = json.loads(cli("show", "--user", "alice", "--name", "ro", "--json"))
    assert shown["readonly"] is False
    cli("update", "--user", "alice", "--name", "ro", "--readonly")
    assert json.loads(cli("show", "--user", "alice", "--name", "ro", "--json"))["readonly"]


# -- both HTTP APIs --------------------------------------------------------------------


@pytest.fixture
def api() -> Iterator[InProcessApi]:
    harness = InProcessApi()
    yield harness
    harness.close()


def call(api: InProcessApi, caller: MintedToken, method: str, path: str, /, **params: str) -> Any:
    """The JSON answer to one call (a 403 from the request path is ``403``)."""

    async def send() -> httpx.Response:
        async with api.client(caller) as client:
            if method == "GET":
                return await client.get(path, params=params)
            return await client.post(path, data=params)

    response = asyncio.run(send())
    return response.json() if response.status_code == 200 else response.status_code


def test_uapi_creates_and_lists_read_only_tokens(api: InProcessApi) -> None:
    """cPanel 11.137's ``readonly=1`` was once ignored, minting a token that could write."""
    admin = api.mint("alice", "admin")
    made = call(api, admin, "POST", "/execute/Tokens/create_full_access", name="ro", readonly="1")
    assert made["status"] == 1, made
    listed = {
        t["name"]: t["readonly"] for t in call(api, admin, "GET", "/execute/Tokens/list")["data"]
    }
    assert listed == {"admin": 0, "ro": 1}
    wrong = call(api, admin, "POST", "/execute/Tokens/create_full_access", name="x", readonly="2")
    assert (wrong["status"], wrong["errors"]) == (0, ["“readonly” must be 1 or 0, not '2'."])


def test_whm_creates_updates_lists_and_details_read_only_tokens(api: InProcessApi) -> None:
    """A tokenward extension of WHM API 1, spelt as UAPI spells it."""
    root = api.mint("root", "admin", realm=Realm.WHM)
    made = call(api, root, "POST", "/json-api/api_token_create", token_name="ro", readonly="1")
    assert made["data"]["readonly"] == 1
    assert call(api, root, "GET", "/json-api/api_token_list")["data"]["tokens"]["ro"]["readonly"]
    details = call(
        api, root, "POST", "/json-api/api_token_get_details", token=made["data"]["token"]
    )
    assert details["data"]["readonly"] == 1
    updated = call(api, root, "POST", "/json-api/api_token_update", token_name="ro", readonly="0")
    assert updated["data"]["readonly"] == 0
    assert not api.store.list()[1].readonly


RENAME = {"name": "a", "new_name": "b"}
CALLS = [
    pytest.param("cpanel", "/execute/Tokens/list", {}, True, id="uapi-list"),
    pytest.param("cpanel", "/execute/Tokens/create_full_access", {"name": "n"}, False, id="mint"),
    pytest.param("cpanel", "/execute/Tokens/rename", RENAME, False, id="uapi-rename"),
    pytest.param("cpanel", "/execute/Tokens/revoke", {"name": "a"}, False, id="uapi-revoke"),
    pytest.param("cpanel", "/execute/Tokens/rotate", {"name": "a"}, False, id="uapi-rotate"),
    pytest.param("whm", "/json-api/api_token_list", {}, True, id="whm-list"),
    pytest.param("whm", "/json-api/api_token_create", {"token_name": "n"}, False, id="whm-create"),
    pytest.param("whm", "/json-api/api_token_update", {"token_name": "a"}, False, id="whm-update"),
    pytest.param("whm", "/json-api/api_token_revoke_all", {}, False, id="whm-revoke-all"),
]


@pytest.mark.parametrize(("realm", "path", "params", "reads"), CALLS)
def test_a_read_only_token_calls_only_the_functions_that_change_nothing(
    api: InProcessApi, realm: str, path: str, params: dict[str, str], reads: bool
) -> None:
    """As in cPanel, by function and whatever the HTTP method: UAPI takes GET for writes."""
    api.mint("alice" if realm == "cpanel" else "root", "a", realm=realm)
    token = api.mint("alice" if realm == "cpanel" else "root", "ro", realm=realm, readonly=True)
    before = api.store.list()
    answer = call(api, token, "GET", path, **params)
    ok = answer["status"] if realm == "cpanel" else answer["metadata"]["result"]
    assert ok == int(reads), answer
    assert api.store.list() == before
    assert call(api, token, "POST", path, **params) == 403  # the request path's method rule


# -- the web page ----------------------------------------------------------------------


@pytest.fixture
def web(clock: FrozenClock) -> Iterator[WebServer]:
    with web_server(clock) as server:
        yield server


@pytest.mark.slow
def test_the_page_generates_marks_and_edits_read_only_tokens(web: WebServer) -> None:
    """The checkbox sets the flag, the list marks it, and an unticked box clears it."""
    client = SignedIn(web, web.admin())
    form = {"csrf": client.csrf, "name": "ro", "expiry": "never", "acl": ["all"]}
    made = client.post("/new", {**form, "readonly": "1", "once": client.once("/new")})
    assert made.status_code == 200
    assert "<dt>Access</dt><dd>Read-only</dd>" in made.text
    assert web.service.show("alice", "ro").readonly
    assert '<span class="badge badge-readonly">read-only</span>' in client.get("/").text
    assert 'name="readonly" value="1"\n aria-describedby="readonly-help" checked>' in (
        client.get("/edit", name="ro").text
    )
    saved = client.post("/edit", {**form, "token": "ro", "expiry": "keep"})  # box unticked
    assert saved.status_code == 303
    assert not web.service.show("alice", "ro").readonly


@pytest.mark.slow
def test_a_read_only_token_cannot_sign_in_to_the_page_since_signing_in_is_a_post(
    web: WebServer,
) -> None:
    """The sign-in form is a POST, refused like any write (the uniform failure message)."""
    token = web.mint("ro", acls=["all"], readonly=True)
    assert sign_in_http(web.client(), web.mount, token).status_code == 401
