"""A real server (uvicorn on a socket we bound, in a thread) with the web page mounted at
``/tokens`` beside the management API and forward auth, as ``tokenward serve`` mounts it,
over a store and a frozen clock the tests also hold."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tokenward import MemoryStore, TokenService
from tokenward.audit import log_event
from tokenward.core.tokens import Realm
from tokenward.guard import Guard
from tokenward.management.http import MANAGEMENT_RULES, ManagementASGI
from tokenward.management.web import TokenPageASGI
from tokenward.server import LOOPBACK, TokenwardServer
from tokenward.testing import FAST_ARGON2, FrozenClock, MintedToken, fast_settings

from ..serving import ThreadedServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

MOUNT = "/tokens"
CHROMIUM = os.environ.get("TOKENWARD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
_CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')
_NONCE_RE = re.compile(r'name="nonce" value="([^"]+)"')
_ONCE_RE = re.compile(r'name="once" value="([^"]+)"')


class WebServer:
    def __init__(self, clock: FrozenClock, mount: str = MOUNT) -> None:
        self.clock = clock
        self.mount = mount
        self.store = MemoryStore()
        # The audit trail goes to the logs, as in tokenward serve: tests can search them.
        self.service = TokenService(self.store, argon2=FAST_ARGON2, clock=clock, audit=log_event)
        settings = fast_settings(trusted_proxies=LOOPBACK, last_used_interval=0.05)
        guard = Guard(self.store, settings, clock=clock)
        manager, forward = guard.authenticator_for(MANAGEMENT_RULES, "token"), guard.authenticator
        self.page = TokenPageASGI(self.service, manager)
        app = TokenwardServer(
            forward, extra_routes={"/": ManagementASGI(self.service, manager), mount: self.page}
        )
        self.runner = ThreadedServer(app)
        self.url = self.runner.url
        self.clients: list[httpx.Client] = []

    @property
    def page_url(self) -> str:
        return f"{self.url}{self.mount}/"

    def mint(self, name: str, user: str = "alice", **options: object) -> MintedToken:
        return MintedToken(self.service.create(user, name, **options))  # type: ignore[arg-type]

    def admin(
        self, name: str = "admin", user: str = "alice", realm: Realm = Realm.CPANEL
    ) -> MintedToken:
        """A token that may sign in: ``manage-api-tokens`` (with ``all``, so it can grant)."""
        return self.mint(name, user, realm=realm, acls=["all"])

    def client(self) -> httpx.Client:
        """A client closed with the server (no ResourceWarning from a forgotten one)."""
        client = httpx.Client(base_url=self.url, timeout=30)
        self.clients.append(client)
        return client

    def names(self, user: str = "alice", realm: Realm = Realm.CPANEL) -> list[str]:
        return [view.name for view in self.service.list_tokens(user=user, realm=realm)]


def sign_in_http(http: httpx.Client, mount: str, token: MintedToken) -> httpx.Response:
    """Sign in through the form, as a browser does: fetch it (nonce cookie), post it."""
    record = token.created.record
    form = http.get(f"{mount}/")
    nonce = _NONCE_RE.search(form.text)
    assert nonce is not None, form.text
    return http.post(
        f"{mount}/signin",
        data={
            "nonce": nonce.group(1),
            "realm": record.realm.value,
            "user": record.user,
            "token": token.secret,
        },
    )


class SignedIn:
    """An httpx client signed in to the page, as a browser would be (cookies, forms)."""

    def __init__(self, server: WebServer, token: MintedToken) -> None:
        self.server = server
        self.http = server.client()
        self.signin = sign_in_http(self.http, server.mount, token)
        assert self.signin.status_code == 303, self.signin.text
        listing = self.get("/")
        csrf = _CSRF_RE.search(listing.text)
        assert csrf is not None, listing.text
        self.csrf = csrf.group(1)

    def get(self, path: str, **params: str) -> httpx.Response:
        return self.http.get(f"{self.server.mount}{path}", params=params)

    def post(self, path: str, data: dict[str, str | list[str]], **headers: str) -> httpx.Response:
        return self.http.post(f"{self.server.mount}{path}", data=data, headers=headers)

    def once(self, path: str, **params: str) -> str:
        """The one-time nonce of a form that mints a secret."""
        found = _ONCE_RE.search(self.get(path, **params).text)
        assert found is not None
        return found.group(1)


@contextlib.contextmanager
def web_server(clock: FrozenClock, mount: str = MOUNT) -> Iterator[WebServer]:
    server = WebServer(clock, mount)
    server.runner.start()
    try:
        yield server
    finally:
        for client in server.clients:
            client.close()
        server.runner.stop()


@pytest.fixture
def web(clock: FrozenClock) -> Iterator[WebServer]:
    with web_server(clock) as server:
        yield server


# -- the browser -----------------------------------------------------------------------


def browser_problem() -> str | None:
    """Why the browser tests cannot run here, or ``None`` when they can."""
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install playwright; see docs/web.md)"
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium; see docs/web.md)"
    return None


def require_browser() -> None:
    """Skip the calling module when there is no browser, or fail it when the run requires
    one (``TOKENWARD_REQUIRE_SERVICES=1``, as ``.ci/run`` sets)."""
    problem = browser_problem()
    if problem is None:
        return
    if os.environ.get("TOKENWARD_REQUIRE_SERVICES"):
        pytest.fail(f"browser tests required but cannot run: {problem}", pytrace=False)
    pytest.skip(problem, allow_module_level=True)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 760})
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()
