"""Each example, served the way its docstring says, logs why it refused a request (the
``tokenward.auth`` reason at INFO), so a first 401 comes with an explanation in the server's
output; imported by a test suite, it leaves logging as the suite configured it."""

from __future__ import annotations

import logging
import signal
from pathlib import Path

import pytest

from tests.adapters.targets import load_example
from tests.shutdown.harness import BIN, EXAMPLES, FD, Served
from tokenward import open_store

pytestmark = pytest.mark.slow  # real servers

UVICORN, GUNICORN = str(BIN / "uvicorn"), str(BIN / "gunicorn")
DJANGO = EXAMPLES / "django_project"

SERVED = [
    pytest.param((UVICORN, "--fd", FD, "asgi_app:app"), EXAMPLES, id="asgi"),
    pytest.param((UVICORN, "--fd", FD, "starlette_app:app"), EXAMPLES, id="starlette"),
    pytest.param((UVICORN, "--fd", FD, "fastapi_app:app"), EXAMPLES, id="fastapi"),
    pytest.param((GUNICORN, "--bind", f"fd://{FD}", "wsgi_app:app"), EXAMPLES, id="wsgi"),
    pytest.param((GUNICORN, "--bind", f"fd://{FD}", "flask_app:app"), EXAMPLES, id="flask"),
    pytest.param(
        (GUNICORN, "--bind", f"fd://{FD}", "project.wsgi:application"), DJANGO, id="django"
    ),
]


@pytest.mark.parametrize(("argv", "cwd"), SERVED)
def test_a_served_example_logs_the_reason_for_a_401(
    argv: tuple[str, ...], cwd: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'tokens.db'}"
    open_store(url).close()  # the store exists, and holds no token
    server = Served(
        argv, cwd, url, tmp_path / "server.log", DJANGO_SETTINGS_MODULE="project.settings"
    )
    try:
        status, _ = server.get("/whoami")
    finally:
        server.stop(signal.SIGTERM)
        server.close()
    assert status == 401
    assert "refused GET /whoami: missing" in server.output(), server.output()


@pytest.mark.parametrize(
    "name", ["asgi_app", "wsgi_app", "flask_app", "starlette_app", "fastapi_app"]
)
def test_importing_an_example_leaves_logging_alone(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKENWARD_STORE", f"sqlite:///{tmp_path / 'tokens.db'}")
    root = logging.getLogger()
    before = (root.level, list(root.handlers))
    load_example(name)
    assert (root.level, list(root.handlers)) == before
