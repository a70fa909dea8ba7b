"""``tokenward serve``: the management API, forward auth and the token management page on the
embedded store (its routes and flags are a contract: docs/deploy.md)."""

from __future__ import annotations

import argparse
import copy
import dataclasses
import errno
import importlib.util
import socket
import ssl
from typing import Any

from tokenward.asgi_io import ASGIApp
from tokenward.commands.base import Command, Context, UsageError, creates_store
from tokenward.core.network import PROXY_HEADERS
from tokenward.core.settings import Rule
from tokenward.errors import ConfigurationError, TokenwardError
from tokenward.management.revoke_endpoint import DEFAULT_BUDGET
from tokenward.metrics import Metrics
from tokenward.server import LOOPBACK, TokenwardServer, build_server

__all__ = ["SERVE_COMMANDS"]


def _configure(parser: argparse.ArgumentParser) -> None:
    creates_store(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=2083, help="port (default: 2083)")
    parser.add_argument(
        "--whm-port",
        type=int,
        default=None,
        metavar="PORT",
        help="a second port serving the same app, as WHM's 2087 beside cPanel's 2083",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        metavar="PORT",
        help="serve Prometheus metrics at /metrics on this port only, to a token with the "
        "metrics ACL (needs tokenward[prometheus]; default: off)",
    )
    parser.add_argument("--certfile", metavar="PEM", help="serve HTTPS: the certificate chain")
    parser.add_argument("--keyfile", metavar="PEM", help="serve HTTPS: its private key")
    parser.add_argument(
        "--trusted-proxy",
        action="append",
        metavar="CIDR",
        default=None,
        help="a proxy whose forwarding headers are believed (repeatable; default: loopback)",
    )
    parser.add_argument(
        "--proxy-header",
        choices=PROXY_HEADERS,
        default="x-real-ip",
        help="the one header a trusted proxy sets to the client address (default: x-real-ip, "
        "as nginx's auth_request block does; x-forwarded-for for Traefik and Envoy)",
    )
    parser.add_argument(
        "--public",
        action="append",
        default=[],
        metavar="PREFIX",
        help="forward auth: a path prefix that needs no token (repeatable)",
    )
    parser.add_argument(
        "--require",
        action="append",
        default=[],
        metavar="PREFIX=ACL[,ACL]",
        help="forward auth: a path prefix and the ACLs it needs (repeatable)",
    )
    parser.add_argument(
        "--leak-report-limit",
        default=f"{DEFAULT_BUDGET[0]}/{DEFAULT_BUDGET[1]:g}",
        metavar="N/SECONDS",
        help="POST /credentials/revoke: requests per client address per window "
        f"(default: {DEFAULT_BUDGET[0]}/{DEFAULT_BUDGET[1]:g})",
    )


def rules_from(args: argparse.Namespace) -> tuple[Rule, ...]:
    rules = [Rule.public(prefix) for prefix in args.public]
    for item in args.require:
        prefix, sep, acls = item.partition("=")
        if not sep or not acls:
            raise UsageError(f"--require {item!r}: use PREFIX=ACL[,ACL]")
        rules.append(Rule.require(prefix, *acls.split(",")))
    return tuple(rules)


def leak_report_budget(text: str) -> tuple[int, float]:
    """``N/SECONDS`` as ``(N, SECONDS)``: at least one request, in a window longer than 0."""
    count, sep, window = text.partition("/")
    try:
        budget = int(count), float(window)
    except ValueError:
        budget = 0, 0.0
    if not sep or budget[0] < 1 or not 0 < budget[1] < float("inf"):
        raise UsageError(f"--leak-report-limit {text}: use N/SECONDS, e.g. 30/300 (N at least 1)")
    return budget


def _serve(args: argparse.Namespace, ctx: Context) -> int:
    if importlib.util.find_spec("uvicorn") is None:
        raise UsageError("serve needs uvicorn: pip install 'tokenward[serve]'")
    ports = [args.port] if args.whm_port is None else [args.port, args.whm_port]
    for flag, port in zip(("--port", "--whm-port"), ports, strict=False):
        if not 0 <= port <= 65535:
            raise UsageError(f"{flag} {port}: not a port number")
    if args.whm_port is not None and args.whm_port == args.port != 0:
        raise UsageError(f"--whm-port {args.whm_port}: the same port as --port")
    scrape_port = metrics_port(args.metrics_port, ports)
    tls = tls_files(args.certfile, args.keyfile)
    try:
        rules = rules_from(args)
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from None
    budget = leak_report_budget(args.leak_report_limit)
    # The sockets first: "serving on" is printed only once it is true.
    bound = Listening(tls=tls)
    try:
        for port in ports:
            bound.socks.append(listen(args.host, port))
        if scrape_port is not None:  # last: the one socket the metrics are served on
            bound.socks.append(listen(args.host, scrape_port))
        proxies = tuple(args.trusted_proxy) if args.trusted_proxy else LOOPBACK
        app = build_server(
            ctx.store,
            rules=rules,
            trusted_proxies=proxies,
            proxy_header=args.proxy_header,
            argon2=ctx.argon2(),
            token_format=ctx.token_format(),
            leak_report_budget=budget,
            metrics=None if scrape_port is None else prometheus_metrics(),
        )
        served = app if scrape_port is None else with_scrape_port(app, bound.socks[-1])
    except ConfigurationError as exc:
        bound.close()
        raise UsageError(str(exc)) from None
    except BaseException:
        bound.close()
        raise
    urls = bound.urls()
    scrape = [] if scrape_port is None else [f"Prometheus metrics at {urls.pop()}/metrics"]
    base, *others = urls
    ctx.say(
        f"tokenward serving on {base} (store: {ctx.store!r})",
        *(f"tokenward serving on {other} too (WHM's port: the same API)" for other in others),
        f"manage tokens in a browser at {base}/tokens/",
        *scrape,
    )
    run(served, bound)
    return 0


