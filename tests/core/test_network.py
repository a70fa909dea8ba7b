from __future__ import annotations

import ipaddress

import pytest

from tokenward import ValidationError
from tokenward.core.network import (
    AllowList,
    parse_address,
    parse_allow_list,
    parse_networks,
    resolve_client_address,
)

PROXIES = parse_networks(["10.0.0.0/8", "fd00::/8"])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("192.0.2.9", "192.0.2.9", id="ipv4"),
        pytest.param("::ffff:192.0.2.9", "192.0.2.9", id="ipv4-mapped"),
        pytest.param("2001:db8::1", "2001:db8::1", id="ipv6"),
        pytest.param("[2001:db8::1]:443", "2001:db8::1", id="bracketed-with-port"),
        pytest.param("192.0.2.9:5555", "192.0.2.9", id="ipv4-with-port"),
        pytest.param("fe80::1%eth0", "fe80::1", id="zone"),
        pytest.param("unknown", None, id="garbage"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="none"),
    ],
)
def test_client_addresses_are_normalised(value: str | None, expected: str | None) -> None:
    address = parse_address(value)
    assert (None if address is None else str(address)) == expected


def test_allow_list_is_normalised_deduplicated_and_ordered() -> None:
    entries = ["10.5.3.0/24", "12AB:0:0:CD30::/60", "192.0.2.1/32", "192.0.2.1", " 10.5.3.0/24"]
    assert parse_allow_list(entries) == ("10.5.3.0/24", "12ab:0:0:cd30::/60", "192.0.2.1")


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param("10.0.0.1/24", id="host-bits-set"),
        pytest.param("300.1.1.1", id="bad-octet"),
        pytest.param("example.com", id="hostname"),
        pytest.param("10.0.0.0/33", id="bad-prefix"),
        pytest.param("", id="empty"),
    ],
)
def test_invalid_allow_list_entries_are_refused(entry: str) -> None:
    with pytest.raises(ValidationError):
        parse_allow_list([entry])


def test_more_than_100_allow_list_entries_are_refused() -> None:
    entries = [f"192.0.2.{i}" for i in range(101)]
    with pytest.raises(ValidationError, match="at most 100"):
        parse_allow_list(entries)
    assert len(parse_allow_list(entries[:100])) == 100


def test_ipv6_client_inside_a_64_passes_and_outside_fails() -> None:
    allow = AllowList(["2001:db8:1:2::/64"])
    assert allow.allows(ipaddress.ip_address("2001:db8:1:2:abcd::9"))
    assert not allow.allows(ipaddress.ip_address("2001:db8:1:3::9"))


def test_ipv4_mapped_client_matches_ipv4_entry() -> None:
    assert AllowList(["192.0.2.0/24"]).allows(parse_address("::ffff:192.0.2.77"))


def test_ipv4_mapped_entry_matches_ipv4_client() -> None:
    assert parse_allow_list(["::ffff:192.0.2.0/120"]) == ("192.0.2.0/24",)


def test_unknown_address_never_matches_a_non_empty_list_but_empty_allows_any() -> None:
    assert not AllowList(["0.0.0.0/0"]).allows(None)
    assert AllowList([]).allows(None)


def test_forwarded_for_is_ignored_from_an_untrusted_peer() -> None:
    client = resolve_client_address("203.0.113.5", "198.51.100.1", PROXIES)
    assert str(client) == "203.0.113.5"


def test_forwarded_for_is_ignored_without_configured_proxies() -> None:
    assert str(resolve_client_address("10.0.0.1", "198.51.100.1", ())) == "10.0.0.1"


def test_forwarded_for_is_read_from_the_right_skipping_trusted_hops() -> None:
    # The client forged the left-most entry; our proxies appended the rest.
    client = resolve_client_address("10.0.0.1", "1.2.3.4, 198.51.100.7, 10.1.1.1", PROXIES)
    assert str(client) == "198.51.100.7"


def test_a_garbled_hop_makes_the_client_unknown() -> None:
    assert resolve_client_address("10.0.0.1", "198.51.100.7, bogus", PROXIES) is None


def test_rfc7239_forwarded_header_is_supported() -> None:
    value = 'for=1.2.3.4, for="[2001:db8::5]:4711";proto=https, for=10.2.2.2'
    client = resolve_client_address("10.0.0.1", value, PROXIES, "forwarded")
    assert str(client) == "2001:db8::5"
