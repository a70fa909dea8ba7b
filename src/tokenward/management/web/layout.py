"""The page frame and the small pages: sign-in, confirmations, errors.

Every dynamic value goes through ``esc`` (stdlib ``html.escape``, quotes included) at the
point where it meets markup; helpers return markup, so nothing is escaped twice.
"""

from __future__ import annotations

import dataclasses
import html
import string
from collections.abc import Sequence
from urllib.parse import urlencode

from tokenward.core.tokens import Identity, Realm
from tokenward.management.web.sessions import Notice

__all__ = [
    "PageContext",
    "confirm_page",
    "csrf_field",
    "error_page",
    "esc",
    "layout",
    "realm_label",
    "signin_page",
]

_REALM_LABELS = {Realm.CPANEL: "cPanel", Realm.WHM: "WHM"}
_NOTICE_ICONS = {"ok": "✓", "warning": "⚠", "error": "✕"}

_FRAME = string.Template(
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>$title · Manage API Tokens</title>
<link rel="icon" href="$root/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="$root/static/tokens.css">
<script src="$root/static/tokens.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to the content</a>
<header class="bar">
<a class="brand" href="$root/">Manage API Tokens</a>
$who
</header>
<main id="main" tabindex="-1">
$notices
$body
</main>
</body>
</html>
"""
)


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def realm_label(realm: Realm) -> str:
    return _REALM_LABELS.get(realm, realm.value)


@dataclasses.dataclass(frozen=True, slots=True)
class PageContext:
    """What every page needs: where it is mounted, who is signed in, the CSRF token."""

    root: str
    identity: Identity | None = None
    csrf: str = ""
    notices: Sequence[Notice] = ()

    def url(self, path: str = "/", **query: str) -> str:
        suffix = f"?{urlencode(query)}" if query else ""
        return f"{self.root}{path}{suffix}"


def csrf_field(ctx: PageContext) -> str:
    return f'<input type="hidden" name="csrf" value="{esc(ctx.csrf)}">'


def layout(ctx: PageContext, title: str, body: str) -> str:
    who = ""
    if ctx.identity is not None:
        identity = ctx.identity
        who = (
            '<div class="who"><span>Signed in as <strong>'
            f"{esc(identity.user)}</strong> ({esc(realm_label(identity.realm))}) with token "
            f"<strong>{esc(identity.token_name)}</strong></span>"
            f'<form method="post" action="{esc(ctx.url("/signout"))}">{csrf_field(ctx)}'
            '<button type="submit" class="link-button">Sign out</button></form></div>'
        )
    return _FRAME.substitute(
        title=esc(title),
        root=esc(ctx.root),
        who=who,
        notices=notices_html(ctx.notices),
        body=body,
    )


def notices_html(notices: Sequence[Notice]) -> str:
    if not notices:
        return ""
    items = []
    for kind, text in notices:
        role = "alert" if kind == "error" else "status"
        icon = _NOTICE_ICONS.get(kind, "\u2139")
        items.append(
            f'<div class="notice notice-{esc(kind)}" role="{role}">'
            f'<span class="icon" aria-hidden="true">{icon}</span> {esc(text)}</div>'
        )
    return '<div class="notices">' + "".join(items) + "</div>"


def signin_page(ctx: PageContext, nonce: str, user: str = "", realm: Realm = Realm.CPANEL) -> str:
    """The sign-in form. The token goes in a POST body, never in a URL, and is never
    echoed back: after a refusal only the user name and realm are filled in again."""
    radios = "".join(
        f'<label class="choice"><input type="radio" name="realm" value="{esc(r.value)}"'
        f"{' checked' if r is realm else ''}> {esc(label)}</label>"
        for r, label in ((Realm.CPANEL, "cPanel account token"), (Realm.WHM, "WHM token"))
    )
    body = f"""<section class="card narrow">
<h1>Sign in</h1>
<p>Sign in with an API token that has the <code>manage-api-tokens</code> ACL (or
<code>all</code>). The page remembers you in a cookie for this browser session; the token
itself is not kept.</p>
<form method="post" action="{esc(ctx.url("/signin"))}" autocomplete="off" class="stack">
<input type="hidden" name="nonce" value="{esc(nonce)}">
<fieldset><legend>Token type</legend>{radios}</fieldset>
<label for="user">Username</label>
<input id="user" name="user" value="{esc(user)}" required maxlength="128"
 autocapitalize="none" spellcheck="false" autocomplete="username">
<label for="token">API token</label>
<input id="token" name="token" type="password" required maxlength="128"
 autocomplete="off" spellcheck="false">
<button type="submit" class="primary">Sign in</button>
</form>
</section>"""
    return layout(ctx, "Sign in", body)


def confirm_page(
    ctx: PageContext,
    *,
    title: str,
    message: str,
    action: str,
    button: str,
    hidden: dict[str, str] | None = None,
    extra: str = "",
    danger: bool = True,
) -> str:
    """A yes/no page for an action that cannot be undone; "no" is a link back."""
    inputs = "".join(
        f'<input type="hidden" name="{esc(k)}" value="{esc(v)}">' for k, v in (hidden or {}).items()
    )
    body = f"""<section class="card narrow">
<h1>{esc(title)}</h1>
<p>{esc(message)}</p>
<form method="post" action="{esc(ctx.url(action))}" class="stack">
{csrf_field(ctx)}{inputs}{extra}
<div class="actions">
<button type="submit" class="{"danger" if danger else "primary"}">{esc(button)}</button>
<a class="button" href="{esc(ctx.url())}">Cancel</a>
</div>
</form>
</section>"""
    return layout(ctx, title, body)


def error_page(ctx: PageContext, title: str, message: str) -> str:
    body = f"""<section class="card narrow">
<h1>{esc(title)}</h1>
<p>{esc(message)}</p>
<p><a class="button" href="{esc(ctx.url())}">Back to the token list</a></p>
</section>"""
    return layout(ctx, title, body)
