"""``tokenward serve``: the management API, forward auth and the token management page on the
embedded store (design §5)."""

from __future__ import annotations

import argparse
import copy
from typing import Any

from tokenward.commands.base import Command, Context, UsageError, creates_store
from tokenward.core.network import PROXY_HEADERS
from tokenward.core.settings import Rule
from tokenward.errors import ConfigurationError
from tokenward.server import LOOPBACK, build_server

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
    try:
        import uvicorn
    except ImportError:
        raise UsageError("serve needs uvicorn: pip install 'tokenward[serve]'") from None
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: not a port number")
    try:
        rules = rules_from(args)
        proxies = tuple(args.trusted_proxy) if args.trusted_proxy else LOOPBACK
        app = build_server(
            ctx.store,
            rules=rules,
            trusted_proxies=proxies,
            proxy_header=args.proxy_header,
            argon2=ctx.argon2(),
        )
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from None
    base = f"http://{args.host}:{args.port}"
    ctx.say(
        f"tokenward serving on {base} (store: {ctx.store!r})",
        f"manage tokens in a browser at {base}/tokens/",
    )
    uvicorn.run(app, **uvicorn_options(args.host, args.port))
    return 0


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
