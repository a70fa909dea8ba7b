from __future__ import annotations

import pytest

from tokenward import ConfigurationError, Rule, Settings, ValidationError
from tokenward.core.acl import WHM_ACLS, dangerous_in, effective_acls, grants, normalize_acls
from tokenward.core.paths import readings


@pytest.mark.parametrize(
    ("token", "owner", "expected"),
    [
        pytest.param({"edit-dns"}, None, {"edit-dns"}, id="unrestricted-owner"),
        pytest.param({"all"}, {"edit-dns", "list-accts"}, {"edit-dns", "list-accts"}, id="all"),
        pytest.param({"edit-dns", "passwd"}, {"edit-dns"}, {"edit-dns"}, id="narrowed"),
        pytest.param({"edit-dns"}, {"all"}, {"edit-dns"}, id="owner-all"),
        pytest.param({"passwd"}, {"edit-dns"}, set(), id="nothing-left"),
    ],
)
def test_effective_acls_are_token_intersected_with_owner(
    token: set[str], owner: set[str] | None, expected: set[str]
) -> None:
    owner_set = None if owner is None else frozenset(owner)
    assert effective_acls(frozenset(token), owner_set) == expected


def test_all_grants_everything_and_others_grant_only_themselves() -> None:
    assert grants(frozenset({"all"}), {"edit-dns", "passwd"})
    assert grants(frozenset({"edit-dns", "x"}), {"edit-dns"})
    assert not grants(frozenset({"edit-dns"}), {"edit-dns", "passwd"})


def test_acl_names_are_validated_and_checked_against_a_vocabulary() -> None:
    assert normalize_acls(["edit-dns", " list-accts"]) == {"edit-dns", "list-accts"}
    with pytest.raises(ValidationError, match="unknown ACL"):
        normalize_acls(["made-up"], frozenset({"edit-dns"}))
    with pytest.raises(ValidationError):
        normalize_acls(["Bad Name"])
    with pytest.raises(ValidationError, match="at least one"):
        normalize_acls([])


@pytest.mark.parametrize(
    ("given", "message"),
    [
        pytest.param(
            "edit-dsn", "unknown ACL 'edit-dsn' (did you mean 'edit-dns'?)", id="edit-dsn"
        ),
        pytest.param(
            "lsit-accts", "unknown ACL 'lsit-accts' (did you mean 'list-accts'?)", id="lsit-accts"
        ),
        pytest.param("al", "unknown ACL 'al' (did you mean 'all'?)", id="al-means-all"),
        pytest.param(
            "billing-read", "unknown ACL 'billing-read'", id="nothing-close-gets-no-guess"
        ),
    ],
)
def test_an_unknown_acl_is_refused_with_the_closest_known_name(given: str, message: str) -> None:
    """A typo must be fixable from the message, and a name from elsewhere gets no guess."""
    with pytest.raises(ValidationError) as refused:
        normalize_acls([given], WHM_ACLS)
    assert str(refused.value) == message


def test_whms_chart_is_every_named_acl_but_all() -> None:
    """``all`` is always known; the chart is what a vocabulary extends (``WHM_ACLS | …``)."""
    assert {"edit-dns", "list-accts", "manage-api-tokens", "clustering"} <= WHM_ACLS
    assert "all" not in WHM_ACLS
    assert normalize_acls(["all"], frozenset()) == {"all"}


def test_dangerous_acls_are_reported_with_a_reason() -> None:
    found = dangerous_in({"all", "edit-dns", "manage-api-tokens"})
    assert set(found) == {"all", "manage-api-tokens"}
    assert all(found.values())


def test_longest_matching_prefix_wins_and_segments_are_whole() -> None:
    settings = Settings(
        rules=(
            Rule.public("/"),
            Rule.require("/dns", "edit-dns"),
            Rule.require("/dns/zones", "list-accts", methods=["GET"]),
        )
    )
    assert settings.requirement("GET", "/dns/zones/x") == ("token", frozenset({"list-accts"}))
    assert settings.requirement("POST", "/dns/zones") == ("token", frozenset({"edit-dns"}))
    assert settings.requirement("GET", "/dnsx") == ("public", frozenset())
    assert settings.requirement("GET", "/dns") == ("token", frozenset({"edit-dns"}))


def test_unmatched_paths_use_the_default_access() -> None:
    assert Settings().requirement("GET", "/anything") == ("token", frozenset())
    assert Settings(default_access="public").requirement("GET", "/x") == ("public", frozenset())


@pytest.mark.parametrize(
    ("path", "normal"),
    [
        pytest.param("/health/../dns/zones", "/dns/zones", id="dot-dot"),
        pytest.param("//dns//zones", "/dns/zones", id="double-slash"),
        pytest.param("/./dns", "/dns", id="dot"),
        pytest.param("/../../dns", "/dns", id="above-root"),
        pytest.param("/dns/", "/dns/", id="trailing-slash-kept"),
    ],
)
def test_the_normalised_path_is_one_of_the_readings_judged(path: str, normal: str) -> None:
    found = readings(path)
    assert found is not None
    assert normal in found


def test_a_public_prefix_cannot_be_borrowed_with_dot_segments() -> None:
    settings = Settings(rules=(Rule.public("/health"), Rule.require("/dns", "edit-dns")))
    assert settings.requirement("GET", "/health/../dns/zones") == ("token", frozenset({"edit-dns"}))


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"trusted_proxies": ("10.0.0.1/8",)}, id="proxy-host-bits"),
        pytest.param({"last_used_interval": 0}, id="zero-interval"),
        pytest.param({"realm_label": 'a"b'}, id="quote-in-label"),
        pytest.param({"realms": frozenset()}, id="no-realm"),
        pytest.param({"max_concurrent_verifications": 0}, id="no-verifier"),
        pytest.param({"default_access": "maybe"}, id="bad-access"),
    ],
)
def test_broken_settings_are_refused_at_construction(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        Settings(**kwargs)  # type: ignore[arg-type]


def test_broken_rules_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        Rule(prefix="dns")
    with pytest.raises(ConfigurationError):
        Rule(prefix="/x", access="public", acls=frozenset({"edit-dns"}))
    with pytest.raises(ConfigurationError):
        Rule.require("/x", "Not An ACL")


def test_settings_from_mapping_builds_rules_and_refuses_unknown_keys() -> None:
    settings = Settings.from_mapping(
        {
            "rules": [{"prefix": "/dns", "acls": ["edit-dns"]}, Rule.public("/health")],
            "trusted_proxies": ["10.0.0.0/8"],
            "argon2": {"time_cost": 1, "memory_cost": 8},
        }
    )
    assert settings.requirement("GET", "/dns") == ("token", frozenset({"edit-dns"}))
    assert settings.argon2.memory_cost == 8
    with pytest.raises(ConfigurationError, match="unknown tokenward setting"):
        Settings.from_mapping({"rulez": []})
