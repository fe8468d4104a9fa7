"""Shared pieces of the integration tests: tokens, guards, expected answers, raw drivers.

Nothing here holds an app: every test builds its own. JWTs come from a
:class:`bearerguard.testing.LocalIssuer` made once per process (its keys are
immutable) so that the whole area stays fast.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from bearerguard import (
    Guard,
    Principal,
    Rule,
    ServiceUnavailableError,
    StaticTokenVerifier,
)
from bearerguard.testing import LocalIssuer

ISSUER = "https://issuer.example.test/"
AUDIENCE = "bearerguard-tests"
REALM = "api"

# Static client tokens. Each is long and distinctive, so a leaked substring is easy to spot.
CLIENT_GET = "cl_get_Zq7Xv0Lk93PmWd4R"
CLIENT_NONE = "cl_none_Hy2Tb8Nc61QsJe5F"
CLIENT_ALL = "cl_all_Ku4Rf7Da20VmXp9G"
DOWN_TOKEN = "down_Mt6Wq1Zs84LcBn3Y"  # its verifier raises ServiceUnavailableError
BROKEN_TOKEN = "boom_Pj5Ex9Gv27KrTa1U"  # its verifier raises RuntimeError
UNKNOWN_TOKEN = "nobody_Fh8Lw3Qy56NdCz0S"  # no verifier accepts it
APPLICATION_ID = "app_3b9f"

PAYMENT = "/api/payment/pay_1"
APPLICATIONS = "/api/payment-applications"
SEARCH = "/api/payments/search"
HEALTH = "/health"

# The rules that the Rule-based adapters use; route-declaration adapters declare the same.
SEARCH_ANY = ("payments.list", "payments.search")


def rules() -> list[Rule]:
    return [
        Rule("GET", "/api/payment-applications", kinds=["oauth"]),
        Rule("GET", "/api/payments/search", any_scopes=SEARCH_ANY),
        Rule("GET", "/api/payment/{payment_id}", scopes=["payments.get"]),
    ]


@functools.cache
def identity_provider() -> LocalIssuer:
    """The suite's issuer of JWT access tokens: RS256 keys made once per process."""
    return LocalIssuer(issuer=ISSUER, audience=AUDIENCE, subject="user-42", client_id="dashboard")


@functools.cache
def tokens() -> dict[str, str]:
    """Every named token (for ``str.format`` templates); JWTs last an hour."""
    issuer = identity_provider()
    return {
        "client_get": CLIENT_GET,
        "client_none": CLIENT_NONE,
        "client_all": CLIENT_ALL,
        "down": DOWN_TOKEN,
        "broken": BROKEN_TOKEN,
        "unknown": UNKNOWN_TOKEN,
        "oauth_get": issuer.mint("payments.get"),
        "oauth_none": issuer.mint(),
        "oauth_all": issuer.mint("*"),
        "oauth_search": issuer.mint("payments.search"),
        "expired": issuer.mint("payments.get", expired=True),
        "not_yet": issuer.mint("payments.get", claims={"nbf": int(time.time()) + 3600}),
        "bad_signature": issuer.mint("payments.get", wrong_key=True),
        "wrong_issuer": issuer.mint("payments.get", issuer="https://evil.example.test/"),
        "wrong_audience": issuer.mint("payments.get", audience="someone-else"),
        "no_exp": issuer.mint("payments.get", omit=["exp"]),
        "too_long": "a" * 4097,
    }


def token(name: str) -> str:
    """One named token."""
    return tokens()[name]


class RaisingVerifier:
    """Owns tokens with a prefix and fails on every one of them."""

    def __init__(self, prefix: str, error: Callable[[str], Exception], kind: str) -> None:
        self.prefix = prefix
        self.error = error
        self.kind = kind
        self.calls = 0

    def accepts(self, token: str) -> bool:
        return token.startswith(self.prefix)

    def verify(self, token: str) -> Principal:
        self.calls += 1
        raise self.error(token)


