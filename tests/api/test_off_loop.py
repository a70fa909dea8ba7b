"""The ASGI management API does its work (store I/O, argon2) in a worker thread: while one
call is stuck in it, the event loop goes on serving other requests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import httpx
import pytest

from tokenward.core.crypto import SecretHasher
from tokenward.testing import FAST_ARGON2

from .harness import InProcessApi

GUARD = 20.0  # seconds: generous; only reached when the loop is held (the failure)


class GatedHasher(SecretHasher):
    """Hashes only once the test opens the gate (or the guard runs out)."""

    def __init__(self) -> None:
        super().__init__(FAST_ARGON2)
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.opened_in_time: bool | None = None

    def hash(self, secret: str) -> str:
        self.entered.set()
        self.opened_in_time = self.gate.wait(GUARD)
        return super().hash(secret)


@pytest.fixture
def api() -> Iterator[InProcessApi]:
    harness = InProcessApi()
    yield harness
    harness.close()


def test_a_call_stuck_in_hashing_does_not_hold_up_other_requests(api: InProcessApi) -> None:
    root = api.mint("reseller", "root", realm="whm", acls=["all"])
    hasher = api.service.hasher = GatedHasher()

    async def scenario() -> tuple[httpx.Response, httpx.Response, bool]:
        async with api.client(root) as client:
            stuck = asyncio.create_task(
                client.post("/json-api/api_token_create", data={"token_name": "slow"})
            )
            await asyncio.wait_for(asyncio.to_thread(hasher.entered.wait, GUARD), GUARD)
            listed = await asyncio.wait_for(client.post("/json-api/api_token_list"), GUARD)
            still_stuck = not stuck.done()
            hasher.gate.set()
            created = await asyncio.wait_for(stuck, GUARD)
        return listed, created, still_stuck

    try:
        listed, created, still_stuck = asyncio.run(scenario())
    except TimeoutError:
        pytest.fail("a request waited on another's hashing: the event loop was held")
    finally:
        hasher.gate.set()

    assert hasher.opened_in_time, "the gate opened only after the guard: the loop was held"
    assert still_stuck
    assert list(listed.json()["data"]["tokens"]) == ["root"]
    assert created.json()["data"]["name"] == "slow"
