"""An allow-list longer than 100 entries is refused before any entry is parsed, whoever
passes it (API, web page, CLI, library), so its length costs nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest

from tokenward import TokenService, ValidationError
from tokenward.core.network import MAX_ALLOWED_IPS, parse_allow_list

ATTACK = 62_000


def addresses(count: int) -> list[str]:
    return [f"::{i:x}" for i in range(1, count + 1)]


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        pytest.param(addresses(ATTACK), "got 62000", id="62000-distinct"),
        pytest.param(["192.0.2.1"] * ATTACK, "got 62000", id="62000-duplicates"),
        pytest.param(addresses(MAX_ALLOWED_IPS + 1), "got 101", id="101-distinct"),
        pytest.param((ip for ip in addresses(ATTACK)), "got more", id="62000-from-a-generator"),
    ],
)
def test_an_allow_list_over_100_entries_is_refused_before_any_is_parsed(
    parsed_networks: list[str], entries: Iterable[str], message: str
) -> None:
    with pytest.raises(ValidationError, match=f"at most 100 IP allow-list entries, {message}"):
        parse_allow_list(entries)
    assert parsed_networks == []


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(
            lambda s: s.create("alice", "x", whitelist_ips=addresses(ATTACK)), id="create"
        ),
        pytest.param(
            lambda s: s.update("alice", "ci", whitelist_ips=addresses(ATTACK)), id="update"
        ),
    ],
)
def test_the_service_refuses_a_huge_allow_list_without_parsing_it(
    service: TokenService, parsed_networks: list[str], change: Callable[[TokenService], object]
) -> None:
    service.create("alice", "ci")
    parsed_networks.clear()
    with pytest.raises(ValidationError, match="at most 100 IP allow-list entries"):
        change(service)
    assert parsed_networks == []
    assert [v.name for v in service.list_tokens()] == ["ci"]


def test_exactly_100_entries_are_accepted_and_duplicates_dropped() -> None:
    entries = [*addresses(MAX_ALLOWED_IPS - 1), "::1"]
    assert parse_allow_list(entries) == tuple(addresses(MAX_ALLOWED_IPS - 1))
