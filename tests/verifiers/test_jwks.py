"""JWTVerifier with a JWKS URL, against a real HTTP server on 127.0.0.1 (K-01..K-08,
L-03, J-06, CL-12).

The JWKS cache reads an injected monotonic timer, so refresh schedules and cooldowns
are moved by hand; real waits are only the server's, and kept tiny.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from bearerguard import Guard, JWTVerifier
from bearerguard.exceptions import AuthError, ServiceUnavailableError, UnauthenticatedError
from bearerguard.verifiers import _fetch

from .conftest import AUDIENCE, wait_until

INTERVAL = 300.0
COOLDOWN = 10.0


class FetchSpy:
    """Wraps the real HTTP fetcher and records every URL it is asked for."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.threads: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, url: str, timeout: float) -> bytes:
        with self._lock:
            self.urls.append(url)
            self.threads.append(threading.get_ident())
        return _fetch.fetch_url(url, timeout)


@pytest.fixture
def spy() -> FetchSpy:
    return FetchSpy()


@pytest.fixture
def jwks_verifier(make_verifier: Any, jwks_server: Any, timer: Any, spy: FetchSpy) -> Any:
    """``jwks_verifier(**options)``: RS256 and ES256 keys from the test server."""

    def make(**options: Any) -> JWTVerifier:
        options.setdefault("algorithms", ["RS256", "ES256"])
        options.setdefault("jwks_timer", timer)
        options.setdefault("jwks_refresh_interval", INTERVAL)
        options.setdefault("jwks_refetch_cooldown", COOLDOWN)
        options.setdefault("jwks_timeout", 2.0)
        options.setdefault("jwks_fetcher", spy)
        verifier: JWTVerifier = make_verifier(jwks_url=jwks_server.url, **options)
        return verifier

    return make


@pytest.fixture
def published(keys: Any, jwks_server: Any) -> Any:
    """The server publishes k1 (RSA) and e1 (EC)."""
    jwks_server.publish(keys.jwk("RS256", "k1"), keys.jwk("ES256", "e1"))
    return jwks_server


def kid_token(keys: Any, kid: str | None, alg: str = "RS256", **options: Any) -> str:
    headers = {} if kid is None else {"kid": kid}
    return keys.token(alg, headers=headers, **options)


# -- fetching and caching -----------------------------------------------------------------


def test_first_fetch_then_cached(keys: Any, published: Any, jwks_verifier: Any) -> None:
    verifier = jwks_verifier()
    assert published.requests == 0
    assert verifier.verify(kid_token(keys, "k1")).subject == "user-1"
    assert verifier.verify(kid_token(keys, "e1", "ES256")).subject == "user-1"
    for _ in range(20):
        verifier.verify(kid_token(keys, "k1"))
    assert published.requests == 1
    assert published.paths == ["/jwks.json"]


def test_L03_concurrent_cold_start_fetches_once(
    keys: Any, published: Any, jwks_verifier: Any
) -> None:
    published.delay = 0.2  # hold the first fetch so the others pile up behind it
    verifier = jwks_verifier()
    token = kid_token(keys, "k1")
    start = threading.Barrier(50)

    def verify(_: int) -> str:
        start.wait()
        return str(verifier.verify(token).subject)

    with ThreadPoolExecutor(50) as pool:
        subjects = list(pool.map(verify, range(50)))
    assert subjects == ["user-1"] * 50
    assert published.requests == 1


def test_scheduled_refresh_after_interval_made_in_the_background(
    keys: Any, published: Any, jwks_verifier: Any, timer: Any, spy: FetchSpy
) -> None:
    verifier = jwks_verifier()
    token = kid_token(keys, "k1")
    verifier.verify(token)
    timer.advance(INTERVAL - 1)
    verifier.verify(token)
    assert published.requests == 1
    timer.advance(1)
    verifier.verify(token)  # answered from the held keys; wakes the refresher
    wait_until(lambda: verifier.jwks.fetches == 2)
    assert published.requests == 2
    assert spy.threads[1] != threading.get_ident()  # not made by the request
    verifier.verify(token)
    assert published.requests == 2


