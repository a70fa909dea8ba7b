"""Which stored verifiers are worth re-hashing: weaker ones only, never a downgrade."""

from __future__ import annotations

import argon2
import pytest

from tokenward.core.crypto import Argon2Profile, SecretHasher

TARGET = Argon2Profile(time_cost=2, memory_cost=64, parallelism=1)


def verifier(
    *,
    kind: argon2.Type = argon2.Type.ID,
    time_cost: int = 2,
    memory_cost: int = 64,
    parallelism: int = 1,
    hash_len: int = 32,
) -> str:
    hasher = argon2.PasswordHasher(
        time_cost=time_cost,
        memory_cost=memory_cost,
        parallelism=parallelism,
        hash_len=hash_len,
        type=kind,
    )
    return hasher.hash("A" * 32)


@pytest.mark.parametrize(
    ("stored", "upgrade"),
    [
        pytest.param(verifier(), False, id="same-parameters"),
        pytest.param(verifier(memory_cost=32), True, id="less-memory"),
        pytest.param(verifier(time_cost=1), True, id="fewer-passes"),
        pytest.param(verifier(time_cost=1, memory_cost=8), True, id="both-weaker"),
        pytest.param(verifier(hash_len=16), True, id="shorter-hash"),
        pytest.param(verifier(memory_cost=128), False, id="more-memory-never-downgraded"),
        pytest.param(verifier(time_cost=3), False, id="more-passes-never-downgraded"),
        pytest.param(verifier(time_cost=1, memory_cost=128), False, id="mixed-is-left-alone"),
        pytest.param(verifier(parallelism=2, memory_cost=64), False, id="lanes-only"),
        pytest.param(verifier(kind=argon2.Type.I), True, id="argon2i-becomes-argon2id"),
        pytest.param("not-a-verifier", False, id="unreadable"),
    ],
)
def test_only_a_weaker_verifier_needs_an_upgrade(stored: str, upgrade: bool) -> None:
    assert SecretHasher(TARGET).needs_upgrade(stored) is upgrade


def test_an_upgraded_verifier_needs_no_further_upgrade() -> None:
    hasher = SecretHasher(TARGET)
    assert not hasher.needs_upgrade(hasher.hash("A" * 32))
    assert SecretHasher(Argon2Profile.rfc9106_low_memory()).needs_upgrade(hasher.hash("A" * 32))
