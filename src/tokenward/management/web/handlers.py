"""One function per page and per action, each for a signed-in, CSRF-checked request.

Every change is one ``TokenService`` call with the session's identity as ``actor``; the
service checks everything before it writes, so a refusal changes nothing and its message
is shown on the page as it is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import ParamSpec, Protocol, TypeVar

from tokenward.core.tokens import Identity, is_within_expiry
from tokenward.errors import TokenNotFoundError, ValidationError
from tokenward.management.service import TokenService
from tokenward.management.views import CreatedToken, TokenView
from tokenward.management.web.editor import rotate_page, secret_page, token_form_page
from tokenward.management.web.forms import TokenForm, default_expiry, field, grace_seconds
from tokenward.management.web.layout import PageContext, confirm_page
from tokenward.management.web.listing import list_page
from tokenward.management.web.plumbing import Fields, Reply, WebRequest
from tokenward.management.web.sessions import Session, SessionStore

P = ParamSpec("P")
T = TypeVar("T")


class Page(Protocol):
    """What a handler needs of the page app (``TokenPageASGI`` is one): the page imports
    the handlers, never the other way round."""

    service: TokenService
    sessions: SessionStore

    async def run(self, function: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """A service call off the event loop."""
        ...

    def clear_cookie(self, request: WebRequest) -> tuple[str, str]: ...


__all__ = ["ROUTES", "Call", "Page", "Route", "sentence"]

_MAX_SEARCH = 100


def sentence(exc: Exception) -> str:
    """A service refusal as a sentence for the page."""
    text = str(exc).strip() or type(exc).__name__
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else f"{text}."


@dataclasses.dataclass(frozen=True, slots=True)
class Call:
    app: Page
    request: WebRequest
    session: Session
    identity: Identity
    fields: Fields

    def context(self) -> PageContext:
        """The page context; takes the session's pending notices (so call it once)."""
        notices = self.session.take_notices()
        return PageContext(self.request.root, self.identity, self.session.csrf, notices)

    def field(self, name: str) -> str:
        return field(self.fields, name)

    def to_list(self) -> Reply:
        return Reply.redirect(f"{self.request.root}/")

    def page(self, status: int, html: str) -> Reply:
        return Reply.html(status, html)

    async def show(self, name: str) -> TokenView:
        identity = self.identity
        service = self.app.service
        return await self.app.run(
            service.show, identity.user, name, realm=identity.realm, actor=identity
        )


Route = Callable[[Call], Awaitable[Reply]]


async def list_tokens(call: Call) -> Reply:
    identity, request = call.identity, call.request
    service = call.app.service
    views = await call.app.run(
        service.list_tokens, user=identity.user, realm=identity.realm, actor=identity
    )
    search = request.arg("search").strip()[:_MAX_SEARCH]
    needle = search.casefold()  # the service's rule: a case-insensitive part of the name
    shown = [view for view in views if needle in view.name.casefold()]
    now = service.clock()  # what purge_expired deletes: revoked tokens expired too
    expired = sum(not is_within_expiry(view.expires_at, now) for view in views)
    html = list_page(
        call.context(),
        shown,
        total=len(views),
        expired=expired,
        search=search,
        sort=request.arg("sort") or "name",
        descending=request.arg("dir") == "desc",
    )
    return call.page(200, html)


def _form_page(call: Call, form: TokenForm, editing: TokenView | None, status: int) -> Reply:
    once = call.session.issue_once() if editing is None else ""
    html = token_form_page(
        call.context(),
        form,
        editing=editing,
        caller_acls=call.identity.acls,
        now=call.app.service.clock(),
        once=once,
        caller_expires_at=call.identity.expires_at,
    )
    return call.page(status, html)


async def new_form(call: Call) -> Reply:
    identity = call.identity
    expiry = default_expiry(call.app.service.clock(), identity.expires_at)
    return _form_page(call, TokenForm(expiry=expiry, readonly=identity.readonly), None, 200)


def _secret_reply(call: Call, created: CreatedToken, *, rotated: bool) -> Reply:
    html = secret_page(call.context(), created, rotated=rotated, now=call.app.service.clock())
    return call.page(200, html)  # Reply's default Cache-Control is no-store


async def create(call: Call) -> Reply:
    form = TokenForm.from_fields(call.fields)
    if not call.session.spend_once(call.field("once")):
        call.session.notify("warning", "That form was already submitted: nothing new was created.")
        return call.to_list()
    identity, service = call.identity, call.app.service
    try:
        created = await call.app.run(
            service.create,
            identity.user,
            form.name,
            realm=identity.realm,
            acls=list(form.acls),
            whitelist_ips=form.ips,
            expires_at=_expiry(form, service.clock(), identity.expires_at),
            readonly=form.readonly,
            actor=identity,
        )
    except ValidationError as exc:
        call.session.notify("error", sentence(exc))
        return _form_page(call, form, None, 400)
    reply = _secret_reply(call, created, rotated=False)
    call.session.notify("ok", f"Token “{created.record.name}” created.")  # for the list, next
    return reply


def _expiry(form: TokenForm, now: float, limit: int | None) -> int | None:
    expires_at = form.expires_at(now, limit)
    if not isinstance(expires_at, int | None):  # KEEP is only offered when editing
        raise ValidationError("choose when the token expires")
    return expires_at


async def _find(call: Call, name: str) -> TokenView | Reply:
    try:
        return await call.show(name)
    except (TokenNotFoundError, ValidationError) as exc:
        call.session.notify("error", sentence(exc))
        return call.to_list()


async def edit_form(call: Call) -> Reply:
    view = await _find(call, call.request.arg("name"))
    if isinstance(view, Reply):
        return view
    return _form_page(call, TokenForm.from_view(view), view, 200)


