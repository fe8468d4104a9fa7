"""JWTVerifier with a fixed key: good tokens per algorithm, the Principal it builds, and
every claim check (security cases CL-01..CL-09, J-14).

The verifier reads an injected wall clock (``clock=``), so the time boundaries are
exact and nothing sleeps.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from bearerguard import Principal
from bearerguard.exceptions import UnauthenticatedError


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "HS256"])
def test_valid_token_each_algorithm(keys: Any, make_verifier: Any, alg: str) -> None:
    principal = make_verifier(alg).verify(keys.token(alg))
    assert isinstance(principal, Principal)
    assert principal.subject == "user-1"


def test_principal_fields(keys: Any, make_verifier: Any) -> None:
    token = keys.token(client_id="app-7", jti="tok-42", exp=int(keys.now) + 120)
    principal = make_verifier(kind="dashboard").verify(token)
    assert principal.kind == "dashboard"
    assert principal.subject == "user-1"
    assert principal.scopes == frozenset({"payments.get", "payments.create"})
    assert principal.client_id == "app-7"
    assert principal.token_id == "tok-42"
    assert principal.expires_at == datetime.fromtimestamp(keys.now + 120, timezone.utc)
    assert principal.expires_at.utcoffset() is not None
    assert principal.expires_at.tzinfo == timezone.utc
    assert principal.claims["iss"] == keys.issuer


def test_default_kind_is_oauth(keys: Any, make_verifier: Any) -> None:
    assert make_verifier().verify(keys.token()).kind == "oauth"


def test_client_id_from_azp(keys: Any, make_verifier: Any) -> None:
    assert make_verifier().verify(keys.token(azp="spa-1")).client_id == "spa-1"


def test_client_id_prefers_client_id_over_azp(keys: Any, make_verifier: Any) -> None:
    principal = make_verifier().verify(keys.token(client_id="app-1", azp="spa-1"))
    assert principal.client_id == "app-1"


def test_no_client_id_no_jti(keys: Any, make_verifier: Any) -> None:
    principal = make_verifier().verify(keys.token(jti=None))
    assert principal.client_id is None
    assert principal.token_id is None


def test_subject_falls_back_to_client_id(keys: Any, make_verifier: Any) -> None:
    # Client-credentials tokens of some issuers carry no sub: the client is the caller.
    principal = make_verifier().verify(keys.token(sub=None, client_id="app-9"))
    assert principal.subject == "app-9"


def test_scopes_from_space_separated_string(keys: Any, make_verifier: Any) -> None:
    token = keys.token(scope="  a.b   c.d\te.f ")
    assert make_verifier().verify(token).scopes == frozenset({"a.b", "c.d", "e.f"})


def test_scopes_from_scp_list(keys: Any, make_verifier: Any) -> None:
    token = keys.token(scope=None, scp=["payments.get", "payments.refund"])
    assert make_verifier().verify(token).scopes == frozenset({"payments.get", "payments.refund"})


def test_scopes_from_scp_string(keys: Any, make_verifier: Any) -> None:
    token = keys.token(scope=None, scp="payments.get")
    assert make_verifier().verify(token).scopes == frozenset({"payments.get"})


def test_scope_claim_wins_over_scp(keys: Any, make_verifier: Any) -> None:
    token = keys.token(scope="a", scp=["b"])
    assert make_verifier().verify(token).scopes == frozenset({"a"})


def test_custom_scope_claim_list(keys: Any, make_verifier: Any) -> None:
    token = keys.token(scope="ignored", permissions=["payments.get", "payments.create"])
    principal = make_verifier(scope_claim="permissions").verify(token)
    assert principal.scopes == frozenset({"payments.get", "payments.create"})


def test_custom_scope_claim_absent_gives_no_scopes(keys: Any, make_verifier: Any) -> None:
    # A custom claim never falls back to scope or scp.
    token = keys.token(scp=["x"])
    assert make_verifier(scope_claim="permissions").verify(token).scopes == frozenset()


def test_no_scope_claim_gives_no_scopes(keys: Any, make_verifier: Any) -> None:
    assert make_verifier().verify(keys.token(scope=None)).scopes == frozenset()


def test_CL09_scope_is_never_matched_by_substring(keys: Any, make_verifier: Any) -> None:
    principal = make_verifier().verify(keys.token(scope="payments.getall"))
    assert not principal.has_scopes("payments.get")


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(5, id="number"),
        pytest.param(True, id="bool"),
        pytest.param(None, id="null"),
        pytest.param({"a": 1}, id="object"),
        pytest.param(["a", 1], id="list-with-number"),
        pytest.param(["a", ["b"]], id="nested-list"),
        pytest.param(["a", None], id="list-with-null"),
    ],
)
def test_CL09_scope_claim_of_bad_type(keys: Any, make_verifier: Any, value: Any) -> None:
    token = keys.raw({"alg": "RS256"}, keys.claims(scope=None) | {"scope": value})
    with pytest.raises(UnauthenticatedError):
        make_verifier().verify(token)


def test_CL09_custom_scope_claim_of_bad_type(keys: Any, make_verifier: Any) -> None:
    token = keys.token(permissions={"payments.get": True})
    with pytest.raises(UnauthenticatedError):
        make_verifier(scope_claim="permissions").verify(token)


# -- time claims ----------------------------------------------------------------------


def test_CL02_exp_required(keys: Any, make_verifier: Any) -> None:
    with pytest.raises(UnauthenticatedError):
        make_verifier().verify(keys.token(exp=None))


def test_CL02_exp_null_is_missing(keys: Any, make_verifier: Any) -> None:
    token = keys.raw({"alg": "RS256"}, keys.claims(exp=None) | {"exp": None})
    with pytest.raises(UnauthenticatedError):
        make_verifier().verify(token)


@pytest.mark.parametrize(
    ("leeway", "exp_offset", "valid"),
    [
        pytest.param(30, -31, False, id="now-leeway-1"),
        pytest.param(30, -30, False, id="now-leeway"),
        pytest.param(30, -29, True, id="now-leeway+1"),
        pytest.param(0, 0, False, id="exp-equals-now"),
        pytest.param(0, 1, True, id="exp-one-second-ahead"),
        pytest.param(0, 0.5, True, id="fractional-exp-ahead"),
        pytest.param(300, -299, True, id="max-leeway"),
    ],
)
def test_CL01_exp_boundaries(
    keys: Any, make_verifier: Any, leeway: int, exp_offset: float, valid: bool
) -> None:
    verifier = make_verifier(leeway=leeway)
    token = keys.token(exp=keys.now + exp_offset, iat=None)
    if valid:
        assert verifier.verify(token).subject == "user-1"
    else:
        with pytest.raises(UnauthenticatedError, match="expired"):
            verifier.verify(token)


def test_CL01_expired_description(keys: Any, make_verifier: Any) -> None:
    with pytest.raises(UnauthenticatedError) as caught:
        make_verifier().verify(keys.token(exp=int(keys.now) - 3600))
    assert caught.value.description == "The access token expired"


def test_CL01_token_expires_when_the_clock_moves(keys: Any, make_verifier: Any, wall: Any) -> None:
    verifier = make_verifier(leeway=0)
    token = keys.token(exp=int(keys.now) + 10)
    assert verifier.verify(token)
    wall.advance(10)
    with pytest.raises(UnauthenticatedError):
        verifier.verify(token)


@pytest.mark.parametrize(
    ("claim", "offset", "valid"),
    [
        pytest.param("nbf", 0, True, id="nbf-equals-now"),
        pytest.param("nbf", 30, True, id="nbf-within-leeway"),
        pytest.param("nbf", 31, False, id="nbf-beyond-leeway"),
        pytest.param("nbf", -100, True, id="nbf-past"),
        pytest.param("iat", 30, True, id="iat-within-leeway"),
        pytest.param("iat", 31, False, id="iat-beyond-leeway"),
        pytest.param("iat", -100, True, id="iat-past"),
    ],
)
def test_CL03_nbf_and_iat_in_the_future(
    keys: Any, make_verifier: Any, claim: str, offset: int, valid: bool
) -> None:
    token = keys.token(**{"iat": None, claim: int(keys.now) + offset})
    verifier = make_verifier(leeway=30)
    if valid:
        assert verifier.verify(token)
    else:
        with pytest.raises(UnauthenticatedError, match="not yet valid"):
            verifier.verify(token)


BAD_NUMERIC_DATES = [
    pytest.param(b"null", id="null"),
    pytest.param(b"[]", id="list"),
    pytest.param(b"{}", id="object"),
    pytest.param(b'"9999999999"', id="numeric-string"),
    pytest.param(b'"soon"', id="string"),
    pytest.param(b"1e400", id="1e400-overflows-to-inf"),
    pytest.param(b"-1e400", id="minus-1e400"),
    pytest.param(b"Infinity", id="Infinity"),
    pytest.param(b"NaN", id="NaN"),
    pytest.param(b"true", id="true"),
    pytest.param(b"false", id="false"),
    pytest.param(b"[9999999999]", id="list-of-number"),
    pytest.param(b"1e300", id="beyond-datetime-range"),
    pytest.param(b"99999999999999999999999999999", id="huge-int"),
]


def _payload_with(keys: Any, claim: str, raw_value: bytes) -> bytes:
    """The good claims with one claim replaced by raw JSON text (kept in place)."""
    claims = keys.claims()
    claims[claim] = "@@"
    return json.dumps(claims).encode().replace(b'"@@"', raw_value)


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("raw_value", BAD_NUMERIC_DATES)
def test_CL04_time_claim_of_wrong_json_type(
    keys: Any, make_verifier: Any, claim: str, raw_value: bytes
) -> None:
    token = keys.raw({"alg": "RS256"}, _payload_with(keys, claim, raw_value))
    with pytest.raises(UnauthenticatedError):
        make_verifier().verify(token)


def test_CL04_float_exp_is_a_number(keys: Any, make_verifier: Any) -> None:
    # NumericDate may be non-integer (RFC 7519 section 2).
    principal = make_verifier().verify(keys.token(exp=keys.now + 60.25))
    assert principal.expires_at == datetime.fromtimestamp(keys.now + 60.25, timezone.utc)


# -- issuer and audience ----------------------------------------------------------------


@pytest.mark.parametrize(
    "iss",
    [
        pytest.param(None, id="missing"),
        pytest.param("https://as.example.com.evil", id="suffix-added"),
        pytest.param("https://as.example.com/", id="trailing-slash"),
        pytest.param("https://as.example.co", id="prefix-of-ours"),
        pytest.param("https://AS.example.com", id="different-case"),
        pytest.param("https://as.examp\u217ce.com", id="unicode-look-alike"),
        pytest.param("as.example.com", id="substring"),
        pytest.param("", id="empty"),
        pytest.param(["https://as.example.com"], id="list-containing-ours"),
        pytest.param(5, id="number"),
        pytest.param({"iss": "https://as.example.com"}, id="object"),
    ],
)
def test_CL05_issuer_exact(keys: Any, make_verifier: Any, iss: Any) -> None:
    claims = keys.claims(iss=None)
    if iss is not None:
        claims["iss"] = iss
    with pytest.raises(UnauthenticatedError):
        make_verifier().verify(keys.raw({"alg": "RS256"}, claims))


def test_CL05_issuer_not_checked_when_not_configured(keys: Any, make_verifier: Any) -> None:
    assert make_verifier(issuer=None).verify(keys.token(iss="https://anyone"))


@pytest.mark.parametrize(
    "aud",
    [
        pytest.param(None, id="missing"),
        pytest.param("billing-api", id="another-service"),
        pytest.param("payments-api2", id="suffix"),
        pytest.param("payments", id="prefix"),
        pytest.param(5, id="number"),
        pytest.param([5], id="list-of-numbers"),
        pytest.param([["payments-api"]], id="nested-list"),
        pytest.param(["billing-api"], id="list-without-ours"),
        pytest.param([], id="empty-list"),
        pytest.param({"payments-api": True}, id="object"),
    ],
)
def test_CL06_audience(keys: Any, make_verifier: Any, aud: Any) -> None:
    claims = keys.claims(aud=None)
    if aud is not None:
        claims["aud"] = aud
    with pytest.raises(UnauthenticatedError):
        make_verifier().verify(keys.raw({"alg": "RS256"}, claims))


def test_CL06_audience_list_containing_ours(keys: Any, make_verifier: Any) -> None:
    token = keys.token(aud=["billing-api", "payments-api"])
    assert make_verifier().verify(token).subject == "user-1"


def test_CL06_one_of_several_configured_audiences(keys: Any, make_verifier: Any) -> None:
    verifier = make_verifier(audience=["payments-api", "payments-api-v2"])
    assert verifier.verify(keys.token(aud="payments-api-v2"))
    with pytest.raises(UnauthenticatedError):
        verifier.verify(keys.token(aud="billing-api"))


# -- claim types (CL-08) and text (J-14) --------------------------------------------------


@pytest.mark.parametrize("claim", ["sub", "jti", "client_id", "azp"])
@pytest.mark.parametrize(
    "value",
    [
        pytest.param(5, id="number"),
        pytest.param(True, id="bool"),
        pytest.param(["user-1"], id="list"),
        pytest.param({"id": "user-1"}, id="object"),
        pytest.param(None, id="null"),
    ],
)
def test_CL08_identifier_claims_must_be_strings(
    keys: Any, make_verifier: Any, claim: str, value: Any
) -> None:
    claims = keys.claims()
    claims[claim] = value
    with pytest.raises(UnauthenticatedError):
        make_verifier().verify(keys.raw({"alg": "RS256"}, claims))


@pytest.mark.parametrize("claim", ["sub", "jti", "client_id", "azp", "scope"])
def test_J14_lone_surrogate_in_claims(keys: Any, make_verifier: Any, claim: str) -> None:
    payload = _payload_with(keys, claim, b'"user\\ud800"')
    with pytest.raises(UnauthenticatedError):
        make_verifier().verify(keys.raw({"alg": "RS256"}, payload))


def test_J14_lone_surrogate_in_scope_list(keys: Any, make_verifier: Any) -> None:
    payload = _payload_with(keys, "scope", b'["payments.get", "\\udfff"]')
    with pytest.raises(UnauthenticatedError):
        make_verifier().verify(keys.raw({"alg": "RS256"}, payload))


def test_J14_escaped_non_ascii_is_fine(keys: Any, make_verifier: Any) -> None:
    payload = _payload_with(keys, "sub", b'"J\\u00fcrgen \\ud83d\\ude00"')
    assert make_verifier().verify(keys.raw({"alg": "RS256"}, payload)).subject == "Jürgen 😀"


def test_J15_duplicate_claim_last_one_wins_as_pyjwt(keys: Any, make_verifier: Any) -> None:
    # bearerguard never pre-parses with another parser: the verifier sees what PyJWT sees.
    good_exp = int(keys.now) + 60
    payload = _payload_with(keys, "exp", f'1, "exp": {good_exp}'.encode())
    principal = make_verifier().verify(keys.raw({"alg": "RS256"}, payload))
    assert principal.expires_at == datetime.fromtimestamp(good_exp, timezone.utc)
    payload = _payload_with(keys, "exp", f'{good_exp}, "exp": 1'.encode())
    with pytest.raises(UnauthenticatedError):
        make_verifier().verify(keys.raw({"alg": "RS256"}, payload))


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"[]", id="array"),
        pytest.param(b'"claims"', id="string"),
        pytest.param(b"5", id="number"),
        pytest.param(b"null", id="null"),
        pytest.param(b"{", id="truncated"),
        pytest.param(b"\xff\xfe", id="not-utf8"),
        pytest.param(b"", id="empty"),
    ],
)
def test_J10_payload_not_a_json_object(keys: Any, make_verifier: Any, payload: bytes) -> None:
    with pytest.raises(UnauthenticatedError):
        make_verifier().verify(keys.raw({"alg": "RS256"}, payload))


def test_J12_deeply_nested_payload(keys: Any, make_verifier: Any) -> None:
    payload = _payload_with(keys, "x", b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(UnauthenticatedError):
        make_verifier().verify(keys.raw({"alg": "RS256"}, payload))
