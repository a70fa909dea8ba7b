"""The generate and edit form (name, expiry, allow-list, read-only, ACLs), the rotate form,
and the one page that ever shows a secret."""

from __future__ import annotations

import datetime

from tokenward.core.acl import ALL, DANGEROUS_ACLS, WHM_ACL_GROUPS
from tokenward.core.header import format_authorization
from tokenward.core.network import MAX_ALLOWED_IPS
from tokenward.core.tokens import MAX_NAME_LENGTH
from tokenward.management.text import format_time, parse_duration
from tokenward.management.views import CreatedToken, TokenView
from tokenward.management.web.forms import (
    GRACE_CHOICES,
    KEEP_EXPIRY,
    TokenForm,
    expiry_choices,
    latest_date,
)
from tokenward.management.web.layout import (
    PageContext,
    confirm_page,
    csrf_field,
    esc,
    layout,
    realm_label,
)

__all__ = ["rotate_page", "secret_page", "token_form_page"]

_GROUP_TITLES = {
    "initial": "Initial",
    "standard": "Standard privileges",
    "global": "Global privileges",
    "tokenward": "tokenward",
    "everything": "Everything",
}
# Markup (not escaped again): the en dashes are entities.
_NAME_RULE = (
    f"1&ndash;{MAX_NAME_LENGTH} characters: letters A&ndash;Z a&ndash;z, digits 0&ndash;9, "
    "<code>_</code> and <code>-</code>."
)


def _acl_item(acl: str, checked: bool) -> str:
    ident = f"acl-{acl}"
    notes = aria = ""
    if acl in DANGEROUS_ACLS:
        aria = f' aria-describedby="{esc(ident)}-warn"'
        notes = (
            f'<span class="danger-note" id="{esc(ident)}-warn"><span aria-hidden="true">⚠</span> '
            f"Dangerous: {esc(DANGEROUS_ACLS[acl])}</span>"
        )
    return (
        f'<li><input type="checkbox" name="acl" value="{esc(acl)}" id="{esc(ident)}"'
        f"{' checked' if checked else ''}{aria}>"
        f' <label for="{esc(ident)}">{esc(acl)}</label>{notes}</li>'
    )


def _acl_picker(form: TokenForm, caller_acls: frozenset[str]) -> str:
    """Only what the signed-in token can grant (all of the chart when it holds ``all``),
    plus what the form already has checked, so saving an edit keeps the token's ACLs."""
    chosen = set(form.acls)
    groups = dict(WHM_ACL_GROUPS)
    known = {acl for names in groups.values() for acl in names}
    other = tuple(sorted((chosen | caller_acls) - known))
    if other:  # ACLs outside WHM's chart (a custom vocabulary): shown so they are kept
        groups["other"] = other
    sections = []
    for group, names in groups.items():
        shown = [acl for acl in names if acl in chosen or ALL in caller_acls or acl in caller_acls]
        if not shown:
            continue
        items = "".join(_acl_item(acl, acl in chosen) for acl in shown)
        title = _GROUP_TITLES.get(group, "Other")
        sections.append(
            f'<fieldset class="acl-group"><legend>{esc(title)}</legend>'
            f'<ul class="checks">{items}</ul></fieldset>'
        )
    return (
        '<fieldset class="acls"><legend>ACLs <span class="muted">(choose at least one; '
        "<code>all</code> is full access)</span></legend>" + "".join(sections) + "</fieldset>"
    )


def _readonly(form: TokenForm) -> str:
    checked = " checked" if form.readonly else ""
    return f"""<label class="choice"><input type="checkbox" id="readonly" name="readonly" value="1"
 aria-describedby="readonly-help"{checked}> Read-only</label>
<p id="readonly-help" class="help">Requests other than GET, HEAD, OPTIONS and TRACE are
refused (403), whatever the ACLs. A read-only token can only create read-only tokens.</p>"""


def _expiry(form: TokenForm, editing: TokenView | None, now: float, limit: int | None) -> str:
    """The presets within ``limit``, the signed-in token's own expiry (see ``expiry_choices``)."""
    choices = expiry_choices(now, limit)
    if editing is not None:
        current = format_time(editing.expires_at, "never")
        choices.insert(0, (KEEP_EXPIRY, f"Keep the current expiry ({current})"))
    options = "".join(
        f'<option value="{esc(value)}"{" selected" if value == form.expiry else ""}>'
        f"{esc(label)}</option>"
        for value, label in choices
    )
    today = datetime.datetime.fromtimestamp(now).date().isoformat()
    latest = "" if limit is None else f' max="{esc(latest_date(limit).isoformat())}"'
    return f"""<label for="expiry">Expires</label>
<select id="expiry" name="expiry" data-expiry aria-describedby="expiry-help">{options}</select>
<p id="expiry-help" class="help">A preset starts now. A date means 23:59:59 server time
on that day.</p>
<div class="date-field" data-expiry-date>
<label for="expiry_date">Expiry date (for “On a date…”)</label>
<input type="date" id="expiry_date" name="expiry_date" value="{esc(form.expiry_date)}"
 min="{esc(today)}"{latest}>
</div>"""