async def edit(call: Call) -> Reply:
    view = await _find(call, call.field("token"))
    if isinstance(view, Reply):
        return view
    form = TokenForm.from_fields(call.fields)
    identity, service = call.identity, call.app.service
    try:
        changes = form.changes(view, service.clock(), identity.expires_at)
        if changes.empty:
            call.session.notify("ok", f"Token “{view.name}” was not changed: nothing differed.")
            return call.to_list()
        updated = await call.app.run(
            service.update,
            identity.user,
            view.name,
            realm=identity.realm,
            new_name=changes.new_name,
            expires_at=changes.expires_at,
            acls=changes.acls,
            whitelist_ips=changes.whitelist_ips,
            readonly=changes.readonly,
            actor=identity,
        )
    except (ValidationError, TokenNotFoundError) as exc:
        call.session.notify("error", sentence(exc))
        return _form_page(call, form, view, 400)
    call.session.notify("ok", f"Token “{updated.name}” saved.")
    return call.to_list()


async def rotate_form(call: Call) -> Reply:
    view = await _find(call, call.request.arg("name"))
    if isinstance(view, Reply):
        return view
    own = view.name == call.identity.token_name
    once, now = call.session.issue_once(), call.app.service.clock()
    html = rotate_page(call.context(), view, once=once, own=own, now=now)
    return call.page(200, html)


async def rotate(call: Call) -> Reply:
    if not call.session.spend_once(call.field("once")):
        call.session.notify(
            "warning", "That form was already submitted: nothing was rotated again."
        )
        return call.to_list()
    identity, service = call.identity, call.app.service
    try:
        created = await call.app.run(
            service.rotate,
            identity.user,
            call.field("name"),
            realm=identity.realm,
            grace=grace_seconds(call.field("grace")),
            actor=identity,
        )
    except (ValidationError, TokenNotFoundError) as exc:
        call.session.notify("error", sentence(exc))
        return call.to_list()
    if created.record.id == call.session.token_id:
        # This session rotated its own token: it follows the new secret it was shown.
        call.session.digest = created.record.digest
    reply = _secret_reply(call, created, rotated=True)
    call.session.notify("ok", f"Token “{created.record.name}” rotated.")
    return reply


async def revoke_form(call: Call) -> Reply:
    view = await _find(call, call.request.arg("name"))
    if isinstance(view, Reply):
        return view
    message = "Applications using it are refused from their next request. This cannot be undone."
    if view.name == call.identity.token_name:
        message += " It is the token you are signed in with: you will be signed out."
    html = confirm_page(
        call.context(),
        title=f"Revoke token “{view.name}”?",
        message=message,
        action="/revoke",
        button=f"Revoke “{view.name}”",
        hidden={"name": view.name},
    )
    return call.page(200, html)


def _after_revoking(call: Call, revoked_ids: set[str], done: str) -> Reply:
    if call.session.token_id in revoked_ids:
        app, request = call.app, call.request
        app.sessions.end(call.session)
        return Reply.redirect(f"{request.root}/?reason=revoked-own", app.clear_cookie(request))
    call.session.notify("ok", done)
    return call.to_list()


async def revoke(call: Call) -> Reply:
    identity, service, name = call.identity, call.app.service, call.field("name")
    try:
        revoked = await call.app.run(
            service.revoke, identity.user, [name], realm=identity.realm, actor=identity
        )
    except ValidationError as exc:
        call.session.notify("error", sentence(exc))
        return call.to_list()
    if not revoked:
        call.session.notify("warning", f"There was no token named “{name}” (already revoked?).")
        return call.to_list()
    return _after_revoking(call, {r.id for r in revoked}, f"Token “{name}” revoked.")


async def revoke_all_form(call: Call) -> Reply:
    html = confirm_page(
        call.context(),
        title="Revoke all your tokens?",
        message=(
            "Every token of this user in this realm is revoked, including the one you are "
            "signed in with: you will be signed out. This cannot be undone."
        ),
        action="/revoke-all",
        button="Revoke all tokens",
    )
    return call.page(200, html)


async def revoke_all(call: Call) -> Reply:
    identity, service = call.identity, call.app.service
    try:
        revoked = await call.app.run(
            service.revoke_all, identity.user, realm=identity.realm, actor=identity
        )
    except ValidationError as exc:
        call.session.notify("error", sentence(exc))
        return call.to_list()
    return _after_revoking(call, {r.id for r in revoked}, f"Revoked {len(revoked)} token(s).")


async def purge(call: Call) -> Reply:
    identity, service = call.identity, call.app.service
    try:
        purged = await call.app.run(service.purge_expired, actor=identity)
    except ValidationError as exc:
        call.session.notify("error", sentence(exc))
        return call.to_list()
    names = ", ".join(f"“{r.name}”" for r in purged)
    call.session.notify(
        "ok", f"Purged {len(purged)} expired token(s){': ' + names if names else ''}."
    )
    return call.to_list()


async def sign_out(call: Call) -> Reply:
    app, request = call.app, call.request
    app.sessions.end(call.session)
    return Reply.redirect(f"{request.root}/?reason=signed-out", app.clear_cookie(request))


ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/"): list_tokens,
    ("GET", "/new"): new_form,
    ("POST", "/new"): create,
    ("GET", "/edit"): edit_form,
    ("POST", "/edit"): edit,
    ("GET", "/rotate"): rotate_form,
    ("POST", "/rotate"): rotate,
    ("GET", "/revoke"): revoke_form,
    ("POST", "/revoke"): revoke,
    ("GET", "/revoke-all"): revoke_all_form,
    ("POST", "/revoke-all"): revoke_all,
    ("POST", "/purge-expired"): purge,
    ("POST", "/signout"): sign_out,
}
