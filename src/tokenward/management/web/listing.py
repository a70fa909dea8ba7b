"""The token table: the signed-in user's tokens of one realm, searchable and sortable.

Expiring rows (under 24 hours left) are yellow and expired or revoked ones red, each also
with an icon and words ("Revoked: reported leaked"), so the state never depends on seeing
colour. Sorting and searching work with
plain links and a GET form; the script only makes the search filter as you type.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence

from tokenward.core.acl import DANGEROUS_ACLS
from tokenward.core.tokens import TokenStatus
from tokenward.management.text import format_time
from tokenward.management.views import TokenView
from tokenward.management.web.layout import PageContext, csrf_field, esc, layout, realm_label

__all__ = ["SORT_COLUMNS", "list_page", "sort_views"]

_NEVER_EXPIRES = float("inf")
SORT_COLUMNS: dict[str, tuple[str, Callable[[TokenView], tuple[float, str]]]] = {
    "name": ("Name", lambda v: (0.0, v.name.casefold())),
    "created": ("Created", lambda v: (float(v.create_time), v.name)),
    "expires": (
        "Expires",
        lambda v: (_NEVER_EXPIRES if v.expires_at is None else float(v.expires_at), v.name),
    ),
    "last_used": ("Last used", lambda v: (float(v.last_used_at or 0), v.name)),
}
_STATUS = {
    TokenStatus.ACTIVE: ("", "Active"),
    TokenStatus.EXPIRING: ("⚠", "Expiring"),
    TokenStatus.EXPIRED: ("✕", "Expired"),
    TokenStatus.REVOKED: ("✕", "Revoked"),
}


def sort_views(
    views: Sequence[TokenView], column: str, descending: bool
) -> tuple[list[TokenView], str]:
    """The views in the asked order; an unknown column sorts by name."""
    if column not in SORT_COLUMNS:
        column = "name"
    key = SORT_COLUMNS[column][1]
    return sorted(views, key=key, reverse=descending), column


def _zone() -> str:
    """The server's time zone as people read it: ``UTC`` or ``CET, UTC+01:00``."""
    local = datetime.datetime.now().astimezone()
    offset = local.utcoffset() or datetime.timedelta()
    if not offset:
        return "UTC"
    minutes = int(offset.total_seconds()) // 60
    sign, minutes = ("+" if minutes >= 0 else "-"), abs(minutes)
    return f"{local.tzname()}, UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _time(epoch: int | None, none: str) -> str:
    if epoch is None:
        return esc(none)
    try:
        iso = datetime.datetime.fromtimestamp(epoch, datetime.UTC).isoformat()
    except (ValueError, OverflowError, OSError):
        return esc(format_time(epoch))
    # Date and time may go on two lines, but never break inside either.
    parts = "".join(f"<span>{esc(part)}</span> " for part in format_time(epoch).split(" "))
    return f'<time datetime="{esc(iso)}">{parts.rstrip()}</time>'


def _status(view: TokenView) -> str:
    icon, text = _STATUS[view.status]
    if view.status is TokenStatus.REVOKED and view.revoked_reason:
        text = f"{text}: {view.revoked_reason}"
    mark = f'<span class="icon" aria-hidden="true">{icon}</span> ' if icon else ""
    return f'<span class="status status-{esc(view.status.value)}">{mark}{esc(text)}</span>'


def _acls(view: TokenView) -> str:
    chips = []
    for acl in sorted(view.acls):
        if acl in DANGEROUS_ACLS:
            chips.append(
                f'<li class="acl acl-danger" title="{esc(DANGEROUS_ACLS[acl])}">'
                f'<span aria-hidden="true">⚠</span> {esc(acl)}'
                '<span class="vh"> (dangerous)</span></li>'
            )
        else:
            chips.append(f'<li class="acl">{esc(acl)}</li>')
    return '<ul class="chips">' + "".join(chips) + "</ul>"


def _ips(view: TokenView) -> str:
    if not view.whitelist_ips:
        return "Any"
    return (
        '<ul class="plain">' + "".join(f"<li>{esc(ip)}</li>" for ip in view.whitelist_ips) + "</ul>"
    )


def _action(ctx: PageContext, verb: str, path: str, name: str, css: str = "") -> str:
    """A link whose accessible name says which token it acts on ("Edit deploy")."""
    attr = f' class="{css}"' if css else ""
    return (
        f'<a{attr} href="{esc(ctx.url(path, name=name))}">'
        f'{esc(verb)}<span class="vh"> {esc(name)}</span></a>'
    )


