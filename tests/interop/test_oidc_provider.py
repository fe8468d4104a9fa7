"""bearerguard against a real identity provider: panva's oidc-provider on 127.0.0.1.

Real tokens, obtained over HTTP the way a client gets them (client credentials with an
RFC 8707 resource indicator, CIBA for an ID token, a DPoP proof for a bound token), are
presented to a FastAPI app and to a Flask app built with the public API only. The JWKS,
discovery and introspection calls go to the provider over a real socket.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest

from bearerguard import Guard, JWTVerifier

from ._provider import LEDGER, PAYMENTS, RESOURCE_SERVER, Provider

pytestmark = pytest.mark.server

Serve = Callable[[Guard], Callable[..., tuple[int, dict[str, Any], dict[str, str]]]]
ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")
PAYMENT = "/api/payment/pay_1"
CHECKOUT = "/api/payment/checkout"


def jwt_verifier(provider: Provider, **options: Any) -> JWTVerifier:
    """The verifier as a payments team configures it for this provider today."""
    options.setdefault("audience", PAYMENTS)
    options.setdefault("algorithms", ALGORITHMS)
    options.setdefault("jwks_url", provider.jwks_uri)
    return JWTVerifier(issuer=provider.issuer, **options)


@pytest.fixture
def introspection_verifier() -> Iterator[Callable[..., Any]]:
    """``introspection_verifier(provider, **options)``; closed after the test, as at shutdown.

    A verifier that is never closed leaves its pooled connection to the provider to
    the garbage collector (a ResourceWarning, an error here).
    """
    made: list[Any] = []

    def make(provider: Provider, **options: Any) -> Any:
        from bearerguard.verifiers.introspection import IntrospectionVerifier

        client_id, client_secret = RESOURCE_SERVER
        options.setdefault("endpoint", provider.introspection_endpoint)
        verifier = IntrospectionVerifier(
            client_id=client_id, client_secret=client_secret, audience=PAYMENTS, **options
        )
        made.append(verifier)
        return verifier

    yield make
    for verifier in made:
        verifier.close()


class Timer:
    """A monotonic clock the test moves by hand (the guard's cache runs on it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def error_of(body: dict[str, Any]) -> str | None:
    return body.get("error")


# -- JWT access tokens ----------------------------------------------------------------


def test_valid_rs256_token_is_200(provider: Provider, serve: Serve) -> None:
    call = serve(Guard([jwt_verifier(provider)]))
    token = provider.token(scope="payments.get")
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    status, body, _ = call("GET", PAYMENT, token)
    assert (status, body) == (200, {"id": "pay_1", "caller": "payments-dashboard", "kind": "oauth"})


def test_missing_scope_is_403(provider: Provider, serve: Serve) -> None:
    call = serve(Guard([jwt_verifier(provider)]))
    status, body, headers = call("POST", CHECKOUT, provider.token(scope="payments.get"))
    assert (status, error_of(body)) == (403, "insufficient_scope")
    assert 'scope="payments.create"' in headers["www-authenticate"]
    assert call("POST", CHECKOUT, provider.token(scope="payments.create"))[0] == 200


@pytest.mark.parametrize("alg", ["PS256", "ES256", "EdDSA"])
def test_other_signing_algorithms_when_configured(
    provider: Provider, serve: Serve, alg: str
) -> None:
    call = serve(Guard([jwt_verifier(provider)]))
    token = provider.token(alg=alg)
    assert jwt.get_unverified_header(token)["alg"] == alg
    assert call("GET", PAYMENT, token)[0] == 200


def test_algorithm_not_configured_is_401(provider: Provider, serve: Serve) -> None:
    call = serve(Guard([jwt_verifier(provider, algorithms=["RS256"])]))
    status, body, _ = call("GET", PAYMENT, provider.token(alg="ES256"))
    assert (status, error_of(body)) == (401, "invalid_token")


def test_algorithm_not_configured_says_so(provider: Provider, serve: Serve) -> None:
    # Issue 10 item 8: the reason is named, with a fixed description.
    call = serve(Guard([jwt_verifier(provider, algorithms=["RS256"])]))
    _, body, _ = call("GET", PAYMENT, provider.token(alg="ES256"))
    assert body["error_description"] == "The access token's algorithm is not accepted"


def test_token_for_another_resource_is_401(provider: Provider, serve: Serve) -> None:
    call = serve(Guard([jwt_verifier(provider)]))
    token = provider.token(resource=LEDGER, scope="ledger.read")
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == LEDGER
    status, body, _ = call("GET", PAYMENT, token)
    assert (status, error_of(body)) == (401, "invalid_token")


def test_expired_token_is_401(provider: Provider, serve: Serve) -> None:
    token = provider.token()
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    # The verifier's clock past exp + leeway (30 s): no real wait.
    call = serve(Guard([jwt_verifier(provider, clock=lambda: exp + 31.0)]))
    status, body, _ = call("GET", PAYMENT, token)
    assert (status, error_of(body)) == (401, "invalid_token")


def test_leeway_holds_at_the_guard(provider: Provider, serve: Serve) -> None:
    # Issue 10 item 4: 2 s after exp, within a 30 s leeway, the guard agrees with the verifier.
    token = provider.token()
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]

    def clock() -> float:
        return exp + 2.0

    call = serve(Guard([jwt_verifier(provider, clock=clock, leeway=30)], clock=clock))
    assert call("GET", PAYMENT, token)[0] == 200


