"""The error tree: every way bearerguard can refuse a request.

```
AuthError                       base: status_code, error_code, description
├── UnauthenticatedError        401 invalid_token (bad, expired or unknown token)
│   └── MissingCredentialsError 401, no error code (no token, or another scheme)
├── InvalidRequestError         400 invalid_request (malformed credentials)
├── InsufficientScopeError      403 insufficient_scope (+ required_scopes)
└── ServiceUnavailableError     503 temporarily_unavailable (a verifier cannot decide)
```

Each error knows its RFC 6750 challenge (section 3) and its JSON body, so both adapters
render the same bytes through :func:`render_error`. Descriptions are fixed strings chosen
by the code that raises; anything else is cut down to RFC 6750's allowed characters, so a
token, a ``kid`` or an exception's text can never break a header line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

__all__ = [
    "BUILT_IN_ERRORS",
    "AuthError",
    "InsufficientScopeError",
    "InvalidRequestError",
    "MissingCredentialsError",
    "ServiceUnavailableError",
    "UnauthenticatedError",
    "error_headers",
    "render_error",
]

# RFC 6750 section 3: error_description uses %x20-21 / %x23-5B / %x5D-7E only.
_NOT_DESCRIPTION_CHARS = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")
# RFC 6750 section 3 (after RFC 6749 section 3.3): a scope-token is %x21 / %x23-5B / %x5D-7E.
_NOT_SCOPE_CHARS = re.compile(r"[^\x21\x23-\x5b\x5d-\x7e]")
_MAX_DESCRIPTION = 200


def _clean_description(text: str) -> str:
    return _NOT_DESCRIPTION_CHARS.sub("", str(text))[:_MAX_DESCRIPTION].strip(" ")


class AuthError(Exception):
    """Base of every refusal bearerguard answers with.

    Attributes:
        status_code: The HTTP status of the answer.
        error_code: The RFC 6750 error code, or None when the request carried no
            credentials at all (RFC 6750 section 3.1).
        description: A fixed, short, header-safe description.
    """

    status_code: int = 401
    error_code: str | None = "invalid_token"
    message: str = "Unauthenticated"
    default_description: str = "The access token is invalid"

    def __init__(self, description: str | None = None) -> None:
        # A description with nothing printable left would leave the body and the
        # challenge disagreeing (an empty JSON value, no header attribute).
        cleaned = "" if description is None else _clean_description(description)
        self.description = cleaned or self.default_description
        super().__init__(self.description)

    def challenge(self, realm: str) -> str | None:
        """The ``WWW-Authenticate`` value for this error, or None for no challenge."""
        parts = [f'Bearer realm="{realm}"']
        if self.error_code is not None:
            parts.append(f'error="{self.error_code}"')
            if self.description:
                parts.append(f'error_description="{self.description}"')
        return ", ".join(parts)

    def body(self) -> dict[str, object]:
        """The JSON document answered for this error."""
        document: dict[str, object] = {"message": self.message}
        if self.error_code is not None:
            document["error"] = self.error_code
            document["error_description"] = self.description
        return document


class UnauthenticatedError(AuthError):
    """401 ``invalid_token``: the token is unknown, expired, not yet valid or forged.

    Verifiers raise this for a token they own but refuse.
    """


class MissingCredentialsError(UnauthenticatedError):
    """401 with no error code: the request carried no bearer token.

    RFC 6750 section 3.1: a request without authentication information gets a bare
    challenge, with no error code or description.
    """

    error_code = None
    default_description = "Authentication required"

    def body(self) -> dict[str, object]:
        """The JSON document: the message alone."""
        return {"message": self.message}


class InvalidRequestError(AuthError):
    """400 ``invalid_request``: the ``Authorization`` header is malformed."""

    status_code = 400
    error_code = "invalid_request"
    message = "Bad request"
    default_description = "The Authorization header is malformed"


class InsufficientScopeError(AuthError):
    """403 ``insufficient_scope``: a valid token that lacks what the route requires.

    Attributes:
        required_scopes: The scopes that failed (the any-of set for ``any_scopes``);
            empty when the token's kind was refused.
    """

    status_code = 403
    error_code = "insufficient_scope"
    message = "Insufficient permissions"
    default_description = "The access token lacks the required scope"

    def __init__(
        self, description: str | None = None, *, required_scopes: Iterable[str] = ()
    ) -> None:
        super().__init__(description)
        # Rules validate scope names, but code may raise this error itself: a scope
        # carrying a quote or CR/LF must not reach the ``scope="…"`` attribute.
        cleaned = (_NOT_SCOPE_CHARS.sub("", str(scope)) for scope in required_scopes)
        self.required_scopes: tuple[str, ...] = tuple(scope for scope in cleaned if scope)

    @classmethod
    def for_kinds(cls, kinds: Iterable[str]) -> InsufficientScopeError:
        """The refusal of a token whose kind the route does not accept.

        Its fixed description names the kinds accepted, so a caller with the wrong
        kind of token (an OAuth token on a client-only route) can tell why.
        """
        names = sorted(kinds)
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        return cls(f"This route accepts only {listed} tokens")

    def challenge(self, realm: str) -> str | None:
        """``Bearer realm=…, error="insufficient_scope"`` plus ``scope`` when any.

        A refusal that names no scope (the token's kind was refused) carries its
        description instead (RFC 6750 section 3).
        """
        value = f'Bearer realm="{realm}", error="insufficient_scope"'
        if self.required_scopes:
            value += f', scope="{" ".join(self.required_scopes)}"'
        else:
            value += f', error_description="{self.description}"'
        return value

    def body(self) -> dict[str, object]:
        """The JSON document, listing the scopes that failed (or why, when none did)."""
        document: dict[str, object] = {
            "message": self.message,
            "error": self.error_code,
            "required_scopes": list(self.required_scopes),
        }
        if not self.required_scopes:
            document["error_description"] = self.description
        return document


class ServiceUnavailableError(AuthError):
    """503: a verifier or store could not decide (key server or database down).

    bearerguard fails closed: nothing is let through while this is the answer.

    Attributes:
        retry_after: Seconds the client is asked to wait (the ``Retry-After`` header).
    """

    status_code = 503
    error_code = "temporarily_unavailable"
    message = "Authentication temporarily unavailable"
    default_description = "Authentication is temporarily unavailable"

    def __init__(self, description: str | None = None, *, retry_after: int = 5) -> None:
        super().__init__(description)
        self.retry_after = max(0, int(retry_after))

    def challenge(self, realm: str) -> str | None:
        """No challenge: the token was not judged."""
        return None

    def body(self) -> dict[str, object]:
        """The JSON document."""
        return {"message": self.message, "error": self.error_code}


def render_error(error: AuthError, realm: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """Render an error as ``(status, headers, body)``: the default JSON renderer.

    A custom renderer passed to :class:`~bearerguard.Guard` has this same signature.
    """
    body = json.dumps(error.body(), separators=(",", ":")).encode()
    return error.status_code, error_headers(error, realm, "application/json", body), body


def error_headers(
    error: AuthError, realm: str, content_type: str, body: bytes
) -> list[tuple[str, str]]:
    """The headers of a refusal with this body: type, length, ``no-store``, the
    RFC 6750 challenge and, for a 503, ``Retry-After``. Renderers of other formats
    (problem+json) use it so that the challenge is the same whatever the body."""
    headers = [
        ("content-type", content_type),
        ("content-length", str(len(body))),
        ("cache-control", "no-store"),
    ]
    challenge = error.challenge(realm)
    if challenge is not None:
        headers.append(("www-authenticate", challenge))
    if isinstance(error, ServiceUnavailableError):
        headers.append(("retry-after", str(error.retry_after)))
    return headers


BUILT_IN_ERRORS: frozenset[type[AuthError]] = frozenset(
    {
        UnauthenticatedError,
        MissingCredentialsError,
        InvalidRequestError,
        InsufficientScopeError,
        ServiceUnavailableError,
    }
)
"""The classes bearerguard raises itself: their default rendering depends only on their
type, ``description``, ``required_scopes`` and ``retry_after``, so it can be cached."""
