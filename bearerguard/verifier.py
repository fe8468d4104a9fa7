"""The verifier protocol: how the guard asks who owns a token and whether it is good.

It lives apart from :mod:`bearerguard.verifiers`, so the core imports no plug-in (and
neither PyJWT nor a database driver) to know what a verifier is.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from .principal import Principal

__all__ = ["AsyncVerifier", "Verifier"]


@runtime_checkable
class Verifier(Protocol):
    """Anything with ``kind``, ``accepts`` and ``verify`` is a verifier.

    ``accepts`` must be a cheap, offline, syntactic test: the guard asks the verifiers
    in order and the first that accepts owns the token; no other is consulted. An
    owner that can tell offline that a token of its format is malformed (a bad
    checksum, say) may raise :class:`~bearerguard.exceptions.UnauthenticatedError`
    from ``accepts``: the refusal then costs no cache entry and no worker thread.
    ``verify`` raises :class:`~bearerguard.exceptions.UnauthenticatedError` for a bad
    token and :class:`~bearerguard.exceptions.ServiceUnavailableError` when it cannot
    decide. Anything else it raises is treated as "cannot decide" (503): fail closed.

    Optional members the guard uses when present: ``averify`` (see
    :class:`AsyncVerifier`), ``leeway`` (seconds a principal stays valid past its
    ``expires_at``; 0 without it), ``record_use(principal)`` (called on every use,
    cache hits included; cheap, must not block) and ``bind_guard(guard)`` (called once
    by each guard, so the verifier can drop revoked tokens with
    ``guard.invalidate_key``).
    """

    kind: str

    def accepts(self, token: str) -> bool:
        """True when this verifier owns the token's format."""
        ...

    def verify(self, token: str) -> Principal:
        """Verify the token and return its principal."""
        ...


@runtime_checkable
class AsyncVerifier(Verifier, Protocol):
    """A verifier with an async twin of ``verify``, used under ASGI."""

    async def averify(self, token: str) -> Principal:
        """Verify the token without blocking the event loop."""
        ...
