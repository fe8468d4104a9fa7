"""Hostile tokens against JWTVerifier (security cases J-01..J-16), directly and through
a Guard (W-03: every one is a 401 with a fixed description, never a 500 or 503).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from bearerguard import Guard, JWTVerifier
from bearerguard.exceptions import AuthError, UnauthenticatedError

from .conftest import AUDIENCE


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def hs256(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    """HS256 by hand: PyJWT itself refuses to sign with a PEM or SSH public key."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: str = "") -> str:
    return (
        f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}.{signature}"
    )


def segments(token: str) -> list[str]:
    return token.split(".")


def public_key_encodings(keys: Any) -> dict[str, bytes]:
    """Every way an issuer's RSA public key is commonly written down."""
    public = keys.rsa.public_key()
    encodings = {
        "spki-pem": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "pkcs1-pem": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
        ),
        "spki-der": public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "pkcs1-der": public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.PKCS1
        ),
        "openssh": public.public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        ),
        "jwk-json": json.dumps(keys.jwk("RS256", "k1")).encode(),
    }
    encodings["ecdsa-openssh"] = keys.ec.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return encodings


ENCODINGS = ["spki-pem", "pkcs1-pem", "spki-der", "pkcs1-der", "openssh", "jwk-json"]

# -- J-01 alg none ------------------------------------------------------------------------

NONE_SPELLINGS = ["none", "None", "NONE", "nOnE", "", " none", "none "]


@pytest.mark.parametrize("alg", NONE_SPELLINGS)
@pytest.mark.parametrize("verifier_alg", ["RS256", "ES256", "HS256"])
@pytest.mark.parametrize("signature", ["", "c2ln"], ids=["empty-sig", "junk-sig"])
def test_J01_alg_none_every_spelling(
    keys: Any, make_verifier: Any, alg: str, verifier_alg: str, signature: str
) -> None:
    token = unsigned({"alg": alg, "typ": "JWT"}, keys.claims(), signature)
    with pytest.raises(UnauthenticatedError):
        make_verifier(verifier_alg).verify(token)


def test_J01_header_without_alg(keys: Any, make_verifier: Any) -> None:
    with pytest.raises(UnauthenticatedError):
        make_verifier().verify(keys.raw({"typ": "JWT"}, keys.claims()))


@pytest.mark.parametrize("alg", NONE_SPELLINGS)
def test_J01_none_is_refused_as_configuration(alg: str) -> None:
    with pytest.raises(ValueError, match=r"none|unsupported|algorithm"):
        JWTVerifier(audience=AUDIENCE, key=b"s" * 64, algorithms=[alg])


# -- J-02 / J-03 / J-16 key confusion and HMAC secrets ------------------------------------


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("configured_as", ["object", "pem"])
def test_J02_hs256_signed_with_the_public_key(
    keys: Any, make_verifier: Any, encoding: str, configured_as: str
) -> None:
    secret = public_key_encodings(keys)[encoding]
    token = hs256({"alg": "HS256", "typ": "JWT"}, keys.claims(), secret)
    key = keys.public("RS256") if configured_as == "object" else keys.rsa_public_pem()
    with pytest.raises(UnauthenticatedError):
        make_verifier("RS256", key=key).verify(token)


def test_J02_rs256_verifier_configured_with_a_jwk_dict(keys: Any, make_verifier: Any) -> None:
    verifier = make_verifier("RS256", key=keys.jwk("RS256", "k1"))
    assert verifier.verify(keys.token())
    token = hs256({"alg": "HS256"}, keys.claims(), json.dumps(keys.jwk("RS256", "k1")).encode())
    with pytest.raises(UnauthenticatedError):
        verifier.verify(token)


@pytest.mark.parametrize(
    "algorithms",
    [
        pytest.param(["RS256", "HS256"], id="RS-HS"),
        pytest.param(["HS256", "RS256"], id="HS-RS"),
        pytest.param(["ES256", "HS512"], id="ES-HS"),
        pytest.param(["HS384", "PS256"], id="HS-PS"),
        pytest.param(["EdDSA", "HS256"], id="EdDSA-HS"),
    ],
)
def test_J03_mixed_hmac_and_public_key_algorithms_refused(keys: Any, algorithms: list[str]) -> None:
    for key in (keys.public("RS256"), keys.hmac * 2):
        with pytest.raises(ValueError, match="mixed"):
            JWTVerifier(audience=AUDIENCE, key=key, algorithms=algorithms)


