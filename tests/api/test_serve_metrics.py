"""``tokenward serve --metrics-port``: ``/metrics`` on a port of its own, to a token holding
the ``metrics`` ACL, as Prometheus scrapes it. A real process on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.api.test_serve import free_port
from tests.api.test_serve_seams import mint, serving
from tokenward.cli import main

pytestmark = pytest.mark.slow  # a real server


def test_metrics_are_served_on_their_own_port_to_a_token_with_the_metrics_acl(
    tmp_path: Path,
) -> None:
    port = free_port()
    with serving(tmp_path, "--metrics-port", str(port)) as (base, env, _):
        scrape = f"http://127.0.0.1:{port}/metrics"
        _, scraper = mint(env, "--name", "scrape", "--acl", "metrics")
        _, other = mint(env, "--name", "dns", "--acl", "edit-dns")
        assert httpx.get(f"{base}/auth", headers={"Authorization": other}).status_code == 200
        assert httpx.get(scrape, timeout=10).status_code == 401
        assert httpx.get(scrape, headers={"Authorization": other}, timeout=10).status_code == 403
        served = httpx.get(scrape, headers={"Authorization": scraper}, timeout=10)
        assert served.status_code == 200
        assert 'tokenward_authentications_total{reason="none",result="granted"}' in served.text
        assert "process_cpu_seconds_total" in served.text  # the default registry's own
        elsewhere = httpx.get(f"http://127.0.0.1:{port}/health", timeout=10)
        assert elsewhere.status_code == 404
        on_main = httpx.get(f"{base}/metrics", headers={"Authorization": scraper}, timeout=10)
        assert "tokenward_" not in on_main.text


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--port", "9464", "--metrics-port", "9464"], id="same-as-port"),
        pytest.param(["--whm-port", "9464", "--metrics-port", "9464"], id="same-as-whm-port"),
        pytest.param(["--metrics-port", "70000"], id="out-of-range"),
    ],
)
def test_a_bad_metrics_port_is_one_line_and_exit_2(
    args: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status = main(["serve", "--store", f"sqlite:///{tmp_path / 'x.db'}", *args])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1
    assert "--metrics-port" in err