def metrics_port(port: int | None, others: list[int]) -> int | None:
    """``--metrics-port``, checked: a port number, not one the API listens on, and the
    ``prometheus`` extra installed."""
    if port is None:
        return None
    if not 0 <= port <= 65535:
        raise UsageError(f"--metrics-port {port}: not a port number")
    if port != 0 and port in others:
        raise UsageError(f"--metrics-port {port}: the API's port; metrics need one of their own")
    if importlib.util.find_spec("prometheus_client") is None:
        raise UsageError(
            "--metrics-port needs prometheus-client: pip install 'tokenward[prometheus]'"
        )
    return port


def prometheus_metrics() -> Metrics:
    from tokenward.contrib.prometheus import PrometheusMetrics

    return PrometheusMetrics()  # the default registry: the process's own series come along


def with_scrape_port(app: TokenwardServer, sock: socket.socket) -> ASGIApp:
    """``app``, and ``GET /metrics`` (nothing else) on the port of ``sock``."""
    from tokenward.contrib.prometheus import MetricsPort, metrics_app

    return MetricsPort(app, metrics_app(app.authenticator), sock.getsockname()[1])


def tls_files(certfile: str | None, keyfile: str | None) -> tuple[str, str] | None:
    """``(certfile, keyfile)`` once both are known to load as a certificate and its key, or
    ``None`` for plain HTTP; a usage error (one line) for one without the other, or for a
    file that is missing, unreadable or not what it should be."""
    if certfile is None and keyfile is None:
        return None
    if certfile is None or keyfile is None:
        raise UsageError("--certfile and --keyfile go together: give both, or neither")
    for flag, path in (("--certfile", certfile), ("--keyfile", keyfile)):
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise UsageError(f"{flag} {path}: {exc.strerror or exc}") from None
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
    except ssl.SSLError as exc:  # "key values mismatch", else (reason None) not PEM at all
        why = f" ({exc.reason.lower().replace('_', ' ')})" if exc.reason else ""
        raise UsageError(
            f"--certfile {certfile} --keyfile {keyfile}: not a PEM certificate and its "
            f"private key{why}"
        ) from None
    return certfile, keyfile


@dataclasses.dataclass
class Listening:
    """The sockets ``serve`` bound (``--port``, then ``--whm-port``) and, for HTTPS, the
    ``(certfile, keyfile)`` uvicorn serves them with."""

    socks: list[socket.socket] = dataclasses.field(default_factory=list)
    tls: tuple[str, str] | None = None

    def urls(self) -> list[str]:
        scheme = "http" if self.tls is None else "https"
        found = (sock.getsockname()[:2] for sock in self.socks)
        return [f"{scheme}://[{h}]:{p}" if ":" in h else f"{scheme}://{h}:{p}" for h, p in found]

    def close(self) -> None:
        for sock in self.socks:
            sock.close()


def run(app: ASGIApp, bound: Listening) -> None:
    """uvicorn on the sockets ``serve`` bound (one server, one app, one event loop), as
    ``uvicorn.run`` would run it."""
    import uvicorn

    host, port = bound.socks[0].getsockname()[:2]
    server = uvicorn.Server(uvicorn.Config(app, **uvicorn_options(host, port, bound.tls)))
    try:
        server.run(sockets=bound.socks)
    finally:
        bound.close()
    if not server.started:  # the app's startup failed; uvicorn has said why
        raise ServeError("the server did not start")


class ServeError(TokenwardError):
    """The server cannot listen or start (exit status 1, one line)."""


def listen(host: str, port: int) -> socket.socket:
    """A bound socket for ``host:port``, or one line saying why there is none (the port is
    taken, the address is not this machine's). uvicorn listens on it."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        sock.bind(address)
    except OSError as exc:
        sock.close()
        why = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise ServeError(f"cannot listen on {host}:{port}: {why}") from None
    return sock


def uvicorn_options(host: str, port: int, tls: tuple[str, str] | None = None) -> dict[str, Any]:
    """How ``serve`` runs uvicorn. Its proxy-header handling is off: it would take a client
    address from ``X-Forwarded-For`` sent by any local process, whatever ``--trusted-proxy``
    says; tokenward reads forwarding headers itself, from trusted proxies only. Its access
    log is off too (it prints query strings, where a token may be); tokenward's own
    (``tokenward.access``) leaves them out, and refusal reasons (``tokenward.auth``) show."""
    from uvicorn.config import LOGGING_CONFIG

    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config["loggers"]["tokenward"] = {
        "handlers": ["default"],
        "level": "INFO",
        "propagate": False,
    }
    options: dict[str, Any] = (
        {}
        if tls is None
        else {
            "ssl_certfile": tls[0],
            "ssl_keyfile": tls[1],
        }
    )
    return {
        **options,
        "host": host,
        "port": port,
        "log_level": "info",
        "log_config": log_config,
        "lifespan": "on",
        "proxy_headers": False,
        "access_log": False,
        "server_header": False,
    }


SERVE_COMMANDS: tuple[Command, ...] = (
    Command("serve", "run the management API, forward auth and the web page", _configure, _serve),
)
