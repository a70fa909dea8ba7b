"""The management API's WSGI shell answers exactly as the ASGI one."""

from __future__ import annotations

import webtest

from tokenward import MemoryStore
from tokenward.guard import Guard
from tokenward.management.http import ManagementWSGI, management_settings
from tokenward.management.service import TokenService
from tokenward.testing import FAST_ARGON2, TokenFactory, fast_settings


def app_and_token() -> tuple[webtest.TestApp, dict[str, str]]:
    store = MemoryStore()
    token = TokenFactory(store).mint("alice", "admin")
    auth = Guard(
        store, management_settings(fast_settings()), audit=None, background_flush=False
    ).authenticator
    api = ManagementWSGI(TokenService(store, argon2=FAST_ARGON2), auth)
    return webtest.TestApp(api, extra_environ={"REMOTE_ADDR": "127.0.0.1"}), token.headers


def test_wsgi_shell_creates_and_lists_through_uapi() -> None:
    app, headers = app_and_token()
    created = app.post("/execute/Tokens/create_full_access", {"name": "ci"}, headers=headers)
    assert created.json["status"] == 1
    listed = app.get("/execute/Tokens/list", headers=headers).json["data"]
    assert [t["name"] for t in listed] == ["admin", "ci"]


def test_wsgi_shell_reads_json_bodies_and_refuses_other_methods() -> None:
    app, headers = app_and_token()
    by_json = app.post_json("/execute/Tokens/create_full_access", {"name": "j"}, headers=headers)
    assert by_json.json["status"] == 1
    refused = app.request("/execute/Tokens/list", method="PUT", headers=headers, status=405)
    assert refused.headers["Allow"] == "GET, POST"
    app.get("/execute/Tokens/list", status=401)
    bad = app.post(
        "/execute/Tokens/list",
        "{",
        headers={**headers, "Content-Type": "application/json"},
        status=400,
    )
    assert "JSON" in bad.json["error"]
