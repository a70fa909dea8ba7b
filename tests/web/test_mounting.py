"""Where the page lives: in ``tokenward serve`` at /tokens, inside a user's own ASGI app
under any prefix, or on its own."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from tokenward import MemoryStore, SQLiteStore, TokenService
from tokenward.guard import Guard
from tokenward.management.web import TokenPageASGI
from tokenward.server import build_server
from tokenward.testing import FAST_ARGON2, MintedToken, fast_settings

from ..serving import running
from .conftest import sign_in_http

pytestmark = pytest.mark.slow  # real servers


def test_tokenward_serve_mounts_the_page_at_tokens() -> None:
    store = MemoryStore()
    token = MintedToken(TokenService(store, argon2=FAST_ARGON2).create("alice", "admin"))
    with (
        running(build_server(store, argon2=FAST_ARGON2)) as url,
        httpx.Client(base_url=url) as http,
    ):
        assert 'action="/tokens/signin"' in http.get("/tokens").text
        assert sign_in_http(http, "/tokens", token).status_code == 303
        listing = http.get("/tokens/")
        assert "API tokens of alice (cPanel)" in listing.text
        assert http.get("/health").json() == {"status": "ok"}  # the rest is still there
        api = http.get("/execute/Tokens/list", headers=token.headers)
        assert [t["name"] for t in api.json()["data"]] == ["admin"]


def test_the_page_mounts_inside_a_starlette_app_under_any_prefix() -> None:
    store = MemoryStore()
    service = TokenService(store, argon2=FAST_ARGON2)
    token = MintedToken(service.create("alice", "admin"))
    page = TokenPageASGI(service, Guard(store, fast_settings(), audit=None).authenticator)

    async def home(request: object) -> PlainTextResponse:
        return PlainTextResponse("the user's own app")

    app = Starlette(routes=[Route("/", home), Mount("/admin/api-tokens", app=page)])
    with running(app) as url, httpx.Client(base_url=url) as http:
        assert http.get("/").text == "the user's own app"
        signed_in = sign_in_http(http, "/admin/api-tokens", token)
        assert signed_in.headers["location"] == "/admin/api-tokens/"
        assert "Path=/admin/api-tokens" in signed_in.headers["set-cookie"]
        listing = http.get("/admin/api-tokens/")
        assert "API tokens of alice (cPanel)" in listing.text
        assert 'href="/admin/api-tokens/new"' in listing.text
        assert http.get("/admin/api-tokens/static/tokens.css").status_code == 200


def test_the_page_runs_on_its_own_with_its_lifespan() -> None:
    store = MemoryStore()
    service = TokenService(store, argon2=FAST_ARGON2)
    token = MintedToken(service.create("alice", "admin"))
    authenticator = Guard(store, fast_settings(), audit=None).authenticator
    page = TokenPageASGI(service, authenticator)
    with running(page) as url, httpx.Client(base_url=url) as http:
        signed_in = sign_in_http(http, "", token)
        assert signed_in.headers["location"] == "/"
        assert "Path=/;" in signed_in.headers["set-cookie"]
        assert 'href="/new"' in http.get("/").text
        during = store.find(token.created.record.realm, "alice", "admin")
        assert during is not None
        assert during.last_used_at is None  # noted in memory, not yet written
    # Lifespan shutdown closed the authenticator, which wrote the sign-in's last use.
    record = store.find(token.created.record.realm, "alice", "admin")
    assert record is not None
    assert record.last_used_ip == "127.0.0.1"


def test_the_mounting_example_in_docs_web_md_runs_as_printed(tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "docs" / "web.md").read_text()
    found = re.search(r"```python\n(.*?)```", text, re.S)
    assert found is not None, "docs/web.md has no python block"
    db = tmp_path / "tokens.db"
    code = found.group(1).replace("sqlite:////var/lib/myapp/tokens.db", f"sqlite:///{db}")
    assert str(db) in code  # the example still opens the store this test points it at
    namespace: dict[str, object] = {}
    exec(compile(code, "docs/web.md", "exec"), namespace)  # noqa: S102 - our own docs
    store = SQLiteStore(db)
    token = MintedToken(TokenService(store, argon2=FAST_ARGON2).create("alice", "admin"))
    store.close()
    app = namespace["app"]
    assert isinstance(app, Starlette)
    with running(app) as url, httpx.Client(base_url=url) as http:
        assert sign_in_http(http, "/admin/api-tokens", token).status_code == 303
        assert "API tokens of alice (cPanel)" in http.get("/admin/api-tokens/").text
