"""Where bearerguard is stricter than ``jwt.decode``, with PyJWT as the oracle.

PyJWT verifies every token (the signature and the registered claims); the verifier's
pre-checks refuse a few things PyJWT takes. Each test shows PyJWT accepting the token
and the verifier refusing it, so a PyJWT upgrade that changes either side shows here:
``b64``/``crit`` headers (RFC 7797 is not supported), padded base64url (J-11), and
UTF-8-encoded surrogates (J-13, J-14; PyJWT decodes JSON bytes with ``surrogatepass``).
"""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest

from bearerguard import JWTVerifier
from bearerguard.exceptions import UnauthenticatedError

from .conftest import AUDIENCE, ISSUER, Keys


@pytest.mark.parametrize(
    "header",
    [
        pytest.param({"alg": "RS256", "crit": ["b64"], "b64": True}, id="crit-b64-true"),
        pytest.param({"alg": "RS256", "b64": True}, id="b64-true"),
        pytest.param({"alg": "RS256", "b64": "false"}, id="b64-not-a-bool"),
    ],
)
def test_b64_and_crit_refused_where_pyjwt_accepts(
    keys: Keys, make_verifier: Any, header: dict[str, Any]
) -> None:
    # PyJWT understands b64 (RFC 7797) and takes these; nothing here understands it.
    token = keys.raw(header, keys.claims())
    assert jwt.decode(
        token,
        keys.public("RS256"),
        algorithms=["RS256"],
        audience=AUDIENCE,
        options={"verify_exp": False, "verify_iat": False},
    )
    with pytest.raises(UnauthenticatedError, match="invalid"):
        make_verifier().verify(token)


def test_padding_refused_where_pyjwt_accepts(keys: Keys, make_verifier: Any) -> None:
    head, payload, signature = keys.token().split(".")
    assert len(signature) % 4  # an RSA-2048 signature is 342 characters
    padded = f"{head}.{payload}.{signature}" + "=" * (-len(signature) % 4)
    assert jwt.decode(
        padded,
        keys.public("RS256"),
        algorithms=["RS256"],
        audience=AUDIENCE,
        options={"verify_exp": False, "verify_iat": False},
    )
    with pytest.raises(UnauthenticatedError, match="invalid"):
        make_verifier().verify(padded)


def test_utf8_encoded_surrogate_refused_where_pyjwt_accepts(keys: Keys, make_verifier: Any) -> None:
    payload = json.dumps(keys.claims()).encode().replace(b'"tok-1"', b'"\xed\xa0\x80"')
    token = keys.raw({"alg": "RS256"}, payload)
    claims = jwt.decode(
        token,
        keys.public("RS256"),
        algorithms=["RS256"],
        audience=AUDIENCE,
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["jti"] == "\ud800"
    with pytest.raises(UnauthenticatedError, match="invalid"):
        make_verifier().verify(token)


def test_issuer_must_be_a_string(keys: Keys) -> None:
    with pytest.raises(ValueError, match="issuer"):
        JWTVerifier(key=keys.public("RS256"), issuer=[ISSUER], audience=AUDIENCE)  # type: ignore[arg-type]