def test_scheduled_refresh_does_not_use_the_kid_cooldown(
    keys: Any, published: Any, jwks_verifier: Any, timer: Any
) -> None:
    verifier = jwks_verifier(jwks_refresh_interval=1.0)
    for fetches in (1, 2, 3):
        verifier.verify(kid_token(keys, "k1"))
        wait_until(lambda: verifier.jwks.fetches == fetches)  # noqa: B023 - used at once
        timer.advance(1.0)
    assert published.requests == 3


def test_token_without_kid_uses_the_only_key_of_its_algorithm(
    keys: Any, published: Any, jwks_verifier: Any
) -> None:
    verifier = jwks_verifier()
    assert verifier.verify(kid_token(keys, None)).subject == "user-1"
    assert verifier.verify(kid_token(keys, None, "ES256")).subject == "user-1"


def test_token_without_kid_refused_when_ambiguous(
    keys: Any, jwks_server: Any, jwks_verifier: Any
) -> None:
    jwks_server.publish(keys.jwk("RS256", "k1"), keys.jwk("RS256", "k2", key=keys.rsa2))
    with pytest.raises(UnauthenticatedError):
        jwks_verifier().verify(kid_token(keys, None))


def test_kid_bound_to_its_key(keys: Any, published: Any, jwks_verifier: Any) -> None:
    # A token signed by another key but naming a published kid.
    with pytest.raises(UnauthenticatedError):
        jwks_verifier().verify(keys.token(key=keys.rsa2, headers={"kid": "k1"}))


def test_kid_bound_to_its_algorithm(keys: Any, published: Any, jwks_verifier: Any) -> None:
    # e1 is an EC key: an RS256 token naming it finds no (kid, alg) pair.
    with pytest.raises(UnauthenticatedError):
        jwks_verifier().verify(kid_token(keys, "e1", "RS256"))


# -- rotation (K-02) and unknown kids (K-01) --------------------------------------------------


def test_K02_rotation_new_kid_one_refetch_then_accepted(
    keys: Any, published: Any, jwks_verifier: Any
) -> None:
    verifier = jwks_verifier()
    verifier.verify(kid_token(keys, "k1"))
    published.publish(keys.jwk("RS256", "k1"), keys.jwk("RS256", "k2", key=keys.rsa2))
    rotated = keys.token(key=keys.rsa2, headers={"kid": "k2"})
    assert verifier.verify(rotated).subject == "user-1"
    assert published.requests == 2
    for _ in range(5):
        verifier.verify(rotated)
        verifier.verify(kid_token(keys, "k1"))
    assert published.requests == 2


def test_K02_concurrent_new_kid_coalesces_into_one_refetch(
    keys: Any, published: Any, jwks_verifier: Any
) -> None:
    verifier = jwks_verifier()
    verifier.verify(kid_token(keys, "k1"))
    published.publish(keys.jwk("RS256", "k2", key=keys.rsa2))
    published.delay = 0.2
    rotated = keys.token(key=keys.rsa2, headers={"kid": "k2"})
    start = threading.Barrier(30)

    def verify(_: int) -> str:
        start.wait()
        return str(verifier.verify(rotated).subject)

    with ThreadPoolExecutor(30) as pool:
        assert list(pool.map(verify, range(30))) == ["user-1"] * 30
    assert published.requests == 2


def test_K02_removed_kid_refused_after_the_next_refresh(
    keys: Any, published: Any, jwks_verifier: Any, timer: Any
) -> None:
    verifier = jwks_verifier()
    verifier.verify(kid_token(keys, "k1"))
    published.publish(keys.jwk("RS256", "k2", key=keys.rsa2))
    timer.advance(INTERVAL)
    verifier.verify(kid_token(keys, "k1"))  # still held until the refresh lands
    wait_until(lambda: verifier.jwks.fetches == 2)
    with pytest.raises(UnauthenticatedError):
        verifier.verify(kid_token(keys, "k1"))


