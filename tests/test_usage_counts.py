"""Per-token request counts per UTC day: counted on the request path in memory, written with
the last use in the tracker's one batch, never lost to a race or a failing store, never
doubled."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenward import MemoryStore, RequestInfo, Settings, StoreError
from tokenward import usage as tracking
from tokenward.guard import Guard
from tokenward.stores.base import Usage
from tokenward.testing import FAST_ARGON2, FrozenClock, TokenFactory
from tokenward.testing.conformance import record
from tokenward.usage import UsageTracker

DAY = 20_000
MIDNIGHT = DAY * 86_400


class RecordingStore(MemoryStore):
    """Keeps every batch it is handed; fails while ``down`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[Usage]] = []
        self.down = False

    def record_usage(self, usages: Sequence[Usage]) -> None:
        if self.down:
            raise StoreError("down")
        self.batches.append(list(usages))
        super().record_usage(usages)


@pytest.fixture
def store() -> RecordingStore:
    return RecordingStore()


def tracked(store: RecordingStore, *names: str) -> tuple[UsageTracker, list[str]]:
    ids = []
    for name in names:
        r = record(name=name)
        store.add(r)
        ids.append(r.id)
    return UsageTracker(store, 60, background=False), ids


def counts(store: MemoryStore, token_id: str) -> dict[int, int]:
    return store.usage_counts([token_id], since_day=0).get(token_id, {})


def test_every_request_is_counted_even_those_the_last_use_skips(store: RecordingStore) -> None:
    """The same second from the same address writes no new last use, but still counts."""
    tracker, (a, b) = tracked(store, "a", "b")
    for _ in range(5):
        tracker.note(a, MIDNIGHT + 10.2, "192.0.2.1")
    tracker.note(a, MIDNIGHT + 11, "192.0.2.2")
    tracker.note(b, MIDNIGHT + 12, None)
    assert tracker.flush() == 2
    assert len(store.batches) == 1  # one store write for the last uses and the counts
    (batch,) = store.batches
    assert {(u.token_id, u.at, u.ip, u.counts) for u in batch} == {
        (a, MIDNIGHT + 11, "192.0.2.2", ((DAY, 6),)),
        (b, MIDNIGHT + 12, None, ((DAY, 1),)),
    }
    assert counts(store, a) == {DAY: 6}
    assert tracker.flush() == 0  # nothing new: nothing written, nothing counted twice
    assert counts(store, a) == {DAY: 6}


def test_a_flush_after_midnight_credits_each_request_to_its_own_day(
    store: RecordingStore,
) -> None:
    tracker, (a,) = tracked(store, "a")
    tracker.note(a, MIDNIGHT - 0.5, None)
    tracker.note(a, MIDNIGHT - 0.1, None)
    tracker.note(a, MIDNIGHT, None)
    tracker.flush()
    assert counts(store, a) == {DAY - 1: 2, DAY: 1}
    found = store.get(store.list()[0].digest)
    assert found is not None
    assert found.last_used_at == MIDNIGHT


def test_counts_survive_a_failing_store_and_are_written_once_when_it_is_back(
    store: RecordingStore,
) -> None:
    tracker, (a,) = tracked(store, "a")
    tracker.note(a, MIDNIGHT + 1, None)
    tracker.note(a, MIDNIGHT + 2, None)
    store.down = True
    assert tracker.flush() == 0
    tracker.note(a, MIDNIGHT + 3, None)  # arrives while the batch is away
    assert tracker.flush() == 0
    store.down = False
    assert tracker.flush() == 1
    assert tracker.flush() == 0
    assert counts(store, a) == {DAY: 3}
    found = store.get(store.list()[0].digest)
    assert found is not None
    assert found.last_used_at == MIDNIGHT + 3


def test_a_forked_child_leaves_its_parents_counts_to_the_parent(
    store: RecordingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child starts with a copy of what the parent has not written yet: writing it too
    would count those requests twice."""
    tracker, (a,) = tracked(store, "a")
    for _ in range(3):
        tracker.note(a, MIDNIGHT + 1, None)
    monkeypatch.setattr(tracking, "_generation", tracking._generation)
    tracking._forked()  # what the fork hook does in the child
    tracker.note(a, MIDNIGHT + 2, None)
    tracker.flush()
    assert counts(store, a) == {DAY: 1}


@pytest.fixture
def eager_switching() -> Iterator[None]:
    """Threads switch every microsecond, not every 5 ms, so that a read-modify-write of a
    count, or a note landing in a dict a flush has just swapped out, would be interrupted."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(previous)


@pytest.mark.usefixtures("eager_switching")
def test_no_count_is_lost_to_requests_racing_a_flush(store: RecordingStore) -> None:
    tracker, (a, b) = tracked(store, "a", "b")
    start = threading.Barrier(5)
    notes_per_thread = 2_000

    def requests(worker: int) -> None:
        start.wait(timeout=30)
        token = a if worker % 2 else b
        for i in range(notes_per_thread):
            tracker.note(token, MIDNIGHT + i % 7, f"192.0.2.{worker}")

    def flushes() -> None:
        start.wait(timeout=30)
        for _ in range(200):
            tracker.flush()

    with ThreadPoolExecutor(5) as pool:
        running = [pool.submit(requests, w) for w in range(4)] + [pool.submit(flushes)]
        for future in running:
            future.result()
    tracker.flush()
    assert counts(store, a) == {DAY: 2 * notes_per_thread}
    assert counts(store, b) == {DAY: 2 * notes_per_thread}


def test_successful_requests_are_counted_and_refused_ones_are_not() -> None:
    clock = FrozenClock(MIDNIGHT + 100)
    store = MemoryStore()
    factory = TokenFactory(store, clock)
    token = factory.mint("alice", "ci", acls=["edit-dns"])
    guard = Guard(store, Settings(argon2=FAST_ARGON2), clock=clock, background_flush=False)
    auth = guard.authenticator
    for _ in range(3):
        assert auth.authenticate(RequestInfo("GET", "/", (token.header,), "192.0.2.1")).allowed
    wrong_user = token.header.replace("alice", "bob")
    assert not auth.authenticate(RequestInfo("GET", "/", (wrong_user,), "192.0.2.1")).allowed
    guard.usage.flush()
    (view,) = factory.service.list_tokens()
    assert (view.requests_today, view.requests_last_7_days) == (3, 3)
    clock.advance(86_400)  # the next day: the week still holds them, today none
    (view,) = factory.service.list_tokens()
    assert (view.requests_today, view.requests_last_7_days) == (0, 3)
    clock.advance(7 * 86_400)
    (view,) = factory.service.list_tokens()
    assert (view.requests_today, view.requests_last_7_days) == (0, 0)
    guard.close()


@given(
    st.lists(
        st.one_of(
            st.tuples(
                st.just("note"),
                st.sampled_from(["a", "b"]),
                st.sampled_from([0, 0, 0.2, 0.5, 1, 2.5, 86_400]),  # the clock moves on by
                st.sampled_from([None, "192.0.2.1", "192.0.2.2"]),
            ),
            st.tuples(st.just("flush"), st.booleans()),  # the store up or down
        ),
        max_size=40,
    )
)
def test_any_run_of_notes_and_flushes_writes_every_request_once_to_its_day(
    steps: list[tuple[Any, ...]],
) -> None:
    """Against the plainest model: each request counted once, on the day of its own second,
    whatever the interleaving of busy seconds, new addresses, midnights and failed flushes;
    the last use written is the latest noted."""
    store = RecordingStore()
    tracker, ids = tracked(store, "a", "b")
    by_name = dict(zip(("a", "b"), ids, strict=True))
    expected: dict[str, dict[int, int]] = {token_id: {} for token_id in ids}
    latest: dict[str, int] = {}
    at = MIDNIGHT - 2.7
    for step in steps:
        if step[0] == "note":
            _, name, elapsed, ip = step
            at += elapsed
            tracker.note(by_name[name], at, ip)
            day = int(at) // 86_400
            days = expected[by_name[name]]
            days[day] = days.get(day, 0) + 1
            latest[by_name[name]] = int(at)
        else:
            store.down = not step[1]
            tracker.flush()
    store.down = False
    tracker.flush()
    for token_id in ids:
        assert counts(store, token_id) == expected[token_id]
        found = next(r for r in store.list() if r.id == token_id)
        assert found.last_used_at == latest.get(token_id)
