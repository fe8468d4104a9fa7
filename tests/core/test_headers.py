"""Authorization header parsing (security cases H-01..H-15, RFC 6750 section 2.1)."""

from __future__ import annotations

import asyncio
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bearerguard import Guard, Principal
from bearerguard.exceptions import AuthError, InvalidRequestError, UnauthenticatedError
from bearerguard.headers import MAX_TOKEN_LENGTH, parse_authorization
from bearerguard.starlette import BearerGuardMiddleware

# RFC 6750 section 2.1, written out independently of the module under test.
B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*\Z")


class _Echo:
    """A verifier that owns every token and names its principal after it."""

    kind = "echo"

    def accepts(self, token: str) -> bool:
        return True

    def verify(self, token: str) -> Principal:
        return Principal(kind="echo", subject=token)


def find_authorization(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The token the ASGI adapter hands the guard for these raw headers (None: none).

    Raises the AuthError the middleware would render.
    """
    seen: list[Principal | None] = []

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        seen.append(scope["bearerguard.principal"])  # type: ignore[arg-type]

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            raise _Refused(message["status"])

    guard = Guard([_Echo()], default="public", cache_ttl=0)
    middleware = BearerGuardMiddleware(app, guard=guard)
    scope = {"type": "http", "method": "GET", "path": "/", "headers": headers}
    try:
        asyncio.run(middleware(scope, None, send))  # type: ignore[arg-type]
    except _Refused as refused:
        if refused.status == 400:
            raise InvalidRequestError() from None
        raise UnauthenticatedError() from None
    principal = seen[0]
    return None if principal is None else principal.subject


class _Refused(Exception):
    def __init__(self, status: object) -> None:
        self.status = status


def _raw(value: bytes) -> str | None:
    """What the ASGI adapter does with a raw header value: the token it verifies."""
    return find_authorization([(b"authorization", value)])


# -- well-formed values ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "token"),
    [
        pytest.param("Bearer t", "t", id="H-03-canonical"),
        pytest.param("bearer t", "t", id="H-03-lower"),
        pytest.param("BEARER t", "t", id="H-03-upper"),
        pytest.param("bEaReR t", "t", id="H-03-mixed"),
        pytest.param("Bearer  t", "t", id="H-05-two-spaces"),
        pytest.param("Bearer      t", "t", id="H-05-six-spaces"),
        pytest.param(" Bearer t", "t", id="H-07-leading-space"),
        pytest.param("Bearer t  ", "t", id="H-07-trailing-spaces"),
        pytest.param("\tBearer t\t", "t", id="H-07-tabs-around"),
        pytest.param("  bearer   t \t ", "t", id="H-07-all-together"),
        pytest.param("Bearer abc==", "abc==", id="H-08-positive-trailing-equals"),
        pytest.param("Bearer A-._~+/z", "A-._~+/z", id="H-08-positive-every-symbol"),
        pytest.param("Bearer eyJ0.eyJ1.c2ln", "eyJ0.eyJ1.c2ln", id="jws-shaped"),
    ],
)
def test_H03_H05_H07_H08_valid_values_yield_exactly_the_token(value: str, token: str) -> None:
    assert parse_authorization(value) == token


@pytest.mark.parametrize(
    ("value", "token"),
    [
        pytest.param(b"Bearer t", "t", id="H-03-canonical"),
        pytest.param(b"bearer   abc==", "abc==", id="H-05-spaces-bytes"),
        pytest.param(b" BEARER A-._~+/z ", "A-._~+/z", id="H-07-ows-bytes"),
    ],
)
def test_H03_valid_raw_bytes(value: bytes, token: str) -> None:
    assert _raw(value) == token


def test_H13_token_of_exactly_the_limit_is_accepted() -> None:
    token = "a" * MAX_TOKEN_LENGTH
    assert parse_authorization(f"Bearer {token}") == token
    assert parse_authorization(f"bearer   {token}  ") == token


# -- no bearer credentials: None (the guard answers R-MISSING) ------------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="H-01-no-header"),
        pytest.param("", id="H-01-empty-value"),
        pytest.param("   ", id="H-01-blank-value"),
        pytest.param("Basic dXNlcjpwYXNz", id="H-02-basic"),
        pytest.param('Digest username="u", realm="r"', id="H-02-digest"),
        pytest.param("Token abc", id="H-02-token"),
        pytest.param("Bear t", id="H-02-short-scheme"),
        pytest.param("Bearer-t", id="H-15-hyphen-glued"),
        pytest.param("Bearert", id="H-15-letter-glued"),
        pytest.param("Bearer_t", id="H-15-underscore-glued"),
        pytest.param("Bearer.t", id="H-15-dot-glued"),
        pytest.param("BearerToken abc", id="H-15-longer-scheme"),
        pytest.param("Basic bearer t", id="H-02-bearer-later"),
    ],
)
def test_H01_H02_H15_other_or_no_scheme_is_missing(value: str | None) -> None:
    assert parse_authorization(value) is None


def test_H01_no_authorization_in_raw_headers() -> None:
    assert find_authorization([]) is None
    assert find_authorization([(b"host", b"example.test"), (b"accept", b"*/*")]) is None


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(b"proxy-authorization", id="proxy-authorization"),
        pytest.param(b"x-api-key", id="x-api-key"),
        pytest.param(b"authorization2", id="longer-name"),
        pytest.param(b"x-authorization", id="prefixed-name"),
    ],
)
def test_H15_token_in_the_wrong_header_is_missing(name: bytes) -> None:
    assert find_authorization([(name, b"Bearer t")]) is None


# -- malformed: 400 invalid_request ----------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("Bearer", id="H-04-bare-scheme"),
        pytest.param("Bearer ", id="H-04-one-space"),
        pytest.param("Bearer     ", id="H-04-many-spaces"),
        pytest.param("bearer\t", id="H-04-tab-only"),
        pytest.param("Bearer\tt", id="H-06-tab-separator"),
        pytest.param("Bearer\u00a0t", id="H-06-nbsp-separator"),
        pytest.param("Bearer \tt", id="H-06-space-then-tab"),
        pytest.param("Bearer\u2003t", id="H-06-em-space-separator"),
        pytest.param("Bearer\r\nt", id="H-06-crlf-separator"),
        pytest.param("Bearer a,b", id="H-08-comma"),
        pytest.param("Bearer a b", id="H-08-space-inside"),
        pytest.param('Bearer a"b', id="H-08-quote"),
        pytest.param("Bearer a;b", id="H-08-semicolon"),
        pytest.param("Bearer a=b", id="H-08-equals-not-trailing"),
        pytest.param("Bearer =abc", id="H-08-equals-leading"),
        pytest.param("Bearer ==", id="H-08-only-equals"),
        pytest.param("Bearer a%20b", id="H-08-percent"),
        pytest.param("Bearer ****", id="H-08-stars"),
        pytest.param('Bearer token="abc"', id="H-08-auth-param"),
        pytest.param("Bearer a, Bearer b", id="H-09-two-bearers"),
        pytest.param("Bearer a, Basic b", id="H-09-bearer-and-basic"),
        pytest.param("Bearer a,Bearer b", id="H-11-wsgi-joined-duplicates"),
        pytest.param("Bearer t\u00e9k", id="H-12-latin1-char"),
        pytest.param("Bearer t\u2603k", id="H-12-non-latin1-char"),
        pytest.param("Bearer t\x00k", id="H-12-nul"),
        pytest.param("Bearer t\x7f", id="H-12-del"),
        pytest.param("Bearer t\n", id="H-12-trailing-lf"),
        pytest.param("Bearer t\r", id="H-12-trailing-cr"),
        pytest.param("Bearer t\udcff", id="H-12-lone-surrogate"),
    ],
)
def test_H04_H06_H08_H09_H11_H12_malformed_is_400(value: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_authorization(value)
    assert caught.value.status_code == 400
    assert caught.value.error_code == "invalid_request"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(b"Bearer t\xe9k", id="latin1-e-acute"),
        pytest.param(b"Bearer t\xc3\xa9k", id="utf8-e-acute"),
        pytest.param(b"Bearer t\x00k", id="nul"),
        pytest.param(b"Bearer t\rk", id="cr"),
        pytest.param(b"Bearer t\nk", id="lf"),
        pytest.param(b"Bearer t\x7f", id="del"),
        pytest.param(b"Bearer \xff\xfe", id="invalid-utf8"),
        pytest.param(b"Bearer\xa0t", id="nbsp-separator"),
    ],
)
def test_H12_control_and_non_ascii_raw_bytes_are_400(value: bytes) -> None:
    with pytest.raises(InvalidRequestError):
        _raw(value)


# -- duplicates and header-name case in raw ASGI headers --------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(
            [(b"authorization", b"Bearer a"), (b"authorization", b"Bearer b")],
            id="two-different",
        ),
        pytest.param(
            [(b"authorization", b"Bearer a"), (b"authorization", b"Bearer a")],
            id="two-identical",
        ),
        pytest.param(
            [(b"authorization", b"Bearer a"), (b"Authorization", b"Bearer b")],
            id="two-different-case",
        ),
        pytest.param(
            [(b"authorization", b"Bearer a"), (b"host", b"x"), (b"AUTHORIZATION", b"")],
            id="second-empty",
        ),
        pytest.param(
            [(b"authorization", b"Basic x"), (b"authorization", b"Bearer a")],
            id="basic-then-bearer",
        ),
    ],
)
def test_H10_duplicate_authorization_in_asgi_headers_is_400(
    headers: list[tuple[bytes, bytes]],
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        find_authorization(headers)
    assert caught.value.status_code == 400


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(b"authorization", id="lower"),
        pytest.param(b"Authorization", id="capitalised"),
        pytest.param(b"AUTHORIZATION", id="upper"),
        pytest.param(b"aUtHoRiZaTiOn", id="mixed"),
    ],
)
def test_H14_header_name_case_is_ignored(name: bytes) -> None:
    headers = [(b"host", b"example.test"), (name, b"Bearer abc"), (b"accept", b"*/*")]
    assert find_authorization(headers) == "abc"


def test_H12_a_latin1_header_is_a_400_not_a_500() -> None:
    with pytest.raises(InvalidRequestError):
        find_authorization([(b"authorization", b"Bearer \xff")])


# -- oversized: 401 invalid_token, before any other parsing -----------------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("Bearer " + "a" * (MAX_TOKEN_LENGTH + 1), id="one-over"),
        pytest.param("Bearer " + "a" * 9 * 1024, id="9KB"),
        pytest.param("bearer   " + "a" * 64 * 1024 + "  ", id="64KB-with-ows"),
        pytest.param("Bearer " + "a" * 1024 * 1024, id="1MB"),
        pytest.param("Bearer " + "a," * 3000, id="bad-charset-but-long"),
        pytest.param("Bearer " + "\u00e9" * 5000, id="non-ascii-but-long"),
        pytest.param("Bearer " + "a b" * 2000, id="spaces-but-long"),
    ],
)
def test_H13_oversized_token_is_401_invalid_token_before_charset(value: str) -> None:
    with pytest.raises(UnauthenticatedError) as caught:
        parse_authorization(value)
    error = caught.value
    assert type(error) is UnauthenticatedError
    assert (error.status_code, error.error_code) == (401, "invalid_token")
    assert "a" * 20 not in error.description


def test_H13_oversized_raw_bytes_is_401() -> None:
    with pytest.raises(UnauthenticatedError):
        _raw(b"Bearer " + b"x" * (MAX_TOKEN_LENGTH + 1))


# -- property: no input gives anything but a valid token, None, or a 400/401 AuthError -----

_PREFIXES = st.sampled_from(
    ["", "Bearer ", "bearer  ", " BEARER ", "Bearer", "Bearer\t", "Bearer,", "Basic "]
)


def _outcome(value: str) -> str | AuthError | None:
    # Only AuthError is caught: anything else escapes and fails the test.
    try:
        return parse_authorization(value)
    except AuthError as error:
        return error


def _assert_parses_safely(value: str) -> None:
    outcome = _outcome(value)
    if isinstance(outcome, AuthError):
        assert isinstance(outcome, (InvalidRequestError, UnauthenticatedError))
        assert (outcome.status_code, outcome.error_code) in {
            (400, "invalid_request"),
            (401, "invalid_token"),
        }
    elif outcome is not None:
        assert isinstance(outcome, str)
        assert B64TOKEN.match(outcome)
        assert len(outcome) <= MAX_TOKEN_LENGTH


@settings(max_examples=300)
@given(st.text())
def test_H12_property_any_text(value: str) -> None:
    _assert_parses_safely(value)


@settings(max_examples=300)
@given(_PREFIXES, st.text())
def test_H12_property_any_text_after_a_scheme(prefix: str, rest: str) -> None:
    _assert_parses_safely(prefix + rest)


@settings(max_examples=300)
@given(st.binary())
def test_H12_property_any_raw_bytes(raw: bytes) -> None:
    _assert_parses_safely(raw.decode("latin-1"))


@settings(max_examples=300)
@given(_PREFIXES.map(str.encode), st.binary())
def test_H12_property_any_raw_bytes_after_a_scheme(prefix: bytes, rest: bytes) -> None:
    _assert_parses_safely((prefix + rest).decode("latin-1"))


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([b"authorization", b"Authorization", b"host", b"x-api-key"]),
            st.binary(max_size=40),
        ),
        max_size=4,
    )
)
def test_H10_property_any_raw_header_list(headers: list[tuple[bytes, bytes]]) -> None:
    try:
        value = find_authorization(headers)
    except InvalidRequestError:
        assert sum(name.lower() == b"authorization" for name, _ in headers) > 1
        return
    if value is not None:
        _assert_parses_safely(value)
