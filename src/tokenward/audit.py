"""Audit events: who tried what, when, and why it failed. Never the secret."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from tokenward.errors import FailureReason

__all__ = ["AuditEvent", "AuditHook", "log_event"]

logger = logging.getLogger("tokenward.auth")


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
            event.method,
            event.path,
            event.reason.value if event.reason else "?",
            event.realm,
            event.user,
            event.token_name,
            event.client_ip,
            f" {event.detail}" if event.detail else "",
        )
    else:
        logger.debug(
            "%s user=%s token=%s ip=%s", event.kind, event.user, event.token_name, event.client_ip
        )
