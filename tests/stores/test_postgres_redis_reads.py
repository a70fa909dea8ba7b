"""The request-path read of PostgreSQL and Redis (``get`` / ``aget``), which decodes each
distinct answer once and hands the same record object out while nothing changes.

Whatever another process does to a token (edit, rotation, revocation, deletion, a renamed
owner, a last use, a re-hashed verifier) must show on the very next read, sync or async,
exactly as a store instance that has decoded nothing yet reads it; a read racing a write
must see the whole record before or after it, never a mixture; awkward values must come
back exactly; and a driver failure must still be a ``StoreError``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.stores.conftest import (
    POSTGRES_URL,
    REDIS_URL,
    postgres_reachable,
    redis_reachable,
    require_service,
)
from tokenward import RequestInfo, StoreError, TokenStore
from tokenward.core.tokens import Realm, TokenRecord
from tokenward.guard import Guard
from tokenward.stores.base import Usage
from tokenward.testing import FrozenClock, TokenFactory, fast_settings
from tokenward.testing.conformance import record

KINDS = [
    pytest.param("postgres", marks=pytest.mark.postgres, id="postgres"),
    pytest.param("redis", marks=pytest.mark.redis, id="redis"),
]


def open_store(kind: str, where: str) -> TokenStore:
    """A store instance on the schema (PostgreSQL) or prefix (Redis) ``where``: each one is
    what another worker process opens (its own connections, nothing decoded yet)."""
    if kind == "postgres":
        from tokenward.stores.postgres import PostgresStore

        return PostgresStore(POSTGRES_URL, schema=where)
    from tokenward.stores.redis import RedisStore

    return RedisStore(REDIS_URL, prefix=where)


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    name = str(request.param)
    if name == "postgres":
        require_service("PostgreSQL", POSTGRES_URL, postgres_reachable())
    else:
        require_service("Redis", REDIS_URL, redis_reachable())
    return name


@pytest.fixture
def where(kind: str) -> Iterator[str]:
    if kind == "postgres":
        schema = f"tw_{uuid.uuid4().hex[:12]}"
        first = open_store(kind, schema)
        first.migrate()
        first.close()
        yield schema
        import psycopg

        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    else:
        prefix = f"tw-test:{uuid.uuid4().hex}:"
        yield prefix
        from tokenward.stores.redis import RedisStore

        cleaner = RedisStore(REDIS_URL, prefix=prefix)
        cleaner.drop()
        cleaner.close()


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as loop:
        yield loop


@pytest.fixture
def store(kind: str, where: str, runner: asyncio.Runner) -> Iterator[TokenStore]:
    opened = open_store(kind, where)
    yield opened
    runner.run(opened.aclose())
    opened.close()


@pytest.fixture
def other(kind: str, where: str) -> Iterator[TokenStore]:
    """Another process's store on the same data: where the changes come from."""
    opened = open_store(kind, where)
    yield opened
    opened.close()


def afresh(kind: str, where: str, digest: str) -> TokenRecord | None:
    """What an instance that has decoded nothing yet reads."""
    reader = open_store(kind, where)
    try:
        return reader.get(digest)
    finally:
        reader.close()


def current(other: TokenStore, digest: str) -> TokenRecord:
    found = other.get(digest)
    assert found is not None
    return found


