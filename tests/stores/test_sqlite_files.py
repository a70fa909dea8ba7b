"""SQLiteStore's files hold user names, ACLs, addresses, digests and verifiers: owner-only."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from tokenward import SQLiteStore, StoreError, TokenStore, open_store
from tokenward.testing import FrozenClock, TokenFactory


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """The usual umask, under which files are created 0644 unless asked otherwise."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "tokens.db"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def existing_database(path: Path, file_mode: int) -> None:
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA journal_mode = WAL")
    path.chmod(file_mode)


@pytest.mark.usefixtures("permissive_umask")
def test_database_and_its_wal_and_shm_files_are_private_to_the_owner(
    path: Path, clock: FrozenClock
) -> None:
    store = SQLiteStore(path)
    token = TokenFactory(store, clock).mint()
    assert store.get(token.created.record.digest) is not None
    files = [path, path.with_name("tokens.db-wal"), path.with_name("tokens.db-shm")]
    assert {file.name: mode(file) for file in files} == {file.name: 0o600 for file in files}
    store.close()


@pytest.mark.usefixtures("permissive_umask")
def test_an_existing_database_open_to_others_is_left_as_it_is_with_one_warning(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    existing_database(path, 0o640)
    caplog.set_level(logging.WARNING, logger="tokenward.store")
    SQLiteStore(path).close()
    assert mode(path) == 0o640
    warnings = [r for r in caplog.records if r.name == "tokenward.store"]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert str(path) in warnings[0].getMessage()
    assert f"chmod 600 {path}" in warnings[0].getMessage()


@pytest.mark.usefixtures("permissive_umask")
def test_an_existing_private_database_opens_without_a_warning(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    existing_database(path, 0o600)
    caplog.set_level(logging.WARNING, logger="tokenward.store")
    SQLiteStore(path).close()
    assert mode(path) == 0o600
    assert not [r for r in caplog.records if r.name == "tokenward.store"]


# -- opening without creating (what the read-only CLI commands do) -------------------------


@pytest.mark.parametrize("where", ["tokens.db", "no/such/dir/tokens.db"], ids=["file", "dir"])
def test_without_create_a_missing_store_is_an_error_naming_it_and_nothing_is_made(
    tmp_path: Path, where: str
) -> None:
    """A typo in a path must not quietly become an empty store (nor its directories)."""
    missing = tmp_path / where
    openings: list[Callable[[], TokenStore]] = [
        lambda: SQLiteStore(missing, create=False),
        lambda: open_store(f"sqlite:///{missing}", create=False),
    ]
    for opening in openings:
        with pytest.raises(StoreError) as refused:
            opening()
        assert str(missing) in str(refused.value)
        assert "tokenward migrate" in str(refused.value)
    assert list(tmp_path.iterdir()) == []


def test_without_create_an_existing_store_opens_and_reads(path: Path, clock: FrozenClock) -> None:
    store = SQLiteStore(path)
    token = TokenFactory(store, clock).mint()
    store.close()
    reader = SQLiteStore(path, create=False)
    assert reader.get(token.created.record.digest) == token.created.record
    reader.close()


def test_without_create_a_file_with_no_schema_is_refused_until_migrated(path: Path) -> None:
    path.touch(mode=0o600)
    with pytest.raises(StoreError, match=r"no tokenward schema.*tokenward migrate"):
        SQLiteStore(path, create=False)
    store = SQLiteStore(path)  # the default open creates the schema, as it always has
    store.close()
    SQLiteStore(path, create=False).close()


@pytest.mark.usefixtures("permissive_umask")
def test_without_create_a_database_open_to_others_is_still_warned_about(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    SQLiteStore(path).close()
    path.chmod(0o644)
    caplog.set_level(logging.WARNING, logger="tokenward.store")
    SQLiteStore(path, create=False).close()
    assert [r.getMessage() for r in caplog.records if r.name == "tokenward.store"] == [
        f"{path} holds token digests but is mode 644; run: chmod 600 {path}"
    ]


def test_migrate_says_it_created_the_schema_once_then_that_it_is_up_to_date(path: Path) -> None:
    """SQLite makes its schema when the file is made; migrate reports that, once."""
    store = SQLiteStore(path)
    assert store.migrate() == "created schema version 3"
    assert store.migrate() == "schema version 3 is up to date"
    store.close()
    again = SQLiteStore(path)
    assert again.migrate() == "schema version 3 is up to date"
    again.close()
