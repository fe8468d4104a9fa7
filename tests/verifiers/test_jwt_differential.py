"""JWTVerifier against ``jwt.decode``: the same decision for every token.

The verifier frames the compact JWS and checks the claims itself, on top of PyJWT's
algorithm objects, because ``jwt.decode`` re-scans every character in Python. This
test holds it to what it did when it called ``jwt.decode``: the reference below is
that old path (``jwt.get_unverified_header`` for the JWKS key, then ``jwt.decode``
with the options the verifier passed, its error mapping, then the same principal).

For every token hypothesis builds (forged headers and payloads signed with the right
key, wrong keys, garbage signatures, tampered segments, odd padding, non-canonical
base64, non-object or non-UTF-8 JSON, ``crit``/``b64`` headers, wrong ``alg``) both
must refuse with the same description, or both accept with the same principal and
claims. The one allowed difference is the verifier's own refusals, all answered
"invalid" and listed in ``extra_refusal``: framing PyJWT tolerates (padding, J-11,
J-13), any ``crit`` or ``b64`` header, and UTF-8-encoded surrogates (PyJWT decodes
JSON bytes with ``surrogatepass``).
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import anyio
import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jwt.algorithms import get_default_algorithms

from bearerguard import JWTVerifier
from bearerguard.exceptions import UnauthenticatedError
from bearerguard.principal import Principal

from .conftest import AUDIENCE, ISSUER, NOW, Keys, b64url

INVALID = "The access token is invalid"
WRONG_AUDIENCE = "The access token is for another audience"
WRONG_ISSUER = "The access token is from another issuer"
UNKNOWN_KID = "The access token's signing key is unknown"
# What the verifier mapped to "invalid" around jwt.decode (security case F-03).
HOSTILE = (
    jwt.PyJWTError,
    TypeError,
    OverflowError,
    RecursionError,
    ValueError,
    KeyError,
    AttributeError,
    IndexError,
    UnicodeError,
)
SEGMENT = re.compile(r"[A-Za-z0-9_-]*")
DIFFERENTIAL = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

Outcome = tuple[str, Any]  # ("accepted", Principal) or ("refused", description)


@dataclass(frozen=True)
class Config:
    """One verifier configuration; ``jwks`` means keys from a (fake) JWKS URL."""

    name: str
    family: str  # the key the verifier holds: "rsa", "ec" or "hmac"
    algorithms: tuple[str, ...]
    issuer: str | None
    audience: str | list[str] | None
    jwks: bool = False


CONFIGS = [
    Config("rsa-key", "rsa", ("RS256", "PS256"), ISSUER, AUDIENCE),
    Config("ec-key", "ec", ("ES256",), None, [AUDIENCE, "reports-api"]),
    Config("hmac-key", "hmac", ("HS256",), ISSUER, None),
    Config("rsa-jwks", "rsa", ("RS256", "PS256"), ISSUER, AUDIENCE, jwks=True),
]


def verifier_key(keys: Keys, config: Config) -> Any:
    return {"rsa": keys.rsa.public_key(), "ec": keys.ec.public_key(), "hmac": keys.hmac}[
        config.family
    ]


def build(keys: Keys, config: Config) -> JWTVerifier:
    options: dict[str, Any] = {
        "algorithms": config.algorithms,
        "issuer": config.issuer,
        "audience": config.audience,
        "clock": lambda: NOW,
    }
    if not config.jwks:
        return JWTVerifier(key=verifier_key(keys, config), **options)
    jwk = json.loads(get_default_algorithms()["RS256"].to_jwk(keys.rsa.public_key()))
    document = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig"}]}).encode()
    return JWTVerifier(
        jwks_url="https://as.example.com/jwks",
        jwks_fetcher=lambda url, timeout: document,
        **options,
    )


# -- the reference: the verifier as it was around jwt.decode ---------------------------


def before(verifier: JWTVerifier, keys: Keys, config: Config, token: str) -> Outcome:
    """The old path: header for the JWKS key, ``jwt.decode``, then the principal."""
    try:
        if config.jwks:
            assert verifier.jwks is not None
            header = jwt.get_unverified_header(token)
            alg = header.get("alg")
            if not isinstance(alg, str) or alg not in config.algorithms:
                return ("refused", INVALID)
            kid = header.get("kid")
            if "kid" in header and not isinstance(kid, str):
                return ("refused", INVALID)
            key: Any = verifier.jwks.get(kid, alg)
        else:
            key = verifier_key(keys, config)
        claims = jwt.decode(
            token,
            key,
            algorithms=list(config.algorithms),
            audience=config.audience,
            issuer=config.issuer,
            options={
                "require": ["exp"],
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": config.audience is not None,
                "verify_iss": config.issuer is not None,
                "enforce_minimum_key_length": True,
            },
        )
    except UnauthenticatedError as exc:
        return ("refused", exc.description)
    except jwt.InvalidAudienceError:
        return ("refused", WRONG_AUDIENCE)
    except jwt.InvalidIssuerError:
        return ("refused", WRONG_ISSUER)
    except HOSTILE:
        return ("refused", INVALID)
    try:
        # The principal is built by the same code as before (not under test here).
        return ("accepted", verifier._principal(claims))
    except UnauthenticatedError as exc:
        return ("refused", exc.description)


def extra_refusal(token: str) -> str | None:
    """Why the verifier refuses a token the old path may have taken, if it does.

    ``"frame"``: refused before any key is looked up. ``"payload"``: the payload is
    not strict UTF-8, found only once the signature is good.
    """
    parts = token.split(".")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        return "frame"
    decoded = []
    for part in parts:
        if SEGMENT.fullmatch(part) is None or len(part) % 4 == 1:
            return "frame"  # outside the alphabet, or padded
        data = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        if b64url(data) != part:
            return "frame"  # J-11: not the canonical encoding
        decoded.append(data)
    header, payload, _ = decoded
    for data in (header, payload):
        if len(data) < 2 or not (0 < data[0] < 0x80 and 0 < data[1] < 0x80):
            return "frame"  # J-13: not UTF-8 JSON
    try:
        document = json.loads(header.decode("utf-8"))
    except UnicodeDecodeError:
        return "frame"
    except (ValueError, RecursionError):
        document = None  # refused by both
    if isinstance(document, dict) and ("crit" in document or "b64" in document):
        return "frame"
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return "payload"
    return None


def expected(verifier: JWTVerifier, keys: Keys, config: Config, token: str) -> Outcome:
    old = before(verifier, keys, config, token)
    extra = extra_refusal(token)
    if extra == "frame":
        return ("refused", INVALID)
    if extra == "payload" and old != ("refused", UNKNOWN_KID):
        return ("refused", INVALID)
    return old


def after(verifier: JWTVerifier, token: str) -> Outcome:
    try:
        return ("accepted", verifier.verify(token))
    except UnauthenticatedError as exc:  # anything else escaping fails the test (F-03)
        return ("refused", exc.description)


def after_async(verifier: JWTVerifier, token: str) -> Outcome:
    try:
        return ("accepted", anyio.run(verifier.averify, token))
    except UnauthenticatedError as exc:
        return ("refused", exc.description)


# -- token strategies --------------------------------------------------------------------

ABSENT = "<absent>"  # a member left out
ANY = "<any>"  # any JSON value at all

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=5,
)


def member(goods: list[Any], bads: list[Any], odds: int = 7) -> st.SearchStrategy[Any]:
    """Mostly a good value (``odds`` to one), else a bad or arbitrary one, so that
    enough tokens get past each check to reach the next."""
    bad = st.sampled_from([*bads, ANY]).flatmap(lambda v: JSON if v == ANY else st.just(v))
    return st.sampled_from(["good"] * odds + ["bad"]).flatmap(
        lambda pick: st.sampled_from(goods) if pick == "good" else bad
    )


def document(**members: Any) -> dict[str, Any]:
    return {name: value for name, value in members.items() if value != ABSENT}


BAD_ALGS: list[Any] = ["RS256", "PS256", "ES256", "HS256", "RS512", "none", "None", ""]
BAD_ALGS += [None, 5, ["RS256"], ABSENT]
BAD_AUDIENCES: list[Any] = ["other-api", AUDIENCE + "2", ["x"], [[AUDIENCE]], [5], [AUDIENCE, 5]]
BAD_AUDIENCES += [ABSENT, "", [], 0, False, None, 5, {"a": 1}]  # falsy ones count as missing


@st.composite
def headers(draw: Any, config: Config) -> dict[str, Any]:
    kid_goods: list[Any] = ["k1", ABSENT] if config.jwks else ["k1", "other", ABSENT]
    return {
        **document(
            alg=draw(member(list(config.algorithms), BAD_ALGS)),
            kid=draw(member(kid_goods, ["k2", "", None, 5, ["k1"], {}])),
            typ=draw(member(["JWT", "at+jwt", ABSENT], [5, None])),
            crit=draw(member([ABSENT], [["b64"], [], "b64", ["exp"], [5], ["b64", "b64"]])),
            b64=draw(member([ABSENT], [True, False, 0, 1, "false", None])),
        ),
        **draw(
            st.dictionaries(st.sampled_from(["jwk", "jku", "x5c", "x5u", "cty", "zip", "x"]), JSON)
            | st.just({})
        ),
    }


NUMERIC = ["9999999999", True, None, [], {}, 10**30, 1e300, -1]


@st.composite
def payloads(draw: Any, odds: int = 7) -> dict[str, Any]:
    """Claims; each is bad once in ``odds + 1`` draws."""
    now = int(NOW)
    claim = functools.partial(member, odds=odds)
    return {
        **document(
            exp=draw(claim([now + 300, now + 60.25, now - 20], [now - 3600, ABSENT, *NUMERIC])),
            nbf=draw(claim([ABSENT, now - 10, now + 20], [now + 3600, *NUMERIC])),
            iat=draw(claim([ABSENT, now - 10], [now + 3600, *NUMERIC])),
            iss=draw(claim([ISSUER], [ISSUER + ".evil", ISSUER + "/", "", None, 5, [ISSUER]])),
            aud=draw(claim([AUDIENCE, [AUDIENCE, "x"], ["reports-api"]], BAD_AUDIENCES)),
            sub=draw(claim(["user-1", ABSENT], ["", 5, None, "\ud800", ["x"]])),
            jti=draw(claim(["tok-1", ABSENT], [5, None, "\udfff"])),
            client_id=draw(claim([ABSENT, "cid"], [5, "\ud800", None])),
            azp=draw(claim([ABSENT, "app"], [[], "\ud800"])),
            scope=draw(claim([ABSENT, "a b", ["a", "b"]], [5, ["a", 5], "\ud800", None])),
            scp=draw(claim([ABSENT, ["c"]], ["c d", 5])),
        ),
        **draw(st.dictionaries(st.text(max_size=4), JSON, max_size=2) | st.just({})),
    }


DEEP = b'{"x":' + b"[" * 5_000 + b"]" * 5_000 + b"}"


def encode_json(value: dict[str, Any], how: str) -> bytes:
    """The JSON bytes of a header or payload, written ``how``."""
    compact = json.dumps(value, separators=(",", ":")).encode()
    return {
        "compact": compact,
        "spaced": json.dumps(value).encode(),
        "leading-space": b" \n\t" + compact,
        "duplicate": b'{"alg":"none","exp":1,' + compact[1:] if len(value) else compact,
        "utf16": json.dumps(value).encode("utf-16"),
        "utf16le": json.dumps(value).encode("utf-16-le"),
        "bom": b"\xef\xbb\xbf" + compact,
        # A surrogate as UTF-8 bytes, which only json.loads on bytes decodes.
        "raw-surrogate": b'{"x":"\xed\xa0\x80",' + compact[1:] if len(value) else compact,
        "escaped-surrogate": b'{"x":"\\ud800",' + compact[1:] if len(value) else compact,
        "not-utf8": compact[:-1] + b'"\xff"}' if len(value) else compact,
        "array": b"[" + compact + b"]",
        "string": json.dumps(compact.decode()).encode(),
        "number": b"12",
        "truncated": compact[:-1],
        "huge-number": b'{"n":1' + b"0" * 5_000 + b"," + compact[1:],
        "deep": DEEP[:-1] + b"," + compact[1:] if len(value) else DEEP,
    }[how]


# Weighted by repetition: most tokens are well formed, so that claims get checked too.
ENCODINGS = st.sampled_from(
    ["compact"] * 80
    + ["spaced"] * 8
    + [
        "leading-space",
        "duplicate",
        "utf16",
        "utf16le",
        "bom",
        "raw-surrogate",
        "escaped-surrogate",
        "not-utf8",
        "array",
        "string",
        "number",
        "truncated",
        "huge-number",
        "deep",
    ]
)
SIGNINGS = st.sampled_from(["right"] * 8 + ["wrong-key", "garbage", "empty", "hs-with-pem"])
MUTATIONS = st.sampled_from(
    ["none"] * 50
    + [
        "pad",
        "pad-two",
        "flip-unused-bits",
        "standard-alphabet",
        "insert",
        "delete",
        "fifth-segment",
        "swap-segments",
        "trailing-newline",
    ]
)
INSERTS = st.sampled_from(["A", "-", "_", "!", "=", ".", "+", "\u00e9", "*"])


def sign(keys: Keys, alg: Any, how: str, signing_input: bytes, garbage: bytes) -> bytes:
    """A signature over the header and payload segments, made ``how``."""
    if how == "garbage":
        return garbage
    if how == "empty":
        return b""
    algorithms = get_default_algorithms()
    if how == "hs-with-pem":  # algorithm confusion: the public key as an HMAC secret
        return algorithms["HS256"].sign(signing_input, keys.rsa_public_pem())
    if not isinstance(alg, str) or alg not in {"RS256", "PS256", "RS512", "ES256", "HS256"}:
        return garbage  # nothing signs for this alg: the token must fail anyway
    family = {"R": "rsa", "P": "rsa", "E": "ec", "H": "hmac"}[alg[0]]
    private: Any = {"rsa": keys.rsa, "ec": keys.ec, "hmac": keys.hmac}[family]
    if how == "wrong-key":
        if family == "ec":
            return garbage  # the session has one EC key: garbage stands in for another
        private = keys.rsa2 if family == "rsa" else bytes(32)
    algorithm = algorithms[alg]
    return algorithm.sign(signing_input, algorithm.prepare_key(private))


def mutate(token: str, how: str, where: int, insert: str) -> str:
    parts = token.split(".")
    part = where % 3
    if how == "pad":
        parts[part] += "="
    elif how == "pad-two":
        parts[part] += "=="
    elif how == "flip-unused-bits":
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        segment = parts[part]
        unused = {2: 4, 3: 2}.get(len(segment) % 4)
        if unused and segment:
            index = alphabet.index(segment[-1]) ^ (1 << (where % unused))
            parts[part] = segment[:-1] + alphabet[index]
    elif how == "standard-alphabet":
        return token.replace("-", "+").replace("_", "/")
    elif how == "insert":
        at = where % (len(token) + 1)
        return token[:at] + insert + token[at:]
    elif how == "delete" and token:
        at = where % len(token)
        return token[:at] + token[at + 1 :]
    elif how == "fifth-segment":
        return token + ".e30"
    elif how == "swap-segments":
        parts[0], parts[1] = parts[1], parts[0]
    elif how == "trailing-newline":
        return token + "\n"
    return ".".join(parts)


@st.composite
def tokens(draw: Any, keys: Keys, config: Config) -> str:
    if draw(st.booleans()):
        # Anything may be wrong, from the framing to the claims.
        header = draw(headers(config))
        header_bytes = encode_json(header, draw(ENCODINGS))
        payload_bytes = encode_json(draw(payloads()), draw(ENCODINGS))
        signing, mutation = draw(SIGNINGS), draw(MUTATIONS)
    else:
        # A well-formed token with a good signature: only the claims are in doubt.
        header = {"alg": draw(st.sampled_from(config.algorithms)), "kid": "k1"}
        header_bytes = encode_json(header, "compact")
        payload_bytes = encode_json(draw(payloads(odds=3)), "compact")
        signing, mutation = "right", "none"
    signing_input = f"{b64url(header_bytes)}.{b64url(payload_bytes)}".encode()
    garbage = draw(st.binary(max_size=300))
    signature = sign(keys, header.get("alg"), signing, signing_input, garbage)
    token = f"{signing_input.decode()}.{b64url(signature)}"
    return mutate(token, mutation, draw(st.integers(0, 10_000)), draw(INSERTS))


# -- the test ---------------------------------------------------------------------------


@pytest.mark.parametrize("config", CONFIGS, ids=[config.name for config in CONFIGS])
def test_same_decision_as_jwt_decode(keys: Keys, config: Config) -> None:
    verifier = build(keys, config)
    seen: Counter[str] = Counter()

    @DIFFERENTIAL
    @given(token=tokens(keys, config))
    def check(token: str) -> None:
        want = expected(verifier, keys, config, token)
        got = after(verifier, token)
        assert got == want
        assert after_async(verifier, token) == want
        if got[0] == "accepted":
            principal: Principal = got[1]
            assert dict(principal.claims) == dict(want[1].claims)
            seen["accepted"] += 1
        else:
            seen[got[1]] += 1
        if extra_refusal(token) is not None:
            seen["extra"] += 1

    check()
    # The strategies must reach both sides of the decision, not only refusals.
    assert seen["accepted"] >= 20, seen
    assert seen[INVALID] >= 20, seen
    assert seen["extra"] >= 10, seen
    if config.issuer is not None:
        assert seen[WRONG_ISSUER], seen
    if config.audience is not None:
        assert seen[WRONG_AUDIENCE], seen


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
        JWTVerifier(key=keys.public("RS256"), issuer=[ISSUER])  # type: ignore[arg-type]