# -- what is not a bearer access token ------------------------------------------------


def test_id_token_is_refused(provider: Provider, serve: Serve) -> None:
    # An ID token's aud is the client: a verifier given that client as its audience
    # (the mistake of issue 10) still refuses it once it requires typ at+jwt (RFC 9068).
    id_token = provider.id_token()
    assert jwt.decode(id_token, options={"verify_signature": False})["sub"] == "alice"
    verifier = jwt_verifier(provider, audience="payments-dashboard", typ="at+jwt")
    call = serve(Guard([verifier]))
    status, body, _ = call("GET", PAYMENT, id_token)
    assert (status, error_of(body)) == (401, "invalid_token")


def test_dpop_bound_token_presented_as_bearer_is_401(provider: Provider, serve: Serve) -> None:
    # RFC 9449 §7.1: a bound token is not a bearer token, whatever it grants.
    token = provider.dpop_token()
    assert "jkt" in jwt.decode(token, options={"verify_signature": False})["cnf"]
    call = serve(Guard([jwt_verifier(provider)]))
    status, body, _ = call("GET", PAYMENT, token)
    assert (status, error_of(body)) == (401, "invalid_token")


def test_dpop_bound_opaque_token_presented_as_bearer_is_401(
    provider: Provider, serve: Serve, introspection_verifier: Callable[..., Any]
) -> None:
    # The binding comes from introspection here (RFC 7662 with RFC 9449 §6.2's cnf.jkt).
    token = provider.dpop_token(opaque=True)
    assert "jkt" in provider.introspect(token)["cnf"]
    call = serve(Guard([introspection_verifier(provider)]))
    status, body, _ = call("GET", PAYMENT, token)
    assert (status, error_of(body)) == (401, "invalid_token")


# -- discovery and several issuers ----------------------------------------------------


def test_discovery_from_the_issuer_alone(provider: Provider, serve: Serve) -> None:
    verifier = JWTVerifier(issuer=provider.issuer, audience=PAYMENTS, algorithms=ALGORITHMS)
    call = serve(Guard([verifier]))
    assert call("GET", PAYMENT, provider.token())[0] == 200
    assert call("GET", PAYMENT, provider.token(alg="ES256"))[0] == 200


def test_two_issuers_in_one_guard(
    provider: Provider, second_provider: Provider, serve: Serve
) -> None:
    assert provider.issuer != second_provider.issuer
    call = serve(Guard([jwt_verifier(provider), jwt_verifier(second_provider)]))
    assert call("GET", PAYMENT, provider.token())[0] == 200
    assert call("GET", PAYMENT, second_provider.token())[0] == 200


def test_token_from_an_untrusted_issuer_is_401_without_a_fetch(
    own_provider: Provider, second_provider: Provider, serve: Serve
) -> None:
    # Issue 10 item 6: with its trusted issuer down, any fetch would answer 503.
    verifier = JWTVerifier(issuer=own_provider.issuer, audience=PAYMENTS, algorithms=ALGORITHMS)
    call = serve(Guard([verifier]))
    own_provider.stop()
    status, body, _ = call("GET", PAYMENT, second_provider.token())
    assert (status, error_of(body)) == (401, "invalid_token")


