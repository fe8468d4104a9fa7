"""OAuth 2.0 flows to present in an OpenAPI document, so Swagger UI offers the scopes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

__all__ = ["OAuth2Flows"]


def _url(name: str, value: object) -> str:
    if not isinstance(value, str) or urlsplit(value).scheme not in ("https", "http"):
        raise ValueError(f"{name} must be an http(s) URL, not {value!r}")
    if not urlsplit(value).netloc:
        raise ValueError(f"{name} must be an absolute URL, not {value!r}")
    return value


@dataclass(frozen=True)
class OAuth2Flows:
    """The identity provider's OAuth 2.0 endpoints, as an OpenAPI ``oauth2`` scheme.

    Args:
        token_url: The token endpoint.
        authorization_url: The authorization endpoint; when given, the
            ``authorizationCode`` flow is offered (Swagger UI signs a user in).
        refresh_url: Where tokens are refreshed, if the provider says.
        scopes: Scope descriptions shown in the Authorize dialog; every scope a route
            or rule requires is listed too, with an empty description if none is here.
        client_credentials: Offer the ``clientCredentials`` flow (a client ID and
            secret get a token).

    Raises:
        ValueError: a URL that is not absolute http(s), or no flow at all.
    """

    token_url: str
    authorization_url: str | None = None
    refresh_url: str | None = None
    scopes: Mapping[str, str] = field(default_factory=dict)
    client_credentials: bool = True

    def __post_init__(self) -> None:
        _url("token_url", self.token_url)
        if self.authorization_url is not None:
            _url("authorization_url", self.authorization_url)
        if self.refresh_url is not None:
            _url("refresh_url", self.refresh_url)
        if not self.client_credentials and self.authorization_url is None:
            raise ValueError("no flow: give authorization_url or keep client_credentials")
        descriptions = dict(self.scopes)
        for name, text in descriptions.items():
            if not isinstance(name, str) or not isinstance(text, str):
                raise ValueError("scopes must map scope names to descriptions")
        object.__setattr__(self, "scopes", MappingProxyType(descriptions))

    @classmethod
    def from_metadata(
        cls, metadata: Mapping[str, Any], *, scopes: Mapping[str, str] | None = None
    ) -> OAuth2Flows:
        """The flows an authorization server's metadata document announces.

        ``metadata`` is the parsed JSON of its RFC 8414 (or OpenID Connect Discovery)
        document, fetched by you: this makes no request. Without
        ``grant_types_supported`` the RFC 8414 section 2 default applies
        (``authorization_code`` and ``implicit``). ``scopes_supported`` are listed,
        with descriptions from ``scopes``.

        Raises:
            ValueError: no ``token_endpoint``, or no grant Swagger UI can use.
        """
        if "token_endpoint" not in metadata:
            raise ValueError("the metadata has no token_endpoint")
        grants = metadata.get("grant_types_supported", ["authorization_code", "implicit"])
        if not isinstance(grants, list):
            raise ValueError("grant_types_supported must be a list")
        authorization = metadata.get("authorization_endpoint")
        code = "authorization_code" in grants and authorization is not None
        supported = metadata.get("scopes_supported", [])
        if not isinstance(supported, list):
            raise ValueError("scopes_supported must be a list")
        described = {str(name): "" for name in supported}
        described.update(scopes or {})
        return cls(
            token_url=metadata["token_endpoint"],
            authorization_url=authorization if code else None,
            scopes=described,
            client_credentials="client_credentials" in grants,
        )

    def scheme(self, required: Iterable[str], description: str) -> dict[str, Any]:
        """The OpenAPI security scheme object, listing ``required`` scopes too."""
        scopes = dict(self.scopes)
        for name in required:
            scopes.setdefault(name, "")
        flows: dict[str, Any] = {}
        refresh = {} if self.refresh_url is None else {"refreshUrl": self.refresh_url}
        if self.client_credentials:
            flows["clientCredentials"] = {"tokenUrl": self.token_url, **refresh, "scopes": scopes}
        if self.authorization_url is not None:
            flows["authorizationCode"] = {
                "authorizationUrl": self.authorization_url,
                "tokenUrl": self.token_url,
                **refresh,
                "scopes": scopes,
            }
        return {"type": "oauth2", "description": description, "flows": flows}