def verifiers() -> list[Any]:
    static = StaticTokenVerifier(
        {
            CLIENT_GET: Principal(
                kind="client",
                subject="tok_get",
                token_id="tok_get",
                client_id=APPLICATION_ID,
                scopes=frozenset({"payments.get"}),
            ),
            CLIENT_NONE: Principal(
                kind="client", subject="tok_none", token_id="tok_none", client_id=APPLICATION_ID
            ),
            CLIENT_ALL: Principal(
                kind="client",
                subject="tok_all",
                token_id="tok_all",
                client_id=APPLICATION_ID,
                scopes=frozenset({"*"}),
            ),
        }
    )
    return [
        static,
        RaisingVerifier("down_", lambda _: ServiceUnavailableError(), kind="store"),
        # The message quotes the token: it must never reach a log line or an answer.
        RaisingVerifier("boom_", lambda token: RuntimeError(f"cannot read {token}"), kind="db"),
        # The harness's issuer means bearerguard's wildcards (the documented opt-in), so
        # the answers table covers "*" through every adapter; the default is literal.
        identity_provider().verifier(wildcard_scopes=True),
    ]


def make_guard(*, with_rules: bool = True, **options: Any) -> Guard:
    """A fresh guard (fresh cache) over the test verifiers; ``/health`` is public."""
    options.setdefault("public_paths", [HEALTH])
    options.setdefault("rules", rules() if with_rules else ())
    return Guard(verifiers(), **options)


# -- expected answers ---------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """An expected refusal (or a success when ``status`` is 2xx and ``body`` is None)."""

    status: int
    body: Mapping[str, Any] | None = None
    challenge: str | None = None

    @property
    def refusal(self) -> bool:
        return self.status >= 400

    def body_bytes(self) -> bytes:
        return json.dumps(self.body, separators=(",", ":")).encode()

    def headers(self) -> list[tuple[str, str]]:
        """The exact header list of the refusal, in order."""
        body = self.body_bytes()
        result = [
            ("content-type", "application/json"),
            ("content-length", str(len(body))),
            ("cache-control", "no-store"),
        ]
        if self.challenge is not None:
            result.append(("www-authenticate", self.challenge))
        if self.status == 503:
            result.append(("retry-after", "5"))
        return result


OK = Answer(200)
MISSING = Answer(401, {"message": "Unauthenticated"}, f'Bearer realm="{REALM}"')
UNAVAILABLE = Answer(
    503, {"message": "Authentication temporarily unavailable", "error": "temporarily_unavailable"}
)


def invalid_token(description: str) -> Answer:
    return Answer(
        401,
        {"message": "Unauthenticated", "error": "invalid_token", "error_description": description},
        f'Bearer realm="{REALM}", error="invalid_token", error_description="{description}"',
    )


def bad_request(description: str) -> Answer:
    return Answer(
        400,
        {"message": "Bad request", "error": "invalid_request", "error_description": description},
        f'Bearer realm="{REALM}", error="invalid_request", error_description="{description}"',
    )


def insufficient(*scopes: str, description: str = "") -> Answer:
    """A 403; with no scope failing, it says why (``description``) instead."""
    challenge = f'Bearer realm="{REALM}", error="insufficient_scope"'
    body: dict[str, Any] = {
        "message": "Insufficient permissions",
        "error": "insufficient_scope",
        "required_scopes": list(scopes),
    }
    if scopes:
        challenge += f', scope="{" ".join(scopes)}"'
    else:
        assert description, "a refusal naming no scope carries a description"
        challenge += f', error_description="{description}"'
        body["error_description"] = description
    return Answer(403, body, challenge)


def kind_refused(*kinds: str) -> Answer:
    """The 403 of a route that accepts only these kinds of token."""
    listed = " or ".join(kinds)
    return insufficient(description=f"This route accepts only {listed} tokens")


OTHER_APPLICATION = "The token belongs to another application"
ONLY_OAUTH = kind_refused("oauth")


EMPTY = "The bearer token is empty"
BAD_CHARS = "The bearer token has characters outside RFC 6750 b64token"
DUPLICATE = "More than one Authorization header"
TOO_LONG = "The access token is too long"
NOT_RECOGNISED = "The access token is not recognised"
EXPIRED = "The access token expired"
NOT_YET = "The access token is not yet valid"
INVALID = "The access token is invalid"
WRONG_AUDIENCE = "The access token is for another audience"


