"""Only the commands that write a store (create, migrate, serve) may make one. Every other
command refuses a missing store in one line rather than make an empty one: a mistyped path
would otherwise "list no tokens" or "revoke nothing" while the real store stays as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import Cli

NEEDS_A_STORE = [
    pytest.param(["list"], id="list"),
    pytest.param(["list", "--json"], id="list-json"),
    pytest.param(["show", "--user", "alice", "--name", "ci"], id="show"),
    pytest.param(["check", "--header", "cpanel alice:" + "A" * 32], id="check"),
    pytest.param(["update", "--user", "alice", "--name", "ci", "--never"], id="update"),
    pytest.param(["rename", "--user", "alice", "--name", "ci", "--new-name", "x"], id="rename"),
    pytest.param(["revoke", "--user", "alice", "--name", "ci"], id="revoke"),
    pytest.param(["revoke-all", "--user", "alice"], id="revoke-all"),
    pytest.param(["rotate", "--user", "alice", "--name", "ci"], id="rotate"),
    pytest.param(["purge-expired"], id="purge-expired"),
]


def refused_for_a_missing_store(cli: Cli, argv: list[str], missing: Path) -> None:
    result = cli(*argv)
    assert (result.status, result.out) == (1, "")
    assert result.err.startswith("tokenward: error: ")
    assert result.err.count("\n") == 1
    assert repr(str(missing)) in result.err
    assert "tokenward migrate" in result.err


@pytest.mark.parametrize("argv", NEEDS_A_STORE)
def test_a_command_that_needs_a_store_makes_no_default_store_in_the_working_directory(
    cli: Cli, workdir: Path, argv: list[str]
) -> None:
    refused_for_a_missing_store(cli, argv, workdir / "tokenward.db")
    assert list(workdir.iterdir()) == []


@pytest.mark.parametrize("argv", NEEDS_A_STORE)
@pytest.mark.parametrize("given", ["flag", "environment"])
def test_a_command_that_needs_a_store_makes_no_directory_for_a_store_that_does_not_exist(
    cli: Cli, workdir: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], given: str
) -> None:
    missing = workdir / "no" / "such" / "dir" / "tokens.db"
    if given == "flag":
        argv = [*argv, "--store", f"sqlite:///{missing}"]
    else:
        monkeypatch.setenv("TOKENWARD_STORE", f"sqlite:///{missing}")
    refused_for_a_missing_store(cli, argv, missing)
    assert list(workdir.iterdir()) == []


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """``serve`` binds a free port and builds everything, then returns instead of serving."""
    from tokenward.commands import serve

    bind = serve.listen
    monkeypatch.setattr(serve, "listen", lambda host, port: bind(host, 0))
    monkeypatch.setattr(serve, "run", lambda app, sock: sock.close())


@pytest.mark.usefixtures("no_server")
@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["create", "--user", "alice", "--name", "ci"], id="create"),
        pytest.param(["migrate"], id="migrate"),
        pytest.param(["serve"], id="serve"),
    ],
)
def test_after_a_refused_read_a_writing_command_makes_the_documented_default_store(
    cli: Cli, workdir: Path, argv: list[str]
) -> None:
    assert cli("list").status == 1
    assert not (workdir / "tokenward.db").exists()
    assert cli(*argv).status == 0
    assert (workdir / "tokenward.db").is_file()
    assert cli("list", "--realm", "all").status == 0


def test_an_empty_list_names_the_store_it_looked_in(cli: Cli, workdir: Path) -> None:
    assert cli("migrate").status == 0
    assert cli("list").out == "No tokens in SQLiteStore('tokenward.db').\n"
    elsewhere = workdir / "elsewhere.db"
    assert cli("migrate", "--store", f"sqlite:///{elsewhere}").status == 0
    listed = cli("list", "--store", f"sqlite:///{elsewhere}")
    assert listed.out == f"No tokens in SQLiteStore({str(elsewhere)!r}).\n"
    assert cli("list", "--store", "memory://").out == "No tokens in MemoryStore(0 tokens).\n"
    assert cli("list", "--json").out == "[]\n"