@pytest.mark.parametrize(
    ("encoding", "as_text"),
    [
        *[pytest.param(name, False, id=f"{name}-bytes") for name in [*ENCODINGS, "ecdsa-openssh"]],
        *[
            pytest.param(name, True, id=f"{name}-str")
            for name in [*ENCODINGS, "ecdsa-openssh"]
            if not name.endswith("der")  # DER is binary
        ],
    ],
)
def test_J03_hmac_verifier_given_a_public_key_refused(
    keys: Any, encoding: str, as_text: bool
) -> None:
    key: bytes | str = public_key_encodings(keys)[encoding]
    if as_text:
        key = key.decode()
    with pytest.raises(ValueError, match="public key"):
        JWTVerifier(audience=AUDIENCE, key=key, algorithms=["HS256"])


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(lambda keys: keys.public("RS256"), id="rsa-object"),
        pytest.param(lambda keys: keys.public("ES256"), id="ec-object"),
        pytest.param(lambda keys: keys.jwk("RS256", "k1"), id="rsa-jwk-dict"),
        pytest.param(lambda keys: 12345678901234567890123456789012, id="int"),
    ],
)
def test_J03_hmac_verifier_given_a_key_object_refused(keys: Any, key: Callable[[Any], Any]) -> None:
    with pytest.raises(ValueError, match=r"HMAC|secret|JWK|public key"):
        JWTVerifier(audience=AUDIENCE, key=key(keys), algorithms=["HS256"])


def test_J03_public_key_verifier_given_a_symmetric_jwk_refused(keys: Any) -> None:
    oct_jwk = {"kty": "oct", "k": b64url(keys.hmac)}
    with pytest.raises(ValueError, match="symmetric"):
        JWTVerifier(audience=AUDIENCE, key=oct_jwk, algorithms=["RS256"])


def test_J03_hmac_verifier_with_oct_jwk_works(keys: Any, make_verifier: Any) -> None:
    verifier = make_verifier("HS256", key={"kty": "oct", "k": b64url(keys.hmac)})
    assert verifier.verify(keys.token("HS256")).subject == "user-1"


@pytest.mark.parametrize(
    ("algorithms", "length"),
    [
        pytest.param(["HS256"], 0, id="HS256-empty"),
        pytest.param(["HS256"], 16, id="HS256-16"),
        pytest.param(["HS256"], 31, id="HS256-31"),
        pytest.param(["HS384"], 47, id="HS384-47"),
        pytest.param(["HS512"], 63, id="HS512-63"),
        pytest.param(["HS256", "HS512"], 32, id="HS256+HS512-32"),
    ],
)
def test_J16_short_hmac_secret_refused(algorithms: list[str], length: int) -> None:
    with pytest.raises(ValueError, match="at least"):
        JWTVerifier(audience=AUDIENCE, key=b"k" * length, algorithms=algorithms)


def test_J16_hmac_secret_of_hash_size_accepted(keys: Any, make_verifier: Any) -> None:
    assert len(keys.hmac) == 32
    assert make_verifier("HS256", key=keys.hmac).verify(keys.token("HS256"))


def test_J16_hmac_secret_as_text(keys: Any, make_verifier: Any) -> None:
    secret = "correct horse battery staple, 32+ bytes"
    token = jwt.encode(keys.claims(), secret, algorithm="HS256")
    assert make_verifier("HS256", key=secret).verify(token)


def test_J16_wrong_hmac_secret(keys: Any, make_verifier: Any) -> None:
    token = jwt.encode(keys.claims(), b"x" * 32, algorithm="HS256")
    with pytest.raises(UnauthenticatedError):
        make_verifier("HS256").verify(token)


# -- J-04 algorithm and key policy ----------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS384", "RS512", "PS256", "PS512"])
def test_J04_rsa_algorithm_outside_the_list(keys: Any, make_verifier: Any, alg: str) -> None:
    token = keys.token(alg, key=keys.rsa)
    with pytest.raises(UnauthenticatedError):
        make_verifier("RS256").verify(token)


