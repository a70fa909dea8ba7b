"""The page's parts without a server: form parsing, sessions, request facts."""

from __future__ import annotations

import datetime

import pytest

from tokenward.core.settings import Settings
from tokenward.core.tokens import Realm, TokenStatus
from tokenward.errors import ValidationError
from tokenward.management.views import KEEP, TokenView
from tokenward.management.web.forms import TokenForm, grace_seconds
from tokenward.management.web.plumbing import WebRequest, cookie
from tokenward.management.web.sessions import SessionStore
from tokenward.testing import FrozenClock

NOW = 1_800_000_000


def view(**changes: object) -> TokenView:
    values: dict[str, object] = {
        "name": "deploy",
        "user": "alice",
        "realm": Realm.CPANEL,
        "create_time": NOW - 100,
        "expires_at": None,
        "last_used_at": None,
        "last_used_ip": None,
        "whitelist_ips": ("192.0.2.0/24",),
        "acls": frozenset({"edit-dns"}),
        "status": TokenStatus.ACTIVE,
        **changes,
    }
    return TokenView(**values)  # type: ignore[arg-type]


# -- forms -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choice", "seconds"),
    [
        ("1d", 86_400),
        ("7d", 7 * 86_400),
        ("30d", 30 * 86_400),
        ("90d", 90 * 86_400),
        ("1y", 365 * 86_400),
    ],
)
def test_expiry_presets_count_from_now(choice: str, seconds: int) -> None:
    assert TokenForm(expiry=choice).expires_at(NOW + 0.7) == NOW + seconds


def test_a_date_means_23_59_59_server_time_that_day() -> None:
    expires_at = TokenForm(expiry="date", expiry_date="2027-03-01").expires_at(NOW)
    assert isinstance(expires_at, int)
    assert datetime.datetime.fromtimestamp(expires_at) == datetime.datetime(2027, 3, 1, 23, 59, 59)


def test_never_is_no_expiry_and_keep_leaves_it_alone() -> None:
    assert TokenForm(expiry="never").expires_at(NOW) is None
    assert TokenForm(expiry="keep").expires_at(NOW) is KEEP


