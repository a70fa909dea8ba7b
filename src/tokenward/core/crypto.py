"""Lookup digests and argon2id verifiers.

A stored token has two derived values and never the secret:

* a *lookup digest*, keyed BLAKE2b-128 of realm and secret (a MAC in one C call). It is what the
  store indexes, so a request costs one indexed read, and an unknown token is refused without
  any argon2 work. The realm is part of the digest, so realms are apart by construction.
* an *argon2id verifier* (argon2-cffi's encoded hash, which records its own parameters, so
  they can change later and old tokens still verify and are upgraded lazily).

Our secrets carry ~165 bits of entropy, which is what protects them against a stolen database;
argon2id is defence in depth and keeps custom lower-entropy formats safe. That is why the
default profile is OWASP's minimum for argon2id rather than argon2-cffi's 64 MiB default: a
cold verification then costs a few tens of milliseconds, not ~130 ms and 64 MiB.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from tokenward.core.tokens import Realm
from tokenward.errors import AuthenticationError, ConfigurationError, FailureReason

__all__ = ["Argon2Profile", "SecretHasher", "header_digest", "lookup_digest"]

_LOOKUP_KEY = b"tokenward lookup digest v1"
_KEYED = hashlib.blake2b(key=_LOOKUP_KEY, digest_size=16)
# Keyed afresh in every process (a fork shares it with its parent, which is harmless): what
# the warm path keeps is useless anywhere else, and is never the secret.
_HEADER_KEYED = hashlib.blake2b(key=os.urandom(32), digest_size=16)


def lookup_digest(realm: Realm, secret: str) -> str:
    """The store's index key for a secret: fast, keyed, realm-separated."""
    keyed = _KEYED.copy()  # copying a keyed state is cheaper than keying a new one
    keyed.update(f"{realm.value}\x00{secret}".encode())
    return keyed.hexdigest()


def header_digest(value: bytes) -> bytes:
    """The warm path's name for an ``Authorization`` value exactly as sent (ASCII for any
    value that can be granted; a ``str`` is passed as ``value.encode("utf-8",
    "surrogatepass")``, which keeps two different values apart): keyed BLAKE2b-128 under a
    key made in this process. Two spellings of one token are two names, and that is fine:
    each is entered only after the full path granted it."""
    keyed = _HEADER_KEYED.copy()
    keyed.update(value)
    return keyed.digest()


@dataclasses.dataclass(frozen=True, slots=True)
class Argon2Profile:
    """argon2id parameters. ``memory_cost`` is in KiB."""

    time_cost: int = 2
    memory_cost: int = 19 * 1024
    parallelism: int = 1
    hash_len: int = 32
    salt_len: int = 16

    def __post_init__(self) -> None:
        if self.time_cost < 1 or self.parallelism < 1:
            raise ConfigurationError("argon2 time_cost and parallelism must be at least 1")
        if self.memory_cost < 8 * self.parallelism:
            raise ConfigurationError("argon2 memory_cost must be at least 8 KiB per lane")
        if self.hash_len < 16 or self.salt_len < 16:
            raise ConfigurationError("argon2 hash_len and salt_len must be at least 16 bytes")

    @classmethod
    def owasp(cls) -> Argon2Profile:
        """The default: OWASP's minimum for argon2id (19 MiB, 2 passes, 1 lane)."""
        return cls()

    @classmethod
    def rfc9106_low_memory(cls) -> Argon2Profile:
        """argon2-cffi's own default (64 MiB, 3 passes, 4 lanes): slower, for the cautious."""
        return cls(time_cost=3, memory_cost=64 * 1024, parallelism=4)

    @classmethod
    def cheapest(cls) -> Argon2Profile:
        """For test suites only: microseconds instead of milliseconds."""
        return cls(time_cost=1, memory_cost=8, parallelism=1)


class SecretHasher:
    """Makes and checks argon2id verifiers. Verification returns or raises, never ``False``."""

    def __init__(self, profile: Argon2Profile | None = None) -> None:
        self.profile = profile or Argon2Profile()
        p = self.profile
        self._hasher = argon2.PasswordHasher(
            time_cost=p.time_cost,
            memory_cost=p.memory_cost,
            parallelism=p.parallelism,
            hash_len=p.hash_len,
            salt_len=p.salt_len,
            type=argon2.Type.ID,
        )

    def __repr__(self) -> str:
        return f"SecretHasher({self.profile!r})"

    def hash(self, secret: str) -> str:
        return self._hasher.hash(secret)

    def verify(self, verifier: str, secret: str) -> None:
        """Return when the secret matches; raise ``AuthenticationError`` otherwise.

        A corrupt verifier is a mismatch too, so a damaged row can never let anyone in.
        """
        try:
            self._hasher.verify(verifier, secret)
        except (VerificationError, InvalidHashError):
            raise AuthenticationError(FailureReason.BAD_SECRET) from None

    def needs_upgrade(self, verifier: str) -> bool:
        """True when ``verifier`` is weaker than this profile: not argon2id, or no cost above
        the profile's and one below it. A stronger verifier is never downgraded, and one that
        cannot be read is left alone (it can never match anyway)."""
        try:
            stored = argon2.extract_parameters(verifier)
        except InvalidHashError:
            return False
        if stored.type is not argon2.Type.ID:
            return True
        p = self.profile
        costs = (stored.memory_cost, stored.time_cost, stored.hash_len, stored.salt_len)
        target = (p.memory_cost, p.time_cost, p.hash_len, p.salt_len)
        return costs != target and all(
            have <= want for have, want in zip(costs, target, strict=True)
        )