def test_J04_es384_token_against_es256(keys: Any, make_verifier: Any) -> None:
    p384 = ec.generate_private_key(ec.SECP384R1())
    token = keys.token("ES384", key=p384)
    with pytest.raises(UnauthenticatedError):
        make_verifier("ES256").verify(token)
    # The same curve key with the wrong algorithm label is refused at construction.
    with pytest.raises(ValueError, match="ES256"):
        JWTVerifier(audience=AUDIENCE, key=p384.public_key(), algorithms=["ES256"])


def test_J04_rsa_key_below_2048_bits_refused(keys: Any) -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    with pytest.raises(ValueError, match="too small"):
        JWTVerifier(audience=AUDIENCE, key=small.public_key(), algorithms=["RS256"])


def test_J04_wrong_key_same_algorithm(keys: Any, make_verifier: Any) -> None:
    with pytest.raises(UnauthenticatedError):
        make_verifier("RS256").verify(keys.token("RS256", key=keys.rsa2))


def test_J04_rsa_and_ec_algorithms_need_matching_key(keys: Any) -> None:
    with pytest.raises(ValueError, match="does not fit"):
        JWTVerifier(audience=AUDIENCE, key=keys.public("RS256"), algorithms=["RS256", "ES256"])
    verifier = JWTVerifier(
        audience=AUDIENCE, key=keys.public("RS256"), algorithms=["RS256", "PS256"]
    )
    assert verifier.algorithms == ("RS256", "PS256")


# -- J-05 degenerate signatures ------------------------------------------------------------


def _with_signature(token: str, signature: bytes | str) -> str:
    head, payload, _ = segments(token)
    encoded = signature if isinstance(signature, str) else b64url(signature)
    return f"{head}.{payload}.{encoded}"


def _es256_der_signature(keys: Any, token: str) -> bytes:
    r_s = base64.urlsafe_b64decode(segments(token)[2] + "==")
    r, s = int.from_bytes(r_s[:32], "big"), int.from_bytes(r_s[32:], "big")
    return encode_dss_signature(r, s)


DEGENERATE = [
    pytest.param("RS256", lambda keys, t: b"", id="RS256-empty"),
    pytest.param("RS256", lambda keys, t: b"\0" * 256, id="RS256-zeros"),
    pytest.param("RS256", lambda keys, t: b"\1", id="RS256-one-byte"),
    pytest.param(
        "RS256",
        lambda keys, t: base64.urlsafe_b64decode(segments(t)[2] + "==")[:-1],
        id="RS256-truncated",
    ),
    pytest.param("ES256", lambda keys, t: b"", id="ES256-empty"),
    pytest.param("ES256", lambda keys, t: b"\0" * 64, id="ES256-r-s-zero"),
    pytest.param(
        "ES256", lambda keys, t: b"\0" * 63 + b"\1" + b"\0" * 63 + b"\1", id="ES256-r-s-one"
    ),
    pytest.param("ES256", lambda keys, t: b"\0" * 65, id="ES256-wrong-length"),
    pytest.param("ES256", _es256_der_signature, id="ES256-der-encoded"),
    pytest.param("HS256", lambda keys, t: b"", id="HS256-empty"),
    pytest.param("HS256", lambda keys, t: b"\0" * 32, id="HS256-zeros"),
    pytest.param(
        "HS256",
        lambda keys, t: base64.urlsafe_b64decode(segments(t)[2] + "==")[:16],
        id="HS256-prefix",
    ),
]


@pytest.mark.parametrize(("alg", "make_signature"), DEGENERATE)
def test_J05_degenerate_signatures(
    keys: Any, make_verifier: Any, alg: str, make_signature: Callable[[Any, str], bytes]
) -> None:
    good = keys.token(alg)
    token = _with_signature(good, make_signature(keys, good))
    assert token != good
    with pytest.raises(UnauthenticatedError):
        make_verifier(alg).verify(token)


