"""JWTVerifier as an OAuth 2.0 resource server meets real identity providers: audience
required (N-02), access tokens only (N-01, CL-07), key-bound tokens refused (N-03),
leeway at every layer (N-04), several issuers (N-05), outside wildcards literal (N-06),
algorithm errors that help, EdDSA, discovery, lone surrogates anywhere (J-14).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from jwt.algorithms import get_default_algorithms

from bearerguard import Guard, JWTVerifier
from bearerguard.exceptions import AuthError, ServiceUnavailableError, UnauthenticatedError
from bearerguard.verifiers.jwt import ANY_AUDIENCE

from ._servers import LocalServer, Reply
from .conftest import AUDIENCE, ISSUER, FakeClock, wait_until

NOT_ACCESS_TOKEN = "The token is not an access token"
BOUND = "The access token is sender-constrained and cannot be used as a bearer token"
OTHER_AUDIENCE = "The access token is for another audience"
ALGORITHM = "The access token's algorithm is not accepted"


# -- audience is required (issue 10.1, N-02) ------------------------------------------------


def test_N02_audience_is_required(keys: Any) -> None:
    with pytest.raises(ValueError, match="audience"):
        JWTVerifier(key=keys.public("RS256"), issuer=ISSUER)
    with pytest.raises(ValueError, match="audience"):
        JWTVerifier(jwks_url="https://as.example.com/jwks")


def test_N02_another_apis_token_refused(keys: Any, make_verifier: Any) -> None:
    with pytest.raises(UnauthenticatedError) as caught:
        make_verifier().verify(keys.token(aud="https://ledger.example/api"))
    assert caught.value.description == OTHER_AUDIENCE


def test_N02_any_audience_is_an_explicit_opt_out(keys: Any, make_verifier: Any) -> None:
    verifier = make_verifier(audience=ANY_AUDIENCE)
    assert verifier.verify(keys.token(aud="https://ledger.example/api"))
    assert verifier.verify(keys.token(aud=None))


@pytest.mark.parametrize(
    ("claims", "accepted"),
    [
        pytest.param({"client_id": "app-1"}, True, id="listed-client"),
        pytest.param({"client_id": "app-2"}, True, id="other-listed-client"),
        pytest.param({"client_id": "app-3"}, False, id="unlisted-client"),
        pytest.param({}, False, id="no-client-id"),
        pytest.param({"client_id": 5}, False, id="client-id-not-text"),
        pytest.param({"client_id": "app-1", "aud": "app-1"}, False, id="aud-never-unchecked"),
    ],
)
def test_client_ids_instead_of_an_audience(
    keys: Any, make_verifier: Any, claims: dict[str, Any], accepted: bool
) -> None:
    # Amazon Cognito access tokens carry client_id and no aud.
    verifier = make_verifier(audience=None, client_ids=["app-1", "app-2"])
    token = keys.raw({"alg": "RS256"}, keys.claims(aud=None) | claims)
    if accepted:
        assert verifier.verify(token).client_id == claims["client_id"]
    else:
        with pytest.raises(UnauthenticatedError):
            verifier.verify(token)


def test_audience_and_client_ids_both_checked(keys: Any, make_verifier: Any) -> None:
    verifier = make_verifier(client_ids=["app-1"])
    assert verifier.verify(keys.token(client_id="app-1"))
    with pytest.raises(UnauthenticatedError, match="another audience"):
        verifier.verify(keys.token(client_id="app-9"))


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"client_ids": []}, id="empty-client-ids"),
        pytest.param({"client_ids": ["a", ""]}, id="empty-client-id"),
        pytest.param({"typ": "JWT"}, id="typ-not-at-jwt"),
        pytest.param({"algorithms": ["Ed25519"]}, id="ed25519-name"),
    ],
)
def test_resource_server_options_validated(keys: Any, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"client_ids|typ|EdDSA"):
        JWTVerifier(key=keys.public("RS256"), audience=AUDIENCE, **options)


# -- only access tokens are access tokens (issue 10.2, N-01, CL-07) ------------------------


@pytest.mark.parametrize("typ", [None, "JWT", "jwt", "application/jwt", "at+jwt", "AT+JWT"])
def test_CL07_typ_of_a_jwt_or_an_access_token_accepted(
    keys: Any, make_verifier: Any, typ: str | None
) -> None:
    header: dict[str, Any] = {"alg": "RS256"} if typ is None else {"alg": "RS256", "typ": typ}
    assert make_verifier().verify(keys.raw(header, keys.claims()))


@pytest.mark.parametrize(
    "typ", ["dpop+jwt", "logout+jwt", "secevent+jwt", "JOSE", "id_token+jwt", "", 5, None]
)
def test_CL07_typ_of_another_kind_of_jwt_refused(keys: Any, make_verifier: Any, typ: Any) -> None:
    token = keys.raw({"alg": "RS256", "typ": typ}, keys.claims())
    with pytest.raises(UnauthenticatedError):
        make_verifier().verify(token)


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt", "Application/AT+JWT"])
def test_typ_at_jwt_option_accepts_rfc9068_tokens(keys: Any, make_verifier: Any, typ: str) -> None:
    token = keys.raw({"alg": "RS256", "typ": typ}, keys.claims(client_id="app-1"))
    assert make_verifier(typ="at+jwt").verify(token).client_id == "app-1"


@pytest.mark.parametrize("typ", [None, "JWT", "application/jwt"])
def test_N01_typ_at_jwt_option_refuses_other_tokens(
    keys: Any, make_verifier: Any, typ: str | None
) -> None:
    header = {"alg": "RS256"} if typ is None else {"alg": "RS256", "typ": typ}
    with pytest.raises(UnauthenticatedError) as caught:
        make_verifier(typ="at+jwt").verify(keys.raw(header, keys.claims(client_id="app-1")))
    assert caught.value.description == NOT_ACCESS_TOKEN


@pytest.mark.parametrize("claim", ["iat", "jti", "client_id", "sub"])
def test_CL02_typ_at_jwt_requires_the_rfc9068_claims(
    keys: Any, make_verifier: Any, claim: str
) -> None:
    claims = keys.claims(client_id="app-1")
    del claims[claim]
    token = keys.raw({"alg": "RS256", "typ": "at+jwt"}, claims)
    with pytest.raises(UnauthenticatedError):
        make_verifier(typ="at+jwt").verify(token)


@pytest.mark.parametrize("claim", ["at_hash", "c_hash"])
def test_N01_id_token_hashes_refused(keys: Any, make_verifier: Any, claim: str) -> None:
    # An ID token for a client whose id happens to be our audience.
    token = keys.token(**{claim: "x1Y2z3", "nonce": "n-0S6_WzA2Mj"})
    with pytest.raises(UnauthenticatedError) as caught:
        make_verifier().verify(token)
    assert caught.value.description == NOT_ACCESS_TOKEN


@pytest.mark.parametrize(
    ("claims", "accepted"),
    [
        pytest.param({"token_use": "access"}, True, id="cognito-access"),
        pytest.param({"token_use": "id"}, False, id="cognito-id"),
        pytest.param({"token_use": 1}, False, id="token-use-not-text"),
        pytest.param({"typ": "Bearer"}, True, id="keycloak-access"),
        pytest.param({"typ": "bearer"}, True, id="keycloak-access-lower-case"),
        pytest.param({"typ": "Refresh"}, False, id="keycloak-refresh"),
        pytest.param({"typ": "Offline"}, False, id="keycloak-offline"),
        pytest.param({"typ": "ID"}, False, id="keycloak-id"),
        pytest.param({"typ": "Logout"}, False, id="keycloak-logout"),
        pytest.param({"typ": ["Bearer"]}, False, id="typ-not-text"),
    ],
)
def test_a_token_that_names_another_kind_is_refused(
    keys: Any, make_verifier: Any, claims: dict[str, Any], accepted: bool
) -> None:
    # With client_ids= alone (Cognito's way), nothing else tells a refresh token that
    # carries a client_id and no aud from an access token.
    verifier = make_verifier(audience=None, client_ids=["app-1"])
    token = keys.token(aud=None, client_id="app-1", **claims)
    if accepted:
        assert verifier.verify(token).client_id == "app-1"
    else:
        with pytest.raises(UnauthenticatedError) as caught:
            verifier.verify(token)
        assert caught.value.description == NOT_ACCESS_TOKEN


def test_nonce_alone_is_accepted(keys: Any, make_verifier: Any) -> None:
    # Keycloak put nonce in access tokens before 25.0 (keycloak#26893).
    assert make_verifier().verify(keys.token(nonce="n-0S6_WzA2Mj"))


# -- sender-constrained tokens are never downgraded (issue 10.3, N-03) ----------------------


@pytest.mark.parametrize(
    "cnf",
    [
        pytest.param({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}, id="dpop-jkt"),
        pytest.param({"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}, id="mtls"),
        pytest.param({}, id="empty"),
    ],
)
def test_N03_key_bound_token_refused_as_bearer(
    keys: Any, make_verifier: Any, wall: Any, cnf: dict[str, str]
) -> None:
    token = keys.token(cnf=cnf)
    with pytest.raises(UnauthenticatedError) as caught:
        make_verifier().verify(token)
    assert caught.value.description == BOUND
    with pytest.raises(AuthError) as through_guard:
        Guard([make_verifier()], clock=wall).check("GET", "/x", f"Bearer {token}")
    assert through_guard.value.status_code == 401
    assert through_guard.value.error_code == "invalid_token"


# -- leeway at every layer (issue 10.4, N-04) ----------------------------------------------


def test_leeway_is_a_public_float(make_verifier: Any) -> None:
    assert make_verifier(leeway=30).leeway == 30.0
    assert isinstance(make_verifier(leeway=1).leeway, float)


@pytest.mark.parametrize(
    ("past_exp", "accepted"),
    [
        pytest.param(2, True, id="2s-past-exp"),
        pytest.param(29.5, True, id="just-inside"),
        pytest.param(30, False, id="exp-plus-leeway"),
    ],
)
def test_N04_leeway_holds_in_the_verifier_and_the_guard(
    keys: Any, make_verifier: Any, wall: FakeClock, past_exp: float, accepted: bool
) -> None:
    token = keys.token(exp=int(keys.now) - past_exp, iat=None)
    verifier = make_verifier(leeway=30)
    guard = Guard([verifier], clock=wall)
    if accepted:
        assert verifier.verify(token).expires_at.timestamp() == int(keys.now) - past_exp
        assert guard.check("GET", "/x", f"Bearer {token}") is not None
    else:
        with pytest.raises(UnauthenticatedError, match="expired"):
            verifier.verify(token)
        with pytest.raises(AuthError, match="expired"):
            guard.check("GET", "/x", f"Bearer {token}")


def test_N04_cached_principal_kept_until_exp_plus_leeway(
    keys: Any, make_verifier: Any, wall: FakeClock
) -> None:
    token = keys.token(exp=int(keys.now) + 10, iat=None)
    guard = Guard([make_verifier(leeway=30)], clock=wall)
    assert guard.check("GET", "/x", f"Bearer {token}")
    wall.advance(39)
    assert guard.check("GET", "/x", f"Bearer {token}")
    wall.advance(1)
    with pytest.raises(AuthError, match="expired"):
        guard.check("GET", "/x", f"Bearer {token}")


# -- several issuers in one guard (issue 10.6, N-05) ---------------------------------------

OTHER_ISSUER = "https://id.other.example"


def test_N05_accepts_only_its_issuer(keys: Any, make_verifier: Any) -> None:
    verifier = make_verifier()
    assert verifier.accepts(keys.token())
    assert not verifier.accepts(keys.token(iss=OTHER_ISSUER))
    assert not verifier.accepts(keys.token(iss=None))
    assert not verifier.accepts(keys.raw({"alg": "RS256"}, keys.claims(iss=[ISSUER])))
    assert not verifier.accepts(keys.token(padding="x" * 9000))  # too big to peek at
    assert make_verifier(issuer=None).accepts(keys.token(iss=OTHER_ISSUER))


def test_N05_two_issuers_in_one_guard(keys: Any, make_verifier: Any, wall: Any) -> None:
    ours = make_verifier()
    theirs = make_verifier(key=keys.rsa2.public_key(), issuer=OTHER_ISSUER)
    guard = Guard([ours, theirs], clock=wall)
    mine = guard.check("GET", "/x", f"Bearer {keys.token()}")
    other = guard.check("GET", "/x", f"Bearer {keys.token(key=keys.rsa2, iss=OTHER_ISSUER)}")
    assert mine is not None
    assert other is not None
    # A token claiming the other issuer but signed with our key fails there.
    with pytest.raises(AuthError):
        guard.check("GET", "/x", f"Bearer {keys.token(iss=OTHER_ISSUER, jti='forged')}")


def test_N05_untrusted_issuer_refused_without_a_fetch(
    keys: Any, jwks_server: Any, make_verifier: Any, wall: Any
) -> None:
    jwks_server.publish(keys.jwk("RS256", "k1"))
    guard = Guard([make_verifier(jwks_url=jwks_server.url)], clock=wall)
    token = keys.token(iss="https://untrusted.example", headers={"kid": "k1"})
    with pytest.raises(AuthError) as caught:
        guard.check("GET", "/x", f"Bearer {token}")
    assert caught.value.status_code == 401
    assert jwks_server.requests == 0


# -- wildcards from an identity provider are literal (issue 8.3, N-06) ----------------------


def test_N06_outside_wildcards_are_literal(keys: Any, make_verifier: Any) -> None:
    principal = make_verifier().verify(keys.token(scope="* payments.*"))
    assert principal.scopes == {"*", "payments.*"}
    assert principal.has_scopes("*")
    assert not principal.has_scopes("payments.get")
    assert not principal.has_any_scope("payments.user-instructions.get")


def test_wildcard_scopes_when_configured(keys: Any, make_verifier: Any) -> None:
    principal = make_verifier(wildcard_scopes=True).verify(keys.token(scope="payments.*"))
    assert principal.has_scopes("payments.get", "payments.user-instructions.get")
    assert not principal.has_scopes("ledger.get")


# -- algorithms: errors that help, EdDSA (issue 10.8) ---------------------------------------


@pytest.mark.parametrize("alg", ["PS256", "RS512", "ES256"])
def test_algorithm_not_accepted_is_said_and_logged(
    keys: Any, make_verifier: Any, caplog: pytest.LogCaptureFixture, alg: str
) -> None:
    token = keys.token(alg, key=keys.ec if alg == "ES256" else keys.rsa)
    caplog.set_level(logging.DEBUG, logger="bearerguard")
    with pytest.raises(UnauthenticatedError) as caught:
        make_verifier("RS256").verify(token)
    assert caught.value.description == ALGORITHM
    assert alg in caplog.text
    assert token not in caplog.text
    assert token.split(".")[2] not in caplog.text


def test_hostile_algorithm_name_is_cut_in_the_log(
    keys: Any, make_verifier: Any, caplog: pytest.LogCaptureFixture
) -> None:
    alg = "RS256\r\nX-Evil: 1" + "A" * 500
    caplog.set_level(logging.DEBUG, logger="bearerguard")
    with pytest.raises(UnauthenticatedError, match="algorithm is not accepted"):
        make_verifier().verify(keys.raw({"alg": alg}, keys.claims()))
    assert "\r\n" not in caplog.text
    assert "A" * 100 not in caplog.text


@pytest.fixture(scope="module")
def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def test_eddsa_with_a_fixed_ed25519_key(keys: Any, make_verifier: Any, ed_key: Any) -> None:
    verifier = make_verifier(key=ed_key.public_key(), algorithms=["EdDSA"])
    assert verifier.verify(keys.token("EdDSA", key=ed_key)).subject == "user-1"


def test_eddsa_from_a_jwks(keys: Any, jwks_server: Any, make_verifier: Any, ed_key: Any) -> None:
    okp = json.loads(get_default_algorithms()["EdDSA"].to_jwk(ed_key.public_key()))
    jwks_server.publish(
        {**okp, "kid": "ed"}, {**okp, "kid": "ed-fully-specified", "alg": "Ed25519"}
    )
    verifier = make_verifier(algorithms=["EdDSA"], jwks_url=jwks_server.url)
    assert verifier.verify(keys.token("EdDSA", key=ed_key, headers={"kid": "ed"}))
    # A key bound to RFC 9864's Ed25519, which PyJWT cannot verify yet, is not used.
    with pytest.raises(UnauthenticatedError):
        verifier.verify(keys.token("EdDSA", key=ed_key, headers={"kid": "ed-fully-specified"}))


# -- claims: lone surrogates anywhere (issue 8.6), kept as bytes (issue 9.6) -----------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'"name": "\\ud800"', id="custom-claim"),
        pytest.param(b'"groups": ["a", "\\udc00b"]', id="in-a-list"),
        pytest.param(b'"ext": {"\\udbff": 1}', id="object-key"),
        pytest.param(b'"x": "\\uDFFF"', id="upper-case-escape"),
        pytest.param(b'"x": "\\ude00\\ud83d"', id="pair-in-the-wrong-order"),
    ],
)
def test_J14_lone_surrogate_in_any_claim_refused(keys: Any, make_verifier: Any, raw: bytes) -> None:
    payload = json.dumps(keys.claims()).encode()[:-1] + b", " + raw + b"}"
    with pytest.raises(UnauthenticatedError):
        make_verifier().verify(keys.raw({"alg": "RS256"}, payload))


def test_J14_escaped_pair_and_literal_backslash_u_are_fine(keys: Any, make_verifier: Any) -> None:
    payload = json.dumps(keys.claims()).encode()[:-1] + b', "x": "\\ud83d\\ude00 \\\\ud800"}'
    principal = make_verifier().verify(keys.raw({"alg": "RS256"}, payload))
    assert principal.claims["x"] == "\U0001f600 \\ud800"


def test_claims_are_every_claim_read_only(keys: Any, make_verifier: Any) -> None:
    claims = keys.claims(client_id="app-1", ext={"tier": ["gold"]})
    principal = make_verifier().verify(jwt.encode(claims, keys.rsa, algorithm="RS256"))
    assert dict(principal.claims) == claims
    with pytest.raises(TypeError):
        principal.claims["sub"] = "mallory"  # type: ignore[index]


# -- discovery (issue 10.5): keys from the issuer's metadata ----------------------------------


@pytest.fixture
def provider() -> Iterator[LocalServer]:
    server = LocalServer()
    try:
        yield server
    finally:
        server.stop()


def test_discovery_finds_the_jwks_from_the_issuer_alone(
    keys: Any, provider: LocalServer, wall: Any
) -> None:
    issuer = provider.url("/tenant")
    provider.routes["/tenant/.well-known/openid-configuration"] = Reply(
        body={"issuer": issuer, "jwks_uri": provider.url("/tenant/keys")}
    )
    provider.routes["/tenant/keys"] = Reply(body={"keys": [keys.jwk("RS256", "k1")]})
    verifier = JWTVerifier(issuer=issuer, audience=AUDIENCE, clock=wall)
    assert provider.count() == 0  # no I/O at construction
    token = keys.token(iss=issuer, headers={"kid": "k1"})
    assert verifier.verify(token).subject == "user-1"
    assert verifier.jwks is not None
    assert verifier.jwks.url == provider.url("/tenant/keys")
    assert provider.paths() == ["/tenant/.well-known/openid-configuration", "/tenant/keys"]


@pytest.mark.parametrize(
    "document",
    [
        pytest.param({"jwks_uri": "http://id.example.com/keys"}, id="jwks-uri-plain-http"),
        pytest.param({}, id="no-jwks-uri"),
        pytest.param({"jwks_uri": 5}, id="jwks-uri-not-text"),
        pytest.param({"issuer": "https://elsewhere.example"}, id="issuer-mismatch"),
    ],
)
def test_discovery_that_cannot_be_trusted_is_503(
    keys: Any, provider: LocalServer, wall: Any, document: dict[str, Any]
) -> None:
    issuer = provider.url()
    provider.routes["/.well-known/openid-configuration"] = Reply(
        body={"issuer": issuer, **document}
    )
    verifier = JWTVerifier(issuer=issuer, audience=AUDIENCE, clock=wall, jwks_timeout=1.0)
    with pytest.raises(ServiceUnavailableError):
        verifier.verify(keys.token(iss=issuer, headers={"kid": "k1"}))


@pytest.mark.anyio
async def test_discovery_averify_fetches_off_the_loop(
    keys: Any, provider: LocalServer, wall: Any
) -> None:
    issuer = provider.url()
    provider.routes["/.well-known/openid-configuration"] = Reply(
        body={"issuer": issuer, "jwks_uri": provider.url("/keys")}, delay=0.2
    )
    provider.routes["/keys"] = Reply(body={"keys": [keys.jwk("RS256", "k1")]})
    verifier = JWTVerifier(issuer=issuer, audience=AUDIENCE, clock=wall)
    principal = await verifier.averify(keys.token(iss=issuer, headers={"kid": "k1"}))
    assert principal.subject == "user-1"
    wait_until(lambda: provider.count() == 2)
