"""LocalIssuer: the tokens it mints, the verifier it hands out, through a real app."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from bearerguard import Guard, JWTVerifier, Rule
from bearerguard.starlette import BearerGuardMiddleware
from bearerguard.testing import LocalIssuer

EXPIRED = "The access token expired"
INVALID = "The access token is invalid"
AUDIENCE = "The access token is for another audience"
NOT_RECOGNISED = "The access token is not recognised"
ALGORITHM = "The access token's algorithm is not accepted"
NOT_ACCESS = "The token is not an access token"
UNKNOWN_KID = "The access token's signing key is unknown"
NOT_YET = "The access token is not yet valid"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def client_for(verifier: JWTVerifier) -> TestClient:
    """A Starlette app whose one route needs ``payments.get`` and echoes the principal."""

    async def payment(request: Request) -> JSONResponse:
        principal = request.user.principal
        return JSONResponse(
            {
                "subject": principal.subject,
                "scopes": sorted(principal.scopes),
                "client_id": principal.client_id,
                "kind": principal.kind,
                "aud": principal.claims["aud"],
            }
        )

    guard = Guard([verifier], rules=[Rule("GET", "/payment", scopes=["payments.get"])])
    app = Starlette(routes=[Route("/payment", payment)])
    app.add_middleware(BearerGuardMiddleware, guard=guard)
    return TestClient(app)


def get(client: TestClient, token: str) -> Any:
    return client.get("/payment", headers={"Authorization": f"Bearer {token}"})


def refused(response: Any) -> str:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_token"
    return str(response.json()["error_description"])


def segments(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = token.split(".")
    return decoded(header), decoded(payload)


def decoded(segment: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return document


@pytest.fixture(scope="module")
def issuer() -> LocalIssuer:
    return LocalIssuer(audience="payments-api")


@pytest.mark.parametrize("jwks", [False, True], ids=["key", "jwks"])
def test_a_minted_token_passes_the_issuers_verifier(issuer: LocalIssuer, jwks: bool) -> None:
    client = client_for(issuer.verifier(jwks=jwks))
    response = get(client, issuer.mint("payments.get", "payments.create", subject="alice"))
    assert response.status_code == 200
    assert response.json() == {
        "subject": "alice",
        "scopes": ["payments.create", "payments.get"],
        "client_id": "test-client",
        "kind": "oauth",
        "aud": "payments-api",
    }


def test_tokens_are_rfc_9068_access_tokens(issuer: LocalIssuer) -> None:
    header, payload = segments(issuer.mint("payments.get"))
    assert header == {"alg": "RS256", "typ": "at+jwt", "kid": "local-1"}
    assert set(payload) == {"iss", "sub", "aud", "client_id", "iat", "exp", "jti", "scope"}
    assert payload["exp"] - payload["iat"] == 3600
    # An RFC 9068-only verifier (typ, iat, jti, client_id, sub required) takes them.
    client = client_for(issuer.verifier(typ="at+jwt"))
    assert get(client, issuer.mint("payments.get")).status_code == 200
    assert refused(get(client, issuer.mint("payments.get", headers={"typ": None}))) == NOT_ACCESS


@pytest.mark.parametrize("jwks", [False, True], ids=["key", "jwks"])
def test_the_bad_tokens_a_test_needs(issuer: LocalIssuer, jwks: bool) -> None:
    client = client_for(issuer.verifier(jwks=jwks))
    assert refused(get(client, issuer.mint("payments.get", expired=True))) == EXPIRED
    assert refused(get(client, issuer.mint("payments.get", expires_in=-600))) == EXPIRED
    assert refused(get(client, issuer.mint("payments.get", wrong_key=True))) == INVALID
    assert refused(get(client, issuer.mint("payments.get", audience="other-api"))) == AUDIENCE
    assert refused(get(client, issuer.mint("payments.get", omit=["exp"]))) == INVALID
    not_yet = issuer.mint("payments.get", claims={"nbf": int(issuer.clock()) + 3600})
    assert refused(get(client, not_yet)) == NOT_YET
    # The verifier trusts one issuer: another's token has no owner at all.
    foreign = issuer.mint("payments.get", issuer="https://elsewhere.test/")
    assert refused(get(client, foreign)) == NOT_RECOGNISED
    assert refused(get(client, issuer.mint("payments.get", alg="none"))) == ALGORITHM
    assert refused(get(client, issuer.mint("payments.get", alg="ES256"))) == ALGORITHM
    assert refused(get(client, issuer.mint("payments.get", typ="id_token+jwt"))) == NOT_ACCESS
    # A token that passes but lacks the route's scope is a 403, not a 401.
    assert get(client, issuer.mint("payments.list")).status_code == 403


def test_an_audience_list_and_any_claim(issuer: LocalIssuer) -> None:
    token = issuer.mint(
        "payments.get", audience=["payments-api", "other"], claims={"tenant": None, "n": [1]}
    )
    assert segments(token)[1]["aud"] == ["payments-api", "other"]
    assert segments(token)[1]["tenant"] is None
    assert get(client_for(issuer.verifier()), token).json()["aud"] == ["payments-api", "other"]


def test_kid_matters_through_the_jwks_only(issuer: LocalIssuer) -> None:
    other_kid = issuer.mint("payments.get", kid="rotated-away")
    assert get(client_for(issuer.verifier()), other_kid).status_code == 200
    assert refused(get(client_for(issuer.verifier(jwks=True)), other_kid)) == UNKNOWN_KID
    assert issuer.jwks()["keys"][0]["kid"] == "local-1"
    assert "d" not in issuer.jwks()["keys"][0]  # the public half only


@pytest.mark.parametrize(
    "algorithm",
    ["RS256", "RS512", "PS256", "ES256", "ES384", "ES512", "EdDSA", "HS256", "HS512"],
)
def test_every_algorithm_signs_and_verifies(algorithm: str) -> None:
    issuer = LocalIssuer(algorithm=algorithm)
    client = client_for(issuer.verifier(jwks=not algorithm.startswith("HS")))
    assert segments(issuer.mint())[0]["alg"] == algorithm
    assert get(client, issuer.mint("payments.get")).status_code == 200
    assert refused(get(client, issuer.mint("payments.get", wrong_key=True))) == INVALID


def test_two_issuers_never_trust_each_other() -> None:
    first, second = LocalIssuer(), LocalIssuer()  # same iss, aud and kid, other keys
    assert refused(get(client_for(second.verifier()), first.mint("payments.get"))) == INVALID


def test_the_issuers_clock_drives_the_verifier() -> None:
    clock = Clock(1_800_000_000.0)
    issuer = LocalIssuer(clock=clock)
    client = client_for(issuer.verifier(leeway=0))
    token = issuer.mint("payments.get", expires_in=60)
    assert segments(token)[1]["exp"] == 1_800_000_060
    assert get(client, token).status_code == 200
    clock.now += 61
    # A fresh app: the first one's guard has the principal cached, on the real clock.
    assert refused(get(client_for(issuer.verifier(leeway=0)), token)) == EXPIRED
    principal = issuer.verifier().verify(issuer.mint(expires_in=60))
    assert principal.expires_at == datetime.fromtimestamp(clock.now + 60, timezone.utc)


def test_sign_signs_exactly_the_given_bytes(issuer: LocalIssuer) -> None:
    now = int(issuer.clock())
    payload = (
        f'{{"iss":"{issuer.issuer}","aud":"payments-api","sub":"raw","exp":{now + 60},'
        f'"scope":"payments.get"}}'
    ).encode()
    token = issuer.sign({"alg": "RS256", "kid": "local-1"}, payload)
    assert base64.urlsafe_b64decode(token.split(".")[1] + "==") == payload
    assert get(client_for(issuer.verifier()), token).json()["subject"] == "raw"


def test_misuse_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="cannot sign with 'none'"):
        LocalIssuer(algorithm="none")
    with pytest.raises(ValueError, match="cannot sign with 'XS1'"):
        LocalIssuer().mint(alg="XS1")
    hmac_issuer = LocalIssuer(algorithm="HS256")
    with pytest.raises(ValueError, match="publishes no JWKS"):
        hmac_issuer.jwks()
    with pytest.raises(ValueError, match="HMAC algorithms need key"):
        hmac_issuer.verifier(jwks=True)