@pytest.mark.parametrize("kind", KINDS, indirect=True)
def test_an_unchanged_token_is_one_object_and_every_change_elsewhere_shows_next_read(
    kind: str, where: str, store: TokenStore, other: TokenStore, runner: asyncio.Runner
) -> None:
    first = TokenFactory(store).mint("alice", "ci").created.record
    read = store.get(first.digest)
    assert read == first
    assert store.get(first.digest) is read  # nothing changed: the very same object
    assert runner.run(store.aget(first.digest)) is read  # sync and async share it
    new = record().digest  # the digest a rotation moves to

    def rotate(r: TokenRecord) -> None:
        other.save(
            r.replace(
                digest=new,
                verifier="$argon2id$v=19$rotated",
                previous_digest=r.digest,
                previous_verifier=r.verifier,
                previous_until=1_800_000_600,
            )
        )

    def end_grace(r: TokenRecord) -> None:
        other.save(r.replace(previous_digest=None, previous_verifier=None, previous_until=None))

    changes: list[tuple[str, Callable[[TokenRecord], object]]] = [
        ("last use", lambda r: other.record_usage([Usage(r.id, 1_800_000_100, "192.0.2.7")])),
        ("another last use", lambda r: other.record_usage([Usage(r.id, 1_800_000_200, None)])),
        ("acls", lambda r: other.save(r.replace(acls=frozenset({"dns"})))),
        ("read-only", lambda r: other.save(r.replace(readonly=True))),
        ("expiry", lambda r: other.save(r.replace(expires_at=1_800_000_300))),
        ("addresses", lambda r: other.save(r.replace(whitelist_ips=("192.0.2.0/24",)))),
        ("verifier", lambda r: other.replace_verifier(r.digest, r.verifier, "$argon2id$v=19$n")),
        ("rotation", rotate),
        ("owner renamed", lambda r: other.rename_user(Realm.CPANEL, "alice", "alicia")),
        ("grace ended", end_grace),
        ("revoked", lambda r: other.save(r.replace(revoked_at=1_800_000_400))),
        ("deleted", lambda r: other.delete([r.id])),
    ]
    lookup = first.digest  # the token's current digest
    for what, change in changes:
        before = store.get(lookup)
        assert before is not None
        change(current(other, lookup))
        if what == "rotation":
            lookup = new
        for digest in (first.digest, new):
            expected = afresh(kind, where, digest)
            assert store.get(digest) == expected, (what, digest)
            assert runner.run(store.aget(digest)) == expected, (what, digest)
        after = store.get(lookup)
        assert after is not before, what  # never the object handed out before the change
        assert after is None or store.get(lookup) is after
    assert store.get(first.digest) is None
    assert store.get(new) is None


@pytest.mark.parametrize("kind", KINDS, indirect=True)
def test_the_warm_path_sees_a_revocation_deletion_or_edit_by_another_process_at_once(
    store: TokenStore, other: TokenStore, runner: asyncio.Runner
) -> None:
    clock = FrozenClock()
    factory = TokenFactory(store, clock)
    guard = Guard(store, fast_settings(), audit=None, background_flush=False, clock=clock)
    auth = guard.authenticator
    try:
        tokens = [factory.mint("alice", f"t{i}") for i in range(4)]
        gets = [RequestInfo("GET", "/", (t.header,), "192.0.2.1") for t in tokens]
        posts = [RequestInfo("POST", "/", (t.header,), "192.0.2.1") for t in tokens]
        for get, post in zip(gets, posts, strict=True):
            assert auth.authenticate(get).allowed
            assert auth.authenticate(post).allowed
            assert runner.run(auth.authenticate_async(get)).allowed
            # Granted from the warm entry: nothing about the token changed.
            assert auth.authenticate(get) is auth.authenticate(get)
        records = [current(other, t.created.record.digest) for t in tokens]
        other.save(records[0].replace(revoked_at=int(clock()), revoked_reason="leaked"))
        other.delete([records[1].id])
        other.save(records[2].replace(readonly=True))
        other.save(records[3].replace(expires_at=int(clock()) - 1))
        for index in (0, 1, 3):
            assert not auth.authenticate(gets[index]).allowed
            assert not runner.run(auth.authenticate_async(gets[index])).allowed
        assert auth.authenticate(gets[2]).allowed
        assert not auth.authenticate(posts[2]).allowed  # read-only now
        assert not runner.run(auth.authenticate_async(posts[2])).allowed
    finally:
        runner.run(auth.aclose())