def test_K01_unknown_kid_flood_refetches_once_per_cooldown(
    keys: Any, published: Any, jwks_verifier: Any, timer: Any
) -> None:
    verifier = jwks_verifier()
    verifier.verify(kid_token(keys, "k1"))
    assert published.requests == 1
    flood = [keys.token(headers={"kid": secrets.token_hex(8)}) for _ in range(200)]
    for token in flood:
        with pytest.raises(UnauthenticatedError) as caught:
            verifier.verify(token)
        assert caught.value.description == "The access token's signing key is unknown"
    assert published.requests == 2
    timer.advance(COOLDOWN - 0.5)
    for token in flood[:50]:
        with pytest.raises(UnauthenticatedError):
            verifier.verify(token)
    assert published.requests == 2
    timer.advance(0.5)
    for token in flood[:50]:
        with pytest.raises(UnauthenticatedError):
            verifier.verify(token)
    assert published.requests == 3
    # The good token never stopped working.
    assert verifier.verify(kid_token(keys, "k1"))


def test_K01_concurrent_unknown_kids_coalesce(
    keys: Any, published: Any, jwks_verifier: Any
) -> None:
    verifier = jwks_verifier()
    verifier.verify(kid_token(keys, "k1"))
    published.delay = 0.1
    flood = [keys.token(headers={"kid": secrets.token_hex(8)}) for _ in range(200)]
    start = threading.Barrier(50)

    def attack(token: str) -> str:
        if flood.index(token) < 50:
            start.wait()
        try:
            verifier.verify(token)
        except UnauthenticatedError as error:
            return error.description
        return "accepted"

    with ThreadPoolExecutor(50) as pool:
        outcomes = set(pool.map(attack, flood))
    assert outcomes == {"The access token's signing key is unknown"}
    assert published.requests == 2


def test_K01_zero_cooldown_still_coalesces_concurrent_refetches(
    keys: Any, published: Any, jwks_verifier: Any
) -> None:
    verifier = jwks_verifier(jwks_refetch_cooldown=0)
    verifier.verify(kid_token(keys, "k1"))
    published.delay = 0.2
    token = keys.token(headers={"kid": "nope"})
    start = threading.Barrier(20)

    def attack(_: int) -> None:
        start.wait()
        with pytest.raises(UnauthenticatedError):
            verifier.verify(token)

    with ThreadPoolExecutor(20) as pool:
        list(pool.map(attack, range(20)))
    # Threads that waited for the in-flight refetch share its result (1 + 20 without).
    assert published.requests <= 5


@pytest.mark.parametrize(
    "kid",
    [
        pytest.param("../../../../dev/null", id="path-traversal"),
        pytest.param("' OR 1=1 --", id="sql"),
        pytest.param("k" * 10_000, id="10KB"),
        pytest.param("http://169.254.169.254/", id="url"),
    ],
)
def test_J07_kid_injection_is_only_a_map_key(
    keys: Any, published: Any, jwks_verifier: Any, kid: str
) -> None:
    verifier = jwks_verifier()
    with pytest.raises(UnauthenticatedError):
        verifier.verify(keys.token(headers={"kid": kid}))
    assert published.paths == ["/jwks.json"] * published.requests
    assert published.requests <= 2


@pytest.mark.parametrize("kid", [5, None, {}, [], True], ids=["int", "null", "obj", "list", "bool"])
def test_J07_non_string_kid_refused_without_fetching(
    keys: Any, published: Any, jwks_verifier: Any, kid: Any
) -> None:
    with pytest.raises(UnauthenticatedError):
        jwks_verifier().verify(keys.raw({"alg": "RS256", "kid": kid}, keys.claims()))
    if kid is not None:
        assert published.requests == 0


# -- J-06 and CL-12: what the token says never drives a fetch -----------------------------------