# -- the answers table of issue 2 ---------------------------------------------------


def case(
    case_id: str,
    path: str,
    authorization: list[str],
    answer: Answer,
    *,
    wsgi: Answer | None = None,
) -> Any:
    return pytest.param(path, authorization, answer, wsgi or answer, id=case_id)


CASES = [
    # 401 without an error code: no credentials, or another scheme.
    case("H01-no-header", PAYMENT, [], MISSING),
    case("H02-basic-scheme", PAYMENT, ["Basic dXNlcjpwYXNz"], MISSING),
    case("H02-token-scheme", PAYMENT, ["Token {client_get}"], MISSING),
    case("H15-bearer-glued-is-another-scheme", PAYMENT, ["Bearer-{client_get}"], MISSING),
    case("H01-no-header-any-scopes-route", SEARCH, [], MISSING),
    case("H01-no-header-kind-route", APPLICATIONS, [], MISSING),
    # 401 invalid_token.
    case("no-verifier-accepts", PAYMENT, ["Bearer {unknown}"], invalid_token(NOT_RECOGNISED)),
    case("jwt-expired", PAYMENT, ["Bearer {expired}"], invalid_token(EXPIRED)),
    case("jwt-not-yet-valid", PAYMENT, ["Bearer {not_yet}"], invalid_token(NOT_YET)),
    case("jwt-bad-signature", PAYMENT, ["Bearer {bad_signature}"], invalid_token(INVALID)),
    # A JWT from an issuer no verifier trusts has no owner: refused without a key fetch.
    case("jwt-wrong-issuer", PAYMENT, ["Bearer {wrong_issuer}"], invalid_token(NOT_RECOGNISED)),
    case("jwt-wrong-audience", PAYMENT, ["Bearer {wrong_audience}"], invalid_token(WRONG_AUDIENCE)),
    case("jwt-without-exp", PAYMENT, ["Bearer {no_exp}"], invalid_token(INVALID)),
    case("H13-token-over-4096", PAYMENT, ["Bearer {too_long}"], invalid_token(TOO_LONG)),
    # 400 invalid_request.
    case("H04-bearer-without-token", PAYMENT, ["Bearer"], bad_request(EMPTY)),
    case("H04-bearer-and-spaces", PAYMENT, ["Bearer    "], bad_request(EMPTY)),
    case("H08-space-in-token", PAYMENT, ["Bearer a b"], bad_request(BAD_CHARS)),
    case("H08-comma-in-token", PAYMENT, ["Bearer a,b"], bad_request(BAD_CHARS)),
    case("H08-quote-in-token", PAYMENT, ['Bearer a"b'], bad_request(BAD_CHARS)),
    case("H08-inner-equals", PAYMENT, ["Bearer a=b"], bad_request(BAD_CHARS)),
    case("H06-tab-separator", PAYMENT, ["Bearer\t{client_get}"], bad_request(BAD_CHARS)),
    case(
        "H09-two-credentials-in-one-field",
        PAYMENT,
        ["Bearer {client_get}, Bearer {oauth_get}"],
        bad_request(BAD_CHARS),
    ),
    case(
        "H10-H11-two-authorization-headers",
        PAYMENT,
        ["Bearer {client_get}", "Bearer {oauth_get}"],
        bad_request(DUPLICATE),
        # A WSGI server joins them with a comma: malformed, through H-09.
        wsgi=bad_request(BAD_CHARS),
    ),
    # 403 insufficient_scope.
    case("oauth-without-scope", PAYMENT, ["Bearer {oauth_none}"], insufficient("payments.get")),
    case("client-without-scope", PAYMENT, ["Bearer {client_none}"], insufficient("payments.get")),
    case("any-scopes-none-granted", SEARCH, ["Bearer {client_get}"], insufficient(*SEARCH_ANY)),
    case(
        "kind-refused-even-with-star", APPLICATIONS, ["Bearer {client_all}"], kind_refused("oauth")
    ),
    # 503: a verifier cannot decide; fail closed.
    case("F01-verifier-unavailable", PAYMENT, ["Bearer {down}"], UNAVAILABLE),
    case("F03-verifier-raises-runtime-error", PAYMENT, ["Bearer {broken}"], UNAVAILABLE),
    # Public paths: a presented token is still judged; malformed is refused everywhere.
    case("F04-bad-token-on-public-path", HEALTH, ["Bearer {expired}"], invalid_token(EXPIRED)),
    case("malformed-on-public-path", HEALTH, ["Bearer"], bad_request(EMPTY)),
    case("unavailable-on-public-path", HEALTH, ["Bearer {broken}"], UNAVAILABLE),
    # Successes.
    case("H03-lower-case-scheme", PAYMENT, ["bearer {oauth_get}"], OK),
    case("H03-upper-case-scheme", PAYMENT, ["BEARER {client_get}"], OK),
    case("H05-several-spaces", PAYMENT, ["Bearer     {oauth_get}"], OK),
    case("H07-trailing-whitespace", PAYMENT, ["Bearer {client_get}  "], OK),
    case("star-scope-client-token", PAYMENT, ["Bearer {client_all}"], OK),
    case("star-scope-oauth-any-of", SEARCH, ["Bearer {oauth_all}"], OK),
    case("any-scopes-one-granted", SEARCH, ["Bearer {oauth_search}"], OK),
    case("kind-accepted-without-scopes", APPLICATIONS, ["Bearer {oauth_none}"], OK),
    case("public-path-without-token", HEALTH, [], OK),
    case("public-path-with-valid-token", HEALTH, ["Bearer {client_none}"], OK),
]


