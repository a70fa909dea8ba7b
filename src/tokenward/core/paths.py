"""Every way a request path may be read downstream, so a rule is chosen on the strictest.

The middleware, a framework adapter or the forward-auth endpoint sees one spelling of a path;
the application, a backend behind a proxy, or a servlet container may route on another. A
path whose meaning depends on who normalises it must never borrow a lenient rule, so rules
are judged on each of these readings and the strictest answer wins:

- as given, and percent-decoded once, twice and three times (double encoding);
- with ``\\`` read as ``/`` (Windows servers, some proxies);
- with ``;parameters`` cut from each segment (servlet containers read ``..;`` as ``..``);
- with runs of ``/`` merged, dot segments resolved (RFC 3986), or both;
- case-insensitively (``/DNS`` is ``/dns`` to a case-insensitive router).

A path that no reading can make sense of is refused (400): one that is not origin-form (does
not start with ``/``), one holding a control character in any reading (a router may cut it
at a NUL, a log line may be forged with a newline), and, to bound the work, one longer than
8 KiB, or with more than 128 segments when it has several readings.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

__all__ = ["MAX_PATH_LENGTH", "MAX_SEGMENTS", "is_plain", "readings", "remove_dot_segments"]

MAX_PATH_LENGTH = 8192  # longer than any server's default request-line limit
MAX_SEGMENTS = 128  # for a path that has several readings
_DECODINGS = 3
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PARAMS = re.compile(r";[^/]*")
_SLASHES = re.compile(r"/{2,}")
# Nothing in it that any reader could read differently (case aside, which costs one more).
_PLAIN = re.compile(r"(?:/[A-Za-z0-9._~!$&'()*+,=:@-]+)*/?")


def is_plain(path: str) -> bool:
    """True when ``path`` has one reading up to case: no ``%``, ``\\``, ``;``, ``//``, dot
    segment or control character."""
    return _PLAIN.fullmatch(path) is not None and "/." not in path


def readings(path: str) -> frozenset[str] | None:
    """The distinct readings of ``path`` (case-sensitive; callers add the case-folded
    comparison), or ``None`` when the path must be refused."""
    if not path.startswith("/") or len(path) > MAX_PATH_LENGTH:
        return None
    if is_plain(path):
        return frozenset((path,))
    decoded = [path]
    for _ in range(_DECODINGS):
        if "%" not in decoded[-1]:
            break
        decoded.append(unquote(decoded[-1], encoding="latin-1"))
    if any(_CONTROL.search(form) for form in decoded):
        return None
    if decoded[-1].count("/") + decoded[-1].count("\\") > MAX_SEGMENTS:
        return None  # to bound the work; a plain path (the usual kind) has no such limit
    variants = {cut for form in decoded for cut in _cuts(form)}
    variants |= {_SLASHES.sub("/", variant) for variant in variants}
    found = variants | {remove_dot_segments(variant) for variant in variants}
    # A reading that lost its leading "/" (an absolute URL after decoding, say) is read as
    # rooted: a router would 404 or root it, and rooting can only add requirements.
    return frozenset(r if r.startswith("/") else "/" + r for r in found)


def _cuts(form: str) -> set[str]:
    """``form`` with ``\\`` as ``/``, with ``;parameters`` cut, with both, and as it is."""
    slashed = form.replace("\\", "/")
    return {form, slashed, _PARAMS.sub("", form), _PARAMS.sub("", slashed)}


def remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 for an absolute path: ``.`` and ``..`` segments resolved, nothing
    above the root, a trailing slash kept where a dot segment ended the path."""
    if "/." not in path:
        return path
    segments = path.split("/")
    output: list[str] = []
    for segment in segments[1:]:
        if segment == ".":
            continue
        if segment == "..":
            if output:
                output.pop()
            continue
        output.append(segment)
    if segments[-1] in (".", ".."):
        output.append("")
    return "/" + "/".join(output)