def test_J05_signature_moved_to_another_payload(keys: Any, make_verifier: Any) -> None:
    victim = keys.token(sub="user-1")
    forged = keys.token(sub="admin")
    token = f"{segments(victim)[0]}.{segments(forged)[1]}.{segments(victim)[2]}"
    with pytest.raises(UnauthenticatedError):
        make_verifier().verify(token)


# -- J-06 key material in the header -------------------------------------------------------


def test_J06_embedded_jwk_is_ignored(keys: Any, make_verifier: Any) -> None:
    attacker_jwk = keys.jwk("RS256", "evil", key=keys.rsa2)
    token = keys.token("RS256", key=keys.rsa2, headers={"jwk": attacker_jwk, "kid": "evil"})
    with pytest.raises(UnauthenticatedError):
        make_verifier().verify(token)


def test_J06_x5c_is_ignored(keys: Any, make_verifier: Any) -> None:
    der = keys.rsa2.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = keys.token("RS256", key=keys.rsa2, headers={"x5c": [base64.b64encode(der).decode()]})
    with pytest.raises(UnauthenticatedError):
        make_verifier().verify(token)


def test_J06_header_urls_are_not_needed_for_a_good_token(
    keys: Any, make_verifier: Any, attacker_server: Any
) -> None:
    # Signed by the real key: the extra header members change nothing and fetch nothing.
    headers = {"jku": attacker_server.url, "x5u": attacker_server.url}
    assert make_verifier().verify(keys.token(headers=headers)).subject == "user-1"
    assert attacker_server.requests == 0


# -- J-07 kid injection --------------------------------------------------------------------

KID_VALUES = [
    pytest.param("../../../../dev/null", id="path-traversal"),
    pytest.param("' OR 1=1 --", id="sql"),
    pytest.param("k" * 10_000, id="10KB"),
    pytest.param('a"\r\nX-Injected: 1', id="header-injection"),
    pytest.param("\u0000", id="nul"),
]
NON_STRING_KIDS = [
    pytest.param(5, id="int"),
    pytest.param(None, id="null"),
    pytest.param({}, id="object"),
    pytest.param([], id="list"),
    pytest.param(True, id="bool"),
]


@pytest.mark.parametrize("kid", KID_VALUES)
def test_J07_kid_injection_strings_with_the_attacker_key(
    keys: Any, make_verifier: Any, kid: str
) -> None:
    with pytest.raises(UnauthenticatedError) as caught:
        make_verifier().verify(keys.token(key=keys.rsa2, headers={"kid": kid}))
    assert kid not in caught.value.description


@pytest.mark.parametrize("kid", NON_STRING_KIDS)
def test_J07_kid_not_a_string(keys: Any, make_verifier: Any, kid: Any) -> None:
    token = keys.raw({"alg": "RS256", "kid": kid}, keys.claims())
    with pytest.raises(UnauthenticatedError):
        make_verifier().verify(token)


# -- J-08 crit -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "crit",
    [
        pytest.param(["exp"], id="unknown-extension"),
        pytest.param(["http://example.com/ext"], id="unknown-uri"),
        pytest.param([], id="empty-list"),
        pytest.param("b64", id="not-a-list"),
        pytest.param([5], id="non-string-member"),
        pytest.param(["b64"], id="b64-listed-but-absent"),
        pytest.param(None, id="null"),
    ],
)
def test_J08_crit(keys: Any, make_verifier: Any, crit: Any) -> None:
    token = keys.raw({"alg": "RS256", "crit": crit, "exp": 1}, keys.claims())
    with pytest.raises(UnauthenticatedError):
        make_verifier().verify(token)


def test_J08_b64_false_detached_payload_refused(keys: Any, make_verifier: Any) -> None:
    token = keys.raw({"alg": "RS256", "b64": False, "crit": ["b64"]}, keys.claims())
    with pytest.raises(UnauthenticatedError):
        make_verifier().verify(token)


# -- J-09 / J-10 structure -----------------------------------------------------------------


def test_J09_five_segments_jwe_not_accepted(keys: Any, make_verifier: Any) -> None:
    header = b64url(json.dumps({"alg": "RSA-OAEP", "enc": "A256GCM", "zip": "DEF"}).encode())
    parts = [header, *(b64url(part) for part in (b"k" * 256, b"iv" * 6, b"c" * 100, b"t" * 16))]
    token = ".".join(parts)
    verifier = make_verifier()
    assert not verifier.accepts(token)
    with pytest.raises(UnauthenticatedError):
        verifier.verify(token)


