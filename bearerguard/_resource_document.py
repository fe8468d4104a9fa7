"""The checks on a protected resource's metadata parameters (RFC 9728 section 2).

Every parameter with a fixed shape is checked when the guard is built, so a mistake is
a ValueError at start-up rather than a document a client cannot use. Parameters this
module does not know (extensions) are passed through as given.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from ._urls import check_url
from .scopes import validate_scopes

__all__ = ["checked_resource", "document", "is_issuer"]

# What may stand inside a quoted-string of a challenge (RFC 9110 section 5.6.4) and in
# a URL unencoded (RFC 3986): printable ASCII but space, '"' and '\\'.
_URL_CHARS = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
_STRINGS = ("resource_name", "resource_documentation", "resource_policy_uri", "resource_tos_uri")
_STRING_LISTS = (
    "resource_signing_alg_values_supported",
    "authorization_details_types_supported",
    "dpop_signing_alg_values_supported",
)
# The guard refuses sender-constrained tokens as bearer tokens: it must not claim them.
_UNSUPPORTED = ("tls_client_certificate_bound_access_tokens", "dpop_bound_access_tokens_required")


def checked_resource(value: Any) -> str:
    """The ``resource`` parameter, checked (RFC 9728 section 1.2)."""
    if not isinstance(value, str) or not value:
        raise ValueError('resource_metadata needs "resource": the API\'s https URL')
    if not _URL_CHARS.fullmatch(value):
        raise ValueError("resource must be a URL of printable ASCII without spaces or quotes")
    check_url(value, "resource")
    parts = urlsplit(value)
    if "#" in value:
        raise ValueError("resource must have no fragment (RFC 9728 section 1.2)")
    if "?" in value:
        # Section 1.2 discourages a query; the guard serves the document at a path.
        raise ValueError("resource must have no query: the metadata is served at a path")
    if parts.username is not None or parts.password is not None:
        raise ValueError("resource must not carry credentials")
    return value


def is_issuer(value: str) -> bool:
    """An issuer identifier (RFC 8414 section 2): https or loopback http, no query/fragment."""
    try:
        check_url(value, "authorization_servers")
    except ValueError:
        return False
    return "?" not in value and "#" not in value


def document(
    given: dict[str, Any], resource: str, scopes: list[str], issuers: list[str]
) -> dict[str, Any]:
    """The document from the given parameters (``resource`` already checked).

    ``scopes`` and ``issuers`` fill ``scopes_supported`` and ``authorization_servers``
    when they are not given.
    """
    result: dict[str, Any] = {"resource": resource}
    servers = given.pop("authorization_servers", None)
    if servers is None:
        servers = issuers or None
    elif isinstance(servers, str) or not isinstance(servers, (list, tuple)):
        raise ValueError("authorization_servers must be a list of issuer URLs")
    elif not servers or not all(isinstance(server, str) for server in servers):
        raise ValueError("authorization_servers must be a non-empty list of strings")
    elif not all(is_issuer(server) for server in servers):
        raise ValueError(
            "authorization_servers must be issuer URLs: https (plain http to loopback only),"
            " no query or fragment"
        )
    if servers:
        result["authorization_servers"] = list(servers)
    given.pop("resource")
    chosen = given.pop("scopes_supported", None)
    if chosen is not None:
        if isinstance(chosen, str) or not isinstance(chosen, (list, tuple)):
            raise ValueError("scopes_supported must be a list of scope names")
        scopes = list(validate_scopes(chosen, what="scopes_supported scope"))
    methods = given.pop("bearer_methods_supported", ["header"])
    if not isinstance(methods, (list, tuple)) or list(methods) != ["header"]:
        # RFC 6750 section 2.2 and 2.3 (form body, query) are refused by the guard.
        raise ValueError('bearer_methods_supported can only be ["header"]')
    for name in _STRINGS:
        if name in given and not isinstance(given[name], str):
            raise ValueError(f"{name} must be a string")
    for name in _STRING_LISTS:
        value = given.get(name)
        if name in given and (
            not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value)
        ):
            raise ValueError(f"{name} must be a list of strings")
    for name in _UNSUPPORTED:
        if given.get(name, False) is not False:
            raise ValueError(f"{name} can only be false: sender-constrained tokens are refused")
    if "jwks_uri" in given:
        check_url(given["jwks_uri"], "jwks_uri")
    result.update(given)
    if scopes:
        result["scopes_supported"] = scopes
    result["bearer_methods_supported"] = ["header"]
    return result