@pytest.mark.parametrize("kind", KINDS, indirect=True)
def test_a_read_racing_another_processes_writes_sees_a_whole_record(
    store: TokenStore, other: TokenStore, runner: asyncio.Runner
) -> None:
    """Two complete versions of one token, differing in every field a write can change
    (a rotation included), written in turn by another process while this one reads: every
    read is exactly one of them, or nothing for a digest the other version does not hold."""
    start = record(user="alice", name="v0")
    d1, d2 = record().digest, record().digest
    one = start.replace(
        name="one",
        digest=d1,
        verifier="$argon2id$v=19$one",
        previous_digest=start.digest,
        previous_verifier=start.verifier,
        previous_until=100,
        acls=frozenset({"one"}),
        whitelist_ips=("192.0.2.1",),
        expires_at=1_900_000_001,
    )
    two = start.replace(
        name="two",
        digest=d2,
        verifier="$argon2id$v=19$two",
        previous_digest=d1,
        previous_verifier="$argon2id$v=19$one",
        previous_until=200,
        acls=frozenset({"two", "more"}),
        whitelist_ips=("2001:db8::/32", "10.0.0.0/8"),
        readonly=True,
        revoked_at=5,
        revoked_reason="two",
    )
    store.add(one)
    holds = {start.digest: (one,), d1: (one, two), d2: (two,)}
    stop = threading.Event()
    failures: list[BaseException] = []

    def write() -> None:
        try:
            while not stop.is_set():
                other.save(two)
                other.save(one)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)

    def check(digest: str, found: TokenRecord | None) -> None:
        assert found is None or found in holds[digest], (digest, found)
        if len(holds[digest]) == 2:
            assert found is not None  # held by both versions: never missing

    async def read_async(rounds: int) -> None:
        for i in range(rounds):
            digest = (start.digest, d1, d2)[i % 3]
            check(digest, await store.aget(digest))

    writer = threading.Thread(target=write)
    writer.start()
    try:
        for i in range(600):
            digest = (start.digest, d1, d2)[i % 3]
            check(digest, store.get(digest))
        runner.run(read_async(600))
    finally:
        stop.set()
        writer.join()
    assert not failures


@pytest.mark.parametrize("kind", KINDS, indirect=True)
def test_awkward_values_read_back_exactly(
    kind: str, where: str, store: TokenStore, runner: asyncio.Runner
) -> None:
    """Quotes, backslashes, line breaks, non-ASCII text and large numbers survive the read's
    encoding (one JSON text, or one length-prefixed string) as they survive ``find``."""
    awkward = record(
        user='bö "b" \\ \n',
        name='a "quoted" \\ name\nwith a line break, 日本',
        acls=frozenset({"all", 'x"y', "z\\n"}),
        whitelist_ips=("192.0.2.0/24", "2001:db8::/32"),
        created_at=2**62,
        expires_at=2**62 + 1,
        previous_digest=record().digest,
        previous_verifier='$argon2id$v=19$"prev"',
        previous_until=2**40,
        readonly=True,
        revoked_at=7,
        revoked_reason="line one\nline two \u2028 \\ \"'",
    )
    plain = record(name="never used")
    store.add(awkward)
    store.add(plain)
    store.record_usage([Usage(awkward.id, 2**40, "192.0.2.1\nnot an address, ü")])
    expected = afresh(kind, where, awkward.digest)
    assert expected is not None
    assert (expected.last_used_at, expected.last_used_ip) == (2**40, "192.0.2.1\nnot an address, ü")
    assert expected == awkward.replace(last_used_at=2**40, last_used_ip=expected.last_used_ip)
    for digest in (awkward.digest, awkward.previous_digest or ""):
        assert store.get(digest) == expected
        assert runner.run(store.aget(digest)) == expected
    assert store.find(awkward.realm, awkward.user, awkward.name) == expected
    assert store.get(plain.digest) == plain  # no last use: both fields None
    assert runner.run(store.aget(plain.digest)) == plain


