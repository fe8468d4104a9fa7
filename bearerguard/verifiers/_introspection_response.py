"""What an introspection response (RFC 7662 section 2.2) must say for a token to pass.

A response that is not a JSON object with a boolean ``active`` is the server failing
(503: ``Unavailable``); ``active: false`` and every failed check below are the token
failing (401). The checks, in order:

- ``cnf`` present, or ``token_type`` DPoP: a sender-constrained token, never downgraded
  to a bearer one (RFC 9449 section 7.1; section 6.2 for introspection; RFC 8705
  section 3.2 for ``x5t#S256``). oidc-provider answers ``cnf: {}`` for any bound token.
- A refresh token (``token_type`` or Hydra's ``token_use`` says so): the endpoint
  introspects any token it issued, whatever ``token_type_hint`` says.
- ``exp`` (when present) in the future and ``nbf`` (when present) not, within leeway.
- ``iss`` equal to the configured issuer, when one is configured.
- ``aud`` (a string or a list) sharing a value with the configured audiences, and the
  response's ``client_id`` one of the configured ``client_ids``, when configured. With
  ``client_ids`` alone a response with an ``aud`` is refused, as JWTVerifier refuses
  a token whose ``aud`` it does not check; ``ANY_AUDIENCE`` checks no ``aud``.
- ``sub``, ``client_id``, ``jti`` and ``scope`` (a space-separated string, RFC 7662
  section 2.2; a list is taken too) must be text when present.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..exceptions import UnauthenticatedError
from ..principal import JSONClaims, Principal
from ._claims import ANY_AUDIENCE
from ._introspection_http import Unavailable

__all__ = ["Expectations", "principal_from"]

_INACTIVE = "The access token is not active"
_EXPIRED = "The access token expired"
_NOT_YET = "The access token is not yet valid"
_ISSUER = "The access token is from another issuer"
_AUDIENCE = "The access token is for another audience"
_BOUND = "The access token is sender-constrained and cannot be used as a bearer token"
_NOT_ACCESS = "The token is not an access token"
_CLAIMS = "The access token has malformed claims"
# Token type names (RFC 9449 section 6.2; oidc-provider's and Hydra's refresh tokens).
_DPOP = "dpop"
_REFRESH = "refresh_token"


@dataclass(frozen=True, slots=True)
class Expectations:
    """The checks one verifier makes, prepared once from its configuration."""

    issuer: str | None
    audiences: frozenset[str] | None
    client_ids: frozenset[str] | None
    any_audience: bool
    kind: str
    literal_scopes: bool
    leeway: float

    @classmethod
    def build(
        cls,
        *,
        issuer: str | None,
        audience: str | Iterable[str] | None,
        client_ids: Iterable[str] | None,
        kind: str,
        literal_scopes: bool,
        leeway: float,
    ) -> Expectations:
        """Validate the configuration; an audience (or ``client_ids``) is required.

        Raises:
            ValueError: no audience and no client ids, or an empty or non-text value.
        """
        if audience is None and client_ids is None:
            raise ValueError(
                "audience is required: give audience= (the aud of your API's tokens), "
                "or client_ids= for a provider whose tokens name the client instead"
            )
        any_audience = audience is ANY_AUDIENCE
        return cls(
            issuer=issuer,
            audiences=None if any_audience else _values("audience", audience),
            client_ids=_values("client_ids", client_ids),
            any_audience=any_audience,
            kind=kind,
            literal_scopes=literal_scopes,
            leeway=leeway,
        )


def _values(name: str, given: str | Iterable[str] | None) -> frozenset[str] | None:
    if given is None:
        return None
    values = [given] if isinstance(given, str) else list(given)
    if not values or not all(isinstance(value, str) and value for value in values):
        raise ValueError(f"{name} must be a non-empty string or list of strings")
    return frozenset(values)


def principal_from(body: bytes, token: str, expect: Expectations, now: float) -> Principal:
    """The principal of an active token's response, or a refusal.

    Raises:
        UnauthenticatedError: the token is inactive or fails a check.
        Unavailable: the response is not an RFC 7662 answer.
    """
    try:
        response = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise Unavailable("not JSON") from None
    if not isinstance(response, dict) or not isinstance(response.get("active"), bool):
        raise Unavailable("not an introspection response")
    if response["active"] is not True:
        raise UnauthenticatedError(_INACTIVE)
    kind = response.get("token_type")
    kind = kind.lower() if isinstance(kind, str) else None
    if "cnf" in response or kind == _DPOP:
        raise UnauthenticatedError(_BOUND)
    if _REFRESH in (kind, response.get("token_use")):
        raise UnauthenticatedError(_NOT_ACCESS)
    exp = _numeric(response, "exp")
    nbf = _numeric(response, "nbf")
    if exp is not None and exp <= now - expect.leeway:
        raise UnauthenticatedError(_EXPIRED)
    if nbf is not None and nbf > now + expect.leeway:
        raise UnauthenticatedError(_NOT_YET)
    if expect.issuer is not None and response.get("iss") != expect.issuer:
        raise UnauthenticatedError(_ISSUER)
    subject = _text(response, "sub")
    client_id = _text(response, "client_id")
    if expect.any_audience:
        pass
    elif expect.audiences is not None:
        if expect.audiences.isdisjoint(_audience(response)):
            raise UnauthenticatedError(_AUDIENCE)
    elif response.get("aud") not in (None, [], ""):
        raise UnauthenticatedError(_AUDIENCE)  # an audience nobody configured us to check
    if expect.client_ids is not None and client_id not in expect.client_ids:
        raise UnauthenticatedError(_AUDIENCE)
    jti = _text(response, "jti")
    if jti is not None and (token in jti or (len(jti) >= 8 and jti in token)):
        jti = None  # a token id is logged and shown: never the token itself
    try:
        expires_at = None if exp is None else datetime.fromtimestamp(exp, timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise UnauthenticatedError(_CLAIMS) from None
    return Principal(
        kind=expect.kind,
        subject=subject or client_id or "",
        scopes=_scopes(response),
        client_id=client_id,
        token_id=jti,
        expires_at=expires_at,
        claims=JSONClaims(body),  # the bytes, decoded again only if the app reads them
        literal_scopes=expect.literal_scopes,
    )


def _numeric(response: Mapping[str, Any], name: str) -> float | None:
    value = response.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UnauthenticatedError(_CLAIMS)
    if not math.isfinite(value):
        raise UnauthenticatedError(_CLAIMS)
    return float(value)


def _text(response: Mapping[str, Any], name: str) -> str | None:
    value = response.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not _encodable(value):
        raise UnauthenticatedError(_CLAIMS)
    return value


def _encodable(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:  # a lone surrogate from a \\ud800 escape
        return False
    return True


def _audience(response: Mapping[str, Any]) -> list[str]:
    audience = response.get("aud")
    if isinstance(audience, str):
        return [audience]
    if isinstance(audience, list) and all(isinstance(value, str) for value in audience):
        return audience
    return []  # absent or malformed: shares nothing with the configured audiences


def _scopes(response: Mapping[str, Any]) -> frozenset[str]:
    scope = response.get("scope")
    if scope is None:
        return frozenset()
    if isinstance(scope, str) and _encodable(scope):
        return frozenset(scope.split())
    if isinstance(scope, list) and all(isinstance(s, str) and _encodable(s) for s in scope):
        return frozenset(scope)
    raise UnauthenticatedError(_CLAIMS)
