"""The ``tokenward`` command line, run in-process through ``main`` (and once for real)."""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import runpy
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import tokenward
from tokenward import SQLiteStore
from tokenward.cli import main
from tokenward.core.tokens import is_well_formed_secret
from tokenward.stores.base import Usage
from tokenward.testing import FrozenClock

NOW = 1_800_000_000
DAY = 86_400


@dataclasses.dataclass(frozen=True)
class Result:
    status: int
    out: str
    err: str

    @property
    def json(self) -> object:
        return json.loads(self.out)


Run = Callable[..., Result]


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test works in its own directory, on the fast argon2 profile, with no store
    configured in the environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TOKENWARD_ARGON2", "fast")
    monkeypatch.delenv("TOKENWARD_STORE", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    return tmp_path / "tokens.db"


@pytest.fixture
def run(db: Path, clock: FrozenClock, capsys: pytest.CaptureFixture[str]) -> Run:
    """``run("create", "--user", …)`` against the test's SQLite file, on the frozen clock."""

    def invoke(*argv: str, store: bool = True) -> Result:
        capsys.readouterr()
        args = [*argv, "--store", f"sqlite:///{db}"] if store else list(argv)
        status = main(args, clock=clock)
        captured = capsys.readouterr()
        return Result(status, captured.out, captured.err)

    return invoke


def create(run: Run, user: str = "alice", name: str = "ci", *extra: str) -> str:
    result = run("create", "--user", user, "--name", name, "--json", *extra)
    assert result.status == 0, result.err
    token = result.json
    assert isinstance(token, dict)
    return str(token["token"])


def records(db: Path) -> list[object]:
    store = SQLiteStore(db)
    try:
        return [dataclasses.astuple(record) for record in store.list()]
    finally:
        store.close()


# -- create --------------------------------------------------------------------------------


def test_create_prints_the_secret_once_with_a_note_to_store_it(run: Run) -> None:
    result = run("create", "--user", "alice", "--name", "ci")
    assert result.status == 0
    secrets = [word for word in result.out.split() if is_well_formed_secret(word)]
    assert len(secrets) == 1
    assert result.out.count(secrets[0]) == 1
    assert "Store it now, it cannot be shown again." in result.out
    assert result.err == (
        "tokenward: warning: ACL 'all': complete access to everything the owner can do\n"
    )


def test_create_json_is_one_object_with_the_contract_keys(run: Run) -> None:
    result = run(
        "create", "--user", "root", "--name", "ci", "--realm", "whm", "--json",
        "--acl", "edit-dns,list-accts", "--acl", "passwd", "--ip", "192.0.2.0/24",
        "--expires-in", "24h",
    )  # fmt: skip
    assert result.status == 0
    created = result.json
    assert isinstance(created, dict)
    assert is_well_formed_secret(created.pop("token"))
    assert created == {
        "name": "ci",
        "user": "root",
        "realm": "whm",
        "create_time": NOW,
        "expires_at": NOW + DAY,
        "acls": ["edit-dns", "list-accts", "passwd"],
        "whitelist_ips": ["192.0.2.0/24"],
        "last_used_at": None,
        "last_used_ip": None,
        "status": "active",
        "previous_secret_until": None,
        "readonly": False,
        "revoked_at": None,
        "revoked_reason": None,
        "requests_today": 0,  # a token never used has made no requests
        "requests_last_7_days": 0,
        "warnings": ["ACL 'passwd': can change passwords and log in as the account"],
    }
    assert "passwd" in result.err  # warned on stderr too, and it did not block


@pytest.mark.parametrize(
    ("flags", "expires_at"),
    [
        pytest.param([], None, id="never-by-default"),
        pytest.param(["--expires-in", "7d"], NOW + 7 * DAY, id="expires-in"),
        pytest.param(["--expires-in", "90s"], NOW + 90, id="expires-in-seconds"),
        pytest.param(["--expires-at", str(NOW + 5)], NOW + 5, id="expires-at"),
        pytest.param(["--expires-at", "0"], None, id="expires-at-zero-is-never"),
        pytest.param(
            ["--expires", "2027-02-01"],
            int(datetime.datetime(2027, 2, 1, 23, 59, 59).timestamp()),
            id="date-is-its-last-local-second",
        ),
    ],
)
def test_create_reads_every_expiry_form(run: Run, flags: list[str], expires_at: int | None) -> None:
    result = run("create", "--user", "alice", "--name", "ci", "--json", *flags)
    assert result.status == 0, result.err
    assert isinstance(result.json, dict)
    assert result.json["expires_at"] == expires_at


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param([], id="no-command"),
        pytest.param(["bogus"], id="unknown-command"),
        pytest.param(["create", "--user", "alice"], id="missing-name"),
        pytest.param(["create", "--user", "a", "--name", "b", "--frobnicate"], id="unknown-flag"),
        pytest.param(["create", "--user", "a", "--name", "b", "--realm", "plesk"], id="bad-realm"),
        pytest.param(["create", "--user", "a", "--name", "b", "--expires-in", "soon"], id="bad-in"),
        pytest.param(["create", "--user", "a", "--name", "b", "--expires", "1/2/27"], id="date"),
        pytest.param(["create", "--user", "a", "--name", "b", "--expires-at", "x"], id="bad-epoch"),
        pytest.param(
            ["create", "--user", "a", "--name", "b", "--expires-in", "1d", "--expires-at", "5"],
            id="two-expiries",
        ),
        pytest.param(["update", "--user", "a", "--name", "b", "--ip", "10.0.0.1", "--any-ip"],
                     id="ip-and-any-ip"),
        pytest.param(["update", "--user", "a", "--name", "b", "--never", "--expires-in", "1d"],
                     id="never-and-expiry"),
        pytest.param(["create", "--user", "a", "--name", "b", "--never"], id="never-on-create"),
        pytest.param(["rotate", "--user", "a", "--name", "b", "--grace", "1 hour"], id="bad-grace"),
        pytest.param(["check"], id="check-without-header"),
        pytest.param(["check", "--header", "x", "--user", "a"], id="check-header-and-user"),
        pytest.param(["list", "--argon2", "slow"], id="bad-argon2-profile"),
    ],
)  # fmt: skip
def test_usage_errors_are_one_line_and_exit_2(run: Run, db: Path, argv: list[str]) -> None:
    result = run(*argv)
    assert result.status == 2
    assert result.out == ""
    assert result.err.startswith("tokenward: error: ")
    assert result.err.count("\n") == 1
    assert not db.exists()  # a refused command line never opens (or creates) the store


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["create", "--user", "alice", "--name", "ci"], id="duplicate-name"),
        pytest.param(["create", "--user", "alice", "--name", "b", "--expires-at", "5"], id="past"),
        pytest.param(["create", "--user", "alice", "--name", "b", "--ip", "10.0.0.1/8"], id="cidr"),
        pytest.param(["create", "--user", "al ice", "--name", "b"], id="bad-user"),
        pytest.param(["create", "--user", "alice", "--name", "b c"], id="bad-name"),
        pytest.param(["create", "--user", "alice", "--name", "b", "--acl", "A B"], id="bad-acl"),
        pytest.param(["show", "--user", "alice", "--name", "ghost"], id="show-unknown"),
        pytest.param(["update", "--user", "alice", "--name", "ghost", "--never"], id="upd-ghost"),
        pytest.param(["update", "--user", "alice", "--name", "ci"], id="update-nothing"),
        pytest.param(["update", "--user", "alice", "--name", "ci", "--never"], id="update-same"),
        pytest.param(["rename", "--user", "alice", "--name", "ci", "--new-name", "ci"], id="same"),
        pytest.param(["rename", "--user", "alice", "--name", "ci", "--new-name", "x y"], id="rn"),
        pytest.param(["rotate", "--user", "alice", "--name", "ghost"], id="rotate-unknown"),
    ],
)  # fmt: skip
def test_refusals_are_one_line_exit_1_and_write_nothing(
    run: Run, db: Path, argv: list[str]
) -> None:
    create(run)
    before = records(db)
    result = run(*argv)
    assert (result.status, result.out) == (1, "")
    assert result.err.startswith("tokenward: error: ")
    assert result.err.count("\n") == 1
    assert records(db) == before


