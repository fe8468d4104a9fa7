"""A JWT issuer of the test's own: real keys, real signatures, no network."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import get_default_algorithms

from ..verifiers import JWTVerifier

__all__ = ["LocalIssuer"]

# Which key signs each algorithm (RFC 7518 section 3.1, RFC 8037 section 3.1).
_FAMILIES = {
    **dict.fromkeys(("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"), "RSA"),
    "ES256": "P-256",
    "ES384": "P-384",
    "ES512": "P-521",
    "ES521": "P-521",
    "ES256K": "secp256k1",
    "EdDSA": "Ed25519",
    **dict.fromkeys(("HS256", "HS384", "HS512"), "HMAC"),
    "none": "none",
}
_CURVES: dict[str, Callable[[], ec.EllipticCurve]] = {
    "P-256": ec.SECP256R1,
    "P-384": ec.SECP384R1,
    "P-521": ec.SECP521R1,
    "secp256k1": ec.SECP256K1,
}
# Past the longest leeway a JWTVerifier allows (300 seconds).
_EXPIRED_AGO = 3600


def _generate(family: str) -> Any:
    if family == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if family in _CURVES:
        return ec.generate_private_key(_CURVES[family]())
    if family == "Ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    # HMAC: 64 bytes, the minimum for HS512 and so enough for HS256 and HS384.
    return secrets.token_bytes(64)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


class LocalIssuer:
    """An identity provider of the test's own: it mints JWT access tokens and hands
    out a :class:`~bearerguard.JWTVerifier` that trusts them, with no network.

    ```python
    issuer = LocalIssuer(audience="payments-api")
    guard = Guard([issuer.verifier()])
    token = issuer.mint("payments.get")  # an RFC 9068 access token
    expired = issuer.mint("payments.get", expired=True)
    ```

    Keys are generated on first use, per key type, and never leave the object.

    Args:
        issuer: The ``iss`` of every token, and the verifier's ``issuer``.
        audience: The ``aud`` of tokens by default, and the verifier's ``audience``.
        algorithm: The signing algorithm: ``RS256``, ``RS384``, ``RS512``, ``PS256``,
            ``PS384``, ``PS512``, ``ES256``, ``ES384``, ``ES512``, ``ES256K``, ``EdDSA``,
            ``HS256``, ``HS384`` or ``HS512``.
        kid: The ``kid`` header of tokens and of the published key; None for none.
        typ: The ``typ`` header of tokens (RFC 9068's ``at+jwt``); None for none.
        subject: The ``sub`` of tokens by default.
        client_id: The ``client_id`` of tokens by default.
        clock: Wall clock in UNIX seconds for ``iat`` and ``exp``; the verifier reads
            it too.

    Raises:
        ValueError: an algorithm no key type here signs.
    """

    def __init__(
        self,
        *,
        issuer: str = "https://issuer.test/",
        audience: str = "test-api",
        algorithm: str = "RS256",
        kid: str | None = "local-1",
        typ: str | None = "at+jwt",
        subject: str = "user-1",
        client_id: str = "test-client",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if _FAMILIES.get(algorithm, "none") == "none":
            raise ValueError(f"LocalIssuer cannot sign with {algorithm!r}")
        self.issuer = issuer
        self.audience = audience
        self.algorithm = algorithm
        self.kid = kid
        self.typ = typ
        self.subject = subject
        self.client_id = client_id
        self.clock = clock
        self._keys: dict[tuple[str, bool], Any] = {}

    def __repr__(self) -> str:
        return f"LocalIssuer(issuer={self.issuer!r}, algorithm={self.algorithm!r})"

    @property
    def jwks_url(self) -> str:
        """Where the verifier of ``verifier(jwks=True)`` believes the keys are."""
        return self.issuer.rstrip("/") + "/.well-known/jwks.json"

    @property
    def public_key(self) -> Any:
        """The key that verifies this issuer's tokens (the secret itself for HMAC)."""
        key = self._key(_FAMILIES[self.algorithm])
        return key if isinstance(key, bytes) else key.public_key()

    def mint(
        self,
        *scopes: str,
        subject: str | None = None,
        audience: str | Sequence[str] | None = None,
        issuer: str | None = None,
        client_id: str | None = None,
        expires_in: float = 3600,
        expired: bool = False,
        claims: Mapping[str, Any] | None = None,
        omit: Iterable[str] = (),
        alg: str | None = None,
        kid: str | None = None,
        typ: str | None = None,
        headers: Mapping[str, Any] | None = None,
        wrong_key: bool = False,
    ) -> str:
        """A signed JWT: by default a good access token for this issuer's verifier.

        Args:
            scopes: The granted scopes (the ``scope`` claim, space-separated); none
                leaves the claim out.
            subject: ``sub`` instead of the issuer's.
            audience: ``aud`` instead of the issuer's (a list for several).
            issuer: ``iss`` instead of the issuer's.
            client_id: ``client_id`` instead of the issuer's.
            expires_in: Seconds from now to ``exp``.
            expired: Expired an hour ago, past any leeway (``iat`` two hours ago).
            claims: Claims to add or replace, last: any JSON value, ``None`` included.
            omit: Claims to leave out (``omit=["exp"]``).
            alg: Sign with this algorithm instead (with the issuer's key of that type;
                ``"none"`` for an unsigned token).
            kid: The ``kid`` header instead of the issuer's.
            typ: The ``typ`` header instead of the issuer's.
            headers: Header parameters to add or replace, last; a None value leaves
                that parameter out (``headers={"typ": None}``).
            wrong_key: Sign with another key of the same type and the same ``kid``:
                a token whose signature the verifier refuses.

        Raises:
            ValueError: ``alg`` is one no key type here signs.
        """
        algorithm = alg or self.algorithm
        family = _FAMILIES.get(algorithm)
        if family is None:
            raise ValueError(f"LocalIssuer cannot sign with {algorithm!r}")
        now = int(self.clock())
        if expired:
            issued, expires = now - 2 * _EXPIRED_AGO, now - _EXPIRED_AGO
        else:
            issued, expires = now, int(now + expires_in)
        payload: dict[str, Any] = {
            "iss": issuer or self.issuer,
            "sub": subject or self.subject,
            "aud": self.audience if audience is None else audience,
            "client_id": client_id or self.client_id,
            "iat": issued,
            "exp": expires,
            "jti": secrets.token_hex(8),
        }
        if isinstance(payload["aud"], (list, tuple)):
            payload["aud"] = list(payload["aud"])
        if scopes:
            payload["scope"] = " ".join(scopes)
        payload.update(claims or {})
        for name in omit:
            payload.pop(name, None)
        header: dict[str, Any] = {"alg": algorithm, "typ": typ or self.typ, "kid": kid or self.kid}
        header.update(headers or {})
        header = {name: value for name, value in header.items() if value is not None}
        return self.sign(header, _json(payload), wrong_key=wrong_key)

    def sign(self, header: Mapping[str, Any], payload: bytes, *, wrong_key: bool = False) -> str:
        """Sign exactly these payload bytes under this header (its ``alg`` decides).

        For tokens :meth:`mint` cannot spell: duplicate claims, odd encodings.
        """
        algorithm = str(header.get("alg"))
        family = _FAMILIES.get(algorithm)
        if family is None:
            raise ValueError(f"LocalIssuer cannot sign with {algorithm!r}")
        signing_input = f"{_b64url(_json(header))}.{_b64url(payload)}"
        if family == "none":
            return signing_input + "."
        signer = get_default_algorithms()[algorithm]
        key = signer.prepare_key(self._key(family, other=wrong_key))
        return f"{signing_input}.{_b64url(signer.sign(signing_input.encode('ascii'), key))}"

    def jwks(self) -> dict[str, Any]:
        """The JWKS document this issuer publishes: its public key, with ``kid``.

        Raises:
            ValueError: an HMAC issuer publishes no key.
        """
        family = _FAMILIES[self.algorithm]
        if family == "HMAC":
            raise ValueError("an HMAC issuer publishes no JWKS: use verifier() with its key")
        jwk: dict[str, Any] = json.loads(
            get_default_algorithms()[self.algorithm].to_jwk(self.public_key)
        )
        jwk.update(alg=self.algorithm, use="sig")
        if self.kid is not None:
            jwk["kid"] = self.kid
        return {"keys": [jwk]}

    def verifier(self, *, jwks: bool = False, **options: Any) -> JWTVerifier:
        """A :class:`~bearerguard.JWTVerifier` that trusts this issuer's tokens.

        Args:
            jwks: Find the key through the issuer's JWKS (served from memory, never
                fetched) instead of holding it: ``kid`` matters then.
            options: Any other :class:`~bearerguard.JWTVerifier` argument, replacing
                the issuer's (``leeway=0``, ``typ="at+jwt"``, ``audience=...``).
        """
        settings: dict[str, Any] = {
            "issuer": self.issuer,
            "audience": self.audience,
            "algorithms": [self.algorithm],
            "clock": self.clock,
        }
        if jwks:
            settings.update(jwks_url=self.jwks_url, jwks_fetcher=self._serve_jwks)
        else:
            settings["key"] = self.public_key
        settings.update(options)
        return JWTVerifier(**settings)

    def _serve_jwks(self, url: str, timeout: float) -> bytes:
        if url != self.jwks_url:
            raise OSError(f"LocalIssuer serves only {self.jwks_url}")
        return _json(self.jwks())

    def _key(self, family: str, *, other: bool = False) -> Any:
        key = self._keys.get((family, other))
        if key is None:
            key = self._keys[(family, other)] = _generate(family)
        return key
