"""Store URLs: one helper splits tokenward's ``tokenward_*`` options from the driver's
parameters, which reach the driver exactly as written; the stores built from a URL follow it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokenward import ConfigurationError, open_store
from tokenward.stores.url import StoreURL, redact_url, split_store_url

PG = "postgresql://u:hunter2@db.example:5432/app"
PG_OPTIONS = ("tokenward_schema", "tokenward_cache", "tokenward_upgrade")
REDIS_OPTIONS = ("tokenward_prefix", "tokenward_cache", "tokenward_upgrade")


@pytest.mark.parametrize(
    ("url", "allowed", "expected"),
    [
        pytest.param(PG, PG_OPTIONS, StoreURL(PG), id="no-query"),
        pytest.param(f"{PG}?sslmode=require&application_name=a%20b+c", PG_OPTIONS,
                     StoreURL(f"{PG}?sslmode=require&application_name=a%20b+c"),
                     id="driver-parameters-untouched"),
        pytest.param(f"{PG}?options=-c%20a%3D1&tokenward_cache=5&options=-c%20b%3D2", PG_OPTIONS,
                     StoreURL(f"{PG}?options=-c%20a%3D1&options=-c%20b%3D2", cache=5.0),
                     id="repeated-driver-parameter"),
        pytest.param("redis://h:6379/0?tokenward_prefix=app:&ssl_cert_reqs&db=", REDIS_OPTIONS,
                     StoreURL("redis://h:6379/0?ssl_cert_reqs&db=", prefix="app:"),
                     id="valueless-and-blank-driver-parameters"),
        pytest.param(f"{PG}?tokenward_schema=tw&sslmode=require&tokenward_cache=2.5", PG_OPTIONS,
                     StoreURL(f"{PG}?sslmode=require", cache=2.5, schema="tw"),
                     id="options-first-and-last"),
        pytest.param("redis://h/0?tokenward_prefix=app%3Atest%3A", REDIS_OPTIONS,
                     StoreURL("redis://h/0", prefix="app:test:"), id="percent-encoded-value"),
        pytest.param("redis://h/0?a=1&&tokenward_cache=1&", REDIS_OPTIONS,
                     StoreURL("redis://h/0?a=1", cache=1.0), id="empty-fields-dropped"),
        pytest.param("sqlite:///t.db?tokenward_upgrade=off", ("tokenward_upgrade",),
                     StoreURL("sqlite:///t.db", upgrade=False), id="upgrade-off"),
        pytest.param("sqlite:///t.db?mode=ro", (), StoreURL("sqlite:///t.db?mode=ro"),
                     id="no-options-allowed-none-given"),
    ],
)  # fmt: skip
def test_tokenward_options_are_split_off_and_every_driver_parameter_is_kept_as_written(
    url: str, allowed: tuple[str, ...], expected: StoreURL
) -> None:
    assert split_store_url(url, allowed) == expected


def test_a_keyword_string_with_an_unknown_option_is_refused_without_its_password() -> None:
    with pytest.raises(ConfigurationError) as refused:
        split_store_url("host=h password=hunter2 ?tokenward_x=1", ())
    assert str(refused.value) == (
        "unknown store URL option 'tokenward_x': these URLs take no tokenward_ options"
    )


@pytest.mark.parametrize(
    ("query", "allowed", "message"),
    [
        pytest.param("tokenward_prefix=x", PG_OPTIONS,
                     "unknown store URL option 'tokenward_prefix': postgresql URLs take "
                     "tokenward_cache, tokenward_schema, tokenward_upgrade", id="unknown-option"),
        pytest.param("TOKENWARD_CACHE=5", PG_OPTIONS, "unknown store URL option 'TOKENWARD_CACHE'",
                     id="unknown-option-in-capitals"),
        pytest.param("tokenward_cache=5", (),
                     "postgresql URLs take no tokenward_ options", id="no-options-allowed"),
        pytest.param("tokenward_cache=5&tokenward_cache=10", PG_OPTIONS,
                     "tokenward_cache is given twice", id="repeated-option"),
        pytest.param("tokenward_cache", PG_OPTIONS, "tokenward_cache needs a value",
                     id="valueless-option"),
        pytest.param("tokenward_schema=", PG_OPTIONS, "tokenward_schema needs a value",
                     id="blank-option"),
        pytest.param("tokenward_cache=soon", PG_OPTIONS,
                     "tokenward_cache='soon': a number of seconds", id="cache-not-a-number"),
        pytest.param("tokenward_cache=0", PG_OPTIONS, "must be positive", id="cache-zero"),
        pytest.param("tokenward_cache=-1", PG_OPTIONS, "must be positive", id="cache-negative"),
        pytest.param("tokenward_cache=nan", PG_OPTIONS, "must be positive", id="cache-nan"),
        pytest.param("tokenward_cache=inf", PG_OPTIONS, "must be positive", id="cache-infinite"),
        pytest.param("tokenward_upgrade=no", PG_OPTIONS, "tokenward_upgrade='no': on or off",
                     id="upgrade-not-on-or-off"),
    ],
)  # fmt: skip
def test_bad_tokenward_options_are_refused_by_name_without_the_password(
    query: str, allowed: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        split_store_url(f"{PG}?{query}", allowed)
    assert message in str(refused.value)
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("postgresql://127.0.0.1:1/db?tokenward_prefix=x", id="postgres-prefix"),
        pytest.param("redis://127.0.0.1:1/0?tokenward_schema=x", id="redis-schema"),
        pytest.param("memory://?tokenward_cache=5", id="memory-cache"),
        pytest.param("sqlite:///{dir}/t.db?tokenward_cache=5", id="sqlite-cache"),
    ],
)
def test_open_store_refuses_an_option_its_store_does_not_take(url: str, tmp_path: Path) -> None:
    """Before, an unknown option reached the driver (or was ignored) and the store opened."""
    with pytest.raises(ConfigurationError, match="unknown store URL option"):
        open_store(url.format(dir=tmp_path))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("url", "attribute", "driver_url"),
    [
        pytest.param(
            "redis://127.0.0.1:1/0?health_check_interval=5&tokenward_prefix=p:"
            "&health_check_interval=7&flag",
            "url",
            "redis://127.0.0.1:1/0?health_check_interval=5&health_check_interval=7&flag",
            id="redis",
        ),
        pytest.param(
            "postgresql://127.0.0.1:1/db?sslmode&tokenward_schema=s&options=a&options=b",
            "_conninfo",
            "postgresql://127.0.0.1:1/db?sslmode&options=a&options=b",
            id="postgres",
        ),
    ],
)
def test_the_driver_gets_repeated_and_valueless_parameters_as_written(
    url: str, attribute: str, driver_url: str
) -> None:
    store = open_store(url)
    try:
        assert getattr(store, attribute) == driver_url
    finally:
        store.close()


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("postgresql://127.0.0.1:1/db?password=hunter2&sslmode=disable", id="pg-query"),
        pytest.param("postgresql://u:hunter2@127.0.0.1:1/db", id="pg-userinfo"),
        pytest.param("redis://127.0.0.1:1/0?password=hunter2", id="redis-query"),
        pytest.param("redis://u:hunter2@127.0.0.1:1/0?tokenward_cache=5", id="cached-redis"),
    ],
)
def test_a_store_repr_never_shows_a_password(url: str) -> None:
    """The CLI prints the repr ("No tokens in …", migrate): a password must not be in it."""
    store = open_store(url)
    try:
        assert "hunter2" not in repr(store)
        assert "127.0.0.1:1" in repr(store)
    finally:
        store.close()


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        pytest.param("postgresql://u:hunter2@h/db", "postgresql://u:***@h/db", id="userinfo"),
        pytest.param("postgresql://h/db?sslpassword=hunter2&password=x%20y&a=1",
                     "postgresql://h/db?sslpassword=***&password=***&a=1", id="query"),
        pytest.param("host=h password='hun ter2' dbname=d", "host=h password=*** dbname=d",
                     id="libpq-keywords"),
        pytest.param("redis://h/0", "redis://h/0", id="nothing-to-hide"),
    ],
)  # fmt: skip
def test_redact_url_hides_every_password_form(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted
