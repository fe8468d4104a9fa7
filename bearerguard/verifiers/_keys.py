"""Key and algorithm policy: which algorithms a verifier takes, and with which keys.

Algorithms come from the configuration, never from a token (RFC 8725 section 2.1).
Everything here runs once, at construction or when a JWKS document arrives, so a bad
pairing fails loudly at start-up instead of on every request:

- ``none`` is never an algorithm; HMAC and public-key algorithms never share a
  verifier (key confusion, security cases J-02/J-03).
- A key must fit every configured algorithm and meet RFC 7518's minimum size.
- An HMAC secret is at least the hash size and is never somebody's public key in any
  encoding (PEM, OpenSSH, DER, JWK: CVE-2022-29217 and its kin).
- In a JWKS document, symmetric, encryption, undersized or wrong-curve keys are
  skipped one by one (K-07, J-04), and a key that declares ``alg`` serves only it.
- Ed25519 keys sign with the algorithm PyJWT names ``EdDSA`` (RFC 8037). RFC 9864's
  fully specified ``Ed25519`` is not implemented by PyJWT yet (pyjwt#1190), so it is
  refused here with a message saying what to configure, and a JWKS key that declares
  it is skipped: a name the verifier and the JWKS parser do not agree on is never
  half-supported.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import get_default_algorithms

__all__ = [
    "HMAC",
    "KeyMap",
    "check_algorithms",
    "parse_jwks",
    "prepare_key",
    "supported_algorithms",
]

HMAC = frozenset({"HS256", "HS384", "HS512"})
_HMAC_MIN_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}  # RFC 7518 section 3.2
# The algorithms each JWK key type can sign with (RFC 7518 section 6.1, RFC 8037
# section 2, RFC 9864 section 2.2), whether or not PyJWT implements them.
_KTY_ALGORITHMS = {
    "RSA": ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
    "EC": ("ES256", "ES384", "ES512", "ES256K"),
    "OKP": ("EdDSA", "Ed25519", "Ed448"),
}
_FULLY_SPECIFIED = {"Ed25519": "EdDSA", "Ed448": "EdDSA"}
_EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521", "ES256K": "secp256k1"}

KeyMap = dict[tuple[str | None, str], jwt.PyJWK]


def supported_algorithms() -> frozenset[str]:
    """The algorithms PyJWT can verify here (``none`` excluded)."""
    return frozenset(get_default_algorithms()) - {"none"}


def check_algorithms(algorithms: tuple[str, ...]) -> None:
    """Refuse an empty, unknown, ``none`` or mixed HMAC/public-key list.

    Raises:
        ValueError: naming the algorithm and, where there is one, what to use instead.
    """
    if not algorithms:
        raise ValueError("algorithms must not be empty")
    supported = supported_algorithms()
    for algorithm in algorithms:
        if not isinstance(algorithm, str):
            raise ValueError(f"unsupported algorithm: {algorithm!r}")
        if algorithm.lower() == "none":
            raise ValueError("the 'none' algorithm is never accepted")
        if algorithm in _FULLY_SPECIFIED and algorithm not in supported:
            raise ValueError(
                f"unsupported algorithm: {algorithm!r} (RFC 9864) is not implemented by "
                f"PyJWT yet; Edwards-curve tokens are verified with "
                f"algorithms=({_FULLY_SPECIFIED[algorithm]!r},)"
            )
        if algorithm not in supported:
            raise ValueError(f"unsupported algorithm: {algorithm!r}")
    hmac_algorithms = HMAC.intersection(algorithms)
    if hmac_algorithms and len(hmac_algorithms) != len(set(algorithms)):
        raise ValueError("HMAC and public-key algorithms cannot be mixed (key confusion)")


def prepare_key(key: Any, algorithms: tuple[str, ...]) -> Any:
    """Parse the key once and check it against every configured algorithm.

    Returns the key as PyJWT's ``prepare_key`` makes it (a ``cryptography`` key object,
    or the HMAC secret as bytes), ready to hand to ``jwt.decode`` on every request.

    Raises:
        ValueError: the key is malformed, does not fit an algorithm, or is too small.
    """
    if isinstance(key, Mapping):
        if key.get("kty") == "oct" and algorithms[0] not in HMAC:
            raise ValueError("a symmetric JWK cannot verify public-key algorithms")
        try:
            key = jwt.PyJWK(dict(key), algorithms[0]).key
        except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"invalid JWK: {type(exc).__name__}") from None
    if algorithms[0] in HMAC:
        return _hmac_secret(key, algorithms)
    try:
        key = get_default_algorithms()[algorithms[0]].prepare_key(key)
    except Exception as exc:
        raise ValueError(f"invalid key for {algorithms[0]}: {type(exc).__name__}") from None
    for name in algorithms:
        algorithm = get_default_algorithms()[name]
        try:
            prepared = algorithm.prepare_key(key)
        except Exception:
            raise ValueError(f"the key does not fit algorithm {name}") from None
        if algorithm.check_key_length(prepared):
            raise ValueError(f"the key is too small for {name} (RFC 7518 minimum bits)")
    return key


def parse_jwks(body: bytes, algorithms: Iterable[str]) -> KeyMap:
    """Turn a JWKS document into ``{(kid, alg): PyJWK}`` for the allowed algorithms.

    Keys that are symmetric, meant for encryption, unusable, or whose algorithm is not
    allowed are skipped one by one; a document that is not a key set raises. A key
    that declares ``alg`` serves that algorithm only (RFC 7517 section 4.4).
    """
    document = json.loads(body)
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK set")
    allowed = set(algorithms) & supported_algorithms()
    keys: KeyMap = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        kty = entry.get("kty")
        kid = entry.get("kid")
        if not isinstance(kty, str) or kty not in _KTY_ALGORITHMS:
            continue  # "oct" among others: never let a published secret sign tokens
        if kid is not None and not isinstance(kid, str):
            continue
        declared = entry.get("alg")
        candidates = [declared] if isinstance(declared, str) else list(_KTY_ALGORITHMS[kty])
        for algorithm in candidates:
            if algorithm not in allowed or algorithm not in _KTY_ALGORITHMS[kty]:
                continue
            if kty == "EC" and entry.get("crv") != _EC_CURVES.get(algorithm):
                continue
            try:
                key = jwt.PyJWK(entry, algorithm)
                if key.Algorithm.check_key_length(key.key):
                    continue  # an RSA key under 2048 bits, say (RFC 7518 section 3.3)
            except Exception:  # noqa: S112 - one broken key must not lose the others
                continue
            keys[(kid, algorithm)] = key
    return keys


def _hmac_secret(key: Any, algorithms: tuple[str, ...]) -> bytes:
    """A shared secret that is long enough and is not somebody's public key (J-02)."""
    if not isinstance(key, (str, bytes)):
        raise ValueError("HMAC algorithms need a shared secret (str or bytes)")
    secret = key.encode() if isinstance(key, str) else key
    if _looks_like_public_key(secret):
        raise ValueError("an HMAC algorithm must never be verified with a public key")
    shortest = max(_HMAC_MIN_BYTES[name] for name in algorithms)
    if len(secret) < shortest:
        raise ValueError(f"the HMAC secret must be at least {shortest} bytes")
    return secret


def _looks_like_public_key(secret: bytes) -> bool:
    """PEM, OpenSSH, DER or JWK text: every form CVE-2022-29217 and its kin used."""
    stripped = secret.strip()
    if b"-----BEGIN" in stripped or stripped.startswith((b"ssh-", b"ecdsa-sha2-")):
        return True
    if stripped.startswith(b"{"):
        try:
            document = json.loads(stripped)
        except ValueError:
            return False
        return isinstance(document, dict) and "kty" in document
    for load in (serialization.load_der_public_key, x509.load_der_x509_certificate):
        try:
            load(secret)
        except Exception:  # noqa: S112 - not that format: try the next one
            continue
        return True
    return False
