"""Audit events: who tried what, when, and why it failed. Never the secret.

Values in log lines come from clients (paths, user names, methods), so every one is passed
through ``printable``: a newline in a path must not start a forged log line.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable

from tokenward.errors import FailureReason

__all__ = ["AuditEvent", "AuditHook", "log_event", "printable"]

logger = logging.getLogger("tokenward.auth")
# C0 and C1 controls, DEL, the Unicode line and paragraph separators, and the backslash
# itself (so an escape in the output is always ours).
_UNSAFE = re.compile(r"[\\\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(value: object) -> str:
    """``value`` as text for one log line: control characters and ``\\`` escaped."""
    text = str(value)
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    char = match[0]
    if char == "\\":
        return "\\\\"
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


@dataclasses.dataclass(frozen=True, slots=True)
class AuditEvent:
    """One authentication outcome or one management change.

    ``kind`` is ``auth.success``, ``auth.failure`` or a management action such as
    ``token.create``. ``actor`` is who made a management change.
    """

    kind: str
    at: float
    reason: FailureReason | None = None
    realm: str | None = None
    user: str | None = None
    token_name: str | None = None
    client_ip: str | None = None
    method: str | None = None
    path: str | None = None
    actor: str | None = None
    detail: str = ""


AuditHook = Callable[[AuditEvent], None]


def log_event(event: AuditEvent) -> None:
    """The default sink: the ``tokenward.auth`` logger (failures at INFO, with the reason)."""
    if event.kind == "auth.failure":
        logger.info(
            "refused %s %s: %s (realm=%s user=%s token=%s ip=%s)%s",
            printable(event.method),
            printable(event.path),
            event.reason.value if event.reason else "?",
            event.realm,
            printable(event.user),
            printable(event.token_name),
            event.client_ip,
            f" {printable(event.detail)}" if event.detail else "",
        )
    elif logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "%s user=%s token=%s ip=%s actor=%s%s",
            event.kind,
            printable(event.user),
            printable(event.token_name),
            event.client_ip,
            printable(event.actor),
            f" {printable(event.detail)}" if event.detail else "",
        )
