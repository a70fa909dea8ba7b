"""The page in headless Chromium, as a person uses it: sign in, generate, edit, rotate,
revoke, sign out; the screenshots in docs/screenshots come from these runs, made with
``TOKENWARD_SCREENSHOTS=1`` (without it they go to a temporary directory, so a test run
leaves the working tree as it found it)."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import httpx
import pytest

from tokenward.core.tokens import Realm
from tokenward.stores.base import Usage
from tokenward.testing import MintedToken

from .conftest import SCREENSHOTS, WebServer, require_browser

require_browser()

from playwright.sync_api import Page, expect  # noqa: E402 - only once a browser is known

pytestmark = pytest.mark.slow  # real servers, a real browser

DOC_SECRET = "U7HMR63FGY292DQZ4H5BFH16JLYMO01M"  # cPanel's documentation example
YELLOW = "rgb(255, 244, 194)"
RED = "rgb(253, 226, 224)"


def sign_in(page: Page, web: WebServer, token: MintedToken) -> None:
    record = token.created.record
    page.goto(web.page_url)
    realm = "WHM token" if record.realm is Realm.WHM else "cPanel account token"
    page.get_by_label(realm).check()
    page.get_by_label("Username").fill(record.user)
    page.get_by_label("API token").fill(token.secret)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=f"API tokens of {record.user}")).to_be_visible()
    page.wait_for_load_state()  # the page's script has run: typing is filtered from here on


def seed(web: WebServer) -> None:
    """A realistic list: active, expiring within a day, expired, never expiring, used."""
    now = int(web.clock())
    deploy = web.mint(
        "deploy-runner-prod",
        acls=["edit-dns", "list-accts"],
        whitelist_ips=["192.0.2.0/24"],
        expires_at=now + 90 * 86_400,
    )
    web.mint("ci-nightly", acls=["create-dns", "edit-dns"], expires_at=now + 27 * 3600)
    web.mint("old-laptop", acls=["all"], expires_at=now + 3600)
    backup = web.mint(
        "backup-agent", acls=["file-restore"], whitelist_ips=["198.51.100.7", "2001:db8::/48"]
    )
    web.clock.advance(4 * 3600)  # old-laptop has expired, ci-nightly has 23 hours left
    web.store.record_usage(
        [
            Usage(deploy.created.record.id, int(web.clock()) - 600, "192.0.2.17"),
            Usage(backup.created.record.id, int(web.clock()) - 7200, "198.51.100.7"),
        ]
    )


def shoot(page: Page, name: str, *, full_page: bool = True) -> None:
    into = (
        SCREENSHOTS
        if os.environ.get("TOKENWARD_SCREENSHOTS") == "1"
        else Path(tempfile.gettempdir()) / "tokenward-screenshots"
    )
    into.mkdir(parents=True, exist_ok=True)
    page.screenshot(
        path=into / f"{name}.png", full_page=full_page, animations="disabled", caret="hide"
    )


# -- signing in and out ----------------------------------------------------------------


def test_signing_in_works_from_the_keyboard_alone(page: Page, web: WebServer) -> None:
    token = web.admin()
    page.goto(web.page_url)
    page.keyboard.press("Tab")  # the skip link comes first, and shows when focused
    expect(page.get_by_role("link", name="Skip to the content")).to_be_focused()
    page.get_by_label("Username").focus()
    page.keyboard.type("alice")
    page.keyboard.press("Tab")
    expect(page.get_by_label("API token")).to_be_focused()
    page.keyboard.type(token.secret)
    page.keyboard.press("Tab")
    outline = page.get_by_role("button", name="Sign in").evaluate(
        "b => getComputedStyle(b).outlineStyle"
    )
    assert outline == "solid"  # focus is visible
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="API tokens of alice (cPanel)")).to_be_visible()


def test_a_wrong_token_is_refused_with_a_message_on_the_page(page: Page, web: WebServer) -> None:
    web.admin()
    page.goto(web.page_url)
    page.get_by_label("Username").fill("alice")
    page.get_by_label("API token").fill("0" * 32)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Sign-in failed")
    expect(page.get_by_label("Username")).to_have_value("alice")
    expect(page.get_by_label("API token")).to_have_value("")


def test_signing_out_returns_to_the_sign_in_form(page: Page, web: WebServer) -> None:
    sign_in(page, web, web.admin())
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_contain_text("You have signed out.")
    page.goto(f"{web.page_url}new")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


# -- the list --------------------------------------------------------------------------


def test_rows_expiring_within_a_day_are_yellow_and_expired_ones_red_with_icon_and_text(
    page: Page, web: WebServer
) -> None:
    seed(web)
    sign_in(page, web, web.admin("token-manager"))

    expiring = page.locator('tbody tr[data-name="ci-nightly"]')
    expired = page.locator('tbody tr[data-name="old-laptop"]')
    active = page.locator('tbody tr[data-name="deploy-runner-prod"]')
    expect(expiring).to_have_css("background-color", YELLOW)
    expect(expiring.locator(".status")).to_have_text("⚠ Expiring")
    expect(expired).to_have_css("background-color", RED)
    expect(expired.locator(".status")).to_have_text("✕ Expired")
    expect(active.locator(".status")).to_have_text("Active")
    expect(active).not_to_have_css("background-color", YELLOW)
    expect(active.locator('[data-label="Last used"]')).to_contain_text("from 192.0.2.17")
    expect(page.locator('tbody tr[data-name="backup-agent"] [data-label="Expires"]')).to_have_text(
        "Never"
    )
    expect(active.locator('[data-label="IPs"]')).to_have_text("192.0.2.0/24")
    expect(page.locator('tbody tr[data-name="ci-nightly"] [data-label="IPs"]')).to_have_text("Any")
    shoot(page, "list")


def test_the_search_box_filters_names_as_you_type(page: Page, web: WebServer) -> None:
    seed(web)
    sign_in(page, web, web.admin())
    search = page.get_by_label("Search token names")

    search.press_sequentially("DEP")
    expect(page.locator("tbody tr:visible")).to_have_count(1)
    expect(page.locator("tbody tr:visible th")).to_contain_text("deploy-runner-prod")
    expect(page.locator("#count")).to_have_text("Showing 1 of 5 tokens.")
    search.press_sequentially("zzz")
    expect(page.locator("tbody tr:visible")).to_have_count(0)
    expect(page.locator("#no-match")).to_have_text("No token names contain “DEPzzz”.")
    search.fill("")
    search.dispatch_event("input")
    expect(page.locator("tbody tr:visible")).to_have_count(5)


def test_without_javascript_the_search_is_a_plain_form(page: Page, web: WebServer) -> None:
    seed(web)
    token = web.admin()
    context = page.context.browser
    assert context is not None
    plain = context.new_context(java_script_enabled=False)
    try:
        no_js = plain.new_page()
        sign_in(no_js, web, token)
        no_js.get_by_label("Search token names").fill("backup")
        no_js.get_by_role("button", name="Search", exact=True).click()
        expect(no_js).to_have_url(re.compile(r"\?search=backup$"))
        expect(no_js.locator("tbody tr")).to_have_count(1)
        expect(no_js.locator("#count")).to_have_text("Showing 1 of 5 tokens.")
    finally:
        plain.close()


def test_columns_sort_when_their_headers_are_clicked(page: Page, web: WebServer) -> None:
    seed(web)
    sign_in(page, web, web.admin())
    names = page.locator("tbody tr .token-name")
    expect(names).to_have_text(
        ["admin", "backup-agent", "ci-nightly", "deploy-runner-prod", "old-laptop"]
    )
    page.get_by_role("link", name=re.compile("^Expires")).click()
    expect(names).to_have_text(
        ["old-laptop", "ci-nightly", "deploy-runner-prod", "admin", "backup-agent"]
    )
    expect(page.get_by_role("columnheader", name=re.compile("^Expires"))).to_have_attribute(
        "aria-sort", "ascending"
    )
    page.get_by_role("link", name=re.compile("^Expires")).click()
    expect(names).to_have_text(
        ["backup-agent", "admin", "deploy-runner-prod", "ci-nightly", "old-laptop"]
    )
    expect(page.get_by_role("columnheader", name=re.compile("^Expires"))).to_have_attribute(
        "aria-sort", "descending"
    )


# -- generating ------------------------------------------------------------------------


def test_the_name_is_checked_as_you_type_and_addresses_are_counted(
    page: Page, web: WebServer
) -> None:
    sign_in(page, web, web.admin())
    page.get_by_role("link", name="Generate token").click()
    name = page.get_by_label("Name", exact=True)
    name.press_sequentially("bad name!")
    expect(page.locator("#name-error")).to_have_text(
        "Not allowed: space !. Use letters, digits, _ and - only."
    )
    expect(name).to_have_attribute("aria-invalid", "true")
    name.fill("good_name-1")
    name.dispatch_event("input")
    expect(page.locator("#name-error")).to_be_hidden()
    expect(name).to_have_attribute("aria-invalid", "false")
    page.get_by_label("IP addresses allowed to use the token").fill("192.0.2.1\n\n10.0.0.0/8\n")
    expect(page.locator("#ips-count")).to_have_text("2 of 100 entries")
    expect(page.locator("[data-expiry-date]")).to_be_hidden()
    page.get_by_label("Expires").select_option("date")
    expect(page.get_by_label("Expiry date")).to_be_visible()
    expect(page.get_by_label("Expiry date")).to_be_focused()


def test_a_generated_token_is_shown_once_and_works_against_the_api(
    page: Page, web: WebServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(web)
    sign_in(page, web, web.admin("token-manager"))
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("link", name="Generate token").click()
    page.get_by_label("Name", exact=True).fill("dns-updater-staging")
    page.get_by_label("Expires").select_option("30d")
    page.get_by_label("IP addresses allowed to use the token").fill("127.0.0.1\n192.0.2.0/24")
    page.get_by_label("edit-dns", exact=True).check()
    page.get_by_label("manage-api-tokens", exact=True).check()
    expect(page.locator("#acl-manage-api-tokens-warn")).to_contain_text(
        "Dangerous: can mint and edit tokens"
    )
    expect(page.locator("#acl-passwd-warn")).to_contain_text("Dangerous")
    shoot(page, "generate")
    # The docs show cPanel's example secret rather than a new random one on every run.
    monkeypatch.setattr("tokenward.management.service.generate", lambda *_: DOC_SECRET)
    page.get_by_role("button", name="Generate token").click()

    expect(page.get_by_role("heading", name="Token “dns-updater-staging” created")).to_be_visible()
    secret = page.get_by_label("Your API token").input_value()
    assert secret == DOC_SECRET
    expect(page.get_by_text("ACL 'manage-api-tokens': can mint and edit tokens")).to_be_visible()
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#copy-status")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    shoot(page, "secret")
    assert page.evaluate("document.referrer") == ""

    with httpx.Client(base_url=web.url, timeout=30) as http:
        listed = http.get(
            "/execute/Tokens/list", headers={"Authorization": f"cpanel alice:{secret}"}
        )
    assert listed.status_code == 200
    assert "dns-updater-staging" in [t["name"] for t in listed.json()["data"]]

    back = page.get_by_role("button", name="Back to the token list")
    back.click()  # not yet confirmed: the browser keeps us here
    expect(page.get_by_label("Your API token")).to_have_value(secret)
    page.get_by_label("Yes, I saved my token").check()
    back.click()
    expect(page.get_by_role("status").first).to_contain_text("Token “dns-updater-staging” created.")
    expect(page.locator('tbody tr[data-name="dns-updater-staging"]')).to_be_visible()
    assert secret not in page.content()


# -- editing, rotating, revoking -------------------------------------------------------


def test_editing_changes_name_expiry_addresses_and_acls(page: Page, web: WebServer) -> None:
    web.mint("deploy", acls=["edit-dns"], whitelist_ips=["192.0.2.0/24"])
    sign_in(page, web, web.admin())
    page.get_by_role("link", name="Edit deploy").click()
    expect(page.get_by_label("Name", exact=True)).to_have_value("deploy")
    expect(page.get_by_label("edit-dns", exact=True)).to_be_checked()
    page.get_by_label("Name", exact=True).fill("deploy-prod")
    page.get_by_label("Expires").select_option("date")
    page.get_by_label("Expiry date").fill("2027-03-01")
    page.get_by_label("IP addresses allowed to use the token").fill("")
    page.get_by_label("edit-dns", exact=True).uncheck()
    page.get_by_label("list-accts", exact=True).check()
    page.get_by_role("button", name="Save changes").click()

    expect(page.get_by_role("status").first).to_contain_text("Token “deploy-prod” saved.")
    edited = page.locator('tbody tr[data-name="deploy-prod"]')
    expect(edited.locator('[data-label="Expires"]')).to_have_text("2027-03-01 23:59:59")
    expect(edited.locator('[data-label="IPs"]')).to_have_text("Any")
    expect(edited.locator('[data-label="ACLs"]')).to_have_text("list-accts")


def test_a_refused_edit_shows_the_reason_and_keeps_what_was_typed(
    page: Page, web: WebServer
) -> None:
    web.mint("deploy", acls=["edit-dns"])
    sign_in(page, web, web.admin())
    page.get_by_role("link", name="Edit deploy").click()
    page.get_by_label("IP addresses allowed to use the token").fill("10.0.0.1/8")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("alert")).to_contain_text("without host bits")
    expect(page.get_by_label("IP addresses allowed to use the token")).to_have_value("10.0.0.1/8")
    assert web.service.show("alice", "deploy").whitelist_ips == ()


def test_rotating_shows_the_new_secret_once_and_honours_the_grace_period(
    page: Page, web: WebServer
) -> None:
    old = web.mint("deploy", acls=["edit-dns"])
    sign_in(page, web, web.admin())
    page.get_by_role("link", name="Rotate deploy").click()
    page.get_by_label("Grace period for the old token").select_option("1h")
    page.get_by_role("button", name="Rotate token").click()

    expect(page.get_by_role("heading", name="Token “deploy” rotated")).to_be_visible()
    expect(page.get_by_text("The old token keeps working until")).to_be_visible()
    new = page.get_by_label("Your API token").input_value()
    assert new != old.secret
    with httpx.Client(base_url=web.url, timeout=30) as http:
        for secret in (new, old.secret):
            headers = {"Authorization": f"cpanel alice:{secret}", "X-Original-URI": "/app"}
            assert http.get("/auth", headers=headers).status_code == 200
    page.get_by_label("Yes, I saved my token").check()
    page.get_by_role("button", name="Back to the token list").click()
    expect(page.get_by_role("status").first).to_contain_text("Token “deploy” rotated.")


def test_revoking_asks_first_and_cancel_keeps_the_token(page: Page, web: WebServer) -> None:
    web.mint("deploy", acls=["edit-dns"])
    sign_in(page, web, web.admin())
    page.get_by_role("link", name="Revoke deploy").click()
    expect(page.get_by_role("heading", name="Revoke token “deploy”?")).to_be_visible()
    page.get_by_role("link", name="Cancel").click()
    expect(page.locator('tbody tr[data-name="deploy"]')).to_be_visible()
    assert "deploy" in web.names()

    page.get_by_role("link", name="Revoke deploy").click()
    page.get_by_role("button", name="Revoke “deploy”").click()
    expect(page.get_by_role("status").first).to_contain_text("Token “deploy” revoked.")
    expect(page.locator('tbody tr[data-name="deploy"]')).to_have_count(0)
    assert web.names() == ["admin"]


def test_revoke_all_asks_first_then_revokes_everything_and_signs_out(
    page: Page, web: WebServer
) -> None:
    seed(web)
    sign_in(page, web, web.admin())
    page.get_by_role("link", name="Revoke all tokens…").click()
    expect(page.get_by_role("heading", name="Revoke all your tokens?")).to_be_visible()
    page.get_by_role("button", name="Revoke all tokens").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("You revoked the token you were signed in")
    assert web.names() == []


def test_purging_removes_the_expired_tokens(page: Page, web: WebServer) -> None:
    seed(web)
    sign_in(page, web, web.admin())
    page.get_by_role("button", name="Purge 1 expired token").click()
    expect(page.get_by_role("status").first).to_contain_text("Purged 1 expired token(s)")
    expect(page.locator('tbody tr[data-name="old-laptop"]')).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("^Purge"))).to_have_count(0)


# -- small screens ---------------------------------------------------------------------


@pytest.mark.parametrize("width", [800, 1000])
def test_between_phone_and_desktop_widths_every_rows_actions_are_on_screen(
    page: Page, web: WebServer, width: int
) -> None:
    seed(web)
    page.set_viewport_size({"width": width, "height": 2000})  # every row without scrolling
    sign_in(page, web, web.admin("token-manager"))
    links = page.locator("tbody .row-actions a")
    expect(links).to_have_count(14)  # Edit and Revoke on 5 rows, Rotate on the 4 unexpired
    for index in range(links.count()):
        link = links.nth(index)
        box = link.bounding_box()
        assert box is not None
        assert box["x"] >= 0, (link.inner_text(), box)
        assert box["x"] + box["width"] <= width, (link.inner_text(), box)
        reachable = link.evaluate(
            """a => { const r = a.getBoundingClientRect();
                      return a.contains(document.elementFromPoint(r.x + r.width / 2,
                                                                  r.y + r.height / 2)); }"""
        )
        assert reachable, link.inner_text()  # on top, not under another column
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_on_a_phone_the_table_stacks_into_cards_without_sideways_scrolling(
    page: Page, web: WebServer
) -> None:
    seed(web)
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, web, web.admin("token-manager"))
    expect(page.locator('tbody tr[data-name="ci-nightly"]')).to_have_css("display", "block")
    expect(page.locator('tbody tr[data-name="ci-nightly"]')).to_have_css("background-color", YELLOW)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    shoot(page, "phone")
