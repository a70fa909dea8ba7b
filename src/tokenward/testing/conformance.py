"""The store conformance suite: every store, including yours, must pass it.

    from tokenward.testing.conformance import StoreConformance

    class TestMyStore(StoreConformance):
        @pytest.fixture
        def store(self):
            s = MyStore(...)
            yield s
            s.drop()

        def raw_dump(self, store):
            return "\n".join(str(row) for row in my_backend_rows())

        def twin(self, store):
            return MyStore(...)  # a second instance on the same data, as a worker opens it

A subclass also says how to dump everything its store keeps (``raw_dump``), so the suite
can prove the plaintext secret is stored nowhere, and how to open a second instance on the
same data (``twin``), so it can prove that two workers' request counts add up.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tokenward.core.crypto import lookup_digest
from tokenward.core.tokens import Realm, TokenRecord, is_within_expiry
from tokenward.errors import DuplicateTokenError, TokenNotFoundError
from tokenward.stores.base import USAGE_DAYS, TokenStore, Usage
from tokenward.testing import FrozenClock, TokenFactory

__all__ = ["StoreConformance", "record"]


def record(
    user: str = "alice", name: str = "t", realm: Realm = Realm.CPANEL, **changes: object
) -> TokenRecord:
    """A record with a fresh id and digest (no argon2: the suite tests storage, not hashing)."""
    secret = uuid.uuid4().hex.upper()[:32]
    base = TokenRecord(
        id=uuid.uuid4().hex,
        realm=realm,
        user=user,
        name=name,
        digest=lookup_digest(realm, secret),
        verifier="$argon2id$v=19$test",
        created_at=1000,
    )
    return base.replace(**changes) if changes else base


class StoreConformance:
    """Subclass it and provide a ``store`` fixture (a fresh, empty store per test).

    ``replaces_verifiers`` declares whether the store implements the compare-and-set
    ``replace_verifier`` (the lazy argon2 upgrade). A store that keeps the base class's
    default sets it to ``False``, and the suite then checks that it replaces nothing.
    """

    replaces_verifiers: bool = True

    def raw_dump(self, store: TokenStore) -> str:
        """Everything the store keeps, as text, so the suite can search it for the secret.
        Subclasses must say how (rows, keys and values, files): without it the suite fails."""
        raise TypeError(f"{type(self).__name__} must define raw_dump(store)")

    def twin(self, store: TokenStore) -> TokenStore:
        """A second instance of the store on the same data, as another worker process opens
        it (a store whose instances share nothing, like ``MemoryStore``, returns ``store``).
        The suite closes it when it is not ``store``."""
        raise TypeError(f"{type(self).__name__} must define twin(store)")

    def test_add_then_get_by_digest_and_find_by_name(self, store: TokenStore) -> None:
        r = record(acls=frozenset({"edit-dns"}), whitelist_ips=("192.0.2.0/24",), expires_at=5)
        store.add(r)
        assert store.get(r.digest) == r
        assert store.find(Realm.CPANEL, "alice", "t") == r
        assert store.get("0" * 32) is None
        assert store.find(Realm.WHM, "alice", "t") is None

    def test_readonly_survives_every_write_and_read(self, store: TokenStore) -> None:
        """A store that drops the flag would silently turn read-only tokens read-write."""
        r = record(readonly=True)
        store.add(r)
        store.add(record(name="rw"))
        assert store.get(r.digest) == r
        assert {x.name: x.readonly for x in store.list()} == {"t": True, "rw": False}
        store.save(r.replace(name="renamed"))
        assert store.rename_user(Realm.CPANEL, "alice", "alicia") == 2
        moved = store.find(Realm.CPANEL, "alicia", "renamed")
        assert moved is not None
        assert moved.readonly
        store.save(moved.replace(readonly=False))
        assert store.get(r.digest) == moved.replace(readonly=False)

    def test_aget_answers_like_get(self, store: TokenStore) -> None:
        import asyncio

        r = record()
        store.add(r)

        async def both() -> tuple[TokenRecord | None, TokenRecord | None]:
            try:
                return await store.aget(r.digest), await store.aget("f" * 32)
            finally:
                await store.aclose()

        assert asyncio.run(both()) == (r, None)
        assert store.get(r.digest) == r

    def test_migrate_is_idempotent_reports_one_line_and_keeps_the_tokens(
        self, store: TokenStore
    ) -> None:
        r = record()
        store.add(r)
        first = store.migrate()
        again = store.migrate()
        assert store.migrate() == again  # once up to date, it says so the same way every time
        for report in (first, again):
            assert isinstance(report, str)
            assert report.strip()
            assert "\n" not in report
        assert store.list() == [r]
        assert store.get(r.digest) == r
        store.add(record(name="after"))  # still writable

    def test_names_are_unique_per_user_and_realm(self, store: TokenStore) -> None:
        store.add(record())
        with pytest.raises(DuplicateTokenError):
            store.add(record())
        store.add(record(user="bob"))
        store.add(record(realm=Realm.WHM))
        store.add(record(name="T"))  # names are case-sensitive
        assert len(store.list()) == 4

    def test_digests_are_unique(self, store: TokenStore) -> None:
        first = record()
        store.add(first)
        with pytest.raises(DuplicateTokenError):
            store.add(record(name="other", digest=first.digest))

    def test_only_one_of_concurrent_creates_of_a_name_wins(self, store: TokenStore) -> None:
        start = threading.Barrier(8)

        def create(_: int) -> bool:
            start.wait(timeout=30)
            try:
                store.add(record(name="race"))
            except DuplicateTokenError:
                return False
            return True

        with ThreadPoolExecutor(8) as pool:
            outcomes = list(pool.map(create, range(8)))
        assert outcomes.count(True) == 1
        assert len(store.list()) == 1

    def test_list_is_sorted_and_filtered(self, store: TokenStore) -> None:
        for user, name, realm in [
            ("bob", "b", Realm.CPANEL),
            ("alice", "z", Realm.CPANEL),
            ("alice", "a", Realm.CPANEL),
            ("root", "r", Realm.WHM),
        ]:
            store.add(record(user=user, name=name, realm=realm))
        assert [(r.user, r.name) for r in store.list()] == [
            ("alice", "a"),
            ("alice", "z"),
            ("bob", "b"),
            ("root", "r"),
        ]
        assert [r.name for r in store.list(realm=Realm.WHM)] == ["r"]
        assert [r.name for r in store.list(realm=Realm.CPANEL, user="alice")] == ["a", "z"]
        assert [r.name for r in store.list(user="bob")] == ["b"]

    def test_save_edits_renames_and_rotates(self, store: TokenStore) -> None:
        r = record()
        store.add(r)
        fresh = record()
        rotated = r.replace(
            name="renamed",
            acls=frozenset({"x"}),
            whitelist_ips=("::1",),
            expires_at=99,
            digest=fresh.digest,
            previous_digest=r.digest,
            previous_verifier=r.verifier,
            previous_until=50,
        )
        store.save(rotated)
        assert store.get(fresh.digest) == rotated
        assert store.get(r.digest) == rotated  # the previous secret still finds it
        assert store.find(Realm.CPANEL, "alice", "t") is None
        assert store.find(Realm.CPANEL, "alice", "renamed") == rotated
        store.save(
            rotated.replace(previous_digest=None, previous_verifier=None, previous_until=None)
        )
        assert store.get(r.digest) is None

    def test_save_refuses_a_missing_token_and_a_name_clash(self, store: TokenStore) -> None:
        with pytest.raises(TokenNotFoundError):
            store.save(record())
        first, second = record(name="one"), record(name="two")
        store.add(first)
        store.add(second)
        with pytest.raises(DuplicateTokenError):
            store.save(second.replace(name="one"))
        assert store.find(Realm.CPANEL, "alice", "two") == second

    def test_save_keeps_the_stores_last_use(self, store: TokenStore) -> None:
        r = record()
        store.add(r)
        store.record_usage([Usage(r.id, 2000, "192.0.2.1")])
        store.save(r.replace(name="renamed"))
        saved = store.get(r.digest)
        assert saved is not None
        assert (saved.last_used_at, saved.last_used_ip) == (2000, "192.0.2.1")

    def test_replace_verifier_is_a_compare_and_set_on_the_current_digest(
        self, store: TokenStore
    ) -> None:
        r = record()
        store.add(r)
        store.record_usage([Usage(r.id, 2000, "192.0.2.1")])
        before = store.get(r.digest)
        assert before is not None
        upgraded = before.replace(verifier="$argon2id$v=19$upgraded")
        replaced = store.replace_verifier(r.digest, r.verifier, upgraded.verifier)
        assert replaced is self.replaces_verifiers
        after = upgraded if self.replaces_verifiers else before
        assert store.get(r.digest) == after  # nothing but the verifier changed
        assert store.find(Realm.CPANEL, "alice", "t") == after
        # The old verifier no longer matches (or never did): a second upgrade does nothing.
        assert not store.replace_verifier(r.digest, "$argon2id$v=19$stale", "$argon2id$x")
        assert not store.replace_verifier("0" * 32, r.verifier, "$argon2id$x")
        assert store.get(r.digest) == after

    def test_replace_verifier_never_touches_a_rotated_token_by_its_old_digest(
        self, store: TokenStore
    ) -> None:
        r = record()
        store.add(r)
        rotated = r.replace(
            digest=record().digest,
            verifier="$argon2id$v=19$new-secret",
            previous_digest=r.digest,
            previous_verifier=r.verifier,
            previous_until=5000,
        )
        store.save(rotated)
        assert not store.replace_verifier(r.digest, r.verifier, "$argon2id$x")
        assert not store.replace_verifier(r.digest, rotated.verifier, "$argon2id$x")
        assert store.get(r.digest) == rotated
        assert store.get(rotated.digest) == rotated

    def test_concurrent_verifier_replacements_let_exactly_one_win(self, store: TokenStore) -> None:
        r = record()
        store.add(r)
        candidates = [f"$argon2id$v=19$candidate{i}" for i in range(8)]
        with ThreadPoolExecutor(8) as pool:
            won = list(
                pool.map(lambda new: store.replace_verifier(r.digest, r.verifier, new), candidates)
            )
        final = store.get(r.digest)
        assert final is not None
        if self.replaces_verifiers:
            assert won.count(True) == 1
            assert final.verifier == candidates[won.index(True)]
        else:
            assert not any(won)
            assert final.verifier == r.verifier

    def test_delete_ignores_unknown_ids_and_counts(self, store: TokenStore) -> None:
        a, b = record(name="a"), record(name="b")
        store.add(a)
        store.add(b)
        assert store.delete([a.id, "nope"]) == 1
        assert store.get(a.digest) is None
        assert store.find(Realm.CPANEL, "alice", "a") is None
        assert store.delete([]) == 0
        store.add(record(name="a"))  # the name is free again

    def test_delete_user_removes_only_that_users_tokens(self, store: TokenStore) -> None:
        mine = [record(name=n) for n in ("a", "b")]
        for r in (*mine, record(user="bob"), record(realm=Realm.WHM)):
            store.add(r)
        assert store.delete_user(Realm.CPANEL, "alice") == 2
        assert all(store.get(r.digest) is None for r in mine)
        assert len(store.list()) == 2

    def test_rename_user_keeps_tokens_working(self, store: TokenStore) -> None:
        r = record(previous_digest=record().digest, previous_until=10)
        store.add(r)
        assert store.rename_user(Realm.CPANEL, "alice", "alicia") == 1
        moved = store.get(r.digest)
        assert moved is not None
        assert moved.user == "alicia"
        assert store.get(r.previous_digest or "") == moved
        assert store.find(Realm.CPANEL, "alicia", "t") == moved
        assert store.list(realm=Realm.CPANEL, user="alice") == []

    def test_rename_user_refuses_a_clash_and_moves_nothing(self, store: TokenStore) -> None:
        store.add(record(user="alice", name="same"))
        store.add(record(user="bob", name="same"))
        with pytest.raises(DuplicateTokenError):
            store.rename_user(Realm.CPANEL, "alice", "bob")
        assert store.find(Realm.CPANEL, "alice", "same") is not None

    def test_usage_is_batched_and_only_moves_forward(self, store: TokenStore) -> None:
        a, b = record(name="a"), record(name="b")
        store.add(a)
        store.add(b)
        store.record_usage(
            [Usage(a.id, 3000, "192.0.2.3"), Usage(b.id, 10, None), Usage("gone", 1, None)]
        )
        store.record_usage([Usage(a.id, 2000, "192.0.2.2")])  # an older flush arrives late
        found = store.get(a.digest)
        assert found is not None
        assert (found.last_used_at, found.last_used_ip) == (3000, "192.0.2.3")
        other = store.get(b.digest)
        assert other is not None
        assert (other.last_used_at, other.last_used_ip) == (10, None)

    def test_expiry_is_valid_through_its_second_after_a_round_trip(self, store: TokenStore) -> None:
        clock = FrozenClock(1_000_000.0)
        r = record(expires_at=1_000_100)
        store.add(r)
        stored = store.get(r.digest)
        assert stored is not None
        assert stored.expires_at == 1_000_100
        clock.set(1_000_100.99)
        assert is_within_expiry(stored.expires_at, clock())
        clock.set(1_000_101)
        assert not is_within_expiry(stored.expires_at, clock())

    def test_the_secret_is_kept_nowhere(self, store: TokenStore) -> None:
        token = TokenFactory(store).mint("alice", "real")
        assert store.get(token.created.record.digest) is not None
        dump = self.raw_dump(store)
        assert token.created.record.digest in dump  # the dump really holds the data
        assert token.secret not in dump

    # -- revoked in place -----------------------------------------------------------------

    def test_a_revocation_kept_on_record_survives_every_write_and_read(
        self, store: TokenStore
    ) -> None:
        """A store that dropped the mark would bring a reported-leaked token back to life."""
        r = record()
        store.add(r)
        store.add(record(name="fine"))
        marked = r.replace(revoked_at=5000, revoked_reason="reported leaked")
        store.save(marked)
        assert store.get(r.digest) == marked
        assert store.find(Realm.CPANEL, "alice", "t") == marked
        assert {x.name: x.revoked_reason for x in store.list()} == {
            "t": "reported leaked",
            "fine": None,
        }
        store.record_usage([Usage(r.id, 6000, "192.0.2.1", ((0, 1),))])
        assert store.rename_user(Realm.CPANEL, "alice", "alicia") == 2
        moved = store.find(Realm.CPANEL, "alicia", "t")
        assert moved is not None
        assert (moved.revoked_at, moved.revoked_reason, moved.revoked) == (
            5000,
            "reported leaked",
            True,
        )
        born_revoked = record(name="added", revoked_at=7000, revoked_reason="x")
        store.add(born_revoked)
        assert store.get(born_revoked.digest) == born_revoked

    # -- per-day request counts -----------------------------------------------------------

    def test_request_counts_are_added_per_day_with_the_last_use(self, store: TokenStore) -> None:
        a, b = record(name="a"), record(name="b")
        store.add(a)
        store.add(b)
        day = 20_000
        noon = day * 86_400 + 43_200
        store.record_usage(
            [
                Usage(a.id, noon, "192.0.2.1", ((day - 1, 3), (day, 2))),
                Usage(b.id, noon, None, ((day, 1),)),
                Usage("gone", noon, None, ((day, 9),)),
            ]
        )
        store.record_usage([Usage(a.id, noon - 60, None, ((day, 4),))])  # a late flush adds
        assert store.usage_counts([a.id, b.id, "gone", "never"], since_day=day - 6) == {
            a.id: {day - 1: 3, day: 6},
            b.id: {day: 1},
        }
        assert store.usage_counts([a.id, b.id], since_day=day) == {a.id: {day: 6}, b.id: {day: 1}}
        assert store.usage_counts([a.id], since_day=day + 1) == {}
        assert store.usage_counts([], since_day=0) == {}
        found = store.get(a.digest)
        assert found is not None
        assert (found.last_used_at, found.last_used_ip) == (noon, "192.0.2.1")

    def test_request_counts_older_than_the_window_are_pruned(self, store: TokenStore) -> None:
        r = record()
        store.add(r)
        day = 20_000
        old = day - USAGE_DAYS  # one day outside the window that ends today
        store.record_usage([Usage(r.id, old * 86_400, None, ((old, 5),))])
        store.record_usage([Usage(r.id, day * 86_400, None, ((old + 1, 1), (day, 2)))])
        assert store.usage_counts([r.id], since_day=0) == {r.id: {old + 1: 1, day: 2}}

    def test_deleting_a_token_deletes_its_counts(self, store: TokenStore) -> None:
        a, b, c = record(name="a"), record(name="b"), record(user="bob")
        for r in (a, b, c):
            store.add(r)
        store.record_usage([Usage(r.id, 100, None, ((0, 1),)) for r in (a, b, c)])
        store.delete([a.id])
        store.delete_user(Realm.CPANEL, "bob")
        store.record_usage([Usage(a.id, 200, None, ((0, 1),))])  # a flush after the delete
        assert store.usage_counts([a.id, b.id, c.id], since_day=0) == {b.id: {0: 1}}

    def test_concurrent_counts_from_two_store_instances_add_up(self, store: TokenStore) -> None:
        """Two workers flushing at once: neither overwrites the other's requests."""
        r = record()
        store.add(r)
        other = self.twin(store)
        try:
            start = threading.Barrier(8)

            def flush(worker: int) -> None:
                target = store if worker % 2 else other
                start.wait(timeout=30)
                for i in range(10):
                    target.record_usage([Usage(r.id, 86_400 + i, None, ((1, 1), (2, 2)))])

            with ThreadPoolExecutor(8) as pool:
                list(pool.map(flush, range(8)))
            assert store.usage_counts([r.id], since_day=0) == {r.id: {1: 80, 2: 160}}
            assert other.usage_counts([r.id], since_day=0) == {r.id: {1: 80, 2: 160}}
        finally:
            if other is not store:
                other.close()
