"""The page offers what the signed-in token can actually do: expiry presets within its own
expiry (and its own expiry as the default when the usual one is later), the ACLs it can
grant and no others, grace periods its token lives through, a purge button only when there
is something to purge, and an icon that needs no sign-in. Refusals name dates, not epochs."""

from __future__ import annotations

import datetime
import re
import shlex
from pathlib import Path

import pytest

from tokenward.cli import build_parser
from tokenward.commands.base import expiry, split
from tokenward.core.acl import WHM_ACL_GROUPS
from tokenward.core.tokens import Realm
from tokenward.management.views import Keep

from .conftest import SignedIn, WebServer

pytestmark = pytest.mark.slow  # real servers

README = Path(__file__).parents[2] / "README.md"
DAY = 86_400
_OPTION_RE = re.compile(r'<option value="([^"]*)"( selected)?>')
_CHECKBOX_RE = re.compile(r'<input type="checkbox" name="acl" value="([^"]+)"[^>]*>')


def options(html: str, select: str) -> tuple[list[str], str]:
    """The values of one ``<select>``'s options, and the one selected."""
    found = re.search(rf'<select id="{select}".*?</select>', html, re.S)
    assert found is not None, html
    pairs = _OPTION_RE.findall(found.group(0))
    selected = [value for value, chosen in pairs if chosen]
    return [value for value, _ in pairs], selected[0] if selected else pairs[0][0]


def utc(epoch: int) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def generate(client: SignedIn, **fields: str | list[str]) -> tuple[int, str]:
    """Submit the generate form as the browser would: with what it selected by default."""
    form = client.get("/new").text
    _, default = options(form, "expiry")
    data: dict[str, str | list[str]] = {
        "csrf": client.csrf,
        "once": client.once("/new"),
        "name": "made-on-the-page",
        "expiry": default,
        "acl": ["edit-dns"],
        **fields,
    }
    response = client.post("/new", data)
    return response.status_code, response.text


# -- expiry ----------------------------------------------------------------------------


def test_the_readme_quick_start_token_generates_a_token_with_the_forms_defaults(
    web: WebServer,
) -> None:
    line = next(
        line.split("#")[0]
        for line in README.read_text().splitlines()
        if line.startswith(".venv/bin/tokenward create ")
    )
    args = build_parser().parse_args(shlex.split(line)[1:])
    expires_at = expiry(args, web.clock())
    token = web.mint(
        args.name,
        args.user,
        acls=split(args.acl or ["all"]),
        expires_at=None if isinstance(expires_at, Keep) else expires_at,  # no flag: never
    )
    client = SignedIn(web, token)
    status, page = generate(client)
    assert status == 200, page
    made = web.service.show(args.user, "made-on-the-page")
    caller = token.created.record.expires_at
    assert caller is None or (made.expires_at is not None and made.expires_at <= caller)


def test_a_token_expiring_in_two_days_is_offered_presets_within_it_and_its_own_expiry(
    web: WebServer,
) -> None:
    caller = int(web.clock()) + 2 * DAY
    client = SignedIn(web, web.mint("admin", acls=["all"], expires_at=caller))
    values, selected = options(client.get("/new").text, "expiry")
    assert values == ["1d", "caller", "date"]  # no 7 days, no year, never "never"
    assert selected == "caller"
    status, page = generate(client)
    assert status == 200, page
    assert web.service.show("alice", "made-on-the-page").expires_at == caller


def test_a_token_that_never_expires_is_offered_every_preset_and_one_year_by_default(
    web: WebServer,
) -> None:
    client = SignedIn(web, web.admin())
    values, selected = options(client.get("/new").text, "expiry")
    assert values == ["1d", "7d", "30d", "90d", "1y", "date", "never"]
    assert selected == "1y"


def test_a_date_beyond_the_callers_expiry_is_refused_naming_both_dates_in_utc(
    web: WebServer,
) -> None:
    caller = int(web.clock()) + DAY
    client = SignedIn(web, web.mint("admin", acls=["all"], expires_at=caller))
    status, page = generate(client, expiry="date", expiry_date="2099-01-01")
    assert status == 400
    assert utc(caller) in page
    assert str(caller) not in page


