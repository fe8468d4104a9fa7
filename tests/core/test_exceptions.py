"""The error tree and its rendering: the answers table of the 0.1 contract (W-01..W-05)."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bearerguard.exceptions import (
    AuthError,
    InsufficientScopeError,
    InvalidRequestError,
    MissingCredentialsError,
    ServiceUnavailableError,
    UnauthenticatedError,
    render_error,
)

ALL_ERRORS = [
    AuthError,
    UnauthenticatedError,
    MissingCredentialsError,
    InvalidRequestError,
    InsufficientScopeError,
    ServiceUnavailableError,
]
# RFC 6750 section 3: what may stand inside an error_description quoted value.
DESCRIPTION_CHARS = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*\Z")
# Printable ASCII only: no CR/LF (header injection) and nothing a server cannot encode.
HEADER_VALUE = re.compile(r"[\x20-\x7e]*\Z")


def _headers(rendered: tuple[int, list[tuple[str, str]], bytes]) -> dict[str, str]:
    names = [name for name, _ in rendered[1]]
    assert len(names) == len(set(names)), "W-01: no header appears twice"
    return dict(rendered[1])


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=lambda cls: cls.__name__)
def test_every_error_constructs_with_no_arguments(cls: type[AuthError]) -> None:
    error = cls()
    assert isinstance(error, AuthError)
    assert isinstance(error, Exception)
    assert error.description
    assert DESCRIPTION_CHARS.match(error.description)
    assert str(error) == error.description


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=lambda cls: cls.__name__)
def test_every_error_takes_a_description(cls: type[AuthError]) -> None:
    error = cls("The token was revoked")
    assert error.description == "The token was revoked"
    with pytest.raises(cls):
        raise error


@pytest.mark.parametrize(
    ("cls", "status", "code"),
    [
        pytest.param(UnauthenticatedError, 401, "invalid_token", id="unauthenticated"),
        pytest.param(MissingCredentialsError, 401, None, id="missing"),
        pytest.param(InvalidRequestError, 400, "invalid_request", id="invalid-request"),
        pytest.param(InsufficientScopeError, 403, "insufficient_scope", id="insufficient"),
        pytest.param(ServiceUnavailableError, 503, "temporarily_unavailable", id="unavailable"),
    ],
)
def test_W02_status_and_error_code(cls: type[AuthError], status: int, code: str | None) -> None:
    error = cls()
    assert (error.status_code, error.error_code) == (status, code)


def test_tree_shape() -> None:
    assert issubclass(MissingCredentialsError, UnauthenticatedError)
    for cls in ALL_ERRORS[1:]:
        assert issubclass(cls, AuthError)
    assert InsufficientScopeError().required_scopes == ()


# -- the answers table, byte for byte -------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status", "body", "challenge"),
    [
        pytest.param(
            MissingCredentialsError(),
            401,
            {"message": "Unauthenticated"},
            'Bearer realm="api"',
            id="H-01-missing-no-error-code",
        ),
        pytest.param(
            UnauthenticatedError(),
            401,
            {
                "message": "Unauthenticated",
                "error": "invalid_token",
                "error_description": "The access token is invalid",
            },
            'Bearer realm="api", error="invalid_token", '
            'error_description="The access token is invalid"',
            id="invalid-token-default",
        ),
        pytest.param(
            UnauthenticatedError("The access token expired"),
            401,
            {
                "message": "Unauthenticated",
                "error": "invalid_token",
                "error_description": "The access token expired",
            },
            'Bearer realm="api", error="invalid_token", '
            'error_description="The access token expired"',
            id="invalid-token-described",
        ),
        pytest.param(
            InvalidRequestError(),
            400,
            {
                "message": "Bad request",
                "error": "invalid_request",
                "error_description": "The Authorization header is malformed",
            },
            'Bearer realm="api", error="invalid_request", '
            'error_description="The Authorization header is malformed"',
            id="invalid-request",
        ),
        pytest.param(
            InsufficientScopeError(required_scopes=["payments.get"]),
            403,
            {
                "message": "Insufficient permissions",
                "error": "insufficient_scope",
                "required_scopes": ["payments.get"],
            },
            'Bearer realm="api", error="insufficient_scope", scope="payments.get"',
            id="insufficient-one-scope",
        ),
        pytest.param(
            InsufficientScopeError(required_scopes=("payments.create", "payments.get")),
            403,
            {
                "message": "Insufficient permissions",
                "error": "insufficient_scope",
                "required_scopes": ["payments.create", "payments.get"],
            },
            'Bearer realm="api", error="insufficient_scope", scope="payments.create payments.get"',
            id="insufficient-two-scopes",
        ),
        pytest.param(
            InsufficientScopeError.for_kinds(["oauth"]),
            403,
            {
                "message": "Insufficient permissions",
                "error": "insufficient_scope",
                "required_scopes": [],
                "error_description": "This route accepts only oauth tokens",
            },
            'Bearer realm="api", error="insufficient_scope",'
            ' error_description="This route accepts only oauth tokens"',
            id="insufficient-kind-says-which-kinds",
        ),
    ],
)
def test_W01_W02_render_error_matches_the_answers_table(
    error: AuthError, status: int, body: dict[str, object], challenge: str
) -> None:
    rendered = render_error(error, "api")
    headers = _headers(rendered)
    assert rendered[0] == status
    assert json.loads(rendered[2]) == body
    assert headers["www-authenticate"] == challenge
    assert headers["content-type"] == "application/json"
    assert headers["cache-control"] == "no-store"
    assert headers["content-length"] == str(len(rendered[2]))
    assert "retry-after" not in headers


def test_503_has_retry_after_and_no_challenge() -> None:
    status, header_list, body = render_error(ServiceUnavailableError(), "api")
    headers = _headers((status, header_list, body))
    assert status == 503
    assert json.loads(body) == {
        "message": "Authentication temporarily unavailable",
        "error": "temporarily_unavailable",
    }
    assert "www-authenticate" not in headers
    assert headers["retry-after"] == "5"
    assert headers["content-type"] == "application/json"
    assert headers["cache-control"] == "no-store"


def test_503_retry_after_is_configurable() -> None:
    error = ServiceUnavailableError(retry_after=30)
    assert error.retry_after == 30
    assert _headers(render_error(error, "api"))["retry-after"] == "30"


def test_render_uses_the_realm_given() -> None:
    challenge = _headers(render_error(MissingCredentialsError(), "payments"))["www-authenticate"]
    assert challenge == 'Bearer realm="payments"'


def test_body_is_compact_json() -> None:
    _, _, body = render_error(MissingCredentialsError(), "api")
    assert body == b'{"message":"Unauthenticated"}'


def test_missing_credentials_keeps_no_error_code_even_with_a_description() -> None:
    error = MissingCredentialsError("Send a bearer token")
    status, header_list, body = render_error(error, "api")
    assert status == 401
    assert json.loads(body) == {"message": "Unauthenticated"}
    assert dict(header_list)["www-authenticate"] == 'Bearer realm="api"'


# -- W-03: descriptions can never break a header line ------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        pytest.param('kid "x"', "kid x", id="double-quote"),
        pytest.param("a\r\nSet-Cookie: a=b", "aSet-Cookie: a=b", id="crlf"),
        pytest.param("back\\slash", "backslash", id="backslash"),
        pytest.param("caf\u00e9 \u2603", "caf", id="non-ascii"),
        pytest.param("tab\there\x00\x7f", "tabhere", id="controls"),
        pytest.param("x" * 500, "x" * 200, id="over-200-chars"),
    ],
)
def test_W03_description_is_sanitised(raw: str, clean: str) -> None:
    error = UnauthenticatedError(raw)
    assert error.description == clean
    _, header_list, body = render_error(error, "api")
    challenge = dict(header_list)["www-authenticate"]
    assert challenge.endswith(f'error_description="{clean}"')
    assert json.loads(body)["error_description"] == clean


def test_W03_crit_and_kid_injection_stay_on_one_line() -> None:
    error = UnauthenticatedError(
        'Unable to find a signing key that matches: "x"\r\nSet-Cookie: a=b'
    )
    for _, value in render_error(error, "api")[1]:
        assert HEADER_VALUE.match(value)
        assert "\r" not in value
        assert "\n" not in value


def test_W03_description_with_nothing_printable_falls_back_to_the_default() -> None:
    error = UnauthenticatedError("\u30c8\u30fc\u30af\u30f3\r\n")
    assert error.description == UnauthenticatedError().description
    _, header_list, body = render_error(error, "api")
    assert json.loads(body)["error_description"] == error.description
    assert f'error_description="{error.description}"' in dict(header_list)["www-authenticate"]


def test_W03_required_scopes_cannot_break_the_challenge() -> None:
    error = InsufficientScopeError(required_scopes=['x"\r\nSet-Cookie: a=b', "payments.get"])
    _, header_list, body = render_error(error, "api")
    for _, value in header_list:
        assert HEADER_VALUE.match(value)
    challenge = dict(header_list)["www-authenticate"]
    scope = challenge.split('scope="', 1)[1].rstrip('"')
    assert '"' not in scope
    assert json.loads(body)["required_scopes"] == list(error.required_scopes)


@settings(max_examples=200)
@given(
    st.sampled_from(ALL_ERRORS[1:]),
    st.text(),
    st.lists(st.text(max_size=12), max_size=3),
)
def test_W03_property_any_description_renders_safe_headers(
    cls: type[AuthError], description: str, scopes: list[str]
) -> None:
    if cls is InsufficientScopeError:
        error: AuthError = InsufficientScopeError(description, required_scopes=scopes)
    else:
        error = cls(description)
    assert error.description
    assert DESCRIPTION_CHARS.match(error.description)
    assert len(error.description) <= 200
    status, header_list, body = render_error(error, "api")
    assert status in {400, 401, 403, 503}
    for name, value in header_list:
        assert HEADER_VALUE.match(name)
        assert HEADER_VALUE.match(value)
        value.encode("latin-1")
    document = json.loads(body)
    assert document["message"]
    if "error_description" in document:
        assert document["error_description"] == error.description
