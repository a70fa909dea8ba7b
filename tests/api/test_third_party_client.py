"""An existing cPanel API client from PyPI (``cpanel-api``), unmodified, manages tokens
against tokenward as it would against cPanel."""

from __future__ import annotations

import uuid

import pytest

from tests.api.conftest import LiveServer

cpanel_api = pytest.importorskip("cpanel_api", reason="the dev extra installs cpanel-api")


def test_cpanel_api_client_creates_lists_renames_and_revokes(live: LiveServer) -> None:
    user = f"lib-{uuid.uuid4().hex[:8]}"
    bootstrap = live.mint(user, "bootstrap", acls=["all"])
    client = cpanel_api.CPanelApi(
        "127.0.0.1", user, bootstrap.secret, port=live.port, auth_type="utoken", ssl=False
    )
    created = client.uapi.Tokens.create_full_access(name="from-library")
    assert created.status == 1
    secret = created.data.token

    listed = client.uapi.Tokens.list()
    assert sorted(t.name for t in listed.data) == ["bootstrap", "from-library"]

    assert client.uapi.Tokens.rename(name="from-library", new_name="renamed").status == 1
    # The token the library minted works, under its new name, for the library itself.
    minted = cpanel_api.CPanelApi(
        "127.0.0.1", user, secret, port=live.port, auth_type="utoken", ssl=False
    )
    assert "renamed" in [t.name for t in minted.uapi.Tokens.list().data]

    assert client.uapi.Tokens.revoke(name="renamed").status == 1
    with pytest.raises(cpanel_api.Unauthorized):
        minted.uapi.Tokens.list()