@pytest.mark.parametrize(
    ("form", "message"),
    [
        pytest.param(TokenForm(expiry="date"), "choose the date", id="date-without-a-date"),
        pytest.param(
            TokenForm(expiry="date", expiry_date="01/03/2027"), "YYYY-MM-DD", id="bad-date"
        ),
        pytest.param(TokenForm(expiry="5s"), "unknown expiry choice", id="not-a-choice"),
    ],
)
def test_a_bad_expiry_is_refused(form: TokenForm, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        form.expires_at(NOW)


def test_the_form_reads_fields_as_sent() -> None:
    form = TokenForm.from_fields(
        {
            "name": [" deploy "],
            "ips": ["192.0.2.1\r\n\r\n  10.0.0.0/8  \r\n"],
            "acl": ["edit-dns", "edit-dns", "list-accts"],
        }
    )
    assert form.name == "deploy"
    assert form.ips == ["192.0.2.1", "10.0.0.0/8"]
    assert form.acls == ("edit-dns", "list-accts")
    assert form.expiry == "1y"  # cPanel's default: a year ahead


def test_an_edit_carries_only_what_differs() -> None:
    current = view()
    unchanged = TokenForm.from_view(current).changes(current, NOW)
    assert unchanged.empty
    form = TokenForm(name="deploy", expiry="never", ips_text="192.0.2.0/24\n", acls=("all",))
    changes = form.changes(current, NOW)
    assert changes.acls == ["all"]
    assert changes.new_name is None
    assert changes.whitelist_ips is KEEP  # same list once normalised
    assert changes.expires_at is KEEP  # already never
    assert not changes.empty


@pytest.mark.parametrize(("text", "seconds"), [("", None), ("15m", 900.0), ("7d", 604_800.0)])
def test_grace_periods(text: str, seconds: float | None) -> None:
    assert grace_seconds(text) == seconds


def test_an_unknown_grace_period_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown grace period"):
        grace_seconds("3y")


# -- sessions --------------------------------------------------------------------------


def open_session(sessions: SessionStore) -> str:
    cookie_value, _ = sessions.open(realm=Realm.CPANEL, user="alice", token_id="t1", digest="d1")
    return cookie_value


def test_a_session_ends_after_its_idle_timeout_and_after_its_maximum_age() -> None:
    clock = FrozenClock()
    sessions = SessionStore(clock=clock, idle_timeout=60, max_age=150)
    value = open_session(sessions)
    for _ in range(2):
        clock.advance(59)
        assert sessions.get(value) is not None  # each request restarts the idle timer
    clock.advance(59)  # 177 s old: idle for less than a minute, but past its maximum age
    assert sessions.get(value) is None
    other = open_session(sessions)
    clock.advance(61)
    assert sessions.get(other) is None
    assert len(sessions) == 0


def test_the_least_recently_used_session_goes_first_when_full() -> None:
    sessions = SessionStore(clock=FrozenClock(), limit=2)
    first, second = open_session(sessions), open_session(sessions)
    assert sessions.get(first) is not None  # first is now the most recent
    third = open_session(sessions)
    assert sessions.get(second) is None
    assert sessions.get(first) is not None
    assert sessions.get(third) is not None


def test_the_store_keeps_a_hash_of_the_cookie_never_the_cookie() -> None:
    sessions = SessionStore(clock=FrozenClock())
    value = open_session(sessions)
    session = sessions.get(value)
    assert session is not None
    assert value not in repr(session)
    assert session.key != value
    assert sessions.get(value + "x") is None
    assert sessions.get("") is None


def test_the_csrf_token_and_form_nonces_are_checked_in_constant_time_and_spent_once() -> None:
    sessions = SessionStore(clock=FrozenClock())
    session = sessions.get(open_session(sessions))
    assert session is not None
    assert session.csrf_matches(session.csrf)
    assert not session.csrf_matches("")
    assert not session.csrf_matches(session.csrf + "é")
    nonce = session.issue_once()
    assert session.spend_once(nonce)
    assert not session.spend_once(nonce)


# -- requests --------------------------------------------------------------------------


def scope(peer: str, headers: dict[str, str], path: str = "/new") -> dict[str, object]:
    return {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "root_path": "",
        "query_string": b"",
        "client": (peer, 50000),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }


@pytest.mark.parametrize(
    ("peer", "secure"),
    [
        pytest.param("127.0.0.1", True, id="trusted-proxy"),
        pytest.param("203.0.113.9", False, id="anyone"),
    ],
)
def test_forwarded_proto_is_believed_only_from_a_trusted_proxy(peer: str, secure: bool) -> None:
    settings = Settings(trusted_proxies=("127.0.0.0/8",))
    request = WebRequest.from_scope(scope(peer, {"X-Forwarded-Proto": "https"}), settings)
    assert request.secure is secure


@pytest.mark.parametrize(
    ("headers", "same"),
    [
        pytest.param({}, True, id="no-browser-headers"),
        pytest.param({"Origin": "http://app.example"}, True, id="own-origin"),
        pytest.param({"Origin": "https://app.example:443"}, True, id="own-origin-default-port"),
        pytest.param({"Origin": "http://app.example:8080"}, False, id="other-port"),
        pytest.param({"Origin": "http://evil.example"}, False, id="other-host"),
        pytest.param({"Origin": "file://"}, False, id="no-host"),
        pytest.param({"Origin": "null"}, False, id="opaque"),
        pytest.param({"Origin": "null", "Sec-Fetch-Site": "same-origin"}, True, id="opaque-own"),
        pytest.param({"Sec-Fetch-Site": "none"}, True, id="typed-by-the-user"),
        pytest.param({"Sec-Fetch-Site": "same-site"}, False, id="sibling-subdomain"),
    ],
)
def test_same_origin(headers: dict[str, str], same: bool) -> None:
    request = WebRequest.from_scope(
        scope("198.51.100.1", {"Host": "app.example", **headers}), Settings()
    )
    assert request.same_origin() is same


def test_the_mount_point_is_taken_off_the_path_when_a_server_leaves_it_on() -> None:
    both = {**scope("127.0.0.1", {}, "/admin/tokens/new"), "root_path": "/admin/tokens"}
    below = {**scope("127.0.0.1", {}, "/new"), "root_path": "/admin/tokens"}
    for raw in (both, below):
        request = WebRequest.from_scope(raw, Settings())
        assert (request.root, request.path) == ("/admin/tokens", "/new")


def test_cookies_are_httponly_and_samesite_strict_always_secure_over_https() -> None:
    assert cookie("c", "v", path="/tokens", secure=False) == (
        "set-cookie",
        "c=v; Path=/tokens; HttpOnly; SameSite=Strict",
    )
    assert cookie("c", "", path="/", secure=True, max_age=0)[1].endswith("Max-Age=0; Secure")
