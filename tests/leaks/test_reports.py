"""``POST /credentials/revoke``: a leak report is answered the same whatever it holds, before
the store is read; the worker then revokes what matched, in either realm, so the very next
request with the token is refused. Everything the endpoint refuses depends on the request
alone."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, MutableMapping
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from tokenward import MemoryStore, Realm, TokenService
from tokenward.core.formats import generate
from tokenward.limits import MemoryFailureLimiter
from tokenward.management.leaks import MAX_CREDENTIAL_LENGTH, MAX_CREDENTIALS
from tokenward.management.revoke_endpoint import MAX_BODY
from tokenward.testing import FAST_ARGON2, MintedToken

from .harness import JSON, PATH, Reports, received

# -- the answer ---------------------------------------------------------------------------


def test_matched_unmatched_and_malformed_credentials_get_byte_identical_answers(
    reports: Reports,
) -> None:
    cpanel, prefixed = reports.mint(), reports.mint("root", realm=Realm.WHM, prefixed=True)
    broken = prefixed.secret[:-1] + ("A" if prefixed.secret[-1] != "A" else "B")
    variants = {
        "matched": [cpanel.secret],
        "matched-header": [prefixed.header],
        "unmatched": [generate(Realm.CPANEL)],
        "unmatched-prefixed": [generate(Realm.WHM, "prefixed")],
        "wrong-checksum": [broken],
        "no-token": ["hello"],
        "empty-string": [""],
    }
    calls_before = reports.store.calls
    answers = {name: reports.report(*items) for name, items in variants.items()}
    reports.store.down = True  # the store is not read to answer: an outage changes nothing
    answers["store-down"] = reports.report(cpanel.secret)

    assert set(answers.values()) == {received(1)}
    assert reports.store.calls == calls_before  # answered before any lookup
    assert reports.revoker.waiting == len(answers)


def test_the_answer_is_sent_before_the_report_reaches_the_queue(reports: Reports) -> None:
    """So the worker cannot start on the store while the reporter still waits."""
    token = reports.mint()
    waiting_while_sending: list[int] = []
    body = json.dumps({"credentials": [token.secret]}).encode()
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> MutableMapping[str, Any]:
        return messages.pop()

    async def send(message: MutableMapping[str, Any]) -> None:
        waiting_while_sending.append(reports.revoker.waiting)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [JSON], "client": None}
    asyncio.run(reports.endpoint(scope, receive, send))
    assert waiting_while_sending == [0, 0]
    assert reports.revoker.waiting == 1


def test_a_reporter_gone_before_its_answer_still_has_its_report_processed(
    reports: Reports,
) -> None:
    token = reports.mint()
    body = json.dumps({"credentials": [token.secret]}).encode()

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        raise OSError("the client is gone")

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [JSON], "client": None}
    with pytest.raises(OSError, match="gone"):
        asyncio.run(reports.endpoint(scope, receive, send))
    assert reports.revoker.drain() == 1
    sources = [e.detail for e in reports.events if e.kind == "token.revoked_leaked"]
    assert sources == ["reported leaked by revoke endpoint unknown"]


def test_the_count_is_the_number_of_items_sent(reports: Reports) -> None:
    token = reports.mint()
    assert reports.report(token.secret, token.header, "x") == received(3)


def test_two_hundred_reports_half_matching_get_equal_answers(reports: Reports) -> None:
    matching = [reports.mint(f"user{i}") for i in range(100)]
    unknown = [generate(Realm.CPANEL) for _ in range(100)]
    answers = set()
    for token, stranger in zip(matching, unknown, strict=True):
        answers.add(reports.report(token.header))
        answers.add(reports.report(stranger))

    assert answers == {received(1)}
    assert reports.revoker.drain() == 100
    assert {reports.status(token) for token in matching} == {("reported leaked", "revoked")}


@pytest.mark.parametrize(
    ("form", "realm", "prefixed"),
    [
        pytest.param("{secret}", Realm.CPANEL, False, id="bare-cpanel"),
        pytest.param("{secret}", Realm.WHM, False, id="bare-whm"),
        pytest.param("{secret}", Realm.WHM, True, id="bare-prefixed-whm"),
        pytest.param("{header}", Realm.CPANEL, False, id="header-cpanel"),
        pytest.param("{header}", Realm.WHM, True, id="header-prefixed-whm"),
        pytest.param("Authorization: {header}", Realm.CPANEL, False, id="authorization-prefix"),
        pytest.param("authorization:{header}", Realm.WHM, False, id="authorization-lower"),
        pytest.param(" \t{header}\r\n", Realm.CPANEL, True, id="surrounding-whitespace"),
        pytest.param("CPANEL   mallory:{secret}", Realm.CPANEL, False, id="another-user"),
        pytest.param("whm mallory:{secret}", Realm.CPANEL, False, id="another-realm-scheme"),
    ],
)
def test_every_accepted_form_revokes_and_the_next_request_is_refused(
    reports: Reports, form: str, realm: Realm, prefixed: bool
) -> None:
    token = reports.mint("root" if realm is Realm.WHM else "alice", realm=realm, prefixed=prefixed)
    bystander = reports.mint("bob")
    assert reports.forward_auth(token) == 200  # granted, and remembered on the warm path

    assert reports.report(form.format(secret=token.secret, header=token.header)) == received(1)
    assert reports.forward_auth(token) == 200  # nothing happens before the worker runs
    assert reports.revoker.drain() == 1

    assert reports.forward_auth(token) == 401
    assert reports.status(token) == ("reported leaked", "revoked")
    assert reports.forward_auth(bystander) == 200


@pytest.mark.parametrize(
    ("grace", "later", "revoked"),
    [
        pytest.param(3600, 3600, True, id="in-the-grace-period"),
        pytest.param(3600, 3601, False, id="after-the-grace-period"),
        pytest.param(None, 0, False, id="rotated-without-grace"),
    ],
)
def test_a_previous_secret_revokes_the_token_only_while_it_still_opens_it(
    reports: Reports, grace: int | None, later: int, revoked: bool
) -> None:
    old = reports.mint()
    record = old.created.record
    service = reports.guard.service
    rotated = MintedToken(service.rotate(record.user, record.name, grace=grace))
    reports.clock.advance(later)
    reports.report(old.secret)
    assert reports.revoker.drain() == int(revoked)
    assert reports.forward_auth(rotated) == (401 if revoked else 200)


def test_an_expired_tokens_secret_is_revoked_so_no_new_expiry_revives_it(
    reports: Reports,
) -> None:
    token = reports.mint()
    record = token.created.record
    reports.guard.service.update(record.user, record.name, expires_at=int(reports.clock()) + 60)
    reports.clock.advance(120)
    reports.report(token.secret)
    assert reports.revoker.drain() == 1
    assert reports.status(token) == ("reported leaked", "revoked")


def test_a_token_reported_twice_is_revoked_once(reports: Reports) -> None:
    token = reports.mint()
    reports.report(token.secret, token.header)
    reports.report(token.secret)
    assert reports.revoker.drain() == 1
    assert [e.kind for e in reports.events].count("token.revoked_leaked") == 1


# -- bounds and refusals --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b"not json", "the body is not JSON", id="not-json"),
        pytest.param(b"\xff\xfe\xfa", "the body is not JSON", id="not-utf8"),
        pytest.param(b"[" * 30_000, "the body is not JSON", id="deeply-nested"),
        pytest.param(b'["x"]', "expected {", id="a-list"),
        pytest.param(b"{}", "expected {", id="no-credentials"),
        pytest.param(b'{"credentials": "x"}', "expected {", id="a-string"),
        pytest.param(b'{"credentials": []}', "no credentials given", id="empty"),
        pytest.param(b'{"credentials": ["x", 7]}', "credential 2 is not a string", id="a-number"),
        pytest.param(
            json.dumps({"credentials": ["x"] * (MAX_CREDENTIALS + 1)}).encode(),
            f"at most {MAX_CREDENTIALS} credentials",
            id="too-many",
        ),
        pytest.param(
            json.dumps({"credentials": ["x" * (MAX_CREDENTIAL_LENGTH + 1)]}).encode(),
            f"credential 1 is longer than {MAX_CREDENTIAL_LENGTH} characters",
            id="too-long",
        ),
    ],
)
def test_a_body_of_the_wrong_shape_is_400_saying_why(
    reports: Reports, body: bytes, message: str
) -> None:
    status, _, answer = reports.post(body)
    assert status == 400
    assert message in json.loads(answer)["error"]
    assert reports.revoker.waiting == 0


def test_a_400_never_quotes_the_credential(reports: Reports) -> None:
    token = reports.mint()
    padded = token.header + " " * MAX_CREDENTIAL_LENGTH
    status, _, answer = reports.report(padded)
    assert status == 400
    assert token.secret not in answer.decode()


@pytest.mark.parametrize("chunks", [pytest.param(1, id="declared"), pytest.param(9, id="streamed")])
def test_a_body_over_the_limit_is_413(reports: Reports, chunks: int) -> None:
    body = json.dumps({"credentials": ["x" * 500] * 140}).encode()
    assert len(body) > MAX_BODY
    declared = () if chunks > 1 else ((b"content-length", str(len(body)).encode()),)
    status, _, answer = reports.post(body, headers=(JSON, *declared), chunks=chunks)
    assert (status, json.loads(answer)) == (
        413,
        {"error": f"request body too large (at most {MAX_BODY} bytes)"},
    )


@pytest.mark.parametrize(
    ("request_options", "status"),
    [
        pytest.param({"method": "GET"}, 405, id="get"),
        pytest.param({"method": "PUT"}, 405, id="put"),
        pytest.param({"headers": ()}, 415, id="no-content-type"),
        pytest.param({"headers": ((b"content-type", b"text/plain"),)}, 415, id="text-plain"),
        pytest.param({"path": PATH + "/more"}, 404, id="below-the-endpoint"),
    ],
)
def test_only_a_json_post_to_the_endpoint_itself_is_read(
    reports: Reports, request_options: dict[str, Any], status: int
) -> None:
    token = reports.mint()
    answer = reports.post(json.dumps({"credentials": [token.secret]}).encode(), **request_options)
    assert answer[0] == status
    assert reports.revoker.waiting == 0
    if status == 405:
        assert (b"allow", b"POST") in answer[1]


def test_mounted_in_another_router_it_answers_at_its_mount_point(reports: Reports) -> None:
    token = reports.mint()
    app = Starlette(routes=[Mount("/leaks/revoke", app=reports.endpoint)])
    client = TestClient(app)
    answer = client.post("/leaks/revoke", json={"credentials": [token.secret]})
    assert (answer.status_code, answer.json()) == (202, {"status": "received", "count": 1})
    assert client.post("/leaks/revoke/x", json={"credentials": ["x"]}).status_code == 404
    assert reports.revoker.drain() == 1


def test_a_json_content_type_with_parameters_is_accepted(reports: Reports) -> None:
    content_type = (b"content-type", b"Application/JSON; charset=utf-8")
    answer = reports.post(b'{"credentials": ["x"]}', headers=(content_type,))
    assert answer == received(1)


def test_the_budget_counts_every_call_and_answers_429_with_retry_after(
    make_reports: Callable[..., Reports],
) -> None:
    reports = make_reports(budget=(3, 60.0))
    token = reports.mint()
    assert reports.report(token.secret)[0] == 202
    assert reports.report(generate(Realm.CPANEL))[0] == 202
    assert reports.post(b"not json")[0] == 400  # counted too

    status, headers, _ = reports.report(token.secret)
    assert (status, dict(headers)[b"retry-after"]) == (429, b"60")
    assert reports.report(generate(Realm.CPANEL))[:2] == (status, headers)  # alike
    assert reports.report("x", client="192.0.2.9")[0] == 202  # another address: its own budget
    reports.clock.advance(60)
    assert reports.report(token.secret)[0] == 202


def test_behind_a_trusted_proxy_the_budget_and_the_source_are_the_clients(
    make_reports: Callable[..., Reports],
) -> None:
    reports = make_reports(budget=(1, 60.0), trusted_proxies=("127.0.0.0/8",))
    token = reports.mint()
    forwarded = (JSON, (b"x-real-ip", b"203.0.113.7"))
    assert reports.report(token.secret, headers=forwarded)[0] == 202
    assert reports.report("x", headers=forwarded)[0] == 429
    assert reports.report("x", headers=(JSON, (b"x-real-ip", b"203.0.113.8")))[0] == 202
    reports.revoker.drain()
    details = [e.detail for e in reports.events if e.kind == "token.revoked_leaked"]
    assert details == ["reported leaked by revoke endpoint 203.0.113.7"]


def test_reports_share_the_guards_failed_login_budget(make_reports: Callable[..., Reports]) -> None:
    reports = make_reports(limiter=MemoryFailureLimiter(2, 60.0))
    assert reports.endpoint.limiter is reports.guard.limiter
    stranger = MintedToken(TokenService(MemoryStore(), argon2=FAST_ARGON2).create("eve", "x"))
    assert reports.forward_auth(stranger) == 401  # one failed login
    assert reports.report("x")[0] == 202  # one report: the budget of two is spent
    assert reports.report("x")[0] == 429
    assert reports.forward_auth(stranger) == 429


def test_a_full_queue_is_503_for_every_caller_alike(make_reports: Callable[..., Reports]) -> None:
    reports = make_reports(max_waiting=2)
    token = reports.mint()
    reports.report(token.secret)
    reports.report("x")
    full = {reports.report(token.secret), reports.report(generate(Realm.CPANEL))}
    assert len(full) == 1
    status, headers, _ = full.pop()
    assert (status, dict(headers)[b"retry-after"]) == (503, b"5")
    reports.revoker.drain()
    assert reports.report("x") == received(1)