def test_a_store_url_that_cannot_work_is_one_line(run: Run) -> None:
    result = run("list", "--store", "ftp://user:hunter2@host/x", store=False)
    assert result.status == 1
    assert result.err.count("\n") == 1
    assert "hunter2" not in result.err


# -- list and show ---------------------------------------------------------------------------


def test_list_json_is_an_array_with_status_and_last_use_and_no_secret(
    run: Run, db: Path, clock: FrozenClock
) -> None:
    secret = create(run, "alice", "ci", "--expires-in", "12h")
    other = create(run, "alice", "backup")
    store = SQLiteStore(db)
    token_id = store.list()[1].id
    store.record_usage([Usage(token_id, NOW + 60, "192.0.2.9")])
    store.close()
    result = run("list", "--json")
    assert result.status == 0
    listed = result.json
    assert isinstance(listed, list)
    assert [(t["name"], t["status"], t["last_used_at"], t["last_used_ip"]) for t in listed] == [
        ("backup", "active", None, None),
        ("ci", "expiring", NOW + 60, "192.0.2.9"),
    ]
    assert "token" not in listed[0]
    assert secret not in result.out
    assert other not in result.out


def test_list_filters_by_user_realm_and_search(run: Run) -> None:
    create(run, "alice", "Deploy-prod")
    create(run, "bob", "deploy-test")
    create(run, "root", "deploy", "--realm", "whm")

    def names(*flags: str) -> list[str]:
        result = run("list", "--json", *flags)
        assert isinstance(result.json, list)
        return [f"{t['user']}/{t['name']}" for t in result.json]

    assert names() == ["alice/Deploy-prod", "bob/deploy-test"]  # --realm defaults to cpanel
    assert names("--realm", "whm") == ["root/deploy"]
    assert names("--realm", "all", "--search", "PROD") == ["alice/Deploy-prod"]
    assert names("--user", "bob") == ["bob/deploy-test"]


