"""The token lifecycle: create, list/show, update, rename, rotate, revoke, purge, audit."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from tokenward import (
    DuplicateTokenError,
    FailureReason,
    Realm,
    TokenNotFoundError,
    TokenService,
    ValidationError,
)
from tokenward.audit import AuditEvent
from tokenward.core.crypto import lookup_digest
from tokenward.management import KEEP, TokenView
from tokenward.stores.base import TokenStore, Usage
from tokenward.testing import FrozenClock

Attempt = Callable[..., Any]
DAY = 86_400


def snapshot(store: TokenStore) -> list[object]:
    return [dataclasses.astuple(record) for record in store.list()]


# -- create ---------------------------------------------------------------------------------


def test_created_token_authenticates_and_its_secret_is_stored_nowhere(
    service: TokenService, backend: TokenStore, attempt: Attempt
) -> None:
    created = service.create("alice", "ci", acls=["edit-dns"], whitelist_ips=["192.0.2.0/24"])
    assert attempt(f"cpanel alice:{created.secret}").allowed
    record = backend.find(Realm.CPANEL, "alice", "ci")
    assert record is not None
    assert created.secret not in repr(dataclasses.astuple(record))
    assert record.digest == lookup_digest(Realm.CPANEL, created.secret)


def test_create_defaults_to_full_access_with_a_warning_that_never_blocks(
    service: TokenService,
) -> None:
    created = service.create("alice", "ci")
    assert created.record.acls == frozenset({"all"})
    assert created.record.expires_at is None
    assert created.record.whitelist_ips == ()
    assert [w.split(":")[0] for w in created.warnings] == ["ACL 'all'"]


def test_a_name_is_unique_only_per_user_and_realm(service: TokenService) -> None:
    service.create("alice", "ci")
    service.create("bob", "ci")
    service.create("alice", "ci", realm="whm")
    service.create("alice", "CI")  # names are case-sensitive
    with pytest.raises(DuplicateTokenError):
        service.create("alice", "ci")


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        pytest.param({"name": "has space"}, ValidationError, id="bad-name"),
        pytest.param({"name": "x" * 51}, ValidationError, id="name-too-long"),
        pytest.param({"user": "al ice"}, ValidationError, id="user-with-space"),
        pytest.param({"user": "al:ice"}, ValidationError, id="user-with-colon"),
        pytest.param({"user": "älice"}, ValidationError, id="user-non-ascii"),
        pytest.param({"realm": "plesk"}, ValidationError, id="unknown-realm"),
        pytest.param({"expires_at": 1_800_000_000}, ValidationError, id="expiry-now"),
        pytest.param({"expires_at": 1_700_000_000}, ValidationError, id="expiry-past"),
        pytest.param({"expires_at": True}, ValidationError, id="expiry-bool"),
        pytest.param({"expires_at": 10**13}, ValidationError, id="expiry-after-9999"),
        pytest.param({"whitelist_ips": ["10.0.0.1/24"]}, ValidationError, id="host-bits"),
        pytest.param({"whitelist_ips": ["nope"]}, ValidationError, id="not-an-address"),
        pytest.param({"whitelist_ips": "10.0.0.1"}, ValidationError, id="ips-as-one-string"),
        pytest.param(
            {"whitelist_ips": [f"10.0.{i // 250}.{i % 250}" for i in range(101)]},
            ValidationError,
            id="101-addresses",
        ),
        pytest.param({"acls": []}, ValidationError, id="no-acl"),
        pytest.param({"acls": ["Edit DNS"]}, ValidationError, id="bad-acl-name"),
        pytest.param({"acls": ["made-up"]}, ValidationError, id="acl-not-in-vocabulary"),
        pytest.param({"acls": "edit-dns"}, ValidationError, id="acls-as-one-string"),
        pytest.param({"name": "taken"}, DuplicateTokenError, id="duplicate"),
    ],
)
def test_refused_create_writes_nothing(
    backend: TokenStore,
    clock: FrozenClock,
    events: list[AuditEvent],
    changes: dict[str, Any],
    error: type[Exception],
) -> None:
    service = TokenService(
        backend, clock=clock, audit=events.append, acl_vocabulary=frozenset({"edit-dns"})
    )
    service.create("alice", "taken")
    before, logged = snapshot(backend), list(events)
    arguments: dict[str, Any] = {"user": "alice", "name": "new", **changes}
    with pytest.raises(error):
        service.create(arguments.pop("user"), arguments.pop("name"), **arguments)
    assert snapshot(backend) == before
    assert events == logged


def test_one_hundred_addresses_are_allowed(service: TokenService) -> None:
    ips = [f"10.0.0.{i}" for i in range(100)]
    assert len(service.create("alice", "ci", whitelist_ips=ips).record.whitelist_ips) == 100


# -- list and show --------------------------------------------------------------------------


def test_listing_shows_everything_but_the_secret(
    service: TokenService, backend: TokenStore, clock: FrozenClock
) -> None:
    created = service.create("alice", "ci", acls=["edit-dns"], whitelist_ips=["192.0.2.0/24"])
    today = int(clock()) // 86_400
    backend.record_usage(
        [Usage(created.record.id, int(clock()) + 5, "192.0.2.7", ((today - 7, 5), (today, 2)))]
    )
    (view,) = service.list_tokens()
    assert view.to_json() == {
        "name": "ci",
        "user": "alice",
        "realm": "cpanel",
        "create_time": int(clock()),
        "expires_at": None,
        "acls": ["edit-dns"],
        "whitelist_ips": ["192.0.2.0/24"],
        "last_used_at": int(clock()) + 5,
        "last_used_ip": "192.0.2.7",
        "status": "active",
        "previous_secret_until": None,
        "readonly": False,
        "revoked_at": None,
        "revoked_reason": None,
        "requests_today": 2,
        "requests_last_7_days": 2,  # seven days ago is the eighth day back
    }
    assert not {"digest", "verifier", "secret", "token"} & {
        f.name for f in dataclasses.fields(view)
    }


def test_status_is_expiring_inside_the_last_day_and_expired_after_the_expiry_second(
    service: TokenService, clock: FrozenClock
) -> None:
    service.create("alice", "ci", expires_at=int(clock()) + 2 * DAY)
    statuses = []
    for moment in (DAY, DAY + 1, 2 * DAY, 2 * DAY + 1):
        clock.set(1_800_000_000 + moment)
        statuses.append(service.show("alice", "ci").status.value)
    assert statuses == ["active", "expiring", "expiring", "expired"]


def test_list_filters_by_user_realm_and_name_in_any_case(service: TokenService) -> None:
    service.create("alice", "Deploy-Prod")
    service.create("alice", "backup")
    service.create("bob", "deploy-staging")
    service.create("root", "deploy", realm="whm")

    def names(**filters: Any) -> list[str]:
        return [f"{v.realm.value}:{v.user}/{v.name}" for v in service.list_tokens(**filters)]

    assert names(search="DEPLOY") == [
        "cpanel:alice/Deploy-Prod",
        "cpanel:bob/deploy-staging",
        "whm:root/deploy",
    ]
    assert names(user="alice") == ["cpanel:alice/Deploy-Prod", "cpanel:alice/backup"]
    assert names(realm="whm") == ["whm:root/deploy"]
    assert names(user="alice", search="back") == ["cpanel:alice/backup"]


def test_show_of_an_unknown_token_is_token_not_found(service: TokenService) -> None:
    with pytest.raises(TokenNotFoundError, match="no cpanel token named 'ghost'"):
        service.show("alice", "ghost")


# -- update and rename ------------------------------------------------------------------------


def test_update_changes_what_is_given_and_keeps_the_rest(
    service: TokenService, clock: FrozenClock
) -> None:
    created = service.create("alice", "ci", acls=["edit-dns"], whitelist_ips=["192.0.2.1"])
    later = int(clock()) + 7 * DAY
    record = service.update("alice", "ci", expires_at=later)
    assert (record.expires_at, record.acls, record.whitelist_ips) == (
        later,
        frozenset({"edit-dns"}),
        ("192.0.2.1",),
    )
    record = service.update("alice", "ci", acls=["list-accts"], whitelist_ips=())
    assert (record.expires_at, record.acls, record.whitelist_ips) == (
        later,
        frozenset({"list-accts"}),
        (),
    )
    record = service.update("alice", "ci", expires_at=None, whitelist_ips=["10.0.0.0/8"])
    assert (record.expires_at, record.whitelist_ips) == (None, ("10.0.0.0/8",))
    assert record.digest == created.record.digest  # the secret is untouched


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        pytest.param({}, ValidationError, id="nothing-given"),
        pytest.param({"acls": ["edit-dns"]}, ValidationError, id="nothing-different"),
        pytest.param({"expires_at": 1_799_999_999}, ValidationError, id="past-expiry"),
        pytest.param({"whitelist_ips": ["10.0.0.1/8"]}, ValidationError, id="host-bits"),
        pytest.param(
            {"whitelist_ips": [f"10.1.0.{i}" for i in range(101)]}, ValidationError, id="101-ips"
        ),
        pytest.param({"acls": ["made-up"]}, ValidationError, id="acl-not-in-vocabulary"),
        pytest.param({"acls": []}, ValidationError, id="no-acl"),
        pytest.param({"new_name": "bad name"}, ValidationError, id="bad-new-name"),
        pytest.param({"new_name": "other"}, DuplicateTokenError, id="new-name-taken"),
    ],
)
def test_refused_update_changes_nothing(
    backend: TokenStore,
    clock: FrozenClock,
    events: list[AuditEvent],
    changes: dict[str, Any],
    error: type[Exception],
) -> None:
    vocabulary = frozenset({"edit-dns", "list-accts"})
    service = TokenService(backend, clock=clock, audit=events.append, acl_vocabulary=vocabulary)
    service.create("alice", "ci", acls=["edit-dns"])
    service.create("alice", "other")
    before, logged = snapshot(backend), list(events)
    with pytest.raises(error):
        service.update("alice", "ci", **changes)
    assert snapshot(backend) == before
    assert events == logged


def test_update_of_an_unknown_token_is_token_not_found(service: TokenService) -> None:
    with pytest.raises(TokenNotFoundError):
        service.update("alice", "ghost", acls=["all"])


def test_keep_is_the_default_for_every_updatable_field(service: TokenService) -> None:
    service.create("alice", "ci", expires_at=1_800_000_000 + DAY)
    record = service.update("alice", "ci", acls=["x"], expires_at=KEEP, whitelist_ips=KEEP)
    assert record.expires_at == 1_800_000_000 + DAY


def test_renamed_token_keeps_working_under_its_new_name(
    service: TokenService, attempt: Attempt, events: list[AuditEvent]
) -> None:
    created = service.create("alice", "old")
    service.rename("alice", "old", "new")
    decision = attempt(f"cpanel alice:{created.secret}")
    assert decision.identity is not None
    assert decision.identity.token_name == "new"
    assert [e.kind for e in events][-1] == "token.rename"
    with pytest.raises(TokenNotFoundError):
        service.show("alice", "old")


def test_rename_to_the_same_name_is_refused(service: TokenService) -> None:
    service.create("alice", "ci")
    with pytest.raises(ValidationError, match="must differ"):
        service.rename("alice", "ci", "ci")


# -- rotate ------------------------------------------------------------------------------------


def test_rotation_without_grace_stops_the_old_secret_at_once(
    service: TokenService, attempt: Attempt
) -> None:
    old = service.create("alice", "ci", acls=["edit-dns"], whitelist_ips=["192.0.2.0/24"])
    new = service.rotate("alice", "ci")
    assert new.secret != old.secret
    assert (new.record.name, new.record.acls, new.record.whitelist_ips, new.record.id) == (
        "ci",
        frozenset({"edit-dns"}),
        ("192.0.2.0/24",),
        old.record.id,
    )
    assert attempt(f"cpanel alice:{new.secret}").allowed
    assert attempt(f"cpanel alice:{old.secret}").reason is FailureReason.UNKNOWN_TOKEN


def test_rotation_with_grace_keeps_the_old_secret_until_the_grace_ends(
    service: TokenService, attempt: Attempt, clock: FrozenClock
) -> None:
    old = service.create("alice", "ci")
    new = service.rotate("alice", "ci", grace=3600)
    assert attempt(f"cpanel alice:{old.secret}").allowed
    assert service.show("alice", "ci").previous_secret_until == int(clock()) + 3600
    clock.advance(3600)
    assert attempt(f"cpanel alice:{old.secret}").allowed  # valid through the last second
    clock.advance(1)
    assert attempt(f"cpanel alice:{old.secret}").reason is FailureReason.ROTATED_OUT
    assert attempt(f"cpanel alice:{new.secret}").allowed
    assert service.show("alice", "ci").previous_secret_until is None


def test_rotating_again_ends_the_earlier_grace_period(
    service: TokenService, attempt: Attempt
) -> None:
    first = service.create("alice", "ci")
    service.rotate("alice", "ci", grace=3600)
    service.rotate("alice", "ci", grace=3600)
    assert attempt(f"cpanel alice:{first.secret}").reason is FailureReason.UNKNOWN_TOKEN


def test_a_grace_beyond_the_tokens_expiry_is_cut_to_it_with_a_warning(
    service: TokenService, attempt: Attempt, clock: FrozenClock, events: list[AuditEvent]
) -> None:
    """The rotated-out secret never outlives the token: not even when the token's expiry is
    extended afterwards, which must not revive a grace period the token never had."""
    expires_at = int(clock()) + 3600
    old = service.create("alice", "ci", expires_at=expires_at)
    new = service.rotate("alice", "ci", grace=7 * DAY)
    assert new.record.previous_until == expires_at
    assert service.show("alice", "ci").previous_secret_until == expires_at
    cut = [w for w in new.warnings if "grace" in w]
    assert len(cut) == 1
    assert "before a grace period of 7 days would end" in cut[0]
    assert events[-1].kind == "token.rotate"
    assert f"valid until {expires_at} (grace cut to the token's expiry)" in str(events[-1].detail)
    service.update("alice", "ci", expires_at=None)  # extended: the old secret is not
    clock.advance(3600)
    assert attempt(f"cpanel alice:{old.secret}").allowed  # through its last second
    clock.advance(1)
    assert attempt(f"cpanel alice:{old.secret}").reason is FailureReason.ROTATED_OUT
    assert attempt(f"cpanel alice:{new.secret}").allowed


def test_a_grace_within_the_tokens_life_is_kept_without_a_warning(
    service: TokenService, clock: FrozenClock
) -> None:
    service.create("alice", "ci", expires_at=int(clock()) + 3600)
    rotated = service.rotate("alice", "ci", grace=3600)  # ends the very second the token does
    assert rotated.record.previous_until == int(clock()) + 3600
    assert not [w for w in rotated.warnings if "grace" in w]


def test_bringing_the_expiry_forward_cuts_the_grace_period_with_it(
    service: TokenService, attempt: Attempt, clock: FrozenClock
) -> None:
    old = service.create("alice", "ci")
    service.rotate("alice", "ci", grace=7 * DAY)
    service.update("alice", "ci", expires_at=int(clock()) + 3600)
    assert service.show("alice", "ci").previous_secret_until == int(clock()) + 3600
    service.update("alice", "ci", expires_at=None)
    clock.advance(3601)
    assert attempt(f"cpanel alice:{old.secret}").reason is FailureReason.ROTATED_OUT


@pytest.mark.parametrize(
    ("name", "grace", "error"),
    [
        pytest.param("ghost", None, TokenNotFoundError, id="unknown-token"),
        pytest.param("expired", None, ValidationError, id="expired-token"),
        pytest.param("ci", -1, ValidationError, id="negative-grace"),
        pytest.param("ci", 10**13, ValidationError, id="grace-after-9999"),
        pytest.param("ci", float("nan"), ValidationError, id="nan-grace"),
        pytest.param("ci", float("inf"), ValidationError, id="infinite-grace"),
    ],
)
def test_refused_rotation_changes_nothing(
    service: TokenService,
    clock: FrozenClock,
    name: str,
    grace: float | None,
    error: type[Exception],
) -> None:
    service.create("alice", "ci")
    service.create("alice", "expired", expires_at=int(clock()) + 10)
    clock.advance(11)
    before = snapshot(service.store)
    with pytest.raises(error):
        service.rotate("alice", name, grace=grace)
    assert snapshot(service.store) == before


# -- revoke and purge --------------------------------------------------------------------------


def test_revoke_is_idempotent_and_returns_what_it_revoked(
    service: TokenService, attempt: Attempt
) -> None:
    ci = service.create("alice", "ci")
    service.create("alice", "keep")
    revoked = service.revoke("alice", ["ci", "ghost", "ci"])
    assert [r.name for r in revoked] == ["ci"]
    assert service.revoke("alice", ["ci"]) == []
    assert attempt(f"cpanel alice:{ci.secret}").reason is FailureReason.UNKNOWN_TOKEN
    assert [v.name for v in service.list_tokens()] == ["keep"]


def test_revoke_without_names_is_refused(service: TokenService) -> None:
    with pytest.raises(ValidationError):
        service.revoke("alice", [])


def test_revoke_all_touches_only_that_user_in_that_realm(service: TokenService) -> None:
    service.create("alice", "a")
    service.create("alice", "b")
    service.create("alice", "a", realm="whm")
    service.create("bob", "a")
    assert sorted(r.name for r in service.revoke_all("alice")) == ["a", "b"]
    assert [(v.realm.value, v.user) for v in service.list_tokens()] == [
        ("cpanel", "bob"),
        ("whm", "alice"),
    ]


def test_expired_tokens_stay_listed_until_purged(
    service: TokenService, clock: FrozenClock, events: list[AuditEvent]
) -> None:
    start = int(clock())
    service.create("alice", "old", expires_at=start + DAY)
    service.create("alice", "recent", expires_at=start + 20 * DAY)
    service.create("alice", "forever")
    clock.set(start + 40 * DAY)
    assert [v.status.value for v in service.list_tokens()] == ["active", "expired", "expired"]
    assert [r.name for r in service.purge_expired(older_than=30 * DAY)] == ["old"]
    assert [r.name for r in service.purge_expired()] == ["recent"]
    assert [v.name for v in service.list_tokens()] == ["forever"]
    assert [e.kind for e in events][-2:] == ["token.purge", "token.purge"]


def test_a_token_expiring_this_second_is_not_purged(
    service: TokenService, clock: FrozenClock
) -> None:
    service.create("alice", "ci", expires_at=int(clock()) + 10)
    clock.advance(10)
    assert service.purge_expired() == []
    clock.advance(1)
    assert len(service.purge_expired()) == 1


@pytest.mark.parametrize("age", [-1, float("nan"), float("inf"), float("-inf")])
def test_purge_with_a_negative_or_no_finite_age_is_refused(
    service: TokenService, clock: FrozenClock, age: float
) -> None:
    service.create("alice", "ci", expires_at=int(clock()) + 10)
    clock.advance(3600)
    with pytest.raises(ValidationError):
        service.purge_expired(older_than=age)
    assert [v.name for v in service.list_tokens(user="alice")] == ["ci"]  # nothing purged


# -- audit -------------------------------------------------------------------------------------


def test_every_change_is_audited_with_who_what_and_when(
    backend: TokenStore, clock: FrozenClock, events: list[AuditEvent]
) -> None:
    service = TokenService(backend, clock=clock, audit=events.append, operator="cli:ops")
    service.create("alice", "ci", expires_at=int(clock()) + DAY)
    clock.advance(1)
    service.update("alice", "ci", acls=["edit-dns"])
    service.rename("alice", "ci", "deploy")
    service.rotate("alice", "deploy", grace=60)
    service.revoke("alice", ["deploy"])
    service.create("alice", "short", expires_at=int(clock()) + 1)
    clock.advance(2)
    service.purge_expired()
    service.create("alice", "x")
    service.rename_user(Realm.CPANEL, "alice", "alicia")
    service.delete_user(Realm.CPANEL, "alicia")
    assert [(e.kind, e.user, e.token_name) for e in events] == [
        ("token.create", "alice", "ci"),
        ("token.update", "alice", "ci"),
        ("token.rename", "alice", "deploy"),
        ("token.rotate", "alice", "deploy"),
        ("token.revoke", "alice", "deploy"),
        ("token.create", "alice", "short"),
        ("token.purge", "alice", "short"),
        ("token.create", "alice", "x"),
        ("user.rename", "alicia", None),
        ("token.revoke", "alicia", "x"),
        ("user.delete", "alicia", None),
    ]
    assert {e.actor for e in events} == {"cli:ops"}
    assert events[0].at == 1_800_000_000
    assert events[1].detail == "acls all -> edit-dns"
    assert events[2].detail == "name 'ci' -> 'deploy'"


def test_no_audit_event_carries_a_secret(
    service: TokenService, events: list[AuditEvent], clock: FrozenClock
) -> None:
    secrets = [service.create("alice", "ci", whitelist_ips=["192.0.2.1"]).secret]
    secrets.append(service.rotate("alice", "ci", grace=60).secret)
    secrets.append(service.rotate("alice", "ci").secret)
    service.update("alice", "ci", acls=["edit-dns"], expires_at=int(clock()) + 5)
    service.rename("alice", "ci", "deploy")
    clock.advance(10)
    service.purge_expired()
    secrets.append(service.create("alice", "other").secret)
    service.revoke("alice", ["other"])
    assert len(events) == 8
    for event in events:
        texts = [repr(event), *(str(value) for value in dataclasses.astuple(event))]
        for secret in secrets:
            assert all(secret not in text for text in texts)


def test_token_view_is_built_only_from_fields_that_may_be_shown(service: TokenService) -> None:
    created = service.create("alice", "ci")
    view = TokenView.from_record(created.record, 1_800_000_000)
    assert created.secret not in repr(view)
    assert created.record.digest not in repr(view)
    assert created.record.verifier not in repr(view)
