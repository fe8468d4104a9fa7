"""IntrospectionVerifier (RFC 7662) against a real introspection server on 127.0.0.1.

Every case runs through both drivers (``verify`` and ``averify``) where the driver
could change the answer; the server records each request, so "no I/O" is asserted by
counting what reached it.
"""

from __future__ import annotations

import base64
import logging
import re
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio
import pytest

from bearerguard import Guard, Principal
from bearerguard.exceptions import ServiceUnavailableError, UnauthenticatedError
from bearerguard.verifiers.introspection import IntrospectionVerifier

from ._servers import CLIENT_ID, CLIENT_SECRET, IntrospectionServer, LocalServer, Reply, active

AUDIENCE = "payments-api"
TOKEN = "opaque-token-0123456789abcdef"


@pytest.fixture
def server() -> Iterator[IntrospectionServer]:
    server = IntrospectionServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def make(server: IntrospectionServer) -> Iterator[Callable[..., IntrospectionVerifier]]:
    built: list[IntrospectionVerifier] = []

    def make(**options: Any) -> IntrospectionVerifier:
        if "issuer" not in options:
            options.setdefault("endpoint", server.endpoint)
        options.setdefault("client_id", CLIENT_ID)
        options.setdefault("client_secret", CLIENT_SECRET)
        options.setdefault("audience", AUDIENCE)
        options.setdefault("timeout", 2.0)
        verifier = IntrospectionVerifier(**options)
        built.append(verifier)
        return verifier

    yield make
    for verifier in built:
        verifier.close()


Driver = Callable[[IntrospectionVerifier, str], Principal]


def _sync(verifier: IntrospectionVerifier, token: str) -> Principal:
    return verifier.verify(token)


def _async(verifier: IntrospectionVerifier, token: str) -> Principal:
    async def run() -> Principal:
        return await verifier.averify(token)

    return anyio.run(run)


@pytest.fixture(params=[pytest.param(_sync, id="verify"), pytest.param(_async, id="averify")])
def check(request: pytest.FixtureRequest) -> Driver:
    driver: Driver = request.param
    return driver


# -- configuration ------------------------------------------------------------------------


