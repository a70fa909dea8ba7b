from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi_app import app as fastapi_app


@pytest.fixture
def app() -> Any:
    return fastapi_app


@pytest.mark.tokenward("carol")
def test_whoami(tokenward_client: Any) -> None:
    assert tokenward_client.get("/whoami").json()["user"] == "carol"


async def _fetch(headers: dict[str, str]) -> int:
    transport = httpx.ASGITransport(app=fastapi_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return (await client.get("/dns/zones", headers=headers)).status_code


def test_httpx_with_a_minted_token(tokenward_factory: Any) -> None:
    import asyncio

    token = tokenward_factory.mint(acls=["edit-dns"])
    assert asyncio.run(_fetch(token.headers)) == 200