def expiring_and_expired(run: Run, clock: FrozenClock) -> None:
    create(run, "alice", "a-fine")
    create(run, "alice", "b-soon", "--expires-in", "2d")
    create(run, "alice", "c-gone", "--expires-in", "1h")
    clock.advance(DAY + 3600 + 1)


def test_list_table_is_plain_when_stdout_is_not_a_terminal(run: Run, clock: FrozenClock) -> None:
    expiring_and_expired(run, clock)
    result = run("list")
    assert result.status == 0
    assert "\033[" not in result.out
    header, fine, soon, gone = result.out.splitlines()
    assert header.split()[:4] == ["REALM", "USER", "NAME", "STATUS"]
    assert [fine.split()[3], soon.split()[3], gone.split()[3]] == ["active", "expiring", "expired"]


def test_list_colours_expiring_yellow_and_expired_red_only_on_a_terminal(
    run: Run, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    expiring_and_expired(run, clock)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    _, fine, soon, gone = run("list").out.splitlines()
    assert "\033[" not in fine
    assert (soon[:5], soon[-4:]) == ("\033[33m", "\033[0m")
    assert (gone[:5], gone[-4:]) == ("\033[31m", "\033[0m")
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\033[" not in run("list").out


def test_list_of_nothing_says_so_and_names_the_store(run: Run, db: Path) -> None:
    assert run("migrate").status == 0
    assert run("list").out == f"No tokens in SQLiteStore({str(db)!r}).\n"
    assert run("list", "--json").json == []


def test_show_prints_one_token_in_full(run: Run) -> None:
    secret = create(run, "alice", "ci", "--ip", "192.0.2.1", "--ip", "2001:db8::/32")
    human = run("show", "--user", "alice", "--name", "ci")
    assert "IP addresses:   192.0.2.1, 2001:db8::/32" in human.out
    shown = run("show", "--user", "alice", "--name", "ci", "--json").json
    assert isinstance(shown, dict)
    assert shown["whitelist_ips"] == ["192.0.2.1", "2001:db8::/32"]
    assert secret not in human.out + json.dumps(shown)


# -- update, rename, revoke, rotate, purge ----------------------------------------------------


def test_update_changes_only_what_is_given(run: Run) -> None:
    create(run, "alice", "ci", "--ip", "192.0.2.1", "--expires-in", "1d", "--acl", "edit-dns")

    def shown() -> dict[str, object]:
        value = run("show", "--user", "alice", "--name", "ci", "--json").json
        assert isinstance(value, dict)
        return value

    assert run("update", "--user", "alice", "--name", "ci", "--never").status == 0
    assert (shown()["expires_at"], shown()["whitelist_ips"]) == (None, ["192.0.2.1"])
    assert run("update", "--user", "alice", "--name", "ci", "--any-ip").status == 0
    assert (shown()["whitelist_ips"], shown()["acls"]) == ([], ["edit-dns"])
    result = run("update", "--user", "alice", "--name", "ci", "--acl", "all", "--expires-in", "2d")
    assert result.status == 0
    assert "warning: ACL 'all'" in result.err
    assert (shown()["acls"], shown()["expires_at"]) == (["all"], NOW + 2 * DAY)


def test_rename_keeps_the_token(run: Run) -> None:
    create(run)
    result = run("rename", "--user", "alice", "--name", "ci", "--new-name", "deploy")
    assert (result.status, result.out) == (0, "Renamed cpanel token 'ci' of alice to 'deploy'.\n")
    assert run("show", "--user", "alice", "--name", "deploy").status == 0


def test_revoke_is_idempotent_and_says_what_it_did(run: Run) -> None:
    create(run, "alice", "a")
    create(run, "alice", "b")
    result = run("revoke", "--user", "alice", "--name", "a", "--name", "ghost")
    assert result.status == 0
    assert result.out.splitlines() == [
        "Revoked cpanel token 'a' of alice.",
        "No cpanel token 'ghost' of alice: nothing to revoke.",
    ]
    assert run("revoke", "--user", "alice", "--name", "a").status == 0


def test_revoke_all_revokes_that_users_tokens_only(run: Run) -> None:
    create(run, "alice", "a")
    create(run, "alice", "b")
    create(run, "bob", "a")
    result = run("revoke-all", "--user", "alice")
    assert result.out.splitlines() == ["Revoked 2 cpanel token(s) of alice.", "  a", "  b"]
    listed = run("list", "--json").json
    assert isinstance(listed, list)
    assert [t["user"] for t in listed] == ["bob"]


def test_rotate_prints_the_new_secret_once_and_keeps_the_old_for_the_grace(
    run: Run, clock: FrozenClock
) -> None:
    old = create(run)
    rotated = run("rotate", "--user", "alice", "--name", "ci", "--grace", "1h", "--json").json
    assert isinstance(rotated, dict)
    assert rotated["token"] != old
    assert rotated["previous_secret_until"] == NOW + 3600
    assert run("check", "--header", f"cpanel alice:{old}").status == 0
    clock.advance(3601)
    refused = run("check", "--header", f"cpanel alice:{old}")
    assert (refused.status, refused.out.splitlines()[0]) == (1, "refused: rotated_out")
    human = run("rotate", "--user", "alice", "--name", "ci")
    assert "The old secret no longer works." in human.out
    assert "Store it now, it cannot be shown again." in human.out


def test_purge_expired_deletes_only_tokens_expired_long_enough(
    run: Run, clock: FrozenClock
) -> None:
    create(run, "alice", "old", "--expires-in", "1d")
    create(run, "alice", "recent", "--expires-in", "20d")
    create(run, "alice", "forever")
    clock.advance(40 * DAY)
    result = run("purge-expired", "--older-than", "30d")
    assert result.status == 0
    assert result.out.startswith("Purged cpanel token 'old' of alice (expired ")
    assert run("purge-expired").out.startswith("Purged cpanel token 'recent'")
    assert run("purge-expired").out == "No expired tokens to purge.\n"


# -- check -----------------------------------------------------------------------------------


def test_check_accepts_a_valid_header_and_names_the_identity(run: Run) -> None:
    secret = create(run, "alice", "ci", "--acl", "edit-dns")
    result = run("check", "--header", f"cpanel alice:{secret}")
    assert result.status == 0
    assert result.out.splitlines()[:2] == [
        "accepted: cpanel user 'alice', token 'ci'",
        "effective ACLs: edit-dns",
    ]
    assert secret not in result.out


@pytest.mark.parametrize(
    ("header", "flags", "first_line"),
    [
        pytest.param("cpanel alice:{secret}", ["--ip", "203.0.113.9"],
                     "refused: ip_not_allowed (203.0.113.9)", id="address-not-allowed"),
        pytest.param("cpanel alice:{secret}", [], "refused: ip_not_allowed (unknown)",
                     id="no-address-given"),
        pytest.param("cpanel bob:{secret}", ["--ip", "192.0.2.1"], "refused: wrong_user",
                     id="wrong-user"),
        pytest.param("whm alice:{secret}", [], "refused: unknown_token", id="other-realm"),
        pytest.param("cpanel alice:" + "A" * 32, [], "refused: unknown_token", id="unknown"),
        pytest.param("cpanel alice:short", [], "refused: malformed (token is not 32 characters "
                     "of 0-9A-Z)", id="malformed"),
        pytest.param("Bearer abc", [], "refused: not a cpanel/whm header",
                     id="not-our-scheme"),
    ],
)  # fmt: skip
def test_check_says_precisely_why_a_header_is_refused(
    run: Run, header: str, flags: list[str], first_line: str
) -> None:
    secret = create(run, "alice", "ci", "--ip", "192.0.2.0/24")
    result = run("check", "--header", header.format(secret=secret), *flags)
    assert result.status == 1
    assert result.out.splitlines()[0] == first_line
    assert result.out.splitlines()[1].startswith("hint: ")
    assert secret not in result.out + result.err


def test_check_points_at_the_other_realm_and_at_the_refused_token(run: Run) -> None:
    secret = create(run, "alice", "ci", "--ip", "192.0.2.0/24")
    other_realm = run("check", "--header", f"whm alice:{secret}").out
    assert "note: this secret is a cpanel token's; send it as 'cpanel …'" in other_realm
    fenced = run("check", "--header", f"cpanel alice:{secret}").out
    assert "token: cpanel alice/ci, expires never, allowed addresses 192.0.2.0/24" in fenced


def test_check_reports_an_expired_token(run: Run, clock: FrozenClock) -> None:
    secret = create(run, "alice", "ci", "--expires-in", "1h")
    clock.advance(3601)
    result = run("check", "--user", "alice", "--token", secret)
    assert (result.status, result.out.splitlines()[0]) == (1, "refused: expired")


def test_check_reads_the_header_from_stdin_and_marks_nothing_as_used(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = create(run)
    monkeypatch.setattr(sys, "stdin", _Stdin(f"cpanel alice:{secret}\r\n"))
    assert run("check", "--header", "-", "--ip", "192.0.2.1").status == 0
    listed = run("list", "--json").json
    assert isinstance(listed, list)
    assert listed[0]["last_used_at"] is None


class _Stdin:
    def __init__(self, text: str) -> None:
        self.text = text

    def readline(self) -> str:
        return self.text


# -- the store and the rest ------------------------------------------------------------------


def test_the_store_comes_from_the_flag_then_the_environment_then_the_working_directory(
    run: Run, db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create(run, "alice", "in-flag")  # the run fixture passes --store
    monkeypatch.setenv("TOKENWARD_STORE", f"sqlite:///{tmp_path / 'env.db'}")
    assert run("create", "--user", "alice", "--name", "in-env", store=False).status == 0
    monkeypatch.delenv("TOKENWARD_STORE")
    assert run("create", "--user", "alice", "--name", "in-cwd", store=False).status == 0
    assert run("--store", f"sqlite:///{db}", "list", "--json", store=False).status == 0
    names = {
        path.name: [r.name for r in SQLiteStore(path).list()]
        for path in (db, tmp_path / "env.db", tmp_path / "tokenward.db")
    }
    assert names == {"tokens.db": ["in-flag"], "env.db": ["in-env"], "tokenward.db": ["in-cwd"]}


def test_migrate_asks_the_store_and_says_what_it_did(
    run: Run, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("migrate").out == f"SQLiteStore({str(db)!r}): created schema version 3\n"
    assert run("migrate").out == f"SQLiteStore({str(db)!r}): schema version 3 is up to date\n"
    migrated: list[bool] = []

    class NetworkStore(SQLiteStore):
        def migrate(self) -> str:
            migrated.append(True)
            return "created key layout version 3"

    monkeypatch.setattr(
        "tokenward.commands.base.open_store",
        lambda url, create: NetworkStore(url.split("///")[1], create=create),
    )
    result = run("migrate")
    assert (result.status, migrated) == (0, [True])
    assert result.out == f"SQLiteStore({str(db)!r}): created key layout version 3\n"


def test_help_exits_zero(run: Run) -> None:
    result = run("--help", store=False)
    assert result.status == 0
    assert "purge-expired" in result.out


def test_python_dash_m_runs_the_same_command_line(
    db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    SQLiteStore(db).close()
    monkeypatch.setattr(sys, "argv", ["tokenward", "list", "--json", "--store", f"sqlite:///{db}"])
    with pytest.raises(SystemExit) as exited:  # the file itself: pytest's import hook owns ours
        runpy.run_path(str(Path(tokenward.__file__).parent / "__main__.py"), run_name="__main__")
    assert exited.value.code == 0
    assert json.loads(capsys.readouterr().out) == []


def test_no_command_but_create_and_rotate_ever_prints_a_secret(
    run: Run, clock: FrozenClock
) -> None:
    secret = create(run, "alice", "ci", "--expires-in", "2d")
    outputs = [
        run("list"),
        run("list", "--json"),
        run("show", "--user", "alice", "--name", "ci"),
        run("show", "--user", "alice", "--name", "ci", "--json"),
        run("update", "--user", "alice", "--name", "ci", "--acl", "all", "--never"),
        run("rename", "--user", "alice", "--name", "ci", "--new-name", "deploy"),
        run("check", "--header", f"cpanel alice:{secret}"),
        run("check", "--header", f"cpanel bob:{secret}"),
        run("revoke", "--user", "alice", "--name", "deploy"),
        run("check", "--header", f"cpanel alice:{secret}"),
    ]
    for result in outputs:
        assert secret not in result.out + result.err


# -- the installed console script, for real --------------------------------------------------


@pytest.mark.slow
def test_installed_console_script_creates_checks_and_revokes(tmp_path: Path) -> None:
    script = shutil.which("tokenward") or str(Path(sys.executable).parent / "tokenward")
    env = {
        **os.environ,
        "TOKENWARD_ARGON2": "fast",
        "TOKENWARD_STORE": f"sqlite:///{tmp_path}/t.db",
    }

    def tokenward(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [script, *argv], capture_output=True, text=True, env=env, timeout=60, check=False
        )

    created = tokenward("create", "--user", "alice", "--name", "ci", "--json")
    assert created.returncode == 0, created.stderr
    header = f"cpanel alice:{json.loads(created.stdout)['token']}"
    accepted = tokenward("check", "--header", header)
    assert (accepted.returncode, accepted.stdout.splitlines()[0]) == (
        0,
        "accepted: cpanel user 'alice', token 'ci'",
    )
    assert tokenward("revoke", "--user", "alice", "--name", "ci").returncode == 0
    refused = tokenward("check", "--header", header)
    assert (refused.returncode, refused.stdout.splitlines()[0]) == (1, "refused: unknown_token")
