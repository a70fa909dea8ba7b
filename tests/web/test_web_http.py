"""The web page over real HTTP, without a browser: sessions, cookies, CSRF, escaping, and
that a secret never shows up anywhere but the one-time result page."""

from __future__ import annotations

import logging

import httpx
import pytest

from tokenward import StoreError, TokenRecord
from tokenward.core.tokens import Realm
from tokenward.testing import FrozenClock

from .conftest import SignedIn, WebServer, sign_in_http, web_server

pytestmark = pytest.mark.slow  # real servers

SECURITY_HEADERS = {
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
}


def snapshot(web: WebServer, user: str = "alice") -> list[tuple[object, ...]]:
    """Everything a change could touch, to prove a refused request touched nothing."""
    return [
        (r.name, r.digest, r.acls, r.whitelist_ips, r.expires_at) for r in web.store.list(user=user)
    ]


# -- headers and cookies ---------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/", "/new", "/edit?name=admin", "/revoke?name=admin", "/revoke-all", "/nowhere"]
)
def test_every_page_sends_the_security_headers(web: WebServer, path: str) -> None:
    client = SignedIn(web, web.admin())
    response = client.http.get(f"{web.mount}{path}")
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["cache-control"] == "no-store"
    assert "<script>" not in response.text  # scripts come from the static file only


def test_the_sign_in_page_has_the_security_headers_too(web: WebServer) -> None:
    response = web.client().get(f"{web.mount}/")
    assert response.status_code == 200
    assert 'action="/tokens/signin"' in response.text
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_session_cookie_is_httponly_samesite_strict_and_scoped_to_the_page(
    web: WebServer,
) -> None:
    client = SignedIn(web, web.admin())
    session = next(
        c
        for c in client.signin.headers.get_list("set-cookie")
        if c.startswith("tokenward_session=")
    )
    flags = [part.strip() for part in session.split(";")]
    assert "HttpOnly" in flags
    assert "SameSite=Strict" in flags
    assert "Path=/tokens" in flags
    assert "Secure" not in flags  # plain HTTP: a Secure cookie would never come back


def test_session_cookie_is_secure_when_a_trusted_proxy_says_https(web: WebServer) -> None:
    token = web.admin()
    http = web.client()
    http.headers["X-Forwarded-Proto"] = "https"  # the peer, 127.0.0.1, is a trusted proxy
    signin = http.get(f"{web.mount}/")
    nonce = signin.text.split('name="nonce" value="')[1].split('"')[0]
    assert "Secure" in signin.headers["set-cookie"]
    http.cookies.set("tokenward_signin", nonce)  # a Secure cookie is not sent over http
    response = http.post(
        f"{web.mount}/signin",
        data={"nonce": nonce, "realm": "cpanel", "user": "alice", "token": token.secret},
    )
    assert response.status_code == 303
    assert all("Secure" in c for c in response.headers.get_list("set-cookie"))


@pytest.mark.parametrize(
    ("headers", "warned"),
    [
        pytest.param({}, False, id="loopback-over-http"),
        pytest.param({"X-Forwarded-For": "203.0.113.5"}, True, id="remote-over-http"),
        pytest.param(
            {"X-Forwarded-For": "203.0.113.5", "X-Forwarded-Proto": "https"},
            False,
            id="remote-over-https",
        ),
    ],
)
def test_the_sign_in_form_warns_when_a_token_would_cross_the_network_in_clear(
    web: WebServer, headers: dict[str, str], warned: bool
) -> None:
    page = web.client().get(f"{web.mount}/", headers=headers)
    assert page.status_code == 200
    assert ("This page is not served over HTTPS" in page.text) is warned


def test_the_cookie_and_the_session_hold_no_secret(web: WebServer) -> None:
    token = web.admin()
    client = SignedIn(web, token)
    assert token.secret not in client.signin.headers.get("set-cookie", "")
    sessions = list(web.page.sessions._sessions.values())
    assert len(sessions) == 1
    assert token.secret not in repr(sessions[0])
    assert sessions[0].digest == token.created.record.digest  # re-validated by digest