@pytest.mark.parametrize("member", ["jku", "x5u"])
def test_J06_header_urls_never_fetched(
    keys: Any,
    published: Any,
    attacker_server: Any,
    jwks_verifier: Any,
    spy: FetchSpy,
    member: str,
) -> None:
    attacker_server.publish(keys.jwk("RS256", "evil", key=keys.rsa2))
    verifier = jwks_verifier()
    token = keys.token(key=keys.rsa2, headers={"kid": "evil", member: attacker_server.url})
    with pytest.raises(UnauthenticatedError):
        verifier.verify(token)
    assert attacker_server.requests == 0
    assert set(spy.urls) == {published.url}


def test_J06_embedded_jwk_and_x5c_never_used(keys: Any, published: Any, jwks_verifier: Any) -> None:
    evil = keys.jwk("RS256", "k1", key=keys.rsa2)
    token = keys.token(key=keys.rsa2, headers={"kid": "k1", "jwk": evil, "x5c": ["MIIB"]})
    with pytest.raises(UnauthenticatedError):
        jwks_verifier().verify(token)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda keys: keys.token("HS256", headers={"kid": "k1"}), id="alg-not-allowed"),
        pytest.param(lambda keys: keys.token("RS512", key=keys.rsa), id="RS512"),
        pytest.param(lambda keys: "eyJhbGciOiJub25lIn0.e30.", id="alg-none"),
        pytest.param(lambda keys: "W10.e30.c2ln", id="header-array"),
        pytest.param(lambda keys: "a.b.c", id="garbage"),
        pytest.param(
            lambda keys: keys.raw(b'{"alg":"RS256","x":' + b"[" * 5000 + b"]" * 5000 + b"}", b"{}"),
            id="J12-nested-header",
        ),
        pytest.param(
            lambda keys: keys.raw('{"alg":"RS256"}'.encode("utf-16"), b"{}"),
            id="J13-utf16-header",
        ),
    ],
)
def test_CL12_early_rejection_skips_the_fetch(
    keys: Any, published: Any, jwks_verifier: Any, token: Any
) -> None:
    with pytest.raises(UnauthenticatedError):
        jwks_verifier().verify(token(keys))
    assert published.requests == 0


# -- failures: K-03, K-04, K-06, K-07, K-08, K-05 ---------------------------------------------

GARBAGE_BODIES = [
    pytest.param(b"<html><body>502 Bad Gateway</body></html>", id="html"),
    pytest.param(b'{"keys": [{"kty": "RSA", "kid": "k1", "n": "', id="truncated-json"),
    pytest.param(b"[]", id="array"),
    pytest.param(b'{"keys": "x"}', id="keys-string"),
    pytest.param(b'{"keys": [1]}', id="keys-number"),
    pytest.param(b'{"keys": []}', id="keys-empty"),
    pytest.param(b"{}", id="empty-object"),
    pytest.param(b"", id="empty-body"),
    pytest.param(b"\xff\xfe\x00", id="not-utf8"),
    pytest.param(b'{"keys": [{"kty": "RSA", "kid": "k1", "n": "!!", "e": "AQAB"}]}', id="bad-n"),
    pytest.param(b'{"keys": [{"kty": "RSA", "kid": "k1", "e": "AQAB"}]}', id="missing-n"),
    pytest.param(
        b'{"keys": [{"kty": "EC", "kid": "k1", "crv": "P-256", "x": "AA", "y": "AA"}]}',
        id="bad-ec-point",
    ),
    pytest.param(b'{"keys": [{"kty": "oct", "kid": "k1", "k": "c2VjcmV0"}]}', id="K07-oct-only"),
    pytest.param(b'{"keys": [' + b"[" * 50_000 + b"]" * 50_000 + b"]}", id="deeply-nested"),
    pytest.param(b'{"keys": [{"kty": "RSA", "kid": "k1", "n": 5, "e": "AQAB"}]}', id="n-number"),
    pytest.param(b"SMALL-RSA", id="J04-only-a-1024-bit-key"),
]


@pytest.fixture(scope="module")
def small_rsa_jwks(keys: Any) -> bytes:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    return json.dumps({"keys": [keys.jwk("RS256", "k1", key=small)]}).encode()