def test_J09_nested_jwt_cty_is_not_unwrapped(keys: Any, make_verifier: Any) -> None:
    inner = keys.token()
    outer = keys.raw({"alg": "RS256", "cty": "JWT"}, inner.encode())
    with pytest.raises(UnauthenticatedError):
        make_verifier().verify(outer)


def test_J10_four_segments_not_accepted(keys: Any, make_verifier: Any) -> None:
    token = keys.token() + ".e30"
    verifier = make_verifier()
    assert not verifier.accepts(token)
    with pytest.raises(UnauthenticatedError):
        verifier.verify(token)


GARBAGE = [
    pytest.param("", id="empty"),
    pytest.param(".", id="dot"),
    pytest.param("..", id="two-dots"),
    pytest.param("...", id="three-dots"),
    pytest.param("a.b", id="two-segments"),
    pytest.param("a.b.c.d", id="four-segments"),
    pytest.param("a.b.c", id="short-segments"),
    pytest.param("eyJhbGciOiJSUzI1NiJ9=.e30.c2ln", id="padding"),
    pytest.param("eyJhbGciOiJSUzI1NiJ9.e30=.c2ln", id="payload-padding"),
    pytest.param("eyJhbGciOiJSUzI1N$J9.e30.c2ln", id="char-outside-alphabet"),
    pytest.param("eyJhbGciOiJSUzI1NiJ9.e30.c2ln\n", id="trailing-newline"),
    pytest.param("eyJhbGciOiJSUzI1NiJ9.e30.c", id="one-char-signature"),
    pytest.param("eyJhbGciOiJSUzI1NiJ9.e.c2ln", id="one-char-payload"),
    pytest.param("W10.e30.c2ln", id="header-array"),
    pytest.param("ImhlYWRlciI.e30.c2ln", id="header-string"),
    pytest.param("NQ.e30.c2ln", id="header-number"),
    pytest.param("bnVsbA.e30.c2ln", id="header-null"),
    pytest.param("e30.e30.c2ln", id="header-empty-object"),
    pytest.param("eyJhbGciOjV9.e30.c2ln", id="alg-number"),
    pytest.param("eyJhbGciOm51bGx9.e30.c2ln", id="alg-null"),
    pytest.param("eyJhbGciOlsiUlMyNTYiXX0.e30.c2ln", id="alg-list"),
    pytest.param("eyJhbGciOiJSUzI1NiJ.e30.c2ln", id="header-truncated-json"),
    pytest.param("_w.e30.c2ln", id="header-not-utf8"),
    pytest.param("eyJhbGciOiJSUzI1NiJ9" * 200 + ".e30.c2ln", id="long-header"),
    pytest.param("\u00e9.e30.c2ln", id="non-ascii"),
    pytest.param("eyJhbGciOiJSUzI1NiJ9.\ud800.c2ln", id="lone-surrogate-in-token"),
]


@pytest.mark.parametrize("token", GARBAGE)
@pytest.mark.parametrize("alg", ["RS256", "HS256"])
def test_J10_structural_garbage(make_verifier: Any, token: str, alg: str) -> None:
    with pytest.raises(UnauthenticatedError):
        make_verifier(alg).verify(token)


@pytest.mark.anyio
@pytest.mark.parametrize("token", GARBAGE[:6])
async def test_J10_structural_garbage_async(make_verifier: Any, token: str) -> None:
    with pytest.raises(UnauthenticatedError):
        await make_verifier().averify(token)


# -- J-11 base64url malleability -----------------------------------------------------------

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _flip_unused_bits(segment: str) -> str:
    """Change the last character without changing the decoded bytes."""
    unused = {2: 4, 3: 2}[len(segment) % 4]
    index = _ALPHABET.index(segment[-1])
    twin = _ALPHABET[index | ((1 << unused) - 1)]
    assert twin != segment[-1]
    assert base64.urlsafe_b64decode(segment + "==") == base64.urlsafe_b64decode(
        segment[:-1] + twin + "=="
    )
    return segment[:-1] + twin


