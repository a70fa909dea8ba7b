from __future__ import annotations

import pytest

from tokenward import Realm, ValidationError, generate_secret
from tokenward.core.tokens import (
    MAX_NAME_LENGTH,
    TokenStatus,
    is_well_formed_secret,
    is_within_expiry,
    token_status,
    validate_name,
)


def test_generated_secrets_are_32_characters_of_digits_and_capitals() -> None:
    secrets = {generate_secret() for _ in range(200)}
    assert len(secrets) == 200
    assert all(is_well_formed_secret(s) for s in secrets)
    assert set("".join(secrets)) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")


@pytest.mark.parametrize("name", ["a", "deploy-runner-prod", "A_b-9", "x" * MAX_NAME_LENGTH])
def test_valid_names_are_accepted(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("", id="empty"),
        pytest.param("x" * (MAX_NAME_LENGTH + 1), id="too-long"),
        pytest.param("has space", id="space"),
        pytest.param("dot.name", id="dot"),
        pytest.param("naïve", id="non-ascii"),
        pytest.param("new\nline", id="newline"),
    ],
)
def test_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(ValidationError):
        validate_name(name)


def test_token_is_valid_through_its_expiry_second() -> None:
    assert is_within_expiry(1000, 1000.0)
    assert is_within_expiry(1000, 1000.999)
    assert not is_within_expiry(1000, 1001.0)
    assert is_within_expiry(None, 10**12)


@pytest.mark.parametrize(
    ("expires_at", "status"),
    [
        pytest.param(None, TokenStatus.ACTIVE, id="never"),
        pytest.param(1000 + 86_400, TokenStatus.ACTIVE, id="a-day-away"),
        pytest.param(1000 + 86_399, TokenStatus.EXPIRING, id="within-24h"),
        pytest.param(1000, TokenStatus.EXPIRING, id="this-second"),
        pytest.param(999, TokenStatus.EXPIRED, id="past"),
    ],
)
def test_status_marks_expiring_within_a_day_and_expired(
    expires_at: int | None, status: TokenStatus
) -> None:
    assert token_status(expires_at, 1000.0) is status


def test_realm_parse_accepts_either_case_and_refuses_others() -> None:
    assert Realm.parse("WHM") is Realm.WHM
    with pytest.raises(ValidationError):
        Realm.parse("plesk")
