"""The worker behind ``POST /credentials/revoke``: reports wait, in order, as lookup digests;
a store outage keeps them for a retry; shutdown processes what waits; each revocation is
audited with its source; and the secret goes nowhere: no log record, event, answer or repr."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from tokenward import Realm, TokenRecord
from tokenward.management.leaks import MAX_CREDENTIAL_LENGTH, LeakRevoker, read_report

from .harness import PATH, OutageStore, Reports, received

# -- the worker -----------------------------------------------------------------------------


def test_a_reserved_place_counts_until_its_report_is_submitted(reports: Reports) -> None:
    revoker = LeakRevoker(reports.guard.service, max_waiting=1, background=False)
    report = read_report(b'{"credentials": ["x"]}', "test")
    assert revoker.reserve()
    assert not revoker.reserve()
    assert not revoker.submit(report)  # the one place is promised
    assert revoker.submit(report, reserved=True)
    assert (revoker.waiting, revoker.reserve()) == (1, False)
    revoker.drain()
    assert revoker.submit(report)


def test_a_store_outage_keeps_the_report_until_a_retry_succeeds(reports: Reports) -> None:
    token = reports.mint()
    reports.report(token.secret)
    reports.store.down = True
    assert reports.revoker.drain() == 0
    assert reports.revoker.waiting == 1
    reports.store.down = False
    assert reports.revoker.drain() == 1
    assert reports.forward_auth(token) == 401


def test_the_background_worker_retries_through_an_outage_until_it_revokes(
    make_reports: Callable[..., Reports],
) -> None:
    reports = make_reports(background=True)
    token = reports.mint()
    reports.store.down = True
    retried = threading.Event()
    real_get = OutageStore.get

    def failing_twice(digest: str) -> TokenRecord | None:
        if reports.store.calls >= 2:
            reports.store.down = False
            retried.set()
        return real_get(reports.store, digest)

    reports.store.get = failing_twice  # type: ignore[method-assign]
    assert reports.report(token.secret) == received(1)
    assert reports.revoked.wait(timeout=30)  # signalled by the audit event, not a sleep
    assert retried.is_set()
    reports.revoker.close()
    assert reports.forward_auth(token) == 401


def test_shutdown_drains_the_waiting_reports_before_the_store_closes(reports: Reports) -> None:
    token = reports.mint()
    with TestClient(reports.server) as client:  # runs the lifespan
        answer = client.post(PATH, json={"credentials": [token.header]})
        assert (answer.status_code, answer.json()) == (202, {"status": "received", "count": 1})
        assert reports.revoker.waiting == 1
    assert reports.revoker.waiting == 0
    assert reports.status(token) == ("reported leaked", "revoked")


def test_reports_still_waiting_when_the_store_is_down_at_shutdown_are_said_lost(
    reports: Reports, caplog: pytest.LogCaptureFixture
) -> None:
    reports.report(reports.mint().secret, "x")
    reports.store.down = True
    with caplog.at_level(logging.WARNING, logger="tokenward.leaks"):
        reports.revoker.close()
    assert "1 leak report(s) (2 credential(s)) were not processed" in caplog.text


def test_a_report_that_fails_for_another_reason_is_logged_and_skipped(
    reports: Reports, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = reports.mint(), reports.mint()
    reports.report(first.secret)
    reports.report(second.secret)
    real_get = reports.store.get
    calls = iter([ZeroDivisionError("a bug")])

    def broken_once(digest: str) -> TokenRecord | None:
        error = next(calls, None)
        if error is not None:
            raise error
        return real_get(digest)

    reports.store.get = broken_once  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="tokenward.leaks"):
        assert reports.revoker.drain() == 1
    assert "could not be processed" in caplog.text
    assert reports.status(second) == ("reported leaked", "revoked")
    assert reports.forward_auth(first) == 200


# -- the audit trail, and where the secret never goes ---------------------------------------


def test_one_event_per_report_and_one_per_revocation_with_its_source(reports: Reports) -> None:
    cpanel, whm = reports.mint(), reports.mint("root", realm=Realm.WHM)
    reports.report(cpanel.header, whm.secret, "x")
    reported = [e for e in reports.events if e.kind == "leak.reported"]
    assert [(e.client_ip, e.path, e.detail) for e in reported] == [
        ("127.0.0.1", PATH, "3 credential(s), 2 distinct token(s)")
    ]
    assert reports.revoker.drain() == 2
    revoked = [e for e in reports.events if e.kind == "token.revoked_leaked"]
    assert sorted((e.realm, e.user, e.detail) for e in revoked) == [
        ("cpanel", "alice", "reported leaked by revoke endpoint 127.0.0.1"),
        ("whm", "root", "reported leaked by revoke endpoint 127.0.0.1"),
    ]


def test_the_secret_is_in_no_log_record_event_answer_or_repr(
    reports: Reports, caplog: pytest.LogCaptureFixture
) -> None:
    token = reports.mint()
    secrets = [token.secret, token.header]
    with caplog.at_level(logging.DEBUG):
        answers = [
            reports.report(token.header, token.secret),
            reports.report(token.header + " " * MAX_CREDENTIAL_LENGTH),  # a 400
        ]
        reports.store.down = True
        reports.revoker.drain()  # a warning
        reports.store.down = False
        reports.revoker.drain()
        reports.forward_auth(token)  # a refusal, logged
    report = read_report(json.dumps({"credentials": secrets}).encode(), "test")
    seen = [
        *(record.getMessage() for record in caplog.records),
        *(repr(record.args) for record in caplog.records),
        *(repr(event) for event in reports.events),
        *(repr(answer) for answer in answers),
        repr(reports.endpoint),
        repr(reports.revoker),
        repr(report),
    ]
    assert any("revoke endpoint 127.0.0.1" in line for line in seen)  # the logs were captured
    assert [line for line in seen if any(secret in line for secret in secrets)] == []
    assert token.secret not in str(report.digests)