# -- raw drivers ----------------------------------------------------------------------

Message = MutableMapping[str, Any]


def http_scope(
    method: str = "GET",
    path: str = "/",
    headers: Sequence[tuple[bytes, bytes]] = (),
    *,
    root_path: str = "",
    **extra: Any,
) -> dict[str, Any]:
    """A minimal HTTP scope as a server would build it."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8"),
        "root_path": root_path,
        "query_string": b"",
        "headers": list(headers),
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    scope.update(extra)
    return scope


def websocket_scope(
    path: str = "/ws", headers: Sequence[tuple[bytes, bytes]] = (), *, denial: bool = True
) -> dict[str, Any]:
    """A WebSocket handshake scope, with or without ``websocket.http.response``."""
    scope = http_scope("GET", path, headers)
    del scope["method"]  # WebSocket scopes have no method
    scope.update(type="websocket", scheme="ws", subprotocols=[])
    scope["extensions"] = {"websocket.http.response": {}} if denial else {}
    return scope


async def run_asgi(
    app: Callable[..., Any], scope: MutableMapping[str, Any], inbox: Sequence[Message] = ()
) -> list[Message]:
    """Call an ASGI app once and return every message it sent."""
    pending = list(inbox) or [{"type": "http.request", "body": b"", "more_body": False}]
    sent: list[Message] = []

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        return {"type": "http.disconnect" if scope["type"] == "http" else "websocket.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def asgi_answer(messages: Sequence[Message]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """``(status, raw headers, body)`` from the messages of one HTTP response."""
    start = messages[0]
    assert start["type"] == "http.response.start"
    body = b"".join(m.get("body", b"") for m in messages[1:] if m["type"] == "http.response.body")
    return start["status"], list(start["headers"]), body


def run_wsgi(
    app: Callable[..., Iterable[bytes]], environ: dict[str, Any]
) -> tuple[str, list[tuple[str, str]], bytes]:
    """Call a WSGI app once: ``(status line, headers, body)`` exactly as given."""
    captured: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured.append((status, headers))
        return lambda data: None

    iterable = app(environ, start_response)
    try:
        body = b"".join(iterable)
    finally:
        close = getattr(iterable, "close", None)
        if close is not None:
            close()
    assert len(captured) == 1
    return captured[0][0], captured[0][1], body


def wsgi_environ(
    method: str = "GET",
    path: str = "/",
    authorization: str | None = None,
    *,
    script_name: str = "",
    **extra: Any,
) -> dict[str, Any]:
    """A minimal PEP 3333 environ (``path`` is the native-string PATH_INFO)."""
    import io
    import sys

    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if authorization is not None:
        environ["HTTP_AUTHORIZATION"] = authorization
    environ.update(extra)
    return environ
