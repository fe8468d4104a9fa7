"""The claim checks bearerguard makes on top of PyJWT's, once the signature is good.

PyJWT checks ``exp`` is present, ``iss``, ``aud``, and that ``sub`` and ``jti`` are
strings. What is added here, and why:

- Time claims are read from the verifier's injectable clock (PyJWT reads the system
  clock) and must be JSON numbers, the NumericDate of RFC 7519 section 2 (PyJWT takes
  ``"9999999999"``, and lets ``null`` or ``[]`` raise TypeError). One rule for expiry,
  the same the guard and its cache apply: expired once ``now >= exp + leeway``.
- Only access tokens pass (RFC 9068 section 4, RFC 8725 section 3.11). An ID token
  carries ``at_hash`` or ``c_hash`` (OpenID Connect Core 3.1.3.6, 3.3.2.11), which no
  access token of Auth0, Okta, Entra ID, Keycloak, Cognito or oidc-provider carries:
  such a token is refused. ``nonce`` is not a sign of an ID token: Keycloak put it in
  access tokens until 25.0 (keycloak#26893) and keeps a mapper that still does.
- A token that names its own kind, and names another: Amazon Cognito's ``token_use``
  (``access``, ``id``) and Keycloak's payload ``typ`` (``Bearer``; ``Refresh``,
  ``Offline``, ``ID``, ``Logout`` for the others). A JWS refresh token with a
  ``client_id`` and no ``aud`` would otherwise pass a ``client_ids=`` check.
- A token bound to a key (``cnf``: a DPoP ``jkt``, an mTLS ``x5t#S256``) must not be
  used as a bearer token (RFC 9449 section 7.1, RFC 8705 section 3).
- With ``typ="at+jwt"``, RFC 9068 section 2.2's other required claims are present.
- ``client_ids``: the ``client_id`` claim names one of them (Amazon Cognito's access
  tokens carry no ``aud``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any, Final

from ..exceptions import UnauthenticatedError
from ..principal import JSONClaims, Principal
from ._jws import INVALID, NOT_ACCESS_TOKEN

__all__ = [
    "ANY_AUDIENCE",
    "AUDIENCE",
    "CLAIMS",
    "EXPIRED",
    "NOT_YET",
    "RFC9068_REQUIRED",
    "audience_option",
    "check_access_token",
    "check_times",
    "client_ids_option",
    "principal",
    "scopes",
    "text_claim",
]


class _AnyAudience:
    def __repr__(self) -> str:
        return "ANY_AUDIENCE"


ANY_AUDIENCE: Final[Any] = _AnyAudience()
"""``audience=ANY_AUDIENCE``: accept any ``aud`` without checking it (an explicit opt-out)."""

EXPIRED = "The access token expired"
NOT_YET = "The access token is not yet valid"
AUDIENCE = "The access token is for another audience"
CLAIMS = "The access token has malformed claims"
BOUND = "The access token is sender-constrained and cannot be used as a bearer token"
# RFC 9068 section 2.2; iss, exp and aud are required by every verifier already.
RFC9068_REQUIRED = ("iat", "jti", "client_id", "sub")
_ID_TOKEN_CLAIMS = ("at_hash", "c_hash")


def audience_option(audience: Any) -> Any:
    """The ``audience`` option checked: None, ``ANY_AUDIENCE``, a string or a list."""
    if audience is None or audience is ANY_AUDIENCE:
        return audience
    values = [audience] if isinstance(audience, str) else list(audience)
    if not values or not all(isinstance(value, str) and value for value in values):
        raise ValueError("audience must be a non-empty string or list of strings")
    return values[0] if isinstance(audience, str) else values


def client_ids_option(client_ids: Iterable[str] | None) -> frozenset[str] | None:
    """The ``client_ids`` option checked: None or a non-empty set of strings."""
    if client_ids is None:
        return None
    values = [client_ids] if isinstance(client_ids, str) else list(client_ids)
    if not values or not all(isinstance(value, str) and value for value in values):
        raise ValueError("client_ids must be a non-empty list of strings")
    return frozenset(values)


def check_times(claims: Mapping[str, Any], now: float, leeway: float) -> float:
    """Check ``exp`` (required), ``nbf`` and ``iat`` against ``now``; return ``exp``.

    RFC 7519 section 4.1.4: the current time must be before ``exp``; section 4.1.5:
    on or after ``nbf``. An ``iat`` in the future is refused as PyJWT does.

    Raises:
        UnauthenticatedError: a time claim that is not a number, or out of range.
    """
    exp = _numeric_date(claims, "exp")
    nbf = _numeric_date(claims, "nbf")
    iat = _numeric_date(claims, "iat")
    if exp is None:
        raise UnauthenticatedError(INVALID)
    if now >= exp + leeway:
        raise UnauthenticatedError(EXPIRED)
    if (nbf is not None and nbf > now + leeway) or (iat is not None and iat > now + leeway):
        raise UnauthenticatedError(NOT_YET)
    return exp


def check_access_token(claims: Mapping[str, Any], *, client_ids: frozenset[str] | None) -> None:
    """Refuse ID tokens, key-bound tokens and clients outside ``client_ids``.

    Raises:
        UnauthenticatedError: one of the cases in the module docstring.
    """
    if any(name in claims for name in _ID_TOKEN_CLAIMS):
        raise UnauthenticatedError(NOT_ACCESS_TOKEN)
    use, kind = claims.get("token_use", "access"), claims.get("typ", "Bearer")
    if use != "access" or not isinstance(kind, str) or kind.lower() != "bearer":
        raise UnauthenticatedError(NOT_ACCESS_TOKEN)
    if "cnf" in claims:
        raise UnauthenticatedError(BOUND)
    if client_ids is not None:
        client_id = text_claim(claims, "client_id")
        if client_id is None or client_id not in client_ids:
            raise UnauthenticatedError(AUDIENCE)


def principal(
    claims: Mapping[str, Any],
    payload: bytes,
    *,
    exp: float,
    kind: str,
    scope_claim: str,
    literal_scopes: bool,
) -> Principal:
    """The principal of checked claims; ``payload`` is their JSON text.

    The principal keeps the payload's bytes, decoded again only if the app reads
    ``claims``: a cached principal is then a fraction of the size of one holding the
    dict (issue 9.6).

    Raises:
        UnauthenticatedError: an identifier claim that is not a string (CL-08), a bad
            scope claim, or an ``exp`` beyond the datetime range.
    """
    subject = text_claim(claims, "sub")
    client_id = text_claim(claims, "client_id")
    authorized_party = text_claim(claims, "azp")
    token_id = text_claim(claims, "jti")
    try:
        expires_at = datetime.fromtimestamp(exp, timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise UnauthenticatedError(CLAIMS) from None
    return Principal(
        kind=kind,
        subject=subject or client_id or authorized_party or "",
        scopes=scopes(claims, scope_claim),
        client_id=client_id or authorized_party,
        token_id=token_id,
        expires_at=expires_at,
        claims=JSONClaims(payload),
        literal_scopes=literal_scopes,
    )


def text_claim(claims: Mapping[str, Any], name: str) -> str | None:
    """A string claim: absent, or text (security case CL-08).

    Raises:
        UnauthenticatedError: present and not a string.
    """
    if name not in claims:
        return None
    value = claims[name]
    if not isinstance(value, str):
        raise UnauthenticatedError(CLAIMS)
    return value


def scopes(claims: Mapping[str, Any], scope_claim: str) -> frozenset[str]:
    """The granted scopes: a space-separated string or a list of strings (CL-09).

    When ``scope_claim`` is ``scope`` and absent, ``scp`` is read (Entra ID, Okta).

    Raises:
        UnauthenticatedError: the claim has another shape.
    """
    name = scope_claim
    if name == "scope" and name not in claims:
        name = "scp"
    if name not in claims:
        return frozenset()
    value = claims[name]
    if isinstance(value, str):
        return _scope_set(value)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return frozenset(value)
    raise UnauthenticatedError(CLAIMS)


@functools.lru_cache(maxsize=256)
def _scope_set(value: str) -> frozenset[str]:
    """One frozenset per distinct scope string, shared by every principal that has it:
    a cached principal's largest part after its claims (about 200 bytes each)."""
    return frozenset(value.split())


def _numeric_date(claims: Mapping[str, Any], name: str) -> float | None:
    """A NumericDate claim: absent, or a finite JSON number (not a bool or a string)."""
    if name not in claims:
        return None
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UnauthenticatedError(CLAIMS)
    if isinstance(value, float) and not math.isfinite(value):
        raise UnauthenticatedError(CLAIMS)  # 1e400 parses as inf, NaN as nan
    return value
