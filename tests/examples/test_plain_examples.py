"""The plain WSGI and ASGI examples, the demo, and the README's CI recipe, run for real."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import webtest
from starlette.testclient import TestClient

from tokenward import Realm, open_store
from tokenward.testing import FrozenClock, TokenFactory

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples"


def load(name: str, store_url: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Import an example afresh with its store taken from $TOKENWARD_STORE, as in production."""
    monkeypatch.setenv("TOKENWARD_STORE", store_url)
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'example.db'}"


def test_wsgi_example_serves_the_three_routes(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = webtest.TestApp(
        load("wsgi_app", store_url, monkeypatch).app, extra_environ={"REMOTE_ADDR": "127.0.0.1"}
    )
    factory = TokenFactory(open_store(store_url), FrozenClock(0))
    dns, plain = factory.mint("alice", acls=["edit-dns"]), factory.mint("bob", acls=["x"])
    assert app.get("/health").json == {"status": "ok"}
    assert app.get("/whoami", headers=dns.headers).json["user"] == "alice"
    assert app.get("/dns/zones", headers=dns.headers).status_int == 200
    app.get("/dns/zones", headers=plain.headers, status=403)
    app.get("/whoami", status=401)


def test_asgi_example_serves_the_three_routes(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = TestClient(load("asgi_app", store_url, monkeypatch).app)
    factory = TokenFactory(open_store(store_url), FrozenClock(0))
    dns, plain = factory.mint("alice", acls=["edit-dns"]), factory.mint("bob", acls=["x"])
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/whoami", headers=dns.headers).json()["acls"] == ["edit-dns"]
    assert client.get("/dns/zones", headers=dns.headers).status_code == 200
    assert client.get("/dns/zones", headers=plain.headers).status_code == 403
    assert client.get("/whoami").status_code == 401


def test_demo_mints_a_fresh_working_token_each_run(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = load("demo", store_url, monkeypatch)
    first, second = demo.mint_demo_token(store_url), demo.mint_demo_token(store_url)
    client = TestClient(load("asgi_app", store_url, monkeypatch).app)
    assert client.get("/dns/zones", headers=second.headers).status_code == 200
    assert client.get("/dns/zones", headers=first.headers).status_code == 401


@pytest.mark.slow
def test_readme_ci_recipe_runs_as_written(tmp_path: Path) -> None:
    """The bash recipe from the README: create a day-long token, use it, revoke it on exit."""
    readme = (ROOT / "README.md").read_text()
    recipe = re.search(r"### Recipe: a token for one CI run.*?```bash\n(.*?)```", readme, re.S)
    assert recipe is not None
    url = f"sqlite:///{tmp_path / 'ci.db'}"
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    env = {
        **os.environ,
        "TOKENWARD_STORE": url,
        "TOKENWARD_ARGON2": "fast",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "--bind",
            f"fd://{sock.fileno()}",
            "--chdir",
            str(EXAMPLES),
            "--log-level",
            "warning",
            "wsgi_app:app",
        ],
        pass_fds=(sock.fileno(),),
        env=env,
    )
    script = (
        recipe.group(1)
        .replace("export TOKENWARD_STORE=sqlite:////var/lib/myapp/tokens.db", "")
        .replace("https://app.example.com", f"http://127.0.0.1:{port}")
    )
    try:
        result = subprocess.run(
            ["bash", "-c", script],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        sock.close()
    assert result.returncode == 0, result.stderr
    assert "example.com" in result.stdout  # the zones the example serves
    store = open_store(url)
    assert store.list(realm=Realm.CPANEL) == []  # the trap revoked the token
