"""`tokenward list` and `show` say a token was revoked as leaked, and how much each token
was used today and over the last week."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import Cli
from tokenward import Realm, SQLiteStore
from tokenward.management.service import TokenService
from tokenward.stores.base import Usage, day_of
from tokenward.testing import FAST_ARGON2, FrozenClock


def create(cli: Cli, name: str) -> str:
    result = cli("create", "--user", "alice", "--name", name, "--json")
    assert result.status == 0, result.err
    secret: str = json.loads(result.out)["token"]
    return secret


@pytest.fixture
def leaked_and_used(cli: Cli, workdir: Path, clock: FrozenClock) -> str:
    """``leaked`` reported leaked; ``busy`` used 4 times today and 6 times 3 days ago."""
    leaked = create(cli, "leaked")
    create(cli, "busy")
    store = SQLiteStore(workdir / "tokenward.db")
    service = TokenService(store, argon2=FAST_ARGON2, clock=clock)
    assert service.revoke_leaked(service.find_by_secret(leaked), source="scan") == 1
    busy = store.find(Realm.CPANEL, "alice", "busy")
    assert busy is not None
    today = day_of(clock())
    store.record_usage([Usage(busy.id, int(clock()), "192.0.2.5", ((today - 3, 6), (today, 4)))])
    store.close()
    return leaked


def test_list_shows_revoked_as_leaked_and_the_request_counts(
    cli: Cli, leaked_and_used: str
) -> None:
    result = cli("list")
    header, busy, leaked = result.out.splitlines()
    assert "REQUESTS TODAY/7D" in header
    assert "revoked: reported leaked" in leaked
    assert "revoked" not in busy
    assert " 4/10 " in busy
    assert " 0/0 " in leaked
    assert leaked_and_used not in result.out


def test_list_paints_a_revoked_token_red_on_a_terminal(
    cli: Cli, leaked_and_used: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.delenv("NO_COLOR", raising=False)
    _, busy, leaked = cli("list").out.splitlines()
    assert "\033[" not in busy
    assert (leaked[:5], leaked[-4:]) == ("\033[31m", "\033[0m")


def test_show_and_json_carry_the_revocation_and_the_counts(
    cli: Cli, leaked_and_used: str, clock: FrozenClock
) -> None:
    shown = cli("show", "--user", "alice", "--name", "leaked").out
    assert "status:         revoked: reported leaked" in shown
    assert "revoked:" in shown.replace("status:         revoked", "")
    busy = cli("show", "--user", "alice", "--name", "busy").out
    assert "requests:       4 today, 10 in 7 days (UTC)" in busy
    listed = json.loads(cli("list", "--json").out)
    assert [
        (t["name"], t["status"], t["revoked_at"], t["revoked_reason"], t["requests_today"])
        for t in listed
    ] == [
        ("busy", "active", None, None, 4),
        ("leaked", "revoked", int(clock()), "reported leaked", 0),
    ]
    assert listed[0]["requests_last_7_days"] == 10


def test_a_revoked_token_cannot_be_rotated_or_updated_from_the_cli(
    cli: Cli, leaked_and_used: str
) -> None:
    for argv in (
        ("rotate", "--user", "alice", "--name", "leaked"),
        ("update", "--user", "alice", "--name", "leaked", "--never"),
    ):
        result = cli(*argv)
        assert result.status == 1
        assert "delete it (revoke it by name) and create a new one" in result.err
    assert cli("revoke", "--user", "alice", "--name", "leaked").status == 0
    assert "leaked" not in cli("list").out


USAGE = ("last_used_at", "last_used_ip", "status", "revoked_at", "revoked_reason")
COUNTS = ("requests_today", "requests_last_7_days")


def test_rotate_json_reports_the_usage_list_and_show_report(cli: Cli, leaked_and_used: str) -> None:
    """Rotation keeps the token, so its use so far: not nulls for a token that was used."""
    shown = json.loads(cli("show", "--user", "alice", "--name", "busy", "--json").out)
    result = cli("rotate", "--user", "alice", "--name", "busy", "--json")
    assert result.status == 0, result.err
    rotated = json.loads(result.out)
    assert (rotated["requests_today"], rotated["requests_last_7_days"]) == (4, 10)
    assert {k: rotated[k] for k in USAGE + COUNTS} == {k: shown[k] for k in USAGE + COUNTS}
    listed = {t["name"]: t for t in json.loads(cli("list", "--json").out)}
    assert {k: rotated[k] for k in COUNTS} == {k: listed["busy"][k] for k in COUNTS}


def test_update_prints_the_counts_show_prints(cli: Cli, leaked_and_used: str) -> None:
    result = cli("update", "--user", "alice", "--name", "busy", "--readonly")
    assert result.status == 0, result.err
    assert "requests:       4 today, 10 in 7 days (UTC)" in result.out
