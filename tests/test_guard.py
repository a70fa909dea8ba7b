"""The composition root: one Guard per application, shared by every shell, with an explicit
lifecycle, configured in one shape from Python, a mapping or the environment."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest

import tokenward
from tokenward import (
    ConfigurationError,
    Guard,
    MemoryStore,
    RequestInfo,
    Rule,
    Settings,
    TokenwardASGIMiddleware,
    TokenwardWSGIMiddleware,
)
from tokenward.audit import AuditEvent
from tokenward.core.policy import Owner
from tokenward.core.tokens import Realm
from tokenward.guard import env_options
from tokenward.limits import MemoryFailureLimiter
from tokenward.stores.url import STORE_ENV
from tokenward.testing import FAST_ARGON2, FrozenClock, MintedToken, TokenFactory

SRC = Path(tokenward.__file__).parent


def request(token: MintedToken, path: str = "/") -> RequestInfo:
    return RequestInfo("GET", path, (token.header,), "192.0.2.1")


class Directory:
    def owner(self, realm: Realm, user: str) -> Owner | None:
        return Owner(acls=frozenset({"edit-dns"}))


audit_log: list[AuditEvent] = []


def audit_hook(event: AuditEvent) -> None:
    audit_log.append(event)


def test_without_a_store_or_the_environment_a_guard_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(STORE_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError, match=STORE_ENV):
        TokenwardWSGIMiddleware(lambda environ, start: [])
    with pytest.raises(ConfigurationError, match=STORE_ENV):
        TokenwardASGIMiddleware(lambda scope, receive, send: None)  # type: ignore[arg-type,return-value]
    assert list(tmp_path.iterdir()) == []  # no ./tokenward.db created on the way


def test_every_shell_given_one_guard_shares_its_store_pool_and_last_use_writer() -> None:
    guard = Guard(MemoryStore(), Settings(argon2=FAST_ARGON2), background_flush=False)
    wsgi = TokenwardWSGIMiddleware(lambda environ, start: [], guard)
    asgi = TokenwardASGIMiddleware(lambda scope, receive, send: None, guard)  # type: ignore[arg-type,return-value]
    token = TokenFactory(guard.store, FrozenClock()).mint()
    assert wsgi.authenticator.authenticate(request(token)).allowed
    assert asgi.authenticator is wsgi.authenticator is guard.authenticator
    assert guard.verifications.computations == 1  # verified once for both
    guard.close()


def test_an_authenticator_for_other_rules_shares_everything_but_the_rules() -> None:
    guard = Guard(
        MemoryStore(),
        Settings(rules=(Rule.public("/"),), argon2=FAST_ARGON2),
        background_flush=False,
    )
    strict = guard.authenticator_for((Rule.require("/", "edit-dns"),), "token")
    token = TokenFactory(guard.store, FrozenClock()).mint(acls=["list-accts"])
    assert guard.authenticator.authenticate(request(token)).allowed
    assert strict.authenticate(request(token)).refusal == guard.responses.forbidden
    assert strict.verifications is guard.verifications
    assert strict.usage is guard.usage
    guard.close()


def test_options_belong_to_the_guard_not_to_a_shell_that_shares_it() -> None:
    guard = Guard(MemoryStore())
    with pytest.raises(TypeError, match="Guard"):
        TokenwardWSGIMiddleware(lambda environ, start: [], guard, Settings())
    guard.close()


def test_close_writes_pending_last_use_and_the_context_managers_close() -> None:
    store = MemoryStore()
    token = TokenFactory(store, FrozenClock()).mint()
    with Guard(store, Settings(argon2=FAST_ARGON2), background_flush=False) as guard:
        assert guard.authenticator.authenticate(request(token)).allowed
        assert store.get(token.created.record.digest).last_used_at is None  # type: ignore[union-attr]
    assert store.get(token.created.record.digest).last_used_at is not None  # type: ignore[union-attr]

    async def use() -> None:
        async with Guard(store, Settings(argon2=FAST_ARGON2)) as other:
            assert (await other.authenticator.authenticate_async(request(token))).allowed

    asyncio.run(use())


class ClosingStore(MemoryStore):
    closed = 0

    def close(self) -> None:
        self.closed += 1


def test_a_store_opened_from_a_url_is_closed_with_the_guard_a_given_one_is_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    given = ClosingStore()
    Guard(given).close()
    assert given.closed == 0  # the caller's to close
    opened = ClosingStore()
    monkeypatch.setattr(tokenward.guard, "open_store", lambda url: opened)
    guard = Guard("memory://")
    guard.close()
    guard.close()
    assert opened.closed == 1  # once, however often the guard is closed


def test_configuration_has_one_shape_in_python_a_mapping_and_the_environment() -> None:
    mapping = {
        "STORE": "memory://",
        "RULES": [{"prefix": "/health", "access": "public"}],
        "TRUSTED_PROXIES": ["10.0.0.0/8"],
        "DIRECTORY": Directory(),
        "AUDIT": "tests.test_guard.audit_hook",
        "LIMITER": MemoryFailureLimiter(3, 60),
    }
    from_mapping = Guard.from_mapping(mapping)
    environ = {
        "TOKENWARD_STORE": "memory://",
        "TOKENWARD_RULES": '[{"prefix": "/health", "access": "public"}]',
        "TOKENWARD_TRUSTED_PROXIES": '["10.0.0.0/8"]',
        "TOKENWARD_DIRECTORY": "tests.test_guard.Directory",
        "TOKENWARD_AUDIT": "tests.test_guard.audit_hook",
        "TOKENWARD_ARGON2_PROFILE_OF_THE_CLI": "ignored: not a setting",
    }
    from_env = Guard.from_env(environ)
    python = Guard(
        MemoryStore(),
        Settings(rules=(Rule.public("/health"),), trusted_proxies=("10.0.0.0/8",)),
        directory=Directory(),
        audit=audit_hook,
    )
    for guard in (from_mapping, from_env):
        assert guard.settings == python.settings
        assert isinstance(guard.directory, Directory)
        assert guard.audit is audit_hook
    assert from_mapping.limiter is mapping["LIMITER"]
    assert "argon2_profile_of_the_cli" not in env_options(environ)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param({"RULEZ": []}, "unknown tokenward setting", id="typo"),
        pytest.param({"DIRECTORY": "no.such.module.Directory"}, "cannot import", id="bad-path"),
        pytest.param({"SETTINGS": Settings(), "RULES": []}, "not both", id="both-shapes"),
        pytest.param({"TRUSTED_PROXIES": ["10.0.0.1/8"]}, "host bits", id="invalid-value"),
    ],
)
def test_a_bad_mapping_gets_the_same_error_everywhere(
    values: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Guard.from_mapping({"STORE": "memory://", **values})


def test_no_module_keeps_a_registry_of_instances() -> None:
    """Nothing at module level collects guards, authenticators, trackers or stores."""
    offenders = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.Assign | ast.AnnAssign):
                text = ast.unparse(node)
                if "WeakSet" in text or "_test_stores" in text or "_live" in text:
                    offenders.append(f"{path.relative_to(SRC)}: {text}")
    assert offenders == []