def _row(ctx: PageContext, view: TokenView) -> str:
    name = esc(view.name)
    mine = ctx.identity is not None and ctx.identity.token_name == view.name
    badge = ' <span class="badge">this session</span>' if mine else ""
    if view.readonly:
        badge += ' <span class="badge badge-readonly">read-only</span>'
    last_used = _time(view.last_used_at, "Never")
    if view.last_used_at is not None and view.last_used_ip:
        last_used += f'<br><span class="muted">from {esc(view.last_used_ip)}</span>'
    if view.requests_today is not None and view.last_used_at is not None:
        requests = f"{view.requests_today} today, {view.requests_last_7_days} in 7 days"
        last_used += f'<br><span class="muted requests">{esc(requests)}</span>'
    if view.status is TokenStatus.REVOKED:  # kept only to be seen: it can only be deleted
        actions = [_action(ctx, "Delete", "/revoke", view.name, "danger-link")]
    else:
        actions = [_action(ctx, "Edit", "/edit", view.name)]
        if view.status is not TokenStatus.EXPIRED:  # rotation keeps the expiry: no rotating
            actions.append(_action(ctx, "Rotate", "/rotate", view.name))
        actions.append(_action(ctx, "Revoke", "/revoke", view.name, "danger-link"))
    return f"""<tr class="row-{esc(view.status.value)}" data-name="{name}">
<th scope="row" data-label="Name"><span class="token-name">{name}</span>{badge}</th>
<td data-label="Status">{_status(view)}</td>
<td data-label="Created">{_time(view.create_time, "")}</td>
<td data-label="Expires">{_time(view.expires_at, "Never")}</td>
<td data-label="Last used">{last_used}</td>
<td data-label="IPs">{_ips(view)}</td>
<td data-label="ACLs">{_acls(view)}</td>
<td data-label="Actions" class="row-actions">{" ".join(actions)}</td>
</tr>"""


def _header(ctx: PageContext, search: str, sort: str, descending: bool) -> str:
    cells = []
    for column, label in (
        ("name", "Name"),
        ("", "Status"),
        ("created", "Created"),
        ("expires", "Expires"),
        ("last_used", "Last used"),
        ("", "IPs"),
        ("", "ACLs"),
        ("", "Actions"),
    ):
        if not column:
            cells.append(f'<th scope="col">{esc(label)}</th>')
            continue
        current = column == sort
        flip = "asc" if current and descending else "desc" if current else "asc"
        query = {"sort": column, "dir": flip, **({"search": search} if search else {})}
        aria = f' aria-sort="{"descending" if descending else "ascending"}"' if current else ""
        arrow = ("▼" if descending else "▲") if current else "↕"
        cells.append(
            f'<th scope="col"{aria}><a class="sort" href="{esc(ctx.url("/", **query))}">'
            f'{esc(label)} <span aria-hidden="true">{arrow}</span>'
            f'<span class="vh"> (sort {"descending" if flip == "desc" else "ascending"})</span>'
            "</a></th>"
        )
    return "<tr>" + "".join(cells) + "</tr>"


def list_page(
    ctx: PageContext,
    views: Sequence[TokenView],
    *,
    total: int,
    expired: int,
    search: str,
    sort: str,
    descending: bool,
) -> str:
    assert ctx.identity is not None  # only a signed-in page lists tokens
    identity = ctx.identity
    ordered, sort = sort_views(views, sort, descending)
    rows = "\n".join(_row(ctx, view) for view in ordered)
    hidden = (
        ""
        if sort == "name" and not descending
        else (
            f'<input type="hidden" name="sort" value="{esc(sort)}">'
            f'<input type="hidden" name="dir" value="{"desc" if descending else "asc"}">'
        )
    )
    if total == 0:
        empty = "You have no tokens yet. Generate one to get started."
    else:
        empty = f"No token names contain “{search}”." if search else "No tokens."
    purge = ""
    if expired:  # nothing to purge: no button to press for nothing
        label = f"Purge {expired} expired token{'' if expired == 1 else 's'}"
        purge = f"""<form method="post" action="{esc(ctx.url("/purge-expired"))}" class="inline">
{csrf_field(ctx)}
<button type="submit">{esc(label)}</button>
</form>
"""
    count = f"Showing {len(views)} of {total} token{'s' if total != 1 else ''}."
    offset = _zone()
    owner = f"{identity.user} ({realm_label(identity.realm)})"
    body = f"""<div class="heading">
<h1>API tokens of {esc(owner)}</h1>
<a class="button primary" href="{esc(ctx.url("/new"))}">Generate token</a>
</div>
<form method="get" action="{esc(ctx.url("/"))}" role="search" class="search">
<label for="search">Search token names</label>
<div class="inline">
<input type="search" id="search" name="search" value="{esc(search)}" autocomplete="off"
 data-filter="tokens" aria-describedby="count">
<button type="submit">Search</button>
</div>
{hidden}</form>
<p id="count" class="muted" aria-live="polite" data-total="{total}">{esc(count)}</p>
<div class="table-wrap" role="region" aria-labelledby="tokens-caption" tabindex="0">
<table id="tokens">
<caption id="tokens-caption">Tokens, sorted by {esc(SORT_COLUMNS[sort][0].lower())}
 ({"descending" if descending else "ascending"}). Times are server time ({esc(offset)}).</caption>
<thead>{_header(ctx, search, sort, descending)}</thead>
<tbody>
{rows}
</tbody>
</table>
</div>
<p id="no-match" class="empty"{" hidden" if views else ""}>{esc(empty)}</p>
<section class="bulk" aria-labelledby="bulk-heading">
<h2 id="bulk-heading">All tokens</h2>
{purge}<a class="button danger" href="{esc(ctx.url("/revoke-all"))}">Revoke all tokens…</a>
</section>"""
    return layout(ctx, "API tokens", body)