# -- CSRF and origin -------------------------------------------------------------------


def action_data(client: SignedIn, action: str) -> dict[str, str | list[str]]:
    """A body that would succeed for ``action`` (given the CSRF token)."""
    if action == "/new":
        return {"name": "made", "expiry": "never", "acl": ["all"], "once": client.once("/new")}
    if action == "/edit":
        return {"token": "admin", "name": "renamed", "expiry": "keep", "acl": ["all"]}
    if action == "/rotate":
        return {"name": "admin", "once": client.once("/rotate", name="admin")}
    if action == "/revoke":
        return {"name": "other"}
    return {}


ACTIONS = ["/new", "/edit", "/rotate", "/revoke", "/revoke-all", "/purge-expired", "/signout"]


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize(
    "csrf", [pytest.param(None, id="missing"), pytest.param("forged", id="wrong")]
)
def test_state_change_without_the_right_csrf_token_is_refused_and_changes_nothing(
    web: WebServer, action: str, csrf: str | None
) -> None:
    client = SignedIn(web, web.admin())
    web.mint("other", expires_at=int(web.clock()) + 10)
    web.clock.advance(60)  # "other" has expired: purge would remove it
    data = action_data(client, action)
    if csrf is not None:
        data["csrf"] = csrf
    before = snapshot(web)

    response = client.post(action, data)

    assert response.status_code == 403
    assert "Nothing was changed" in response.text
    assert snapshot(web) == before
    assert client.get("/").status_code == 200  # still signed in


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Origin": "http://evil.example"}, id="other-origin"),
        pytest.param({"Origin": "null"}, id="opaque-origin-without-fetch-metadata"),
        pytest.param(
            {"Origin": "null", "Sec-Fetch-Site": "cross-site"}, id="opaque-origin-cross-site"
        ),
        pytest.param(
            {"Origin": "http://evil.example", "Sec-Fetch-Site": "same-origin"},
            id="other-origin-despite-fetch-metadata",
        ),
        pytest.param({"Sec-Fetch-Site": "cross-site"}, id="fetch-metadata-cross-site"),
        pytest.param({"Sec-Fetch-Site": "same-site"}, id="fetch-metadata-same-site"),
    ],
)
@pytest.mark.parametrize("action", ["/new", "/revoke-all", "/signout"])
def test_cross_origin_post_is_refused_even_with_a_valid_csrf_token(
    web: WebServer, action: str, headers: dict[str, str]
) -> None:
    client = SignedIn(web, web.admin())
    data = {**action_data(client, action), "csrf": client.csrf}
    before = snapshot(web)

    response = client.post(action, data, **headers)

    assert response.status_code == 403
    assert "another site" in response.text
    assert snapshot(web) == before


def test_cross_origin_sign_in_is_refused(web: WebServer) -> None:
    token = web.admin()
    http = web.client()
    nonce = http.get(f"{web.mount}/").text.split('name="nonce" value="')[1].split('"')[0]
    response = http.post(
        f"{web.mount}/signin",
        data={"nonce": nonce, "realm": "cpanel", "user": "alice", "token": token.secret},
        headers={"Origin": "http://evil.example"},
    )
    assert response.status_code == 403
    assert "tokenward_session=" not in response.headers.get("set-cookie", "")