def test_audience_is_required(server: IntrospectionServer) -> None:
    with pytest.raises(ValueError, match="audience"):
        IntrospectionVerifier(
            endpoint=server.endpoint, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
        )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"endpoint": None}, "endpoint= or issuer=", id="no-endpoint"),
        pytest.param({"endpoint": "http://as.example/introspect"}, "https", id="plain-http"),
        pytest.param({"client_secret": ""}, "client_secret", id="empty-secret"),
        pytest.param({"auth_method": "private_key_jwt"}, "auth_method", id="auth-method"),
        pytest.param({"max_in_flight": 0}, "max_in_flight", id="no-flight"),
        pytest.param({"leeway": 301}, "leeway", id="leeway"),
        pytest.param({"timeout": 0}, "timeout", id="timeout"),
        pytest.param({"audience": []}, "audience", id="empty-audience"),
        pytest.param({"issuer": ""}, "issuer", id="empty-issuer"),
        pytest.param({"kind": ""}, "kind", id="empty-kind"),
        pytest.param({"max_in_flight": True}, "max_in_flight", id="flight-bool"),
    ],
)
def test_bad_configuration(make: Any, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(**options)


def test_accepts_must_be_a_predicate_or_pattern(make: Any) -> None:
    with pytest.raises(TypeError, match="accepts"):
        make(accepts=42)


def test_construction_does_no_io(server: IntrospectionServer, make: Any) -> None:
    make()
    make(issuer=server.url())
    assert server.paths() == []


def test_repr_shows_no_secret(make: Any) -> None:
    assert CLIENT_SECRET not in repr(make())


@pytest.mark.parametrize(
    ("accepts", "token", "owned"),
    [
        pytest.param(None, "opaque.token", True, id="default-two-segments"),
        pytest.param(None, "a.b.c", False, id="default-jws-shaped"),
        pytest.param(None, "eyJhbGciOiJSUzI1NiJ9.e30.sig", False, id="default-jwt"),
        pytest.param(r"at_[a-z0-9]+", "at_abc123", True, id="pattern-text"),
        pytest.param(r"at_[a-z0-9]+", "xat_abc123", False, id="pattern-fullmatch"),
        pytest.param(re.compile(r"at_.*"), "at_x", True, id="pattern-compiled"),
        pytest.param(lambda token: len(token) == 3, "abc", True, id="predicate"),
    ],
)
def test_accepts(make: Any, accepts: Any, token: str, owned: bool) -> None:
    assert make(accepts=accepts).accepts(token) is owned


# -- what the server is sent --------------------------------------------------------------


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_client_authentication(make: Any, check: Driver, method: str) -> None:
    with IntrospectionServerFor(method) as server:
        server.tokens[TOKEN] = active(iss=None)
        principal = check(make(endpoint=server.endpoint, auth_method=method), TOKEN)
        assert principal.subject == "user-1"
        seen = server.requests[-1]
        form = seen.form()
        assert (seen.method, form["token"], form["token_type_hint"]) == (
            "POST",
            TOKEN,
            "access_token",
        )
        assert seen.headers["content-type"] == "application/x-www-form-urlencoded"
        if method == "client_secret_basic":
            # RFC 6749 section 2.3.1: form-encoded, then joined with ":".
            user, password = base64.b64decode(seen.headers["authorization"][6:]).split(b":")
            assert (user, password) == (b"rs+client%3A1", b"s3cr%25t%2B%2F%3D")
            assert "client_secret" not in form
        else:
            assert "authorization" not in seen.headers


class IntrospectionServerFor:
    """A server for one client authentication method, as a context manager."""

    def __init__(self, method: str) -> None:
        self.server = IntrospectionServer(method)

    def __enter__(self) -> IntrospectionServer:
        return self.server

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


def test_wrong_client_authentication_is_503(make: Any, check: Driver) -> None:
    with IntrospectionServerFor("client_secret_post") as server:
        server.tokens[TOKEN] = active()
        with pytest.raises(ServiceUnavailableError):
            check(make(endpoint=server.endpoint), TOKEN)  # basic, to a post-only server


# -- the response -------------------------------------------------------------------------


def test_active_token(server: IntrospectionServer, make: Any, check: Driver) -> None:
    server.tokens[TOKEN] = active(exp=int(time.time()) + 120, jti="at-42", scope="a.get b.*")
    principal = check(make(), TOKEN)
    assert principal.kind == "oauth"
    assert (principal.subject, principal.client_id, principal.token_id) == (
        "user-1",
        "dashboard",
        "at-42",
    )
    assert principal.scopes == {"a.get", "b.*"}
    assert principal.expires_at is not None
    assert 100 < principal.expires_at.timestamp() - time.time() <= 120
    assert principal.claims["aud"] == AUDIENCE
    # Scopes from a provider are literal unless wildcard_scopes=True.
    assert not principal.has_scopes("b.create")
    assert check(make(wildcard_scopes=True), TOKEN).has_scopes("b.create")


@pytest.mark.parametrize(
    ("response", "description"),
    [
        pytest.param({"active": False}, "not active", id="inactive"),
        pytest.param(active(exp=int(time.time()) - 1), "expired", id="expired"),
        pytest.param(active(nbf=int(time.time()) + 3600), "not yet", id="not-yet-valid"),
        pytest.param(active(aud="ledger-api"), "audience", id="wrong-aud"),
        pytest.param(active(aud=["ledger-api", "other"]), "audience", id="wrong-aud-list"),
        pytest.param(active(aud=None), "audience", id="no-aud"),
        pytest.param(active(aud={"payments-api": 1}), "audience", id="aud-object"),
        pytest.param(
            active(cnf={"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}),
            "sender",
            id="cnf-jkt",
        ),
        pytest.param(
            active(cnf={"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}),
            "sender",
            id="cnf-x5t",
        ),
        pytest.param(active(cnf={}), "sender", id="cnf-empty"),
        pytest.param(active(token_type="DPoP"), "sender", id="token-type-dpop"),
        pytest.param(active(token_type="refresh_token"), "not an access", id="refresh"),
        pytest.param(active(token_use="refresh_token"), "not an access", id="refresh-hydra"),
        pytest.param(active(exp="9999999999"), "malformed", id="exp-text"),
        pytest.param(active(exp=True), "malformed", id="exp-bool"),
        pytest.param(active(sub=42), "malformed", id="sub-number"),
        pytest.param(active(scope={"a": 1}), "malformed", id="scope-object"),
        pytest.param(active(scope=["a", 1]), "malformed", id="scope-list-mixed"),
        pytest.param(active(exp=1e300), "malformed", id="exp-out-of-range"),
    ],
)
def test_refused_tokens(
    server: IntrospectionServer, make: Any, check: Driver, response: Any, description: str
) -> None:
    server.tokens[TOKEN] = response
    with pytest.raises(UnauthenticatedError, match=description):
        check(make(), TOKEN)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"active": true, "aud": "payments-api", "exp": Infinity}', id="exp-inf"),
        pytest.param(b'{"active": true, "aud": "payments-api", "exp": NaN}', id="exp-nan"),
        pytest.param(b'{"active": true, "aud": "payments-api", "sub": "\\ud800"}', id="surrogate"),
        pytest.param(
            b'{"active": true, "aud": "payments-api", "scope": "\\udfff"}', id="scope-surrogate"
        ),
    ],
)
def test_refused_raw_answers(
    server: IntrospectionServer, make: Any, check: Driver, body: bytes
) -> None:
    server.reply = Reply(200, body)
    with pytest.raises(UnauthenticatedError, match="malformed"):
        check(make(), TOKEN)


def test_scope_list(server: IntrospectionServer, make: Any, check: Driver) -> None:
    server.tokens[TOKEN] = active(scope=["payments.get", "payments.create"])
    assert check(make(), TOKEN).scopes == {"payments.get", "payments.create"}
    server.tokens[TOKEN] = active(scope=None)
    assert check(make(), TOKEN).scopes == frozenset()


def test_issuer(server: IntrospectionServer, make: Any, check: Driver) -> None:
    issuer = "https://id.example.com/"
    verifier = make(endpoint=server.endpoint, issuer=issuer)
    server.tokens[TOKEN] = active(iss=issuer)
    assert check(verifier, TOKEN).subject == "user-1"
    for wrong in ("https://id.example.com", "https://evil.example/", None):
        server.tokens[TOKEN] = active(iss=wrong)
        with pytest.raises(UnauthenticatedError, match="another issuer"):
            check(verifier, TOKEN)


def test_aud_list_and_client_ids(server: IntrospectionServer, make: Any, check: Driver) -> None:
    server.tokens[TOKEN] = active(aud=["ledger-api", AUDIENCE])
    assert check(make(), TOKEN).subject == "user-1"
    server.tokens[TOKEN] = active(aud=None, client_id="cognito-app")
    by_client = make(audience=None, client_ids=["cognito-app"])
    assert check(by_client, TOKEN).client_id == "cognito-app"
    server.tokens[TOKEN] = active(aud=None, client_id="other-app")
    with pytest.raises(UnauthenticatedError, match="audience"):
        check(by_client, TOKEN)


def test_client_ids_alone_refuse_a_token_with_an_audience(
    server: IntrospectionServer, make: Any, check: Driver
) -> None:
    # As JWTVerifier does: an aud that no one configured this verifier to check means
    # the token was minted for some API, maybe another one.
    by_client = make(audience=None, client_ids=["cognito-app"])
    server.tokens[TOKEN] = active(aud="https://ledger.example/api", client_id="cognito-app")
    with pytest.raises(UnauthenticatedError, match="another audience"):
        check(by_client, TOKEN)
    both = make(audience=AUDIENCE, client_ids=["cognito-app"])
    server.tokens[TOKEN] = active(aud=AUDIENCE, client_id="cognito-app")
    assert check(both, TOKEN).client_id == "cognito-app"


def test_any_audience_is_an_explicit_opt_out(
    server: IntrospectionServer, make: Any, check: Driver
) -> None:
    from bearerguard.verifiers import ANY_AUDIENCE

    verifier = make(audience=ANY_AUDIENCE)
    for audience in ("https://ledger.example/api", None):
        server.tokens[TOKEN] = active(aud=audience)
        assert check(verifier, TOKEN).subject == "user-1"


def test_leeway(server: IntrospectionServer, make: Any, check: Driver) -> None:
    server.tokens[TOKEN] = active(exp=int(time.time()) - 5)
    with pytest.raises(UnauthenticatedError, match="expired"):
        check(make(), TOKEN)
    verifier = make(leeway=30)
    assert verifier.leeway == 30.0
    assert check(verifier, TOKEN).subject == "user-1"
    assert make().leeway == 0.0


def test_no_exp_and_a_jti_that_is_the_token(
    server: IntrospectionServer, make: Any, check: Driver
) -> None:
    server.tokens[TOKEN] = active(exp=None, jti=TOKEN, sub=None)
    principal = check(make(), TOKEN)
    assert principal.expires_at is None
    assert principal.token_id is None  # never the token where a token id is logged
    assert principal.subject == "dashboard"  # the client when there is no sub


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(Reply(500, {"active": True}), id="5xx"),
        pytest.param(Reply(503, b"down"), id="503"),
        pytest.param(Reply(302, headers={"Location": "http://127.0.0.1:1/"}), id="redirect"),
        pytest.param(Reply(200, b"<html>ok</html>"), id="not-json"),
        pytest.param(Reply(200, b"\xff\xfe{}"), id="not-utf8"),
        pytest.param(Reply(200, [True]), id="not-an-object"),
        pytest.param(Reply(200, {"sub": "x"}), id="no-active"),
        pytest.param(Reply(200, {"active": "true"}), id="active-text"),
        pytest.param(Reply(200, b"[" * 50_000), id="deep-nesting"),
        pytest.param(Reply(200, b" " * 70_000 + b'{"active": false}'), id="oversized"),
        pytest.param(
            Reply(200, b" " * 70_000 + b'{"active": false}', length=False),
            id="oversized-no-length",
        ),
        pytest.param(
            Reply(200, b'{"active": false}', headers={"Content-Encoding": "gzip"}),
            id="compressed",
        ),
    ],
)
def test_unusable_answers_are_503(
    server: IntrospectionServer, make: Any, check: Driver, reply: Reply
) -> None:
    server.reply = reply
    with pytest.raises(ServiceUnavailableError) as caught:
        check(make(), TOKEN)
    assert caught.value.status_code == 503