def test_the_api_gives_a_new_token_the_callers_expiry_when_none_is_asked_for(
    web: WebServer,
) -> None:
    caller = int(web.clock()) + DAY
    token = web.mint("admin", acls=["all"], expires_at=caller)
    http = web.client()
    made = http.post(
        "/execute/Tokens/create_full_access", data={"name": "from-api"}, headers=token.headers
    ).json()
    assert made["status"] == 1, made
    assert made["data"]["expires_at"] == caller
    forever = http.post(
        "/execute/Tokens/create_full_access",
        data={"name": "forever", "expires_at": "0"},  # never, asked for outright: refused
        headers=token.headers,
    ).json()
    assert forever["status"] == 0
    assert utc(caller) in " ".join(forever["errors"])


# -- ACLs ------------------------------------------------------------------------------


@pytest.mark.parametrize("realm", [Realm.CPANEL, Realm.WHM])
def test_a_narrow_token_is_shown_only_the_acls_it_can_grant(web: WebServer, realm: Realm) -> None:
    narrow = web.mint("narrow", acls=["manage-api-tokens", "edit-dns"], realm=realm)
    form = SignedIn(web, narrow).get("/new").text
    assert sorted(_CHECKBOX_RE.findall(form)) == ["edit-dns", "manage-api-tokens"]
    assert "disabled" not in form
    assert "does not hold" not in form


def test_a_token_with_all_is_shown_the_whole_chart(web: WebServer) -> None:
    form = SignedIn(web, web.admin()).get("/new").text
    chart = sorted(acl for group in WHM_ACL_GROUPS.values() for acl in group)
    assert sorted(_CHECKBOX_RE.findall(form)) == chart


def test_editing_a_broader_token_keeps_its_acls_checked_so_a_rename_does_not_drop_them(
    web: WebServer,
) -> None:
    web.mint("broad", acls=["edit-dns", "kill-acct"])
    client = SignedIn(web, web.mint("narrow", acls=["manage-api-tokens", "edit-dns"]))
    form = client.get("/edit", name="broad").text
    assert 'value="kill-acct" id="acl-kill-acct" checked' in form
    response = client.post(
        "/edit",
        {"csrf": client.csrf, "token": "broad", "name": "renamed", "expiry": "keep",
         "acl": ["edit-dns", "kill-acct"]},
    )  # fmt: skip
    assert response.status_code == 303
    assert web.service.show("alice", "renamed").acls == frozenset({"edit-dns", "kill-acct"})


# -- rotating, purging, the icon -------------------------------------------------------


def test_grace_periods_are_offered_only_within_the_tokens_remaining_life(web: WebServer) -> None:
    web.mint("deploy", acls=["edit-dns"], expires_at=int(web.clock()) + 2 * 3600)
    page = SignedIn(web, web.admin()).get("/rotate", name="deploy").text
    assert options(page, "grace")[0] == ["", "15m", "1h"]


def test_a_grace_not_offered_is_cut_to_the_tokens_life_all_the_same(web: WebServer) -> None:
    """A form posted with a longer grace (by hand, or one the clock has since overtaken)
    meets the service's rule: cut to the token's expiry, with the warning on the page."""
    expires_at = int(web.clock()) + 2 * 3600
    web.mint("deploy", acls=["edit-dns"], expires_at=expires_at)
    client = SignedIn(web, web.admin())
    once = client.once("/rotate", name="deploy")
    response = client.post(
        "/rotate", {"csrf": client.csrf, "name": "deploy", "grace": "7d", "once": once}
    )
    assert response.status_code == 200
    assert "before a grace period of 7 days would end" in response.text
    assert web.service.show("alice", "deploy").previous_secret_until == expires_at


def test_the_purge_button_shows_only_when_there_are_expired_tokens(web: WebServer) -> None:
    client = SignedIn(web, web.admin())
    web.mint("old", expires_at=int(web.clock()) + 10)
    assert "Purge" not in client.get("/").text
    web.clock.advance(60)
    assert "Purge 1 expired token" in client.get("/").text


def test_the_icon_needs_no_sign_in_anywhere(web: WebServer) -> None:
    http = web.client()
    assert http.get("/favicon.ico").status_code in (200, 204)  # not the API's 401
    page = http.get(f"{web.mount}/").text
    icon = re.search(r'<link rel="icon" href="([^"]+)"', page)
    assert icon is not None
    served = http.get(icon.group(1))
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("image/svg+xml")
    assert http.get(f"{web.mount}/favicon.ico").status_code == 200