# -- opaque tokens through introspection ----------------------------------------------


def test_opaque_token_through_introspection(
    provider: Provider, serve: Serve, introspection_verifier: Callable[..., Any]
) -> None:
    call = serve(Guard([jwt_verifier(provider), introspection_verifier(provider)]))
    token = provider.opaque_token(scope="payments.get")
    assert token.count(".") == 0
    status, body, _ = call("GET", PAYMENT, token)
    assert (status, body["caller"], body["kind"]) == (200, "payments-dashboard", "oauth")
    status, body, _ = call("POST", CHECKOUT, token)
    assert (status, error_of(body)) == (403, "insufficient_scope")


def test_introspection_endpoint_from_the_issuer(
    provider: Provider, serve: Serve, introspection_verifier: Callable[..., Any]
) -> None:
    verifier = introspection_verifier(provider, endpoint=None, issuer=provider.issuer)
    call = serve(Guard([verifier]))
    assert call("GET", PAYMENT, provider.opaque_token())[0] == 200


def test_revoked_opaque_token_is_refused_once_its_cache_entry_ends(
    provider: Provider, serve: Serve, introspection_verifier: Callable[..., Any]
) -> None:
    timer = Timer()
    call = serve(Guard([introspection_verifier(provider)], cache_ttl=60, timer=timer))
    token = provider.opaque_token()
    assert call("GET", PAYMENT, token)[0] == 200
    provider.revoke(token)
    assert provider.introspect(token) == {"active": False}
    # Still cached: a revocation reaches the guard within cache_ttl, not before.
    timer.now += 59
    assert call("GET", PAYMENT, token)[0] == 200
    timer.now += 2
    status, body, _ = call("GET", PAYMENT, token)
    assert (status, error_of(body)) == (401, "invalid_token")


def test_introspection_provider_down_is_503(
    own_provider: Provider, serve: Serve, introspection_verifier: Callable[..., Any]
) -> None:
    call = serve(Guard([introspection_verifier(own_provider)]))
    token = own_provider.opaque_token()
    own_provider.stop()
    status, body, headers = call("GET", PAYMENT, token)
    assert (status, error_of(body)) == (503, "temporarily_unavailable")
    assert "retry-after" in headers
    own_provider.start()  # a restart forgets its opaque tokens: ask for a new one
    assert call("GET", PAYMENT, own_provider.opaque_token())[0] == 200


# -- the provider down, key rotation --------------------------------------------------


def test_jwks_provider_down_is_503_then_recovers(own_provider: Provider, serve: Serve) -> None:
    token = own_provider.token()
    jwks_timer = Timer()
    call = serve(Guard([jwt_verifier(own_provider, jwks_timer=jwks_timer)]))
    own_provider.stop()
    status, body, headers = call("GET", PAYMENT, token)
    assert (status, error_of(body)) == (503, "temporarily_unavailable")
    assert "retry-after" in headers
    own_provider.start()  # the same port and keys
    # A failed fetch is retried once the refetch cooldown (10 s by default) has passed.
    jwks_timer.now += 11
    assert call("GET", PAYMENT, token)[0] == 200


def test_key_rotation(own_provider: Provider, serve: Serve) -> None:
    # oidc-provider's documented order: publish the new key, reload, sign with it, reload.
    jwks_timer = Timer()
    guard = Guard([jwt_verifier(own_provider, jwks_timer=jwks_timer)])
    call = serve(guard)
    old = own_provider.token()
    old_kid = jwt.get_unverified_header(old)["kid"]
    assert call("GET", PAYMENT, old)[0] == 200

    new_kid = own_provider.publish_key("RS256")
    own_provider.sign_with(new_kid)
    new = own_provider.token()
    assert jwt.get_unverified_header(new)["kid"] == new_kid
    jwks_timer.now += 60  # past the unknown-kid refetch cooldown, as a real rotation is
    assert call("GET", PAYMENT, new)[0] == 200
    guard.clear_cache()
    assert call("GET", PAYMENT, old)[0] == 200  # its key is still published

    own_provider.retire_key(old_kid)
    fresh = serve(Guard([jwt_verifier(own_provider)]))
    status, body, _ = fresh("GET", PAYMENT, old)
    assert (status, error_of(body)) == (401, "invalid_token")
    assert fresh("GET", PAYMENT, own_provider.token())[0] == 200
