"""``tokenward serve``: the management API, forward auth and the token management page on the
embedded store (its routes and flags are a contract: docs/deploy.md)."""

from __future__ import annotations

import argparse
import copy
import errno
import importlib.util
import socket
from typing import Any

from tokenward.commands.base import Command, Context, UsageError, creates_store
from tokenward.core.network import PROXY_HEADERS
from tokenward.core.settings import Rule
from tokenward.errors import ConfigurationError, TokenwardError
from tokenward.server import LOOPBACK, TokenwardServer, build_server

__all__ = ["SERVE_COMMANDS"]


def _configure(parser: argparse.ArgumentParser) -> None:
    creates_store(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=2083, help="port (default: 2083)")
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


def rules_from(args: argparse.Namespace) -> tuple[Rule, ...]:
    rules = [Rule.public(prefix) for prefix in args.public]
    for item in args.require:
        prefix, sep, acls = item.partition("=")
        if not sep or not acls:
            raise UsageError(f"--require {item!r}: use PREFIX=ACL[,ACL]")
        rules.append(Rule.require(prefix, *acls.split(",")))
    return tuple(rules)


def _serve(args: argparse.Namespace, ctx: Context) -> int:
    if importlib.util.find_spec("uvicorn") is None:
        raise UsageError("serve needs uvicorn: pip install 'tokenward[serve]'")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: not a port number")
    try:
        rules = rules_from(args)
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from None
    # The socket first: "serving on" is printed only once it is true.
    sock = listen(args.host, args.port)
    try:
        proxies = tuple(args.trusted_proxy) if args.trusted_proxy else LOOPBACK
        app = build_server(
            ctx.store,
            rules=rules,
            trusted_proxies=proxies,
            proxy_header=args.proxy_header,
            argon2=ctx.argon2(),
        )
    except ConfigurationError as exc:
        sock.close()
        raise UsageError(str(exc)) from None
    except BaseException:
        sock.close()
        raise
    host, port = sock.getsockname()[:2]
    base = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    ctx.say(
        f"tokenward serving on {base} (store: {ctx.store!r})",
        f"manage tokens in a browser at {base}/tokens/",
    )
    run(app, sock)
    return 0


def run(app: TokenwardServer, sock: socket.socket) -> None:
    """uvicorn on the socket ``serve`` bound, as ``uvicorn.run`` would run it."""
    import uvicorn

    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(uvicorn.Config(app, **uvicorn_options(host, port)))
    with sock:
        server.run(sockets=[sock])
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


def uvicorn_options(host: str, port: int) -> dict[str, Any]:
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
    return {
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