def test_a_dribbling_answer_is_cut_at_the_deadline(
    server: IntrospectionServer, make: Any, check: Driver
) -> None:
    server.reply = Reply(200, b" " * 60_000 + b'{"active": false}', length=False, dribble=0.05)
    with pytest.raises(ServiceUnavailableError):
        check(make(timeout=0.3), TOKEN)


def test_timeout_is_503(server: IntrospectionServer, make: Any, check: Driver) -> None:
    server.tokens[TOKEN] = active()
    server.delay = 5
    with pytest.raises(ServiceUnavailableError):
        check(make(timeout=0.2), TOKEN)


def test_endpoint_down_is_503(make: Any, check: Driver) -> None:
    down = LocalServer()
    down.stop()
    with pytest.raises(ServiceUnavailableError):
        check(make(endpoint=down.url("/introspect")), TOKEN)


def test_logs_name_neither_token_nor_secret(
    server: IntrospectionServer, make: Any, check: Driver, caplog: pytest.LogCaptureFixture
) -> None:
    server.reply = Reply(500, TOKEN.encode())
    with caplog.at_level(logging.DEBUG, "bearerguard"), pytest.raises(ServiceUnavailableError):
        check(make(), TOKEN)
    assert "HTTP 500" in caplog.text
    assert TOKEN not in caplog.text
    assert CLIENT_SECRET not in caplog.text


