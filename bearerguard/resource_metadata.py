"""OAuth 2.0 Protected Resource Metadata (RFC 9728), served by the guard itself.

``Guard(..., resource_metadata={"resource": "https://payments.example/api",
"authorization_servers": ["https://id.example.com/"]})`` makes the guard answer, with no
token needed and before any rule:

- ``GET`` and ``HEAD`` of ``/.well-known/oauth-protected-resource/api`` (section 3.1: the
  well-known suffix goes between the host and the resource's path) and of
  ``/.well-known/oauth-protected-resource`` (for clients that only try the host's root):
  the metadata document, ``application/json``;
- any other method on those paths: 405 with ``Allow: GET, HEAD``;

and every ``Bearer`` challenge the guard renders then carries
``resource_metadata="<the metadata URL>"`` (section 5.1), so a client that was refused
finds the authorization server to ask for a token.

How the answer reaches the adapters: the guard matches the metadata paths in front of
its rules and raises :class:`MetadataResponse` from ``decide``, an ``AuthError`` whose
rendering is the prepared document (as Werkzeug's ``RequestRedirect`` is an exception
that is an answer). The adapters send whatever the guard renders for an ``AuthError``,
so they have no code of their own for it, and a guard without metadata runs exactly
the code it ran before.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from ._resource_document import checked_resource, document, is_issuer
from .exceptions import BUILT_IN_ERRORS, AuthError, render_error
from .rules import Requirement, Rule

__all__ = [
    "WELL_KNOWN",
    "MetadataResponse",
    "ResourceMetadata",
    "RuleTable",
    "rule_scopes",
    "verifier_issuers",
]

WELL_KNOWN = "/.well-known/oauth-protected-resource"
"""The well-known path suffix of RFC 9728 section 3."""

_Render = Callable[[AuthError, str, Any], tuple[int, list[tuple[str, str]], bytes]]
# The document changes only with a deployment; an hour keeps clients from asking on
# every refusal.
_CACHE = "public, max-age=3600"
_ALLOWED = "GET, HEAD"
_CACHED_ANSWERS = 256


class RuleTable(Protocol):
    """What the guard asks of its rule table: the requirement of a request."""

    def match(self, method: str, path: str) -> Requirement: ...


class MetadataResponse(AuthError):
    """Not a refusal: the guard's own answer at its metadata URL (200, or 405).

    Raised by :meth:`Guard.decide <bearerguard.Guard.decide>` like a refusal, so that
    code that renders what it catches (``guard.render(error)``, as the adapters do)
    sends it unchanged. A custom renderer never sees it.

    Attributes:
        headers: The answer's headers, ``(name, value)`` strings.
        content: The answer's body.
    """

    error_code = None
    message = "Protected resource metadata"

    def __init__(
        self, status: int, headers: tuple[tuple[str, str], ...], content: bytes, body: Any
    ) -> None:
        Exception.__init__(self, self.message)
        self.description = self.message
        self.status_code = status
        self.headers = headers
        self.content = content
        self._body = body

    def challenge(self, realm: str) -> str | None:
        """No challenge: nothing was refused."""
        return None

    def body(self) -> dict[str, object]:
        """The JSON document answered."""
        return dict(self._body)

    def rendered(self) -> tuple[int, list[tuple[str, str]], bytes]:
        """``(status, headers, body)`` as a renderer returns them."""
        return self.status_code, list(self.headers), self.content


class ResourceMetadata:
    """A protected resource's metadata document, where it is served, and its URL.

    A guard builds one from its ``resource_metadata=`` mapping; there is no I/O here or
    per request (the answers are prepared bytes).

    Args:
        metadata: RFC 9728 section 2 parameters. ``resource`` is required: the API's
            identifier, an ``https`` URL (plain ``http`` to loopback, for development)
            with no query or fragment. ``authorization_servers``: a list of issuer
            identifiers. ``scopes_supported``: a list of scope names.
            ``bearer_methods_supported`` is always ``["header"]``, the only way the guard
            takes a token. Other parameters are passed through as given (JSON values).
        scopes: ``scopes_supported`` when ``metadata`` has none (the guard passes the
            scopes its rules require); omitted when empty.
        issuers: ``authorization_servers`` when ``metadata`` has none (the guard passes
            its verifiers' issuers); omitted when empty.

    Attributes:
        resource: The resource identifier.
        url: The metadata URL (section 3.1), which challenges point to.
        paths: The router paths the document is served at.
        document: The document, read-only.

    Raises:
        ValueError: a parameter that is missing, of the wrong type, or unsafe.
    """

    def __init__(
        self,
        metadata: Mapping[str, Any],
        *,
        scopes: Iterable[str] = (),
        issuers: Iterable[str] = (),
    ) -> None:
        if not isinstance(metadata, Mapping):
            raise ValueError("resource_metadata must be a mapping of RFC 9728 parameters")
        if not all(isinstance(name, str) for name in metadata):
            raise ValueError("resource_metadata parameter names must be strings")
        self.resource = checked_resource(metadata.get("resource"))
        parts = urlsplit(self.resource)
        path = "" if parts.path == "/" else parts.path  # section 3.1: no terminating "/"
        self.url = f"{parts.scheme}://{parts.netloc}{WELL_KNOWN}{path}"
        # Routers see the path decoded (ASGI "path", WSGI PATH_INFO).
        self.paths: frozenset[str] = frozenset({WELL_KNOWN, unquote(WELL_KNOWN + path)})
        # Kept to make this document again with more scopes (with_scopes).
        self._given, self._scopes, self._issuers = dict(metadata), list(scopes), list(issuers)
        built = document(dict(metadata), self.resource, list(self._scopes), self._issuers)
        self.document: Mapping[str, Any] = MappingProxyType(built)
        try:
            content = json.dumps(built, separators=(",", ":"), allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise ValueError(f"resource_metadata must hold JSON values only: {exc}") from None
        self._ok = _prepared(200, content, _CACHE, built)
        refusal = {"message": "Method not allowed"}
        self._not_allowed = _prepared(
            405, json.dumps(refusal).encode(), "no-store", refusal, ("allow", _ALLOWED)
        )
        self._parameter = f'resource_metadata="{self.url}"'

    def __repr__(self) -> str:
        return f"ResourceMetadata({self.resource!r}, url={self.url!r})"

    def with_scopes(self, scopes: Iterable[str]) -> ResourceMetadata:
        """This metadata with ``scopes`` after its default scopes, unless
        ``scopes_supported`` was given; itself when that adds nothing."""
        added = [scope for scope in dict.fromkeys(scopes) if scope not in self._scopes]
        if not added or "scopes_supported" in self._given:
            return self
        scopes = [*self._scopes, *added]
        return ResourceMetadata(self._given, scopes=scopes, issuers=self._issuers)

    def answer(self, method: str) -> MetadataResponse:
        """The answer to a request for the document with this method."""
        prepared = self._ok if method.upper() in ("GET", "HEAD") else self._not_allowed
        return MetadataResponse(*prepared)

    def serving(self, table: RuleTable) -> RuleTable:
        """``table`` with the document's paths answered in front of its rules."""
        return _Served(self, table)

    def renderer(self, base: _Render | None) -> _Render:
        """A renderer: :class:`MetadataResponse` as prepared, else ``base`` (or the
        default JSON rendering) with ``resource_metadata`` added to its challenge.

        Both take ``(error, realm, request)``, as the guard calls its renderer."""
        render = base or _default
        parameter = self._parameter
        # As the guard does for its default rendering: a spray of refusals renders the
        # same few answers, so built-in errors are rendered once per distinct answer.
        cache: dict[tuple[Any, ...], tuple[int, tuple[tuple[str, str], ...], bytes]] = {}

        def render_with_metadata(error: AuthError, realm: str, request: Any) -> Any:
            if isinstance(error, MetadataResponse):
                return error.rendered()
            if base is not None or type(error) not in BUILT_IN_ERRORS:
                status, headers, body = render(error, realm, request)
                return status, [_with(header, parameter) for header in headers], body
            key = (
                type(error),
                error.description,
                getattr(error, "required_scopes", ()),
                getattr(error, "retry_after", 0),
                realm,
            )
            found = cache.get(key)
            if found is None:
                status, headers, body = render_error(error, realm)
                found = status, tuple(_with(header, parameter) for header in headers), body
                if len(cache) < _CACHED_ANSWERS:
                    cache[key] = found
            return found[0], list(found[1]), found[2]

        return render_with_metadata


def _default(
    error: AuthError, realm: str, request: Any
) -> tuple[int, list[tuple[str, str]], bytes]:
    return render_error(error, realm)


class _Served:
    """A guard's rule table with the metadata paths answered in front of it."""

    __slots__ = ("_metadata", "_paths", "_table")

    def __init__(self, metadata: ResourceMetadata, table: RuleTable) -> None:
        self._metadata = metadata
        self._paths = metadata.paths
        self._table = table

    def match(self, method: str, path: str) -> Requirement:
        if path in self._paths:
            raise self._metadata.answer(method)
        return self._table.match(method, path)


def rule_scopes(rules: Iterable[object]) -> list[str]:
    """The scopes that rules require, each once, in the order they first appear."""
    found: dict[str, None] = {}
    for rule in rules:
        if isinstance(rule, Rule):
            found.update(dict.fromkeys(rule.requirement.scopes))
            found.update(dict.fromkeys(rule.requirement.any_scopes))
    return list(found)


def verifier_issuers(verifiers: Iterable[object]) -> list[str]:
    """The usable issuer identifiers the verifiers are configured with, each once."""
    found: dict[str, None] = {}
    for verifier in verifiers:
        issuer = getattr(verifier, "issuer", None)
        if isinstance(issuer, str) and is_issuer(issuer):
            found[issuer] = None
    return list(found)


def _prepared(
    status: int, content: bytes, cache: str, body: Any, *extra: tuple[str, str]
) -> tuple[int, tuple[tuple[str, str], ...], bytes, Any]:
    headers = (
        ("content-type", "application/json"),
        ("content-length", str(len(content))),
        ("cache-control", cache),
        # Public information, read by browser-based clients from other origins too.
        ("access-control-allow-origin", "*"),
        *extra,
    )
    return status, headers, content, body


def _with(header: tuple[str, str], parameter: str) -> tuple[str, str]:
    """A ``WWW-Authenticate`` Bearer challenge with ``parameter`` added (RFC 9728 5.1)."""
    name, value = header
    if name.lower() != "www-authenticate" or value[:6].lower() != "bearer":
        return header
    if "resource_metadata=" in value:
        return header  # a custom renderer set its own
    rest = value[6:].strip()
    return name, f"{value[:6]} {rest}, {parameter}" if rest else f"{value[:6]} {parameter}"
