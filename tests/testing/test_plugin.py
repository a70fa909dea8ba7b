"""The pytest plugin, exercised the way a user's project uses it (through pytester)."""

from __future__ import annotations

import textwrap

import pytest

pytest_plugins = ["pytester"]

APP = """
import json
from tokenward import IDENTITY_KEY, Rule, Settings, TokenwardASGIMiddleware, TokenwardWSGIMiddleware

SETTINGS = Settings(rules=(Rule.public("/health"), Rule.require("/dns", "edit-dns")))

def hello(environ, start_response):
    identity = environ.get(IDENTITY_KEY)
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(identity.as_dict() if identity else None).encode()]

async def hello_asgi(scope, receive, send):
    identity = scope.get(IDENTITY_KEY)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    body = json.dumps(identity.as_dict() if identity else None).encode()
    await send({"type": "http.response.body", "body": body})

# Built at import time from $TOKENWARD_STORE, as a real app would be.
wsgi_app = TokenwardWSGIMiddleware(hello, settings=SETTINGS)
asgi_app = TokenwardASGIMiddleware(hello_asgi, settings=SETTINGS)
"""

WSGI_TESTS = """
import pytest
import webtest
from myapp import wsgi_app

@pytest.fixture
def app():
    return wsgi_app

def test_default_token_is_accepted(tokenward_client):
    assert tokenward_client.get("/whoami").json["user"] == "alice"

@pytest.mark.tokenward("bob", acls=["edit-dns"])
def test_marker_sets_user_and_acls(tokenward_client):
    assert tokenward_client.get("/dns/zones").json["acls"] == ["edit-dns"]

@pytest.mark.tokenward(acls=["list-accts"])
def test_missing_acl_is_403(tokenward_client):
    tokenward_client.get("/dns/zones", status=403)

def test_factory_tokens_work_with_any_client(tokenward_factory):
    token = tokenward_factory.mint("carol", realm="whm", expires_in=3600)
    assert webtest.TestApp(wsgi_app).get("/x", headers=token.headers).json["realm"] == "whm"

def test_without_a_token_the_app_refuses(tokenward_store):
    webtest.TestApp(wsgi_app).get("/x", status=401)
"""

ASGI_TESTS = """
import pytest
from myapp import asgi_app

@pytest.fixture
def app():
    return asgi_app

def test_default_token_is_accepted(tokenward_client):
    assert tokenward_client.get("/whoami").json()["user"] == "alice"

@pytest.mark.tokenward(acls=["list-accts"])
def test_missing_acl_is_403(tokenward_client):
    assert tokenward_client.get("/dns/zones").status_code == 403

def test_public_route(tokenward_client):
    assert tokenward_client.get("/health").json() is None
"""


@pytest.mark.parametrize("own_store", [False, True], ids=["plugin-store", "own-store"])
def test_plugin_fixtures_authenticate_against_an_app_built_at_import(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, own_store: bool
) -> None:
    """With ``$TOKENWARD_STORE`` unset the plugin provides one (emptied between tests);
    a project's own is used as it is."""
    if own_store:
        monkeypatch.setenv("TOKENWARD_STORE", f"sqlite:///{pytester.path}/app.db")
    else:
        monkeypatch.delenv("TOKENWARD_STORE", raising=False)
    pytester.makepyfile(myapp=textwrap.dedent(APP))
    pytester.makepyfile(
        test_wsgi=textwrap.dedent(WSGI_TESTS), test_asgi=textwrap.dedent(ASGI_TESTS)
    )
    result = pytester.runpytest_subprocess(
        "-q", "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning"
    )
    result.assert_outcomes(passed=8)
