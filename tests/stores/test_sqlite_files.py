"""SQLiteStore's files hold user names, ACLs, addresses, digests and verifiers: owner-only."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from tokenward import SQLiteStore
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