@pytest.mark.parametrize("alg", ["RS256", "ES256", "HS256"])
@pytest.mark.parametrize("part", [0, 1, 2], ids=["header", "payload", "signature"])
def test_J11_non_canonical_base64_refused(
    keys: Any, make_verifier: Any, alg: str, part: int
) -> None:
    # Pad the claims until the segment has unused bits (length mod 4 is 2 or 3).
    for filler in range(4):
        token = keys.token(alg, headers={"x": "y" * filler}, jti="j" * filler)
        if len(segments(token)[part]) % 4 in (2, 3):
            break
    parts = segments(token)
    parts[part] = _flip_unused_bits(parts[part])
    twin = ".".join(parts)
    verifier = make_verifier(alg)
    assert verifier.verify(token)
    with pytest.raises(UnauthenticatedError):
        verifier.verify(twin)


@pytest.mark.parametrize(
    ("old", "new"), [("-", "+"), ("_", "/")], ids=["plus-for-minus", "slash-for-underscore"]
)
def test_J11_standard_alphabet_not_accepted(
    keys: Any, make_verifier: Any, old: str, new: str
) -> None:
    for n in range(200):
        token = keys.token(jti=str(n))
        if old in token:
            break
    twin = token.replace(old, new)
    verifier = make_verifier()
    assert not verifier.accepts(twin)
    with pytest.raises(UnauthenticatedError):
        verifier.verify(twin)


# -- J-12 / J-13 parser hazards --------------------------------------------------------------


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_J12_deeply_nested_header(keys: Any, make_verifier: Any, depth: int) -> None:
    header = b'{"alg":"RS256","x":' + b"[" * depth + b"]" * depth + b"}"
    token = f"{b64url(header)}.{b64url(json.dumps(keys.claims()).encode())}.c2ln"
    with pytest.raises(UnauthenticatedError):
        make_verifier().verify(token)


@pytest.mark.parametrize(
    ("encode", "part"),
    [
        pytest.param(lambda text: text.encode("utf-16"), "header", id="header-utf16-bom"),
        pytest.param(lambda text: text.encode("utf-16-le"), "header", id="header-utf16le"),
        pytest.param(lambda text: text.encode("utf-16-be"), "header", id="header-utf16be"),
        pytest.param(lambda text: text.encode("utf-32"), "header", id="header-utf32"),
        pytest.param(lambda text: text.encode("utf-8-sig"), "header", id="header-utf8-bom"),
        pytest.param(lambda text: text.encode("utf-16"), "payload", id="payload-utf16-bom"),
        pytest.param(lambda text: text.encode("utf-16-le"), "payload", id="payload-utf16le"),
        pytest.param(lambda text: text.encode("utf-16-be"), "payload", id="payload-utf16be"),
        pytest.param(lambda text: text.encode("utf-32-le"), "payload", id="payload-utf32le"),
        pytest.param(lambda text: text.encode("utf-8-sig"), "payload", id="payload-utf8-bom"),
    ],
)
def test_J13_json_not_in_utf8_refused(
    keys: Any, make_verifier: Any, encode: Callable[[str], bytes], part: str
) -> None:
    header = json.dumps({"alg": "RS256"})
    payload = json.dumps(keys.claims())
    if part == "header":
        token = keys.raw(encode(header), payload.encode())
    else:
        token = keys.raw(header.encode(), encode(payload))
    # PyJWT alone accepts these (json.loads detects the encoding): prove the signature is good.
    assert jwt.decode(
        token,
        keys.public("RS256"),
        algorithms=["RS256"],
        audience=keys.audience,
        options={"verify_exp": False, "verify_iat": False},
    )
    with pytest.raises(UnauthenticatedError):
        make_verifier().verify(token)


def test_J13_json_with_leading_whitespace_is_utf8_and_fine(keys: Any, make_verifier: Any) -> None:
    token = keys.raw(b' \n{"alg":"RS256"}', b"\t" + json.dumps(keys.claims()).encode())
    assert make_verifier().verify(token).subject == "user-1"