@pytest.mark.parametrize("body", GARBAGE_BODIES)
def test_K06_garbage_on_a_cold_cache_is_503(
    keys: Any, jwks_server: Any, jwks_verifier: Any, body: bytes, small_rsa_jwks: bytes
) -> None:
    jwks_server.body = small_rsa_jwks if body == b"SMALL-RSA" else body
    with pytest.raises(ServiceUnavailableError):
        jwks_verifier().verify(kid_token(keys, "k1"))
    assert jwks_server.requests == 1


@pytest.mark.parametrize("body", GARBAGE_BODIES)
def test_K06_garbage_on_refresh_keeps_the_held_keys(
    keys: Any, published: Any, jwks_verifier: Any, timer: Any, body: bytes, small_rsa_jwks: bytes
) -> None:
    verifier = jwks_verifier()
    verifier.verify(kid_token(keys, "k1"))
    published.body = small_rsa_jwks if body == b"SMALL-RSA" else body
    timer.advance(INTERVAL)
    assert verifier.verify(kid_token(keys, "k1")).subject == "user-1"
    wait_until(lambda: verifier.jwks.fetches == 2)
    assert published.requests == 2
    assert verifier.verify(kid_token(keys, "k1")).subject == "user-1"
    with pytest.raises(UnauthenticatedError):
        verifier.verify(kid_token(keys, "unknown"))


def test_K03_failed_refetch_keeps_held_keys_server_down(
    keys: Any, published: Any, jwks_verifier: Any, timer: Any, spy: FetchSpy
) -> None:
    verifier = jwks_verifier()
    verifier.verify(kid_token(keys, "k1"))
    published.stop()
    timer.advance(INTERVAL)
    assert verifier.verify(kid_token(keys, "k1")).subject == "user-1"
    wait_until(lambda: verifier.jwks.fetches == 2)  # the refresh failed
    assert len(spy.urls) == 2
    assert verifier.verify(kid_token(keys, "k1")).subject == "user-1"
    # An unknown kid while keys are held is the token's fault: 401, not 503.
    with pytest.raises(UnauthenticatedError):
        verifier.verify(kid_token(keys, "k9"))
    timer.advance(COOLDOWN)
    with pytest.raises(UnauthenticatedError):
        verifier.verify(kid_token(keys, "k8"))
    assert verifier.verify(kid_token(keys, "k1")).subject == "user-1"


@pytest.mark.parametrize("status", [500, 502, 404, 401])
def test_K03_http_error_on_refresh_keeps_held_keys(
    keys: Any, published: Any, jwks_verifier: Any, timer: Any, status: int
) -> None:
    verifier = jwks_verifier()
    verifier.verify(kid_token(keys, "k1"))
    published.status = status
    timer.advance(INTERVAL)
    assert verifier.verify(kid_token(keys, "k1"))
    wait_until(lambda: verifier.jwks.fetches == 2)
    assert verifier.verify(kid_token(keys, "k1"))
    assert published.requests == 2


def test_K03_failed_refresh_retried_after_cooldown_not_every_request(
    keys: Any, published: Any, jwks_verifier: Any, timer: Any
) -> None:
    verifier = jwks_verifier()
    verifier.verify(kid_token(keys, "k1"))
    published.status = 500
    timer.advance(INTERVAL)
    verifier.verify(kid_token(keys, "k1"))
    wait_until(lambda: verifier.jwks.fetches == 2)
    for _ in range(20):
        verifier.verify(kid_token(keys, "k1"))
    assert published.requests == 2
    published.status = 200
    published.publish(keys.jwk("RS256", "k1"), keys.jwk("RS256", "k2", key=keys.rsa2))
    timer.advance(COOLDOWN)
    verifier.verify(kid_token(keys, "k1"))
    wait_until(lambda: verifier.jwks.fetches == 3)
    assert published.requests == 3
    assert verifier.verify(keys.token(key=keys.rsa2, headers={"kid": "k2"}))
    assert published.requests == 3


