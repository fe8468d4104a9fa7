"""JWTVerifier configuration: unsafe or incomplete settings fail at construction (F-05)."""

from __future__ import annotations

from typing import Any

import pytest

from bearerguard import JWTVerifier

from .conftest import AUDIENCE


def test_key_or_jwks_url_exactly_one(keys: Any) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        JWTVerifier()
    with pytest.raises(ValueError, match="exactly one"):
        JWTVerifier(
            audience=AUDIENCE, key=keys.public("RS256"), jwks_url="https://as.example.com/jwks"
        )


@pytest.mark.parametrize("algorithms", [(), [], ""], ids=["tuple", "list", "empty-string"])
def test_empty_algorithms_refused(keys: Any, algorithms: Any) -> None:
    with pytest.raises(ValueError, match=r"empty|unsupported"):
        JWTVerifier(audience=AUDIENCE, key=keys.public("RS256"), algorithms=algorithms)


@pytest.mark.parametrize("alg", ["RS257", "rs256", "HS1", "A256GCM", "RSA-OAEP", "*"])
def test_unknown_algorithm_refused(keys: Any, alg: str) -> None:
    with pytest.raises(ValueError, match="unsupported"):
        JWTVerifier(audience=AUDIENCE, key=keys.public("RS256"), algorithms=[alg])


def test_algorithms_as_a_single_string(keys: Any) -> None:
    assert JWTVerifier(
        audience=AUDIENCE, key=keys.public("ES256"), algorithms="ES256"
    ).algorithms == ("ES256",)


@pytest.mark.parametrize("leeway", [-1, 301, 3600, float("nan"), float("inf")])
def test_leeway_out_of_range_refused(keys: Any, leeway: float) -> None:
    with pytest.raises(ValueError, match="leeway"):
        JWTVerifier(audience=AUDIENCE, key=keys.public("RS256"), leeway=leeway)


@pytest.mark.parametrize("leeway", [0, 30, 300, 0.5])
def test_leeway_in_range_accepted(keys: Any, leeway: float) -> None:
    assert JWTVerifier(audience=AUDIENCE, key=keys.public("RS256"), leeway=leeway).leeway == leeway


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://as.example.com/jwks", id="http-remote"),
        pytest.param("http://10.0.0.1/jwks", id="http-private-ip"),
        pytest.param("http://169.254.169.254/latest", id="http-metadata-ip"),
        pytest.param("http://127.0.0.1.nip.io/jwks", id="http-loopback-lookalike"),
        pytest.param("http://0.0.0.0/jwks", id="http-any"),
        pytest.param("ftp://as.example.com/jwks", id="ftp"),
        pytest.param("file:///etc/passwd", id="file"),
        pytest.param("https:///jwks", id="https-no-host"),
        pytest.param("as.example.com/jwks", id="no-scheme"),
        pytest.param("", id="empty"),
    ],
)
def test_K08_jwks_url_must_be_https_or_loopback(url: str) -> None:
    with pytest.raises(ValueError, match="jwks_url"):
        JWTVerifier(audience=AUDIENCE, jwks_url=url)


@pytest.mark.parametrize(
    "url",
    [
        "https://as.example.com/.well-known/jwks.json",
        "http://127.0.0.1:8080/jwks",
        "http://127.0.0.5/jwks",
        "http://localhost:9000/jwks",
        "http://[::1]:9000/jwks",
    ],
)
def test_K08_jwks_url_accepted(url: str) -> None:
    verifier = JWTVerifier(audience=AUDIENCE, jwks_url=url)
    assert verifier.jwks is not None
    assert verifier.jwks.url == url
    assert verifier.jwks.fetches == 0  # nothing is fetched at construction


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"jwks_refresh_interval": 0}, id="refresh-zero"),
        pytest.param({"jwks_refresh_interval": -1}, id="refresh-negative"),
        pytest.param({"jwks_refetch_cooldown": -1}, id="cooldown-negative"),
        pytest.param({"jwks_timeout": 0}, id="timeout-zero"),
        pytest.param({"jwks_timeout": float("nan")}, id="timeout-nan"),
    ],
)
def test_jwks_timing_options_validated(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="jwks_"):
        JWTVerifier(audience=AUDIENCE, jwks_url="https://as.example.com/jwks", **options)


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"audience": []}, id="empty-audience-list"),
        pytest.param({"audience": ["a", 5]}, id="audience-not-text"),
        pytest.param({"scope_claim": ""}, id="empty-scope-claim"),
        pytest.param({"kind": ""}, id="empty-kind"),
    ],
)
def test_claim_options_validated(keys: Any, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"audience|scope_claim|kind"):
        JWTVerifier(key=keys.public("RS256"), **{"audience": AUDIENCE, **options})


def test_invalid_key_material_refused() -> None:
    with pytest.raises(ValueError, match="invalid key"):
        JWTVerifier(
            audience=AUDIENCE, key=b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n"
        )
    with pytest.raises(ValueError, match="invalid JWK"):
        JWTVerifier(audience=AUDIENCE, key={"kty": "RSA", "n": "AQAB"})


def test_pem_text_key(keys: Any, make_verifier: Any) -> None:
    verifier = make_verifier(key=keys.rsa_public_pem().decode())
    assert verifier.verify(keys.token()).subject == "user-1"


def test_repr_shows_no_key_material(keys: Any) -> None:
    text = repr(JWTVerifier(audience=AUDIENCE, key=keys.hmac, algorithms=["HS256"]))
    assert keys.hmac.hex() not in text
    assert repr(keys.hmac) not in text
    assert "HS256" in text


def test_accepts_is_syntactic(keys: Any, make_verifier: Any) -> None:
    verifier = make_verifier()
    assert verifier.accepts(keys.token())
    assert verifier.accepts(keys.token(key=keys.rsa2))  # ownership, not validity
    assert not verifier.accepts("bg_live_0123456789")
    assert not verifier.accepts("a.b")
    assert not verifier.accepts("a.b.c.d")
    assert not verifier.accepts("a.b.c=")