def test_J15_duplicate_alg_last_one_wins(keys: Any, make_verifier: Any) -> None:
    good = keys.raw(b'{"alg":"none","alg":"RS256"}', json.dumps(keys.claims()).encode())
    assert make_verifier().verify(good)
    bad = keys.raw(b'{"alg":"RS256","alg":"none"}', json.dumps(keys.claims()).encode())
    with pytest.raises(UnauthenticatedError):
        make_verifier().verify(bad)


# -- W-03: the same corpus through a Guard -----------------------------------------------------

INJECTED_KID = 'kid-"inject"\\ X-Evil: 1'
FIXED_DESCRIPTIONS = {
    "The access token is invalid",
    "The access token expired",
    "The access token is not yet valid",
    "The access token is for another audience",
    "The access token is from another issuer",
    "The access token has malformed claims",
    "The access token is not recognised",
    "The access token's signing key is unknown",
    "The access token's algorithm is not accepted",
}


KID = {"kid": INJECTED_KID}
_NESTED = b'{"alg":"RS256","x":' + b"[" * 1_000 + b"]" * 1_000 + b"}"


def _good_parts(keys: Any) -> list[str]:
    return segments(keys.token(headers=KID))


def _claims_with(keys: Any, **changes: Any) -> dict[str, Any]:
    return {**keys.claims(), **changes}


def _non_canonical(keys: Any) -> str:
    for filler in range(4):
        head, payload, signature = segments(keys.token(headers={**KID, "x": "y" * filler}))
        if len(signature) % 4 in (2, 3):
            return f"{head}.{payload}.{_flip_unused_bits(signature)}"
    raise AssertionError("no signature length with unused bits")


# One hostile token per case id, carrying the injected kid wherever a header allows it.
CORPUS: dict[str, Callable[[Any], str]] = {
    "J01-none": lambda k: unsigned({"alg": "none", **KID}, k.claims()),
    "J01-NoNe-with-sig": lambda k: unsigned({"alg": "NoNe", **KID}, k.claims(), "c2ln"),
    "J02-hs256-public-pem": lambda k: hs256(
        {"alg": "HS256", **KID}, k.claims(), k.rsa_public_pem()
    ),
    "J04-rs512": lambda k: k.token("RS512", key=k.rsa, headers=KID),
    "J04-wrong-key": lambda k: k.token(key=k.rsa2, headers=KID),
    "J05-empty-sig": lambda k: ".".join(_good_parts(k)[:2]) + ".",
    "J05-zero-sig": lambda k: ".".join(_good_parts(k)[:2]) + "." + b64url(bytes(256)),
    "J06-jwk": lambda k: k.token(
        key=k.rsa2, headers={**KID, "jwk": k.jwk("RS256", "e", key=k.rsa2)}
    ),
    "J07-kid-int": lambda k: k.raw({"alg": "RS256", "kid": 5}, k.claims()),
    "J07-kid-traversal": lambda k: k.token(key=k.rsa2, headers={"kid": "../../../../dev/null"}),
    "J08-crit": lambda k: k.raw({"alg": "RS256", "crit": ["exp"], **KID}, k.claims()),
    "J10-header-array": lambda k: "W10.e30.c2ln",
    "J10-alg-number": lambda k: "eyJhbGciOjV9.e30.c2ln",
    "J10-short": lambda k: "a.b.c",
    "J11-non-canonical-signature": _non_canonical,
    "J12-nested-header": lambda k: b64url(_NESTED) + "." + ".".join(_good_parts(k)[1:]),
    "J13-utf16-payload": lambda k: k.raw(
        {"alg": "RS256", **KID}, json.dumps(k.claims()).encode("utf-16")
    ),
    "J14-surrogate-sub": lambda k: k.raw(
        {"alg": "RS256", **KID},
        json.dumps(k.claims()).encode().replace(b'"user-1"', b'"\\ud800"'),
    ),
    "CL01-expired": lambda k: k.token(headers=KID, exp=int(k.now) - 3600),
    "CL02-no-exp": lambda k: k.token(headers=KID, exp=None),
    "CL03-nbf-future": lambda k: k.token(headers=KID, nbf=int(k.now) + 3600),
    "CL03-iat-future": lambda k: k.token(headers=KID, iat=int(k.now) + 3600),
    "CL04-exp-string": lambda k: k.raw({"alg": "RS256", **KID}, _claims_with(k, exp="9999999999")),
    "CL04-exp-null": lambda k: k.raw({"alg": "RS256", **KID}, _claims_with(k, exp=None)),
    "CL04-exp-list": lambda k: k.raw({"alg": "RS256", **KID}, _claims_with(k, exp=[])),
    "CL04-exp-object": lambda k: k.raw({"alg": "RS256", **KID}, _claims_with(k, exp={})),
    "CL04-nbf-null": lambda k: k.raw({"alg": "RS256", **KID}, _claims_with(k, nbf=None)),
    "CL04-exp-1e400": lambda k: k.raw(
        {"alg": "RS256", **KID},
        json.dumps(_claims_with(k, exp=0)).encode().replace(b'"exp": 0', b'"exp": 1e400'),
    ),
    "CL05-iss-suffix": lambda k: k.token(headers=KID, iss=k.issuer + ".evil"),
    "CL06-aud-other": lambda k: k.token(headers=KID, aud="billing-api"),
    "CL08-sub-int": lambda k: k.raw({"alg": "RS256", **KID}, _claims_with(k, sub=5)),
    "CL08-client-id-list": lambda k: k.raw({"alg": "RS256", **KID}, _claims_with(k, client_id=[])),
    "CL09-scope-int": lambda k: k.raw({"alg": "RS256", **KID}, _claims_with(k, scope=5)),
}


