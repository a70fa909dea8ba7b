from __future__ import annotations

from starlette.testclient import TestClient

from tokenward import MemoryStore, Rule, StoreError, TokenRecord
from tokenward.guard import Guard
from tokenward.server import TokenwardServer
from tokenward.testing import FrozenClock, TokenFactory, fast_settings


class Switchable(MemoryStore):
    down = False

    def get(self, digest: str) -> TokenRecord | None:
        if self.down:
            raise StoreError("down")
        return super().get(digest)


def test_health_reports_the_store_and_unknown_paths_are_404(clock: FrozenClock) -> None:
    store = Switchable()
    server = TokenwardServer(Guard(store, fast_settings(), clock=clock).authenticator)
    client = TestClient(server)
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/nope").status_code == 404
    store.down = True
    assert client.get("/health").status_code == 503


def test_forward_auth_sees_the_path_below_its_mount_and_shutdown_flushes(
    clock: FrozenClock,
) -> None:
    store = MemoryStore()
    token = TokenFactory(store, clock).mint(acls=["edit-dns"])
    settings = fast_settings(rules=(Rule.require("/dns", "edit-dns"),))
    server = TokenwardServer(Guard(store, settings, clock=clock).authenticator)
    with TestClient(server) as client:  # runs the lifespan
        # Envoy's ext_authz appends the original path to the /auth prefix.
        assert client.get("/auth/dns/zones", headers=token.headers).status_code == 200
        other = TokenFactory(store, clock).mint(name="nodns", acls=["list-accts"])
        assert client.get("/auth/dns/zones", headers=other.headers).status_code == 403
        assert client.get("/auth/other", headers=other.headers).status_code == 200
    record = store.get(token.created.record.digest)
    assert record is not None
    assert record.last_used_at == int(clock())
