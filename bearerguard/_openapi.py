"""OpenAPI that says what the guard enforces: security, scopes, kinds and refusals.

Framework-free: :func:`describe` rewrites a generated OpenAPI document in place from one
:class:`Operation` per ``(path, method)``, which the FastAPI adapter works out from the
guard's rules and the routes' own declarations. The refusals it documents are rendered
by the guard itself, so their examples, media type and headers are what it answers.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ._oauth2_flows import OAuth2Flows
from .exceptions import (
    AuthError,
    InsufficientScopeError,
    InvalidRequestError,
    MissingCredentialsError,
    ServiceUnavailableError,
    UnauthenticatedError,
)
from .guard import Guard
from .principal import Principal
from .rules import Requirement

__all__ = ["ERROR_SCHEMA", "OAUTH2_SCHEME_NAME", "SCHEME_NAME", "Operation", "describe"]

SCHEME_NAME = "BearerGuard"
"""The bearer security scheme's name in the OpenAPI document."""
OAUTH2_SCHEME_NAME = "BearerGuardOAuth2"
"""The OAuth 2.0 security scheme's name, when flows are given."""
BEARER_DESCRIPTION = "A bearer token: an OAuth access token or a client token."
OAUTH2_DESCRIPTION = "An OAuth 2.0 access token from the identity provider."
ERROR_SCHEMA = "BearerGuardError"
_EXTENSION = "x-bearerguard"

_ERROR: dict[str, Any] = {
    "title": ERROR_SCHEMA,
    "type": "object",
    "required": ["message"],
    "properties": {
        "message": {"type": "string"},
        "error": {
            "type": "string",
            "enum": [
                "invalid_request",
                "invalid_token",
                "insufficient_scope",
                "temporarily_unavailable",
            ],
        },
        "error_description": {"type": "string"},
        "required_scopes": {"type": "array", "items": {"type": "string"}},
    },
}


@dataclass(frozen=True)
class Operation:
    """What one operation demands, all sources (rules, declarations) combined.

    Attributes:
        access: ``public`` (no token), ``optional`` (a token is used when sent) or
            ``protected``.
        alternatives: Scope sets of which one must be granted in full (one set when
            there are no any-of scopes; each is a security requirement object).
        kinds: The token kinds accepted; None for any.
    """

    access: Literal["public", "optional", "protected"]
    alternatives: tuple[tuple[str, ...], ...] = ((),)
    kinds: tuple[str, ...] | None = None

    @classmethod
    def combine(cls, requirements: Iterable[Requirement]) -> Operation:
        """A protected operation that must meet every one of ``requirements``."""
        every: list[str] = []
        groups: list[tuple[str, ...]] = []
        kinds: frozenset[str] | None = None
        for requirement in requirements:
            every.extend(requirement.scopes)
            if requirement.any_scopes:
                groups.append(requirement.any_scopes)
            if requirement.kinds:
                kinds = requirement.kinds if kinds is None else kinds & requirement.kinds
        alternatives = dict.fromkeys(
            tuple(dict.fromkeys([*every, *choice])) for choice in itertools.product(*groups)
        )
        return cls(
            "protected", tuple(alternatives), None if kinds is None else tuple(sorted(kinds))
        )


def describe(
    document: dict[str, Any],
    operations: Mapping[tuple[str, str], Operation],
    guard: Guard,
    oauth2: OAuth2Flows | None = None,
) -> None:
    """Rewrite ``document`` in place: ``operations`` maps ``(path, "get")`` to its needs."""
    components = document.setdefault("components", {})
    schemes = components.setdefault("securitySchemes", {})
    names = [SCHEME_NAME] if oauth2 is None else [SCHEME_NAME, OAUTH2_SCHEME_NAME]
    required: dict[str, None] = {}
    used = False
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            found = operations.get((path, method))
            if found is None or not isinstance(operation, dict):
                continue
            used = _operation(operation, found, names, guard) or used
            for scopes in found.alternatives:
                required.update(dict.fromkeys(scopes))
    if used:
        schemes[SCHEME_NAME] = {
            "type": "http",
            "scheme": "bearer",
            "description": BEARER_DESCRIPTION,
        }
        if oauth2 is not None:
            schemes[OAUTH2_SCHEME_NAME] = oauth2.scheme(required, OAUTH2_DESCRIPTION)
        components.setdefault("schemas", {})[ERROR_SCHEMA] = _ERROR
    elif not schemes:
        del components["securitySchemes"]


