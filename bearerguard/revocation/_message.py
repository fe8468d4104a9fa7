"""What travels on a revocation bus: hashes and public token identifiers, never a token.

A message names what to evict and what to refuse from now on, in one of three forms:

- ``key``: the SHA-256 cache key of one token (:func:`bearerguard.cache.token_key`),
  optionally with the ``issuer`` and ``jti`` of the JWT it belongs to;
- ``issuer`` + ``jti``: one JWT or introspected token by its identifier (RFC 7519
  section 4.1.7), when the token itself is not at hand;
- ``issuer`` + ``subject`` + ``before``: every token of one subject issued before a
  time (``iat``, RFC 7519 section 4.1.6), "log this user out everywhere".

On the wire it is compact JSON, well under PostgreSQL's 8000-byte ``NOTIFY`` limit:
the identifiers are capped at 512 characters.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

__all__ = ["MAX_IDENTIFIER", "Revocation"]

MAX_IDENTIFIER = 512
_VERSION = 1


def _identifier(value: object, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_IDENTIFIER:
        raise ValueError(f"{name} must be text of 1 to {MAX_IDENTIFIER} characters")
    if not value.isprintable():
        raise ValueError(f"{name} must not contain control characters")
    return value


def _id(kind: str, *parts: str) -> str:
    # Fixed-size ids whatever the issuer and subject look like, joined by NUL (which
    # neither may contain), so ("a", "bc") and ("ab", "c") never collide.
    return kind + hashlib.sha256("\x00".join(parts).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Revocation:
    """One revocation as published and as recorded.

    Attributes:
        key: The token's SHA-256 cache key, when the revocation is of one token.
        issuer: The ``iss`` of a JWT or introspected token.
        jti: The token's ``jti``.
        subject: The ``sub`` whose tokens issued before ``before`` are revoked.
        before: UNIX seconds; with ``subject``, tokens whose ``iat`` is earlier (or
            missing) are refused.
    """

    key: bytes | None = None
    issuer: str | None = None
    jti: str | None = None
    subject: str | None = None
    before: float | None = None

    def __post_init__(self) -> None:
        if self.key is not None and (not isinstance(self.key, bytes) or len(self.key) != 32):
            raise ValueError("key must be a 32-byte SHA-256 digest")
        _identifier(self.issuer, "issuer")
        _identifier(self.jti, "jti")
        _identifier(self.subject, "subject")
        if self.subject is not None:
            if self.issuer is None or self.before is None:
                raise ValueError("a subject revocation needs issuer, subject and before")
            if not isinstance(self.before, (int, float)) or not math.isfinite(self.before):
                raise ValueError("before must be finite UNIX seconds")
        elif self.before is not None:
            raise ValueError("before goes with a subject")
        if self.jti is not None and self.issuer is None:
            raise ValueError("a jti needs its issuer")
        if self.key is None and self.jti is None and self.subject is None:
            raise ValueError("a revocation needs a key, a jti or a subject")

    @property
    def ids(self) -> tuple[str, ...]:
        """The ids this revocation is recorded under in a revocation list."""
        ids = []
        if self.key is not None:
            ids.append("k" + self.key.hex())
        if self.jti is not None:
            ids.append(jti_id(self.issuer or "", self.jti))
        if self.subject is not None:
            ids.append(subject_id(self.issuer or "", self.subject))
        return tuple(ids)

    def encode(self) -> str:
        """The message as published: compact JSON."""
        document: dict[str, object] = {"v": _VERSION}
        if self.key is not None:
            document["key"] = self.key.hex()
        for name in ("issuer", "jti", "subject", "before"):
            value = getattr(self, name)
            if value is not None:
                document[name] = value
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def decode(cls, text: str | bytes) -> Revocation:
        """Parse a published message.

        Raises:
            ValueError: not a message of this version.
        """
        try:
            document = json.loads(text)
        except (ValueError, UnicodeDecodeError):
            raise ValueError("not JSON") from None
        if not isinstance(document, dict) or document.get("v") != _VERSION:
            raise ValueError("not a revocation message")
        key = document.get("key")
        if key is not None:
            if not isinstance(key, str) or len(key) != 64:
                raise ValueError("bad key")
            try:
                key = bytes.fromhex(key)
            except ValueError:
                raise ValueError("bad key") from None
        before = document.get("before")
        if before is not None and (isinstance(before, bool) or not isinstance(before, int | float)):
            raise ValueError("bad before")
        try:
            return cls(
                key=key,
                issuer=document.get("issuer"),
                jti=document.get("jti"),
                subject=document.get("subject"),
                before=None if before is None else float(before),
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(str(exc)) from None


def jti_id(issuer: str, jti: str) -> str:
    """The revocation-list id of an issuer's ``jti``."""
    return _id("j", issuer, jti)


def subject_id(issuer: str, subject: str) -> str:
    """The revocation-list id of an issuer's subject."""
    return _id("s", issuer, subject)