def test_K04_cold_cache_server_down_is_503(
    keys: Any, jwks_server: Any, jwks_verifier: Any, timer: Any, spy: FetchSpy
) -> None:
    jwks_server.stop()
    verifier = jwks_verifier()
    for _ in range(10):
        with pytest.raises(ServiceUnavailableError):
            verifier.verify(kid_token(keys, "k1"))
    assert len(spy.urls) == 1  # an outage is not hammered: retried after the cooldown
    timer.advance(COOLDOWN)
    with pytest.raises(ServiceUnavailableError):
        verifier.verify(kid_token(keys, "k1"))
    assert len(spy.urls) == 2


@pytest.mark.parametrize("status", [500, 503, 404])
def test_K04_cold_cache_http_error_is_503(
    keys: Any, jwks_server: Any, jwks_verifier: Any, status: int
) -> None:
    jwks_server.publish(keys.jwk("RS256", "k1"))
    jwks_server.status = status
    with pytest.raises(ServiceUnavailableError):
        jwks_verifier().verify(kid_token(keys, "k1"))


def test_K04_recovers_when_the_server_returns(
    keys: Any, published: Any, jwks_verifier: Any, timer: Any
) -> None:
    published.status = 500
    verifier = jwks_verifier()
    with pytest.raises(ServiceUnavailableError):
        verifier.verify(kid_token(keys, "k1"))
    published.status = 200
    timer.advance(COOLDOWN)
    assert verifier.verify(kid_token(keys, "k1")).subject == "user-1"


def test_K04_through_the_guard_is_503_with_retry_after_and_never_cached(
    keys: Any, published: Any, jwks_verifier: Any, timer: Any, wall: Any
) -> None:
    published.status = 500
    guard = Guard([jwks_verifier()], public_paths=["/health"], clock=wall)
    token = kid_token(keys, "k1")
    with pytest.raises(AuthError) as caught:
        guard.check("GET", "/api/payment/1", f"Bearer {token}")
    status, headers, body = guard.render(caught.value)
    assert status == 503
    names = dict(headers)
    assert "retry-after" in names
    assert "www-authenticate" not in names
    assert token not in body.decode()
    # Public routes without a token are unaffected by the outage.
    assert guard.check("GET", "/health", None) is None
    # The outage is not cached: once the server is back the same token passes.
    published.status = 200
    timer.advance(COOLDOWN)
    principal = guard.check("GET", "/api/payment/1", f"Bearer {token}")
    assert principal is not None


def test_K04_unknown_kid_with_keys_held_and_server_down_through_the_guard_is_401(
    keys: Any, published: Any, jwks_verifier: Any, wall: Any
) -> None:
    guard = Guard([jwks_verifier()], clock=wall)
    guard.check("GET", "/x", f"Bearer {kid_token(keys, 'k1')}")
    published.stop()
    with pytest.raises(AuthError) as caught:
        guard.check("GET", "/x", f"Bearer {kid_token(keys, 'k7')}")
    assert caught.value.status_code == 401


def test_K07_unsuitable_keys_in_the_set_are_ignored(
    keys: Any, jwks_server: Any, jwks_verifier: Any
) -> None:
    secret = keys.hmac + keys.hmac
    jwks_server.publish(
        {"kty": "oct", "kid": "sym", "k": _b64(secret), "alg": "HS256"},
        keys.jwk("RS256", "enc", use="enc"),
        {**keys.jwk("RS256", "rs512"), "alg": "RS512"},
        keys.jwk("RS256", "good"),
    )
    verifier = jwks_verifier()
    assert verifier.verify(kid_token(keys, "good"))
    for kid in ("enc", "rs512"):
        with pytest.raises(UnauthenticatedError):
            verifier.verify(kid_token(keys, kid))
    with pytest.raises(UnauthenticatedError):
        verifier.verify(keys.token("HS256", key=secret, headers={"kid": "sym"}))


