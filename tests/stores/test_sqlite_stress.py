"""The SQLite read cache under load from another process: every revocation or edit that
process commits holds on this process's very next read, thousands of times in a row.

The warm read skips SQL while the WAL-index header in the -shm file is unchanged; this
checks that shortcut against a real second process writing through its own connection.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from tokenward import SQLiteStore
from tokenward.testing import FrozenClock, TokenFactory

pytestmark = pytest.mark.slow

ROUNDS = 3000
ACLS = ("list-accts", "edit-dns", "create-dns", "kill-dns")
TOKENS = 301  # a token comes back every 301 rounds, with the next ACL of the cycle


def writer(path: str, channel: Connection) -> None:
    """In another process: revoke or narrow the token named, then say so."""
    store = SQLiteStore(path)
    while (order := channel.recv()) is not None:
        kind, token_id, acl = order
        if kind == "revoke":
            store.delete([token_id])
        else:
            (record,) = [r for r in store.list() if r.id == token_id]
            store.save(record.replace(acls=frozenset({acl})))
        channel.send("committed")
    store.close()


def test_thousands_of_interleaved_changes_by_another_process_hold_on_the_next_read(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "tokens.db")
    reader = SQLiteStore(path)
    factory = TokenFactory(reader, FrozenClock())
    tokens = [factory.mint(acls=["edit-dns"]).created.record for _ in range(TOKENS)]
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=writer, args=(path, theirs))
    process.start()
    stale = 0
    try:
        for round_ in range(ROUNDS):
            record = tokens[round_ % len(tokens)]
            seen = reader.get(record.digest)
            if seen is None:  # revoked in an earlier round
                continue
            assert reader.get(record.digest) == seen  # warm: from the cache
            kind = "revoke" if round_ % 7 == 0 else "edit"
            acl = ACLS[round_ % len(ACLS)]  # never the value it has: each edit is visible
            ours.send((kind, record.id, acl))
            assert ours.recv() == "committed"
            after = reader.get(record.digest)
            if kind == "revoke":
                stale += after is not None
            else:
                stale += after is None or after.acls != frozenset({acl})
    finally:
        ours.send(None)
        process.join(timeout=60)
    assert process.exitcode == 0
    assert stale == 0
