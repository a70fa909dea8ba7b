"""Rotating through either HTTP API follows ``TokenService.rotate``'s one rule: the old
secret never outlives the token. A longer ``grace`` is cut to the token's expiry, the answer
says so in its ``warnings``, and a grace that is no number of seconds is refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tokenward.core.tokens import Realm

from .harness import DAY, InProcessApi


@pytest.fixture
def api() -> Iterator[InProcessApi]:
    harness = InProcessApi()
    yield harness
    harness.close()


ROTATE = {
    Realm.CPANEL: ("/execute/Tokens/rotate", "name"),
    Realm.WHM: ("/json-api/api_token_rotate", "token_name"),
}


def rotate(api: InProcessApi, realm: Realm, grace: str) -> tuple[bool, Any]:
    """Whether the call succeeded, and its ``data`` (or its error)."""
    admin = api.mint("alice", "admin", realm=realm, acls=["all"])
    path, name = ROTATE[realm]
    answer = api.post(admin, path, data={name: "ci", "grace": grace}).json()
    if realm is Realm.CPANEL:
        return answer["status"] == 1, answer["data"] if answer["status"] else answer["errors"]
    metadata = answer["metadata"]
    return metadata["result"] == 1, answer.get("data") or metadata["reason"]


@pytest.mark.parametrize("realm", list(Realm))
def test_a_grace_beyond_the_tokens_expiry_is_cut_to_it_and_the_answer_says_so(
    api: InProcessApi, realm: Realm
) -> None:
    expires_at = int(api.clock()) + 3600
    api.mint("alice", "ci", realm=realm, expires_at=expires_at)
    ok, data = rotate(api, realm, str(7 * DAY))
    assert ok, data
    assert data["previous_secret_until"] == expires_at
    assert any("before a grace period of 7 days would end" in w for w in data["warnings"])
    assert api.service.show("alice", "ci", realm=realm).previous_secret_until == expires_at


@pytest.mark.parametrize("realm", list(Realm))
def test_a_grace_within_the_tokens_life_is_kept(api: InProcessApi, realm: Realm) -> None:
    api.mint("alice", "ci", realm=realm, expires_at=int(api.clock()) + DAY)
    ok, data = rotate(api, realm, "3600")
    assert ok, data
    assert data["previous_secret_until"] == int(api.clock()) + 3600
    assert not [w for w in data["warnings"] if "grace" in w]


@pytest.mark.parametrize("grace", ["nan", "inf", "-1"])
@pytest.mark.parametrize("realm", list(Realm))
def test_a_grace_that_is_no_number_of_seconds_is_refused_and_changes_nothing(
    api: InProcessApi, realm: Realm, grace: str
) -> None:
    created = api.mint("alice", "ci", realm=realm)
    ok, error = rotate(api, realm, grace)
    assert not ok
    assert "grace" in str(error)
    assert api.service.find_by_secret(created.secret)[0].name == "ci"  # still its secret