def test_K07_hmac_algorithms_cannot_use_a_jwks_url() -> None:
    with pytest.raises(ValueError, match="HMAC"):
        JWTVerifier(audience=AUDIENCE, jwks_url="https://as.example.com/jwks", algorithms=["HS256"])


def _signed_by_hand(keys: Any, header: dict[str, Any], sign: Any) -> str:
    """PyJWT refuses to sign with a small or mismatched key: sign with cryptography."""
    signing_input = (
        f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(keys.claims()).encode())}"
    )
    return f"{signing_input}.{_b64(sign(signing_input.encode()))}"


def test_J04_small_rsa_key_in_the_set_is_ignored(
    keys: Any, jwks_server: Any, jwks_verifier: Any
) -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    jwks_server.publish(keys.jwk("RS256", "small", key=small), keys.jwk("RS256", "k1"))
    verifier = jwks_verifier()
    assert verifier.verify(kid_token(keys, "k1"))
    token = _signed_by_hand(
        keys,
        {"alg": "RS256", "kid": "small"},
        lambda data: small.sign(data, padding.PKCS1v15(), hashes.SHA256()),
    )
    with pytest.raises(UnauthenticatedError):
        verifier.verify(token)


def test_J04_ec_key_on_the_wrong_curve_is_ignored(
    keys: Any, jwks_server: Any, jwks_verifier: Any
) -> None:
    p384 = ec.generate_private_key(ec.SECP384R1())
    jwk = keys.jwk("ES384", "e1", key=p384)
    jwks_server.publish({**jwk, "alg": "ES256"}, jwk, keys.jwk("RS256", "k1"))

    def sign(data: bytes) -> bytes:
        r, s = decode_dss_signature(p384.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(48, "big") + s.to_bytes(48, "big")

    verifier = jwks_verifier(algorithms=["ES256", "ES384"])
    with pytest.raises(UnauthenticatedError):
        verifier.verify(_signed_by_hand(keys, {"alg": "ES256", "kid": "e1"}, sign))
    # The same key is usable with its own algorithm.
    assert verifier.verify(keys.token("ES384", key=p384, headers={"kid": "e1"}))


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_K08_redirects_not_followed(
    keys: Any,
    jwks_server: Any,
    attacker_server: Any,
    jwks_verifier: Any,
    status: int,
) -> None:
    attacker_server.publish(keys.jwk("RS256", "k1"))
    jwks_server.status = status
    jwks_server.location = attacker_server.url
    with pytest.raises(ServiceUnavailableError):
        jwks_verifier().verify(kid_token(keys, "k1"))
    assert attacker_server.requests == 0


def test_K05_slow_server_bounded_by_the_timeout(
    keys: Any, published: Any, jwks_verifier: Any
) -> None:
    published.delay = 10.0  # released at teardown
    verifier = jwks_verifier(jwks_timeout=0.2)
    with pytest.raises(ServiceUnavailableError):
        verifier.verify(kid_token(keys, "k1"))
    # The verifier gave up while the server was still holding the response.
    assert published.requests == 1
    assert published.responses == 0


def test_K05_dribbling_server_bounded_by_the_timeout(
    keys: Any, published: Any, jwks_verifier: Any
) -> None:
    # Each byte comes well inside the socket timeout; the whole body would take ~40 s.
    published.dribble = 0.05
    verifier = jwks_verifier(jwks_timeout=0.3)
    with pytest.raises(ServiceUnavailableError):
        verifier.verify(kid_token(keys, "k1"))
    assert published.responses == 0  # still dribbling when the verifier gave up


def test_N17_request_landing_on_the_schedule_does_not_wait_for_the_refresh(
    keys: Any, published: Any, jwks_verifier: Any, timer: Any, spy: FetchSpy
) -> None:
    verifier = jwks_verifier(jwks_timeout=10.0)
    token = kid_token(keys, "k1")
    verifier.verify(token)
    published.settle()
    published.started.clear()
    published.delay = 10.0  # the key server hangs on the next fetch
    timer.advance(INTERVAL)
    with ThreadPoolExecutor(1) as pool:
        landing = pool.submit(verifier.verify, token)
        # Answered from the held keys while the server still holds the refresh.
        assert landing.result(timeout=5).subject == "user-1"
        assert published.started.wait(5)
        assert published.responses == 1
        assert verifier.verify(kid_token(keys, "k1", jti="other")).subject == "user-1"
    assert threading.get_ident() not in spy.threads[1:]
    published.release()
    wait_until(lambda: verifier.jwks.fetches == 2)
    assert published.requests == 2


def test_N17_unknown_kid_waits_for_at_most_one_fetch(
    keys: Any, published: Any, jwks_verifier: Any, timer: Any, spy: FetchSpy
) -> None:
    # Before: a request landing on the schedule made the scheduled fetch and then its
    # own refetch, each up to the timeout, on the request's thread.
    verifier = jwks_verifier(jwks_timeout=0.3)
    verifier.verify(kid_token(keys, "k1"))
    published.delay = 10.0
    timer.advance(INTERVAL)
    with pytest.raises(UnauthenticatedError):
        verifier.verify(kid_token(keys, "new-kid"))
    assert spy.threads.count(threading.get_ident()) <= 2  # the first fetch, and one more
    published.release()


def test_refresher_restarts_after_fork(
    keys: Any, published: Any, jwks_verifier: Any, timer: Any, monkeypatch: Any, spy: FetchSpy
) -> None:
    # No real fork under pytest (a fork with threads running warns): the cache sees
    # another process id, as a forked child does, and starts its own refresher.
    verifier = jwks_verifier()
    verifier.verify(kid_token(keys, "k1"))
    parent = set(_refreshers())
    real_pid = os.getpid()
    monkeypatch.setattr(os, "getpid", lambda: real_pid + 1)
    timer.advance(INTERVAL)
    assert verifier.verify(kid_token(keys, "k1"))
    wait_until(lambda: verifier.jwks.fetches == 2)
    child = set(_refreshers()) - parent
    assert [thread.ident for thread in child] == [spy.threads[1]]


def test_refresher_stops_on_close_and_when_the_verifier_is_freed(
    keys: Any, published: Any, jwks_verifier: Any
) -> None:
    before = set(_refreshers())
    closed = jwks_verifier()
    closed.verify(kid_token(keys, "k1"))
    freed = jwks_verifier()
    freed.verify(kid_token(keys, "k1"))
    started = set(_refreshers()) - before
    assert len(started) == 2
    closed.close()
    del freed  # by reference count: gc.collect() here would collect other tests' garbage
    wait_until(lambda: not any(thread.is_alive() for thread in started))
    assert closed.verify(kid_token(keys, "k1"))  # held keys keep answering


def _refreshers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "bearerguard-jwks-refresh"]


def test_K06_oversized_body_refused(keys: Any, jwks_server: Any, jwks_verifier: Any) -> None:
    jwks_server.publish(keys.jwk("RS256", "k1"), *[{"kty": "RSA", "pad": "x" * 4096}] * 300)
    assert len(jwks_server.body) > _fetch.MAX_BYTES
    with pytest.raises(ServiceUnavailableError):
        jwks_verifier().verify(kid_token(keys, "k1"))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_K04_retry_after_matches_the_refetch_cooldown(
    keys: Any, jwks_server: Any, jwks_verifier: Any, timer: Any, wall: Any
) -> None:
    jwks_server.stop()
    guard = Guard([jwks_verifier()], clock=wall)
    token = kid_token(keys, "k1")

    def retry_after() -> str:
        with pytest.raises(ServiceUnavailableError) as caught:
            guard.check("GET", "/x", f"Bearer {token}")
        return dict(guard.render(caught.value)[1])["retry-after"]

    # No fetch is made before the cooldown ends: a client told to come back sooner
    # would only meet the same 503.
    assert retry_after() == str(int(COOLDOWN))
    timer.advance(3.5)
    assert retry_after() == "7"
    timer.advance(6.4)
    assert retry_after() == "1"