@pytest.mark.parametrize("kind", KINDS, indirect=True)
def test_decoded_answers_are_bounded(
    kind: str, store: TokenStore, runner: asyncio.Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tokenward.stores.postgres as postgres_store
    import tokenward.stores.redis as redis_store

    module = postgres_store if kind == "postgres" else redis_store
    monkeypatch.setattr(module, "DECODED_LIMIT", 2)
    records = [record(name=f"t{i}") for i in range(5)]
    for r in records:
        store.add(r)
    for _ in range(2):
        for r in records:
            assert store.get(r.digest) == r
            assert runner.run(store.aget(r.digest)) == r
            assert len(store._decoded) <= 2  # type: ignore[attr-defined]


# -- Redis ---------------------------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.parametrize("kind", ["redis"], indirect=True)
def test_redis_reads_load_the_script_when_the_server_does_not_know_it(
    store: TokenStore, runner: asyncio.Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As after a restart or ``SCRIPT FLUSH``: EVALSHA says NOSCRIPT, the script is loaded
    and run, and the answer is the same."""
    r = record()
    store.add(r)
    monkeypatch.setattr(store, "_get_sha", "0" * 40)  # a script no server has
    assert store.get(r.digest) == r
    assert runner.run(store.aget(r.digest)) == r
    assert store.get("f" * 32) is None


@pytest.mark.redis
@pytest.mark.parametrize("kind", ["redis"], indirect=True)
def test_a_redis_error_in_the_read_is_a_store_error(
    store: TokenStore, where: str, runner: asyncio.Runner
) -> None:
    import redis

    r = record()
    store.add(r)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.delete(f"{where}d:{r.digest}")
        client.hset(f"{where}d:{r.digest}", "not", "a string")  # GET inside the script fails
        with pytest.raises(StoreError) as sync_error:
            store.get(r.digest)
        assert isinstance(sync_error.value.__cause__, redis.RedisError)
        with pytest.raises(StoreError) as async_error:
            runner.run(store.aget(r.digest))
        assert isinstance(async_error.value.__cause__, redis.RedisError)
    finally:
        client.close()


@pytest.mark.redis
@pytest.mark.parametrize("kind", ["redis"], indirect=True)
def test_redis_records_as_older_layouts_and_versions_wrote_them_read_alike(
    kind: str, where: str, store: TokenStore, runner: asyncio.Runner
) -> None:
    """A layout-1 record (no ``readonly``, no ``revoked_*`` members, never used), changed
    afterwards by another process running the store's scripts as an older tokenward does:
    each change shows on the next read, which equals what ``find`` reads."""
    import redis

    from tokenward.stores import redis_scripts

    r = record()
    client = redis.Redis.from_url(REDIS_URL)
    try:
        document = {
            "id": r.id,
            "realm": r.realm.value,
            "user": r.user,
            "name": r.name,
            "digest": r.digest,
            "verifier": r.verifier,
            "created_at": r.created_at,
            "acls": sorted(r.acls),
            "whitelist_ips": [],
        }
        keys_and_args = [r.id, json.dumps(document), r.digest, "", r.realm.value, r.user, r.name]
        assert client.eval(redis_scripts.ADD, 1, where, *keys_and_args) == 1
        client.set(f"{where}schema_version", "1")
        assert store.get(r.digest) == r
        seen = store.get(r.digest)
        assert runner.run(store.aget(r.digest)) is seen
        client.eval(redis_scripts.USAGE, 1, where, 0, 86_400, r.id, 3000, "192.0.2.9", 0)
        used = r.replace(last_used_at=3000, last_used_ip="192.0.2.9")
        assert store.get(r.digest) == used
        document["revoked_at"], document["revoked_reason"] = 4000, "leaked"
        keys_and_args[1] = json.dumps(document)
        assert client.eval(redis_scripts.SAVE, 1, where, *keys_and_args) == 1
        revoked = used.replace(revoked_at=4000, revoked_reason="leaked")
        assert runner.run(store.aget(r.digest)) == revoked
        assert store.get(r.digest) == revoked == store.find(r.realm, r.user, r.name)
        assert client.eval(redis_scripts.DELETE, 1, where, r.id) == 1
        assert store.get(r.digest) is None
        assert runner.run(store.aget(r.digest)) is None
        assert store.migrate() == "upgraded key layout version 1 to 3"
    finally:
        client.close()


# -- PostgreSQL ----------------------------------------------------------------------------


def _postgres(where: str, conninfo: str = POSTGRES_URL, max_size: int = 10) -> TokenStore:
    from tokenward.stores.postgres import PostgresStore

    return PostgresStore(conninfo, schema=where, min_size=1, max_size=max_size, timeout=3.0)


@pytest.mark.postgres
@pytest.mark.parametrize("kind", ["postgres"], indirect=True)
def test_postgres_rows_written_by_plain_sql_show_on_the_next_read(
    where: str, store: TokenStore, runner: asyncio.Runner
) -> None:
    """Another client (an operator, an older tokenward) updating the row directly."""
    import psycopg

    r = record()
    store.add(r)
    seen = store.get(r.digest)
    assert runner.run(store.aget(r.digest)) is seen
    table = f'"{where}".tokenward_tokens'
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"UPDATE {table} SET revoked_at = 9 WHERE id = %s", (r.id,))  # noqa: S608
        assert store.get(r.digest) == r.replace(revoked_at=9)
        conn.execute(f"UPDATE {table} SET acls = '[\"dns\"]' WHERE id = %s", (r.id,))  # noqa: S608
        changed = r.replace(revoked_at=9, acls=frozenset({"dns"}))
        assert runner.run(store.aget(r.digest)) == changed
        conn.execute(f"DELETE FROM {table} WHERE id = %s", (r.id,))  # noqa: S608
    assert store.get(r.digest) is None
    assert runner.run(store.aget(r.digest)) is None


@pytest.mark.postgres
@pytest.mark.parametrize("kind", ["postgres"], indirect=True)
def test_postgres_reads_recover_from_killed_connections_and_say_store_error(
    where: str, runner: asyncio.Runner
) -> None:
    """The connections the reads use are killed server-side: a read may fail, as a
    ``StoreError`` raised from psycopg's error, and the broken connection is not handed out
    again (the next read works)."""
    import psycopg

    name = f"tw-kill-{uuid.uuid4().hex[:8]}"
    joiner = "&" if "?" in POSTGRES_URL else "?"
    store = _postgres(where, f"{POSTGRES_URL}{joiner}application_name={name}", max_size=1)
    r = record()
    store.add(r)

    def kill() -> None:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s",
                (name,),
            )

    readers: list[Callable[[str], TokenRecord | None]] = [
        store.get,
        lambda digest: runner.run(store.aget(digest)),
    ]
    try:
        for read in readers:
            assert read(r.digest) == r
            kill()
            outcome: TokenRecord | StoreError | None
            try:
                outcome = read(r.digest)
            except StoreError as exc:
                outcome = exc
            if isinstance(outcome, StoreError):
                assert isinstance(outcome.__cause__, psycopg.Error)
            else:
                assert outcome == r
            assert read(r.digest) == r
            assert read(r.digest) == r
    finally:
        runner.run(store.aclose())
        store.close()


@pytest.mark.postgres
@pytest.mark.parametrize("kind", ["postgres"], indirect=True)
def test_a_cancelled_postgres_aget_gives_its_connection_back(
    where: str, runner: asyncio.Runner
) -> None:
    """A request cancelled mid-read (client gone, timeout) must not keep the connection: with
    a pool of one, the next read still gets one."""
    import psycopg

    store = _postgres(where, max_size=1)
    r = record()
    store.add(r)
    try:
        assert runner.run(store.aget(r.digest)) == r
        with psycopg.connect(POSTGRES_URL) as locker:
            locker.execute(f'LOCK TABLE "{where}".tokenward_tokens IN ACCESS EXCLUSIVE MODE')
            with pytest.raises(TimeoutError):
                runner.run(asyncio.wait_for(store.aget(r.digest), 0.3))
            locker.rollback()
        assert runner.run(store.aget(r.digest)) == r
        assert runner.run(store.aget(r.digest)) == r
    finally:
        runner.run(store.aclose())
        store.close()


@pytest.mark.postgres
@pytest.mark.parametrize("kind", ["postgres"], indirect=True)
def test_postgres_reads_of_an_older_schema_or_a_closed_store_are_store_errors(
    where: str, runner: asyncio.Runner
) -> None:
    import psycopg

    store = _postgres(where)
    r = record()
    store.add(r)
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'ALTER TABLE "{where}".tokenward_tokens DROP COLUMN revoked_reason')
    try:
        with pytest.raises(StoreError, match="run `tokenward migrate`"):
            store.get(r.digest)
        with pytest.raises(StoreError, match="run `tokenward migrate`"):
            runner.run(store.aget(r.digest))
    finally:
        runner.run(store.aclose())
        store.close()
    with pytest.raises(StoreError) as closed:
        store.get(r.digest)
    assert isinstance(closed.value.__cause__, psycopg.Error)
