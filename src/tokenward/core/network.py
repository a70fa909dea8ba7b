"""IP allow-lists and the client address, with the standard library's ``ipaddress``."""

from __future__ import annotations

import functools
import ipaddress
import itertools
from collections.abc import Iterable, Sequence, Sized
from typing import Literal

from tokenward.errors import ValidationError

__all__ = [
    "MAX_ALLOWED_IPS",
    "PROXY_HEADERS",
    "Address",
    "AllowList",
    "Network",
    "parse_address",
    "parse_allow_list",
    "parse_networks",
    "resolve_client_address",
    "resolve_scheme",
]

MAX_ALLOWED_IPS = 100

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
ProxyHeader = Literal["x-forwarded-for", "x-real-ip", "forwarded"]
PROXY_HEADERS: tuple[ProxyHeader, ...] = ("x-forwarded-for", "x-real-ip", "forwarded")


@functools.lru_cache(maxsize=8192)
def parse_address(value: str | None) -> Address | None:
    """A client address, or ``None`` when it is absent or not an address.

    IPv4-mapped IPv6 (``::ffff:192.0.2.9``) becomes the IPv4 address it carries, and a zone
    (``fe80::1%eth0``) is dropped, so allow-lists compare like with like.
    """
    if not value:
        return None
    text = value.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443" or "[2001:db8::1]"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "192.0.2.9:1234"
        text = text.partition(":")[0]
    text = text.partition("%")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_networks(entries: Iterable[str], *, what: str = "address") -> tuple[Network, ...]:
    """Strict parsing: a prefix with host bits set (``10.0.0.1/24``) is refused, not masked."""
    networks: list[Network] = []
    for entry in entries:
        text = str(entry).strip()
        try:
            network = ipaddress.ip_network(text, strict=True)
        except ValueError:
            raise ValidationError(
                f"invalid {what} {entry!r}: expected an IP address or CIDR prefix without host "
                f"bits{_did_you_mean(text)}"
            ) from None
        mapped = (
            network.network_address.ipv4_mapped
            if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96
            else None
        )
        if mapped is not None:  # clients arrive as IPv4, so compare in IPv4
            network = ipaddress.IPv4Network(f"{mapped}/{network.prefixlen - 96}")
        networks.append(network)
    return tuple(networks)


def _did_you_mean(text: str) -> str:
    """For ``10.0.0.1/8``: the network it lies in, or the one address it names."""
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return ""
    address = text.partition("/")[0]
    return f"; did you mean {network} (the network) or {address} (that one address)?"


def parse_allow_list(entries: Iterable[str]) -> tuple[str, ...]:
    """Validate and normalise a token's allow-list; the stored form is this tuple of strings.

    Addresses are kept as addresses (``10.0.0.1``), prefixes in compressed form, duplicates
    dropped, order kept. At most 100 entries as given (duplicates count): more are refused
    before any is parsed, so an oversized list costs no parsing. An empty list means any
    address.
    """
    given = list(itertools.islice(entries, MAX_ALLOWED_IPS + 1))
    if len(given) > MAX_ALLOWED_IPS:
        count = str(len(entries)) if isinstance(entries, Sized) else "more"
        raise ValidationError(f"at most {MAX_ALLOWED_IPS} IP allow-list entries, got {count}")
    seen: dict[str, None] = {}
    for network in parse_networks(given, what="IP allow-list entry"):
        single = network.prefixlen == network.max_prefixlen
        seen[str(network.network_address) if single else network.compressed] = None
    return tuple(seen)


class AllowList:
    """A token's allow-list, compiled. Empty allows any address; an unknown address matches
    no non-empty list."""

    __slots__ = ("_networks",)

    def __init__(self, entries: Sequence[str]) -> None:
        self._networks = parse_networks(entries)

    def __bool__(self) -> bool:
        return bool(self._networks)

    def allows(self, address: Address | None) -> bool:
        if not self._networks:
            return True
        if address is None:
            return False
        return any(address in network for network in self._networks)


def resolve_client_address(
    peer: str | None,
    forwarded_values: str | None,
    trusted_proxies: Sequence[Network],
    header: ProxyHeader = "x-forwarded-for",
) -> Address | None:
    """The client's address: the peer's, unless the peer is a trusted proxy.

    Then the one configured forwarding header (``X-Forwarded-For``, ``X-Real-IP`` or
    ``Forwarded``; any other is ignored) is read from the right, skipping our own trusted
    proxies, and the first hop we do not trust is the client: entries further left were
    written by that client and prove nothing. A garbled hop yields ``None`` (unknown),
    never a guess.
    """
    address = parse_address(peer)
    if not trusted_proxies or address is None or not _trusted(address, trusted_proxies):
        return address
    if not forwarded_values:
        return address
    hops = (
        _forwarded_for(forwarded_values) if header == "forwarded" else (forwarded_values.split(","))
    )
    for hop in reversed(hops):
        hop_address = parse_address(hop)
        if hop_address is None:
            return None
        if not _trusted(hop_address, trusted_proxies):
            return hop_address
    return address


def resolve_scheme(
    scheme: str,
    *,
    peer: str | None,
    forwarded_values: str | None,
    forwarded_proto: str | None,
    trusted_proxies: Sequence[Network],
    header: ProxyHeader = "x-forwarded-for",
) -> str:
    """The scheme the client used: the connection's, unless a trusted proxy says otherwise
    (its right-most ``X-Forwarded-Proto`` value, or ``proto=`` of the last ``Forwarded``)."""
    address = parse_address(peer)
    if not trusted_proxies or address is None or not _trusted(address, trusted_proxies):
        return scheme
    claimed = None
    if header == "forwarded" and forwarded_values:
        for pair in forwarded_values.split(",")[-1].split(";"):
            key, _, value = pair.strip().partition("=")
            if key.lower() == "proto":
                claimed = value.strip().strip('"')
    elif forwarded_proto:
        claimed = forwarded_proto.split(",")[-1].strip()
    return claimed.lower() if claimed else scheme


def _trusted(address: Address, networks: Sequence[Network]) -> bool:
    return any(address in network for network in networks)


def _forwarded_for(value: str) -> list[str]:
    """The ``for=`` parameter of each element of an RFC 7239 ``Forwarded`` header."""
    hops: list[str] = []
    for element in value.split(","):
        found = ""
        for pair in element.split(";"):
            key, _, raw = pair.strip().partition("=")
            if key.lower() == "for":
                found = raw.strip().strip('"')
        hops.append(found)
    return hops
