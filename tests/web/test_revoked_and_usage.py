"""The token page shows a token revoked as leaked on its own row, in words, with only the
action it still allows (deleting it), and each used token's requests today and this week."""

from __future__ import annotations

import re

import pytest

from tokenward.stores.base import Usage, day_of

from .conftest import SignedIn, WebServer

pytestmark = pytest.mark.slow  # a real server


def row(page: str, name: str) -> str:
    found = re.search(rf'<tr class="[^"]*" data-name="{name}">.*?</tr>', page, re.DOTALL)
    assert found is not None, page
    return found.group(0)


def test_a_leaked_token_shows_revoked_on_its_row_and_can_only_be_deleted(
    web: WebServer,
) -> None:
    admin = web.admin()
    leaked = web.mint("leaked")
    service = web.service
    assert service.revoke_leaked(service.find_by_secret(leaked.secret), source="scan") == 1
    today = day_of(web.clock())
    web.store.record_usage(
        [
            Usage(
                admin.created.record.id, int(web.clock()), "192.0.2.8", ((today - 2, 7), (today, 3))
            )
        ]
    )
    page = SignedIn(web, admin).get("/").text
    revoked = row(page, "leaked")
    assert 'class="row-revoked"' in revoked
    assert "Revoked: reported leaked" in revoked
    assert "/revoke?name=leaked" in revoked
    assert ">Delete<" in revoked
    assert "/edit?" not in revoked
    assert "/rotate?" not in revoked
    mine = row(page, "admin")
    assert "Revoked" not in mine
    assert re.search(r"\d+ today, \d+ in 7 days", mine) is not None
    assert leaked.secret not in page
