"""Acting as a principal: a one-time token that only one guard, for one block, accepts."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from ..exceptions import UnauthenticatedError
from ..guard import Guard
from ..principal import Principal

__all__ = ["acting_as"]


class _ActingVerifier:
    """Accepts exactly one token, minted here and never shown outside the process."""

    def __init__(self, token: str, principal: Principal) -> None:
        self.kind = principal.kind
        self._digest = hashlib.sha256(token.encode("ascii")).digest()
        self._length = len(token)
        self._principal = principal

    def __repr__(self) -> str:
        return f"acting_as({self._principal.kind}:{self._principal.subject})"

    def accepts(self, token: str) -> bool:
        if len(token) != self._length:
            return False
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        return hmac.compare_digest(digest, self._digest)

    def verify(self, token: str) -> Principal:
        if not self.accepts(token):
            raise UnauthenticatedError()
        return self._principal

    async def averify(self, token: str) -> Principal:
        return self.verify(token)


@contextmanager
def acting_as(guard: Guard, principal: Principal) -> Iterator[dict[str, str]]:
    """Within the block, requests with the yielded headers act as ``principal``.

    ```python
    alice = Principal(kind="oauth", subject="alice", scopes={"payments.get"})
    with acting_as(guard, alice) as headers:
        response = client.get("/api/payment/pay_1", headers=headers)
    ```

    The headers carry a random one-time bearer token that a verifier put first in
    ``guard`` accepts: the middleware then decides as for any token (the rules, the
    route's scopes and kinds, the principal's ``expires_at``) and attaches
    ``principal``, so ``current_principal``, ``request.user`` and the route
    declarations see it. Nothing is switched on by a setting or a header: the token
    exists only in this process, only this guard accepts it, and only until the block
    ends, when the verifier is removed and the token is dropped from the cache.

    Raises:
        TypeError: ``guard`` is not a :class:`~bearerguard.Guard` or ``principal``
            not a :class:`~bearerguard.Principal`.
    """
    if not isinstance(guard, Guard):
        raise TypeError("acting_as needs the bearerguard.Guard the app's middleware uses")
    if not isinstance(principal, Principal):
        raise TypeError("acting_as needs a bearerguard.Principal")
    token = "acting_" + secrets.token_urlsafe(32)
    verifier = _ActingVerifier(token, principal)
    guard.add_verifier(verifier, first=True)
    try:
        yield {"Authorization": f"Bearer {token}"}
    finally:
        guard.remove_verifier(verifier)
        guard.invalidate(token)