def _operation(operation: dict[str, Any], found: Operation, names: list[str], guard: Guard) -> bool:
    """Rewrite one operation; True when it mentions the schemes."""
    others = [
        entry
        for entry in operation.pop("security", [])
        if not any(name in entry for name in (SCHEME_NAME, OAUTH2_SCHEME_NAME))
    ]
    if found.access == "public":
        if others:
            operation["security"] = others
        return False
    responses = operation.setdefault("responses", {})
    if found.access == "optional":
        security: list[dict[str, list[str]]] = [{}, *({name: list[str]()} for name in names)]
        summary = "**Authorization:** optional; a bearer token that is sent must be valid."
        extension: dict[str, Any] = {"token": "optional"}
    else:
        security = [{name: list(scopes)} for scopes in found.alternatives for name in names]
        summary = _summary(found)
        extension = {"token": "required", "scopes": [list(s) for s in found.alternatives]}
        if found.kinds is not None:
            extension["kinds"] = list(found.kinds)
    operation["security"] = [*security, *others]
    operation[_EXTENSION] = extension
    text = operation.get("description", "")
    operation["description"] = f"{text}\n\n{summary}" if text else summary
    answers: list[tuple[str, list[tuple[str, AuthError]]]] = [
        ("400", [("invalid_request", InvalidRequestError())]),
        (
            "401",
            [("missing", MissingCredentialsError()), ("invalid_token", UnauthenticatedError())],
        ),
    ]
    if found.access == "protected" and (found.kinds is not None or any(found.alternatives)):
        answers.append(("403", _refusals(found)))
    answers.append(("503", [("unavailable", ServiceUnavailableError())]))
    for status, examples in answers:
        responses.setdefault(status, _response(guard, status, examples))
    return True


def _refusals(found: Operation) -> list[tuple[str, AuthError]]:
    """The 403 answers, raised by the real checks against principals that fall short."""
    refusals: list[tuple[str, AuthError]] = []
    checks = [
        (f"scopes_{index}", Requirement.build(scopes), "")
        for index, scopes in enumerate(found.alternatives, 1)
        if scopes
    ]
    if found.kinds is not None:
        checks.append(("kind", Requirement.build(kinds=found.kinds), "-".join(found.kinds) + "-"))
    for name, requirement, kind in checks:
        try:
            requirement.authorize(Principal(kind=f"{kind}other", subject="example"))
        except InsufficientScopeError as error:
            refusals.append((name, error))
    return refusals


_WHAT = {
    "400": "Malformed credentials: an empty bearer token, characters outside RFC 6750, "
    "two Authorization headers.",
    "401": "No bearer token, or one that is unknown, expired, forged or for another audience.",
    "403": "A valid token without the scopes, or of a kind, this operation requires.",
    "503": "A verifier cannot decide (key server or token store down): retry later.",
}


def _summary(found: Operation) -> str:
    parts = ["**Authorization:** a bearer token"]
    if found.kinds is not None:
        parts.append(" of kind " + (" or ".join(f"`{k}`" for k in found.kinds) or "(none)"))
    sets = [", ".join(f"`{s}`" for s in scopes) for scopes in found.alternatives if scopes]
    if sets:
        parts.append(" with the scopes " + " or ".join(sets))
    return "".join(parts) + "."


def _response(guard: Guard, status: str, examples: list[tuple[str, AuthError]]) -> dict[str, Any]:
    """The documented answer: what the guard renders for these errors."""
    rendered = [(name, guard.render(error)) for name, error in examples]
    headers: dict[str, Any] = {}
    media_type = "application/json"
    values: dict[str, Any] = {}
    for name, (_, pairs, body) in rendered:
        for header, _value in pairs:
            lowered = header.lower()
            if lowered == "content-type":
                media_type = _value.split(";", 1)[0].strip()
            elif lowered in ("www-authenticate", "retry-after"):
                headers[_title(lowered)] = {"schema": {"type": "string"}}
        values[name] = {"value": _parse(body)}
    schema: dict[str, Any] = {"type": "object"}
    if all(
        isinstance(v["value"], dict) and set(v["value"]) <= set(_ERROR["properties"])
        for v in values.values()
    ):
        schema = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}
    answer: dict[str, Any] = {
        "description": _WHAT[status],
        "content": {media_type: {"schema": schema, "examples": values}},
    }
    if headers:
        answer["headers"] = headers
    return answer


def _title(header: str) -> str:
    return "WWW-Authenticate" if header == "www-authenticate" else "Retry-After"


def _parse(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")