def test_an_outage_logs_one_line_per_reason_not_one_per_call(
    server: IntrospectionServer, make: Any, check: Driver, caplog: pytest.LogCaptureFixture
) -> None:
    server.reply = Reply(500, b"down")
    verifier = make()
    with caplog.at_level(logging.WARNING, "bearerguard"):
        for number in range(20):
            with pytest.raises(ServiceUnavailableError):
                check(verifier, f"{TOKEN}{number}")
    assert [r.getMessage() for r in caplog.records] == ["token introspection failed (HTTP 500)"]


# -- discovery ----------------------------------------------------------------------------


def test_discovery_via_issuer(server: IntrospectionServer, make: Any, check: Driver) -> None:
    issuer = server.url()
    server.routes["/.well-known/openid-configuration"] = Reply(
        body={"issuer": issuer, "introspection_endpoint": server.endpoint}
    )
    server.tokens[TOKEN] = active(iss=issuer)
    verifier = make(issuer=issuer)
    assert check(verifier, TOKEN).subject == "user-1"
    assert check(verifier, TOKEN).subject == "user-1"
    assert server.paths() == ["/.well-known/openid-configuration", "/introspect", "/introspect"]


@pytest.mark.parametrize(
    "metadata",
    [
        pytest.param({"issuer": "{issuer}/"}, id="issuer-mismatch"),
        pytest.param({"issuer": "{issuer}"}, id="no-endpoint"),
        pytest.param(
            {"issuer": "{issuer}", "introspection_endpoint": "http://as.example/i"},
            id="plain-http-endpoint",
        ),
    ],
)
def test_discovery_failures_are_503(
    server: IntrospectionServer, make: Any, check: Driver, metadata: dict[str, str]
) -> None:
    issuer = server.url()
    document = {name: value.format(issuer=issuer) for name, value in metadata.items()}
    server.routes["/.well-known/openid-configuration"] = Reply(body=document)
    server.tokens[TOKEN] = active(iss=issuer)
    with pytest.raises(ServiceUnavailableError):
        check(make(issuer=issuer), TOKEN)
    assert server.introspections() == 0


