"""Cold argon2 verifications: off the event loop, bounded, shared between requests."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tokenward import (
    AuthenticationError,
    Authenticator,
    FailureReason,
    MemoryStore,
    RequestInfo,
    Settings,
)
from tokenward.core.crypto import Argon2Profile, SecretHasher
from tokenward.guard import Guard
from tokenward.testing import FAST_ARGON2, FrozenClock, TokenFactory
from tokenward.verification import VerificationPool

WAIT = 10.0  # upper bound for a blocked helper thread; never reached when the test passes


class GatedHasher:
    """Blocks every verification until the test opens the gate."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.started = threading.Semaphore(0)
        self.calls = 0

    def verify(self, verifier: str, secret: str) -> None:
        self.calls += 1
        self.started.release()
        assert self.gate.wait(WAIT), "gate never opened"

    def needs_upgrade(self, verifier: str) -> bool:
        return False


def gated(auth: Authenticator) -> GatedHasher:
    hasher = GatedHasher()
    auth.verifications.hasher = hasher  # type: ignore[assignment]
    return hasher


def req(header: str) -> RequestInfo:
    return RequestInfo("GET", "/", (header,), "192.0.2.1")


def test_cold_verification_does_not_block_the_event_loop(
    authenticator: Authenticator, factory: TokenFactory
) -> None:
    token = factory.mint()
    hasher = gated(authenticator)

    async def scenario() -> bool:
        pending = asyncio.create_task(authenticator.authenticate_async(req(token.header)))
        # The loop must stay free while argon2 runs: this coroutine opens the gate.
        await asyncio.get_running_loop().run_in_executor(None, hasher.started.acquire)
        hasher.gate.set()
        return (await pending).allowed

    assert asyncio.run(scenario())


def test_concurrent_requests_with_one_new_token_share_one_verification(
    authenticator: Authenticator, factory: TokenFactory
) -> None:
    token = factory.mint()
    hasher = gated(authenticator)
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(authenticator.authenticate, req(token.header)) for _ in range(8)]
        assert hasher.started.acquire(timeout=WAIT)
        hasher.gate.set()
        results = [f.result() for f in futures]
    assert all(r.allowed for r in results)
    assert hasher.calls == 1


def test_verifications_beyond_the_bound_are_refused_with_503(
    store: MemoryStore, factory: TokenFactory, clock: FrozenClock
) -> None:
    settings = Settings(
        argon2=FAST_ARGON2, max_concurrent_verifications=1, max_queued_verifications=0
    )
    auth = Guard(store, settings, clock=clock, background_flush=False).authenticator
    hasher = gated(auth)
    first_token, second_token = factory.mint(name="t1"), factory.mint(name="t2")
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(auth.authenticate, req(first_token.header))
        assert hasher.started.acquire(timeout=WAIT)
        overflow = auth.authenticate(req(second_token.header))
        hasher.gate.set()
        assert first.result().allowed
    assert overflow.reason is FailureReason.OVERLOADED
    assert overflow.refusal is not None
    assert overflow.refusal.status == 503
    # Once the pool is free again, the same token is served normally.
    assert auth.authenticate(req(second_token.header)).allowed


def test_wrong_secret_for_a_known_digest_is_refused() -> None:
    hasher = SecretHasher(FAST_ARGON2)
    pool = VerificationPool(hasher, 1, 0)
    verifier = hasher.hash("A" * 32)
    pool.verify("d", verifier, "A" * 32)
    with pytest.raises(AuthenticationError, match="bad_secret"):
        pool.verify("d2", verifier, "B" * 32)
    with pytest.raises(AuthenticationError, match="bad_secret"):
        pool.verify("d3", "not-a-verifier", "A" * 32)
    pool.close()


def test_a_request_arriving_just_after_a_match_shares_it_instead_of_hashing_again() -> None:
    """The race behind a flaky burst: a late request looked before the first one matched,
    and submits after the shared computation was forgotten. It must find the match."""
    hasher = SecretHasher(FAST_ARGON2)
    pool = VerificationPool(hasher, 1, 0)
    verifier = hasher.hash("A" * 32)
    assert not pool.verified("d", verifier)  # what the late request saw
    pool.verify("d", verifier, "A" * 32)  # the first request, start to finish
    pool.verify("d", verifier, "A" * 32)  # the late one submits now
    assert pool.computations == 1
    assert pool.verified("d", verifier)
    assert not pool.verified("d", hasher.hash("A" * 32))  # a new verifier is not trusted
    pool.close()


def test_a_mismatch_is_never_remembered_and_forget_makes_every_token_cold() -> None:
    hasher = SecretHasher(FAST_ARGON2)
    pool = VerificationPool(hasher, 1, 0)
    verifier = hasher.hash("A" * 32)
    with pytest.raises(AuthenticationError):
        pool.verify("d", verifier, "B" * 32)
    assert not pool.verified("d", verifier)
    pool.verify("d", verifier, "A" * 32)
    pool.forget()
    assert not pool.verified("d", verifier)
    pool.close()


def test_with_no_memory_every_request_verifies() -> None:
    hasher = SecretHasher(FAST_ARGON2)
    pool = VerificationPool(hasher, 1, 0, remember=0)
    verifier = hasher.hash("A" * 32)
    for _ in range(3):
        pool.verify("d", verifier, "A" * 32)
    assert pool.computations == 3
    assert not pool.verified("d", verifier)
    pool.close()


def test_the_memory_is_bounded_oldest_first() -> None:
    hasher = SecretHasher(FAST_ARGON2)
    pool = VerificationPool(hasher, 1, 0, remember=2)
    verifier = hasher.hash("A" * 32)
    for digest in ("d1", "d2", "d3"):
        pool.verify(digest, verifier, "A" * 32)
    assert [pool.verified(d, verifier) for d in ("d1", "d2", "d3")] == [False, True, True]
    pool.close()


def test_upgrades_wait_in_a_bounded_queue_and_never_hold_up_verifications() -> None:
    weak, strong = (
        SecretHasher(Argon2Profile(time_cost=1, memory_cost=8)),
        SecretHasher(Argon2Profile(time_cost=2, memory_cost=32)),
    )
    gate, started = threading.Event(), threading.Event()
    calls: list[str] = []

    def upgrade(digest: str, old: str, new: str) -> bool:
        calls.append(digest)
        started.set()
        assert gate.wait(WAIT), "gate never opened"
        return True

    pool = VerificationPool(strong, 1, 0, upgrade=upgrade)
    verifier = weak.hash("A" * 32)
    pool.verify("d0", verifier, "A" * 32)
    assert started.wait(WAIT)  # the first upgrade holds the upgrade thread
    for i in range(1, 40):  # verifications still run, one after another, at once
        pool.verify(f"d{i}", verifier, "A" * 32)
    gate.set()
    pool.settle(WAIT)
    assert pool.computations == 40
    assert len(calls) == 16  # the rest wait for a later cold verification
    assert pool.upgraded == 16
    assert all(pool.verified(d, verifier) is False for d in calls)  # they know the new one
    pool.close()