@pytest.mark.parametrize(
    "origin",
    [
        pytest.param("own", id="own-origin"),
        # What Chromium sends for the page's own forms under Referrer-Policy: no-referrer.
        pytest.param("null", id="opaque-origin-with-fetch-metadata-same-origin"),
    ],
)
def test_same_origin_post_is_accepted(web: WebServer, origin: str) -> None:
    client = SignedIn(web, web.admin())
    data = {**action_data(client, "/new"), "csrf": client.csrf}
    sent = web.url if origin == "own" else origin
    response = client.post("/new", data, Origin=sent, **{"Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 200
    assert "made" in web.names()


def test_sign_in_without_the_forms_nonce_is_refused(web: WebServer) -> None:
    """No logging a victim in to an attacker's session from another page."""
    token = web.admin()
    response = web.client().post(
        f"{web.mount}/signin",
        data={"nonce": "guessed", "realm": "cpanel", "user": "alice", "token": token.secret},
    )
    assert response.status_code == 403
    assert "tokenward_session=" not in response.headers.get("set-cookie", "")
    assert "sign-in form expired" in response.text


# -- signing in ------------------------------------------------------------------------


def sign_in_form(web: WebServer, http: httpx.Client, **fields: str) -> httpx.Response:
    nonce = http.get(f"{web.mount}/").text.split('name="nonce" value="')[1].split('"')[0]
    return http.post(f"{web.mount}/signin", data={"nonce": nonce, **fields})


@pytest.mark.parametrize(
    "case",
    ["wrong-secret", "wrong-user", "wrong-realm", "expired", "no-manage-acl", "malformed"],
)
def test_a_refused_sign_in_gets_one_generic_message_and_no_session(
    web: WebServer, case: str
) -> None:
    good = web.admin()
    narrow = web.mint("narrow", acls=["edit-dns"])
    short = web.mint("short", acls=["all"], expires_at=int(web.clock()) + 5)
    fields = {"realm": "cpanel", "user": "alice", "token": good.secret}
    if case == "wrong-secret":
        fields["token"] = "A" * 32
    elif case == "wrong-user":
        fields["user"] = "bob"
    elif case == "wrong-realm":
        fields["realm"] = "whm"
    elif case == "expired":
        web.clock.advance(10)
        fields["token"] = short.secret
    elif case == "no-manage-acl":
        fields["token"] = narrow.secret
    else:
        fields["token"] = "not a token"
    http = web.client()

    response = sign_in_form(web, http, **fields)

    assert response.status_code == 401
    assert "Sign-in failed" in response.text
    assert "tokenward_session=" not in response.headers.get("set-cookie", "")
    assert fields["token"] not in response.text  # the typed token is never echoed
    assert http.get(f"{web.mount}/new").status_code == 303  # not signed in


def test_a_token_in_the_url_signs_nobody_in(web: WebServer) -> None:
    token = web.admin()
    http = web.client()
    response = http.get(
        f"{web.mount}/signin", params={"user": "alice", "token": token.secret, "realm": "cpanel"}
    )
    assert response.status_code == 303
    assert "tokenward_session=" not in response.headers.get("set-cookie", "")


def test_signing_in_with_a_whm_token_manages_whm_tokens_only(web: WebServer) -> None:
    web.mint("cp-token", user="root", acls=["all"])
    whm = web.admin("whm-admin", user="root", realm=Realm.WHM)
    client = SignedIn(web, whm)
    listing = client.get("/")
    assert "whm-admin" in listing.text
    assert "cp-token" not in listing.text
    assert "API tokens of root (WHM)" in listing.text


# -- sessions end with their token ------------------------------------------------------


def assert_signed_out(client: SignedIn, web: WebServer) -> None:
    before = snapshot(web)
    refused = client.post("/revoke-all", {"csrf": client.csrf})
    assert refused.status_code == 303
    # To the sign-in form, saying why if the browser still had the session cookie.
    assert refused.headers["location"] in ("/tokens/?reason=ended", "/tokens/")
    assert snapshot(web) == before
    page = client.get("/")
    assert "Sign in" in page.text
    assert "Your session has ended" in page.text or "API tokens of" not in page.text


def test_session_ends_as_soon_as_its_token_is_revoked_elsewhere(web: WebServer) -> None:
    client = SignedIn(web, web.admin())
    web.service.revoke("alice", ["admin"])
    response = client.get("/")
    assert "Your session has ended" in response.text
    assert "tokenward_session=;" in response.headers["set-cookie"]  # cleared
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert_signed_out(client, web)


def test_session_ends_when_its_token_expires(web: WebServer) -> None:
    client = SignedIn(web, web.mint("admin", acls=["all"], expires_at=int(web.clock()) + 60))
    assert client.get("/").status_code == 200
    web.clock.advance(61)
    assert_signed_out(client, web)


def test_session_ends_when_its_token_loses_the_manage_acl(web: WebServer) -> None:
    client = SignedIn(web, web.admin())
    web.service.update("alice", "admin", acls=["edit-dns"])
    assert_signed_out(client, web)


def test_session_ends_when_its_token_is_rotated_elsewhere(web: WebServer) -> None:
    client = SignedIn(web, web.admin())
    web.service.rotate("alice", "admin")
    assert_signed_out(client, web)


def test_session_ends_after_fifteen_idle_minutes(web: WebServer) -> None:
    client = SignedIn(web, web.admin())
    web.clock.advance(14 * 60)
    assert "API tokens of alice" in client.get("/").text  # activity restarts the timer
    web.clock.advance(15 * 60 + 1)
    assert_signed_out(client, web)


def test_signing_out_ends_the_session_on_the_server(web: WebServer) -> None:
    client = SignedIn(web, web.admin())
    cookie = client.http.cookies["tokenward_session"]
    response = client.post("/signout", {"csrf": client.csrf})
    assert response.status_code == 303
    assert response.headers["location"] == "/tokens/?reason=signed-out"
    replay = web.client()
    replay.cookies.set("tokenward_session", cookie)
    assert "API tokens of" not in replay.get(f"{web.mount}/").text
    assert "You have signed out" in client.get("/", reason="signed-out").text


def test_rotating_your_own_token_on_the_page_keeps_you_signed_in(web: WebServer) -> None:
    old = web.admin()
    client = SignedIn(web, old)
    response = client.post(
        "/rotate",
        {"csrf": client.csrf, "name": "admin", "once": client.once("/rotate", name="admin")},
    )
    assert response.status_code == 200
    assert "API tokens of alice" in client.get("/").text
    refused = web.client().get("/execute/Tokens/list", headers=old.headers)
    assert refused.status_code == 401  # no grace: the old secret stopped at once


def test_revoking_your_own_token_signs_you_out(web: WebServer) -> None:
    client = SignedIn(web, web.admin())
    response = client.post("/revoke", {"csrf": client.csrf, "name": "admin"})
    assert response.headers["location"] == "/tokens/?reason=revoked-own"
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert web.names() == []
    assert "you have been signed out" in client.get("/", reason="revoked-own").text


# -- secrets ---------------------------------------------------------------------------


def test_the_secret_appears_only_on_the_one_time_result_page(
    web: WebServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: tokenward's, its audit trail, uvicorn's
    admin = web.admin()
    client = SignedIn(web, admin)
    result = client.post(
        "/new",
        {
            "csrf": client.csrf,
            "once": client.once("/new"),
            "name": "deploy",
            "expiry": "30d",
            "acl": ["edit-dns"],
        },
    )
    assert result.status_code == 200
    assert result.headers["cache-control"] == "no-store"
    secret = result.text.split('id="secret" class="secret" value="')[1].split('"')[0]
    assert len(secret) == 32
    assert result.text.count(secret) == 1
    assert admin.secret not in result.text

    pages = [
        client.get("/"),
        client.get("/", search="deploy"),
        client.get("/new"),
        client.get("/edit", name="deploy"),
        client.get("/rotate", name="deploy"),
        client.get("/revoke", name="deploy"),
        client.get("/revoke-all"),
        client.get("/static/tokens.js"),
    ]
    for page in pages:
        assert page.status_code == 200
        assert secret not in page.text
        assert admin.secret not in page.text
    used = web.client().get(
        "/auth", headers={"Authorization": f"cpanel alice:{secret}", "X-Original-URI": "/x"}
    )
    assert used.status_code == 200
    assert any(r.name.startswith("tokenward") for r in caplog.records)  # the trail was heard
    for logged in (caplog.text, *(repr(r.args) for r in caplog.records)):
        assert secret not in logged
        assert admin.secret not in logged
    assert all(secret not in repr(s) for s in web.page.sessions._sessions.values())


def test_resubmitting_the_generate_form_does_not_mint_a_second_secret(web: WebServer) -> None:
    client = SignedIn(web, web.admin())
    data: dict[str, str | list[str]] = {
        "csrf": client.csrf,
        "once": client.once("/new"),
        "name": "deploy",
        "expiry": "never",
        "acl": ["all"],
    }
    assert client.post("/new", data).status_code == 200
    data["name"] = "deploy2"
    again = client.post("/new", data)
    assert again.status_code == 303
    assert web.names() == ["admin", "deploy"]
    assert "already submitted" in client.get("/").text


# -- forms and messages ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param({"name": "bad name!"}, "Invalid token name", id="bad-name"),
        pytest.param({"name": "admin"}, "already has a cpanel token named", id="duplicate"),
        pytest.param({"acl": []}, "at least one ACL", id="no-acl"),
        pytest.param({"ips": "10.0.0.1/8"}, "without host bits", id="bad-ip"),
        pytest.param(
            {"ips": "\n".join(f"10.0.{i // 250}.{i % 250}" for i in range(101))},
            "At most 100 IP allow-list entries",
            id="too-many-ips",
        ),
        pytest.param({"expiry": "date", "expiry_date": "2020-01-01"}, "future", id="past"),
        pytest.param({"expiry": "date", "expiry_date": ""}, "Choose the date", id="no-date"),
        pytest.param({"expiry": "keep"}, "Choose when the token expires", id="keep-on-create"),
    ],
)
def test_a_refused_form_shows_the_reason_keeps_the_input_and_creates_nothing(
    web: WebServer, fields: dict[str, str | list[str]], message: str
) -> None:
    client = SignedIn(web, web.admin())
    data: dict[str, str | list[str]] = {
        "csrf": client.csrf,
        "once": client.once("/new"),
        "name": "fresh",
        "expiry": "7d",
        "ips": "192.0.2.0/24",
        "acl": ["edit-dns"],
        **fields,
    }
    before = snapshot(web)

    response = client.post("/new", data)

    assert response.status_code == 400
    assert 'role="alert"' in response.text
    assert message in response.text
    assert snapshot(web) == before
    assert 'id="secret"' not in response.text


def test_a_narrow_management_token_cannot_grant_more_than_it_holds(web: WebServer) -> None:
    narrow = web.mint("narrow", acls=["manage-api-tokens", "edit-dns"])
    client = SignedIn(web, narrow)
    form = client.get("/new").text
    assert 'value="kill-acct"' not in form  # not grantable: not offered
    response = client.post(
        "/new",
        {
            "csrf": client.csrf,
            "once": client.once("/new"),
            "name": "wider",
            "expiry": "7d",
            "acl": ["kill-acct"],  # sent anyway, as a hand-made request could
        },
    )
    assert response.status_code == 400
    assert "cannot grant ACL(s) it does not hold: kill-acct" in response.text
    assert web.names() == ["narrow"]


def test_editing_changes_only_what_differs(web: WebServer) -> None:
    client = SignedIn(web, web.admin())
    web.mint("deploy", acls=["edit-dns"], whitelist_ips=["192.0.2.0/24"])
    response = client.post(
        "/edit",
        {
            "csrf": client.csrf,
            "token": "deploy",
            "name": "deploy-prod",
            "expiry": "keep",
            "ips": "192.0.2.0/24\n\n 2001:db8::/32 \n",
            "acl": ["edit-dns", "list-accts"],
        },
    )
    assert response.status_code == 303
    view = web.service.show("alice", "deploy-prod")
    assert view.acls == frozenset({"edit-dns", "list-accts"})
    assert view.whitelist_ips == ("192.0.2.0/24", "2001:db8::/32")
    assert view.expires_at is None
    assert "Token “deploy-prod” saved." in client.get("/").text


def test_saving_an_unchanged_form_says_so_and_writes_nothing(web: WebServer) -> None:
    client = SignedIn(web, web.admin())
    before = snapshot(web)
    response = client.post(
        "/edit",
        {"csrf": client.csrf, "token": "admin", "name": "admin", "expiry": "keep", "acl": ["all"]},
    )
    assert response.status_code == 303
    assert snapshot(web) == before
    assert "was not changed" in client.get("/").text


def test_purging_removes_only_expired_tokens(web: WebServer) -> None:
    client = SignedIn(web, web.admin())
    web.mint("old", expires_at=int(web.clock()) + 10)
    web.mint("soon", expires_at=int(web.clock()) + 3600)
    web.clock.advance(60)
    assert "Purge 1 expired token" in client.get("/").text
    response = client.post("/purge-expired", {"csrf": client.csrf})
    assert response.status_code == 303
    assert web.names() == ["admin", "soon"]
    assert "Purged 1 expired token(s): “old”." in client.get("/").text


# -- escaping and mounting -------------------------------------------------------------


def test_user_controlled_text_is_escaped_everywhere(web: WebServer) -> None:
    user = '<b>"x"&y'
    client = SignedIn(web, web.admin(user=user))
    page = client.get("/", search='<script>alert("s")</script>').text
    assert "<b>" not in page
    assert "&lt;b&gt;&quot;x&quot;&amp;y" in page
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&quot;s&quot;)&lt;/script&gt;" in page