# -- async, in-flight bound, spray --------------------------------------------------------


@pytest.mark.anyio
async def test_averify_stays_on_the_event_loop(
    server: IntrospectionServer, make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_thread(*args: Any, **kwargs: Any) -> Awaitable[Any]:
        raise AssertionError("averify left the event loop")

    monkeypatch.setattr(anyio.to_thread, "run_sync", no_thread)
    server.tokens[TOKEN] = active()
    verifier = make()
    principals = []
    async with anyio.create_task_group() as group:
        for _ in range(4):

            async def one() -> None:
                principals.append(await verifier.averify(TOKEN))

            group.start_soon(one)
    assert [p.subject for p in principals] == ["user-1"] * 4


def test_in_flight_bound(server: IntrospectionServer, make: Any, check: Driver) -> None:
    server.tokens[TOKEN] = active()
    server.delay = 10  # until release()
    verifier = make(max_in_flight=3, timeout=10)
    results: list[object] = []

    def call() -> None:
        try:
            results.append(check(verifier, TOKEN))
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for _ in range(3):
        assert server.arrived.acquire(timeout=5)
    with pytest.raises(ServiceUnavailableError) as caught:
        check(verifier, TOKEN)
    assert caught.value.retry_after == 1
    assert server.introspections() == 3  # the excess never reached the server
    server.release()
    for thread in threads:
        thread.join(timeout=10)
    assert [getattr(r, "subject", r) for r in results] == ["user-1"] * 3
    assert check(verifier, TOKEN).subject == "user-1"  # the slots came back


def test_spray_costs_one_call_per_distinct_string(server: IntrospectionServer, make: Any) -> None:
    # A still monotonic timer: the negative cache's 5 s cannot run out mid-test.
    guard = Guard([make()], timer=lambda: 1000.0)
    server.tokens[TOKEN] = active()
    assert guard.authenticate(f"Bearer {TOKEN}").subject == "user-1"
    sprayed = [secrets.token_urlsafe(24) for _ in range(300)]
    for token in sprayed:
        with pytest.raises(UnauthenticatedError):
            guard.authenticate(f"Bearer {token}")
    assert server.introspections() == 1 + 300
    # Repeats of refused strings are answered from the guard's negative cache.
    for _ in range(10):
        for token in sprayed[:30]:
            with pytest.raises(UnauthenticatedError):
                guard.authenticate(f"Bearer {token}")
    assert server.introspections() == 1 + 300
    # The valid token is cached too: no further call.
    assert guard.authenticate(f"Bearer {TOKEN}").subject == "user-1"
    assert server.introspections() == 301