def token_form_page(
    ctx: PageContext,
    form: TokenForm,
    *,
    editing: TokenView | None,
    caller_acls: frozenset[str],
    now: float,
    once: str = "",
    caller_expires_at: int | None = None,
) -> str:
    title = "Generate an API token" if editing is None else f"Edit token “{editing.name}”"
    action = "/new" if editing is None else "/edit"
    hidden = csrf_field(ctx)
    if editing is not None:
        hidden += f'<input type="hidden" name="token" value="{esc(editing.name)}">'
    if once:
        hidden += f'<input type="hidden" name="once" value="{esc(once)}">'
    count = len(form.ips)
    submit = "Generate token" if editing is None else "Save changes"
    body = f"""<section class="card">
<h1>{esc(title)}</h1>
<form method="post" action="{esc(ctx.url(action))}" class="stack token-form">
{hidden}
<label for="name">Name</label>
<input id="name" name="name" value="{esc(form.name)}" required maxlength="{MAX_NAME_LENGTH}"
 pattern="[A-Za-z0-9_\\-]{{1,{MAX_NAME_LENGTH}}}" autocomplete="off" spellcheck="false"
 autocapitalize="none" data-validate-name aria-describedby="name-help name-error">
<p id="name-help" class="help">{_NAME_RULE} For example <code>deploy-runner-prod</code>.</p>
<p id="name-error" class="field-error" aria-live="polite" hidden></p>
{_expiry(form, editing, now, caller_expires_at)}
<label for="ips">IP addresses allowed to use the token</label>
<textarea id="ips" name="ips" rows="4" spellcheck="false" autocapitalize="none"
 data-count-lines="{MAX_ALLOWED_IPS}" aria-describedby="ips-help ips-count"
>{esc(form.ips_text)}</textarea>
<p id="ips-help" class="help">One IPv4 or IPv6 address or CIDR prefix per line
(<code>192.0.2.0/24</code>), up to {MAX_ALLOWED_IPS}. Leave empty to allow any address.</p>
<p id="ips-count" class="help" aria-live="polite">{count} of {MAX_ALLOWED_IPS} entries</p>
{_readonly(form)}
{_acl_picker(form, caller_acls)}
<div class="actions">
<button type="submit" class="primary">{esc(submit)}</button>
<a class="button" href="{esc(ctx.url())}">Cancel</a>
</div>
</form>
</section>"""
    return layout(ctx, title, body)


def rotate_page(ctx: PageContext, view: TokenView, *, once: str, own: bool, now: float) -> str:
    """Grace periods the token lives through only: its secrets, old and new, end with it."""
    left = None if view.expires_at is None else view.expires_at - int(now)
    options = "".join(
        f'<option value="{esc(value)}">{esc(label)}</option>'
        for value, label in GRACE_CHOICES
        if not value or left is None or parse_duration(value) <= left
    )
    note = (
        '<p class="notice notice-warning">This is the token you are signed in with: this '
        "session moves to the new secret.</p>"
        if own
        else ""
    )
    extra = f"""<input type="hidden" name="once" value="{esc(once)}">
{note}<label for="grace">Grace period for the old token</label>
<select id="grace" name="grace" aria-describedby="grace-help">{options}</select>
<p id="grace-help" class="help">During a grace period both the old and the new token work,
so clients can be switched over without an outage.</p>"""
    return confirm_page(
        ctx,
        title=f"Rotate token “{view.name}”?",
        message=(
            "The token gets a new secret; its name, ACLs, IP addresses and expiry stay. "
            "The new secret is shown once."
        ),
        action="/rotate",
        button="Rotate token",
        hidden={"name": view.name},
        extra=extra,
        danger=False,
    )


def secret_page(ctx: PageContext, created: CreatedToken, *, rotated: bool, now: float) -> str:
    """The only page with a secret on it (sent with ``Cache-Control: no-store``)."""
    record = created.record
    verb = "rotated" if rotated else "created"
    warnings = "".join(
        f'<div class="notice notice-warning" role="status"><span aria-hidden="true">⚠</span> '
        f"{esc(text)}</div>"
        for text in created.warnings
    )
    grace = ""
    if rotated and record.previous_until is not None and record.previous_until > now:
        # Never after the token's expiry: TokenService.rotate cuts the grace to it.
        until = record.previous_until
        grace = f"<p>The old token keeps working until {esc(format_time(until))}.</p>"
    elif rotated:
        grace = "<p>The old token has stopped working.</p>"
    example = format_authorization(record.realm, record.user, "<your token>")
    body = f"""<section class="card narrow secret-card">
<h1>Token “{esc(record.name)}” {verb}</h1>
<div class="notice notice-warning" role="alert"><span aria-hidden="true">⚠</span>
Copy this token now. This is the only time it is shown: only a hash of it is stored, so a
lost token cannot be recovered (revoke it and generate another).</div>
<label for="secret">Your API token</label>
<div class="inline secret-row">
<input id="secret" class="secret" value="{esc(created.secret)}" readonly
 autocomplete="off" spellcheck="false" data-select-on-focus>
<button type="button" data-copy="secret" aria-describedby="copy-status">Copy</button>
</div>
<p id="copy-status" class="help" aria-live="polite"></p>
{warnings}{grace}
<dl class="details">
<dt>Owner</dt><dd>{esc(record.user)} ({esc(realm_label(record.realm))})</dd>
<dt>Expires</dt><dd>{esc(format_time(record.expires_at, "never"))}</dd>
<dt>IPs</dt><dd>{esc(", ".join(record.whitelist_ips) or "Any")}</dd>
<dt>ACLs</dt><dd>{esc(", ".join(sorted(record.acls)))}</dd>
<dt>Access</dt><dd>{"Read-only" if record.readonly else "Read-write"}</dd>
<dt>Use it as</dt><dd><code>Authorization: {esc(example)}</code></dd>
</dl>
<form method="get" action="{esc(ctx.url("/"))}" class="stack saved">
<label class="choice"><input type="checkbox" name="saved" value="1" required>
Yes, I saved my token</label>
<button type="submit" class="primary">Back to the token list</button>
</form>
</section>"""
    return layout(ctx, f"Token {verb}", body)
