"""``tokenward``: manage tokens from a shell (commands and flags are a contract: docs/managing.md).

Every failure is one line on stderr (``tokenward: error: …``) and a non-zero status: 2 for
a usage error, 1 for a refusal, after which nothing has been written. A secret is printed
only by ``create`` and ``rotate``. Sub-commands live in ``tokenward.commands``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Sequence
from typing import NoReturn

from tokenward.commands import COMMANDS, Command, Context, UsageError
from tokenward.commands.base import common_options
from tokenward.core.clock import Clock
from tokenward.errors import TokenwardError

__all__ = ["build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, not the usage text plus a message."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser(commands: Sequence[Command] = COMMANDS) -> argparse.ArgumentParser:
    parser = _Parser(prog="tokenward", description="Manage cPanel-style API tokens.")
    common_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in commands:
        child = sub.add_parser(command.name, help=command.help, description=command.help)
        common_options(child)
        command.configure(child)
        child.set_defaults(run=command.run)
    return parser


def main(argv: list[str] | None = None, *, clock: Clock = time.time) -> int:
    """The console script. ``clock`` lets tests run the CLI on a frozen clock."""
    try:
        return _run(argv, clock)
    except UsageError as exc:
        return _fail(str(exc), 2)
    except BrokenPipeError:  # `tokenward list | head`: the reader has what it wanted
        _silence_stdout()
        return 1
    except (TokenwardError, OSError) as exc:
        return _fail(str(exc), 1)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as exc:
        if os.environ.get("TOKENWARD_DEBUG"):
            raise
        return _fail(f"unexpected {type(exc).__name__}: {exc}", 1)


def _run(argv: list[str] | None, clock: Clock) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    ctx = Context(args, clock)
    try:
        status: int = args.run(args, ctx)
    finally:
        ctx.close()
    return status


def _silence_stdout() -> None:
    """Python would otherwise complain again when it flushes stdout at exit."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _fail(message: str, status: int) -> int:
    print(f"tokenward: error: {' '.join(message.split())}", file=sys.stderr)
    return status