def _guard(verifier: JWTVerifier, wall: Any) -> Guard:
    return Guard([verifier], public_paths=["/health"], clock=wall)


def _assert_clean_401(guard: Guard, error: AuthError, token: str) -> None:
    status, headers, body = guard.render(error)
    assert status == 401, error
    assert error.error_code == "invalid_token"
    assert error.description in FIXED_DESCRIPTIONS
    rendered = "\n".join(f"{name}: {value}" for name, value in headers) + body.decode()
    for leak in (token, INJECTED_KID, "inject", "X-Evil", "../", "Traceback", "Signature ver"):
        assert leak not in rendered
    for _, value in headers:
        assert "\r" not in value
        assert "\n" not in value
    challenge = dict(headers)["www-authenticate"]
    assert f'error_description="{error.description}"' in challenge


@pytest.mark.parametrize("case", list(CORPUS))
def test_W03_corpus_case_is_refused_by_the_verifier(
    keys: Any, make_verifier: Any, case: str
) -> None:
    with pytest.raises(UnauthenticatedError):
        make_verifier().verify(CORPUS[case](keys))


@pytest.mark.parametrize("case", list(CORPUS))
@pytest.mark.parametrize("path", ["/api/payment/1", "/health"], ids=["protected", "public"])
def test_W03_every_case_is_a_clean_401_through_the_guard(
    keys: Any, make_verifier: Any, wall: Any, case: str, path: str
) -> None:
    token = CORPUS[case](keys)
    guard = _guard(make_verifier(), wall)
    with pytest.raises(AuthError) as caught:
        guard.check("GET", path, f"Bearer {token}")
    _assert_clean_401(guard, caught.value, token)
    # Twice: the second answer may come from the negative cache and must be the same.
    with pytest.raises(AuthError) as again:
        guard.check("GET", path, f"Bearer {token}")
    assert again.value.description == caught.value.description


@pytest.mark.anyio
@pytest.mark.parametrize("case", list(CORPUS))
async def test_W03_every_case_is_a_clean_401_through_acheck(
    keys: Any, make_verifier: Any, wall: Any, case: str
) -> None:
    token = CORPUS[case](keys)
    guard = _guard(make_verifier(), wall)
    with pytest.raises(AuthError) as caught:
        await guard.acheck("GET", "/api/payment/1", f"Bearer {token}")
    _assert_clean_401(guard, caught.value, token)


def test_W03_the_good_token_passes_the_same_guard(keys: Any, make_verifier: Any, wall: Any) -> None:
    guard = _guard(make_verifier(), wall)
    principal = guard.check("GET", "/api/payment/1", f"Bearer {keys.token()}")
    assert principal is not None
    assert principal.subject == "user-1"