def test_the_page_works_under_any_mount_point(clock: FrozenClock) -> None:
    with web_server(clock, mount="/admin/api-tokens") as web:
        client = SignedIn(web, web.admin())
        page = client.get("/").text
        assert 'href="/admin/api-tokens/new"' in page
        assert 'src="/admin/api-tokens/static/tokens.js"' in page
        assert 'action="/admin/api-tokens/signout"' in page
        cookie = client.signin.headers["set-cookie"]
        assert "Path=/admin/api-tokens" in cookie
        assert client.get("/static/tokens.css").headers["content-type"].startswith("text/css")


def test_static_files_unknown_pages_and_wrong_methods(web: WebServer) -> None:
    http = web.client()
    script = http.get(f"{web.mount}/static/tokens.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "NAME_RULE" in script.text
    assert http.get(f"{web.mount}/static/../app.py").status_code == 404
    assert http.get(f"{web.mount}/nowhere").status_code == 404
    wrong = http.delete(f"{web.mount}/new")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "GET, POST"
    assert http.head(f"{web.mount}/").status_code == 200


# -- the store down --------------------------------------------------------------------


def test_a_store_outage_is_a_503_page_never_a_pass_and_the_session_survives_it(
    web: WebServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = web.admin()
    client = SignedIn(web, admin)

    def down(*args: object, **kwargs: object) -> TokenRecord | None:
        raise StoreError("connection refused")

    with monkeypatch.context() as outage:
        outage.setattr(web.store, "get", down)
        outage.setattr(web.store, "list", down)
        listing = client.get("/")
        assert listing.status_code == 503
        assert "Token store unavailable" in listing.text
        refused = client.post("/revoke-all", {"csrf": client.csrf})
        assert refused.status_code == 503
        signin = sign_in_http(web.client(), web.mount, admin)
        assert signin.status_code == 503
        assert "The token store is not answering" in signin.text
        assert "tokenward_session=" not in signin.headers.get("set-cookie", "")
    assert web.names() == ["admin"]
    assert client.get("/").status_code == 200  # back without signing in again
