"""RFC 9728 end to end against a real oidc-provider: from a 401 to a token, unaided.

The client knows only the API's URL. It is refused, follows the challenge's
``resource_metadata`` URL (section 5.1), reads ``authorization_servers`` there, finds
the token endpoint in that server's own metadata (RFC 8414 / OpenID Connect
Discovery), gets a token for the advertised resource and scopes, and gets in.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from bearerguard import Guard, JWTVerifier, Rule

from ._provider import DASHBOARD, PAYMENTS, Provider

pytestmark = pytest.mark.server

Call = Callable[..., tuple[int, dict[str, Any], dict[str, str]]]
PAYMENT = "/api/payment/pay_1"
_PARAMETER = re.compile(r'resource_metadata="([^"]*)"')


def guard_for(provider: Provider) -> Guard:
    """Discovery only: the issuer and the audience; the rules and routes give the scopes."""
    return Guard(
        [JWTVerifier(issuer=provider.issuer, audience=PAYMENTS, algorithms=["RS256"])],
        rules=[Rule("GET", "/api/payment/{payment_id}", scopes=["payments.get"])],
        resource_metadata={"resource": PAYMENTS},
    )


def metadata_url(headers: dict[str, str]) -> str:
    found = _PARAMETER.search(headers["www-authenticate"])
    assert found is not None, headers["www-authenticate"]
    return found.group(1)


def fetch_json(url: str, form: dict[str, str] | None = None) -> dict[str, Any]:
    """What an OAuth client does over the network, with the standard library."""
    data = None if form is None else urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(url, data=data)
    if form is not None:
        basic = base64.b64encode(":".join(DASHBOARD).encode()).decode()
        request.add_header("Authorization", f"Basic {basic}")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def test_a_client_goes_from_a_401_to_a_token_through_the_metadata(
    provider: Provider, serve: Callable[[Guard], Call]
) -> None:
    call = serve(guard_for(provider))

    status, _, headers = call("GET", PAYMENT)
    assert status == 401
    url = metadata_url(headers)
    assert url == "https://payments.example/.well-known/oauth-protected-resource/api"

    # The test client stands in for the API's host: the metadata URL's path is asked.
    status, document, headers = call("GET", urllib.parse.urlsplit(url).path)
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert document["resource"] == PAYMENTS  # RFC 9728 section 3.3
    assert document["authorization_servers"] == [provider.issuer]
    # The rule's scope, then the one only a route declares (the checkout's).
    assert document["scopes_supported"] == ["payments.get", "payments.create"]
    assert document["bearer_methods_supported"] == ["header"]

    issuer = document["authorization_servers"][0]
    server = fetch_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
    assert server["issuer"] == issuer  # RFC 8414 section 3.3
    answer = fetch_json(
        server["token_endpoint"],
        {
            "grant_type": "client_credentials",
            "resource": document["resource"],
            "scope": " ".join(document["scopes_supported"]),
        },
    )

    status, body, _ = call("GET", PAYMENT, answer["access_token"])
    assert status == 200
    assert body["id"] == "pay_1"


def test_a_403_names_the_scope_and_the_metadata(
    provider: Provider, serve: Callable[[Guard], Call]
) -> None:
    call = serve(guard_for(provider))
    token = provider.token(scope="payments.create")

    status, body, headers = call("GET", PAYMENT, token)

    assert status == 403
    assert body["required_scopes"] == ["payments.get"]
    challenge = headers["www-authenticate"]
    assert 'error="insufficient_scope", scope="payments.get"' in challenge
    assert metadata_url(headers) == (
        "https://payments.example/.well-known/oauth-protected-resource/api"
    )
