"""Guard decisions: check/acheck, authenticate/aauthenticate, authorize, render (F-03, F-04)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread
import pytest

from bearerguard import Guard, Principal, Requirement, Rule, StaticTokenVerifier
from bearerguard.exceptions import (
    AuthError,
    InsufficientScopeError,
    InvalidRequestError,
    MissingCredentialsError,
    ServiceUnavailableError,
    UnauthenticatedError,
)
from bearerguard.headers import MAX_TOKEN_LENGTH

CLIENT = Principal(
    kind="client", subject="tok_checkout", scopes=frozenset({"payments.create", "payments.get"})
)
OAUTH = Principal(kind="oauth", subject="user-42", scopes=frozenset({"payments.get"}))
STAR = Principal(kind="oauth", subject="admin", scopes=frozenset({"*"}))
PREFIX = Principal(kind="client", subject="tok_all", scopes=frozenset({"payments.*"}))
TOKENS = {"t_client": CLIENT, "t_oauth": OAUTH, "t_star": STAR, "t_prefix": PREFIX}
RULES = [
    Rule("POST", "/api/payment/checkout", scopes=["payments.create"], kinds=["client"]),
    Rule("GET", "/api/payment/{payment_id}", scopes=["payments.get"]),
    Rule(
        "GET",
        "/api/payment/{payment_id}/instructions/{provider}",
        scopes=["payments.user-instructions.get"],
    ),
    Rule("GET", "/api/payment-applications", kinds=["oauth"]),
]
DRIVERS = ["check", "acheck"]

Outcome = Principal | AuthError | None


def _guard(verifiers: list[Any] | None = None, **options: Any) -> Guard:
    options.setdefault("rules", RULES)
    options.setdefault("public_paths", ["/health"])
    return Guard(verifiers or [StaticTokenVerifier(TOKENS)], **options)


def _decide(guard: Guard, driver: str, method: str, path: str, value: str | None) -> Outcome:
    """Run one decision through the sync or the async driver; return the refusal too."""
    try:
        if driver == "check":
            return guard.check(method, path, value)
        return anyio.run(guard.acheck, method, path, value)
    except AuthError as error:
        return error


def _authenticate(guard: Guard, driver: str, value: str | None) -> Principal | AuthError:
    try:
        if driver == "check":
            return guard.authenticate(value)
        return anyio.run(guard.aauthenticate, value)
    except AuthError as error:
        return error


def _status(outcome: Outcome) -> int | str:
    if isinstance(outcome, AuthError):
        return outcome.status_code
    return "anonymous" if outcome is None else outcome.subject


# -- the decision table --------------------------------------------------------------------


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize(
    ("method", "path", "value", "expected"),
    [
        pytest.param("GET", "/health", None, "anonymous", id="public-no-token"),
        pytest.param("GET", "/health", "Basic dXNlcjpwYXNz", "anonymous", id="public-other-scheme"),
        pytest.param("GET", "/health", "Bearer t_oauth", "user-42", id="F-04-public-good-token"),
        pytest.param("GET", "/health", "Bearer t_unknown", 401, id="F-04-public-bad-token"),
        pytest.param("GET", "/health", "Bearer x_noowner", 401, id="F-04-public-no-owner"),
        pytest.param("GET", "/health", "Bearer a,b", 400, id="public-malformed"),
        pytest.param("GET", "/health", "Bearer", 400, id="public-empty-token"),
        pytest.param("GET", "/health", "Bearer " + "a" * 5000, 401, id="public-too-long"),
        pytest.param("GET", "/api/payment/p1", None, 401, id="H-01-protected-no-token"),
        pytest.param("GET", "/api/payment/p1", "Basic x", 401, id="H-02-protected-other-scheme"),
        pytest.param("GET", "/api/payment/p1", "Bearer t_oauth", "user-42", id="payment-oauth"),
        pytest.param("GET", "/api/payment/p1", "bearer   t_client ", "tok_checkout", id="H-05"),
        pytest.param("GET", "/api/payment/p1", "Bearer t_unknown", 401, id="protected-bad"),
        pytest.param("GET", "/api/payment/p1", "Bearer\tt_oauth", 400, id="H-06-malformed"),
        pytest.param("POST", "/api/payment/checkout", "Bearer t_client", "tok_checkout", id="co"),
        pytest.param("POST", "/api/payment/checkout", "Bearer t_prefix", "tok_all", id="co-pref"),
        pytest.param("POST", "/api/payment/checkout", "Bearer t_oauth", 403, id="co-oauth-kind"),
        pytest.param("POST", "/api/payment/checkout", "Bearer t_star", 403, id="co-star-kind"),
        pytest.param(
            "GET", "/api/payment/p1/instructions/acme", "Bearer t_oauth", 403, id="instr-scope"
        ),
        pytest.param(
            "GET", "/api/payment/p1/instructions/acme", "Bearer t_prefix", "tok_all", id="instr-pre"
        ),
        pytest.param("GET", "/api/payment-applications", "Bearer t_star", "admin", id="dash"),
        pytest.param("GET", "/api/payment-applications", "Bearer t_client", 403, id="dash-kind"),
        pytest.param("GET", "/unknown", "Bearer t_client", "tok_checkout", id="P-08-valid"),
        pytest.param("GET", "/unknown", None, 401, id="P-08-missing"),
    ],
)
def test_decisions(
    driver: str, method: str, path: str, value: str | None, expected: int | str
) -> None:
    assert _status(_decide(_guard(), driver, method, path, value)) == expected


@pytest.mark.parametrize("driver", DRIVERS)
def test_missing_credentials_has_no_error_code(driver: str) -> None:
    for value in (None, "", "Basic dXNlcjpwYXNz", "Bearer-t"):
        outcome = _decide(_guard(), driver, "GET", "/api/payment/p1", value)
        assert isinstance(outcome, MissingCredentialsError)
        assert outcome.error_code is None


@pytest.mark.parametrize("driver", DRIVERS)
def test_no_owner_is_invalid_token(driver: str, scripted: Any) -> None:
    verifier = scripted({"t_known": OAUTH})
    outcome = _decide(_guard([verifier]), driver, "GET", "/api/payment/p1", "Bearer nobodys")
    assert isinstance(outcome, UnauthenticatedError)
    assert outcome.error_code == "invalid_token"
    assert verifier.calls == []


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize(
    "value",
    [
        pytest.param("Bearer a b", id="H-08"),
        pytest.param("Bearer a, Bearer b", id="H-09"),
        pytest.param("Bearer t\u00e9", id="H-12"),
        pytest.param("Bearer ", id="H-04"),
    ],
)
@pytest.mark.parametrize("default", ["public", "authenticated"])
def test_malformed_is_400_on_every_path(driver: str, value: str, default: str) -> None:
    guard = _guard(default=default)
    for method, path in [
        ("GET", "/health"),
        ("GET", "/unknown"),
        ("POST", "/api/payment/checkout"),
    ]:
        assert isinstance(_decide(guard, driver, method, path, value), InvalidRequestError)


@pytest.mark.parametrize("driver", DRIVERS)
def test_default_public(driver: str) -> None:
    guard = _guard(default="public")
    assert _decide(guard, driver, "GET", "/anything", None) is None
    assert _status(_decide(guard, driver, "GET", "/anything", "Bearer t_nope")) == 401
    assert _status(_decide(guard, driver, "GET", "/anything", "Bearer t_oauth")) == "user-42"
    assert _status(_decide(guard, driver, "GET", "/api/payment/p1", None)) == 401
    assert _status(_decide(guard, driver, "POST", "/api/payment/checkout", "Bearer t_oauth")) == 403


@pytest.mark.parametrize("driver", DRIVERS)
def test_insufficient_scope_lists_the_rule_scopes(driver: str) -> None:
    outcome = _decide(_guard(), driver, "GET", "/api/payment/p1/instructions/x", "Bearer t_oauth")
    assert isinstance(outcome, InsufficientScopeError)
    assert outcome.required_scopes == ("payments.user-instructions.get",)


@pytest.mark.parametrize("driver", DRIVERS)
def test_kind_refusal_lists_no_scopes(driver: str) -> None:
    outcome = _decide(_guard(), driver, "POST", "/api/payment/checkout", "Bearer t_oauth")
    assert isinstance(outcome, InsufficientScopeError)
    assert outcome.required_scopes == ()
    status, headers, body = _guard().render(outcome)
    assert status == 403
    assert json.loads(body)["required_scopes"] == []
    # It says why, with a fixed description naming the kinds the route accepts.
    assert json.loads(body)["error_description"] == "This route accepts only client tokens"
    assert dict(headers)["www-authenticate"] == (
        'Bearer realm="api", error="insufficient_scope",'
        ' error_description="This route accepts only client tokens"'
    )


# -- authenticate / aauthenticate ---------------------------------------------------------


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, MissingCredentialsError, id="none"),
        pytest.param("Basic abc", MissingCredentialsError, id="other-scheme"),
        pytest.param("Bearer", InvalidRequestError, id="empty"),
        pytest.param("Bearer a,b", InvalidRequestError, id="comma"),
        pytest.param("Bearer t_nope", UnauthenticatedError, id="unknown"),
        pytest.param("Bearer " + "a" * (MAX_TOKEN_LENGTH + 1), UnauthenticatedError, id="long"),
    ],
)
def test_authenticate_refusals(driver: str, value: str | None, expected: type[AuthError]) -> None:
    outcome = _authenticate(_guard(), driver, value)
    assert type(outcome) is expected


@pytest.mark.parametrize("driver", DRIVERS)
def test_authenticate_returns_the_principal(driver: str) -> None:
    assert _authenticate(_guard(), driver, "Bearer t_client") is CLIENT
    assert _authenticate(_guard(), driver, "  BEARER   t_star ") is STAR


# -- authorize: kind, then scopes, then any_scopes -----------------------------------------


@pytest.mark.parametrize(
    ("principal", "expected"),
    [
        pytest.param(
            Principal(kind="client", subject="c", scopes={"x"}),
            (),
            id="kind-first-even-if-scopes-miss",
        ),
        pytest.param(
            Principal(kind="oauth", subject="o", scopes=set()), ("a", "b"), id="then-all-of"
        ),
        pytest.param(
            Principal(kind="oauth", subject="o", scopes={"a"}),
            ("a", "b"),
            id="all-of-lists-the-set",
        ),
        pytest.param(
            Principal(kind="oauth", subject="o", scopes={"a", "b"}), ("c", "d"), id="then-any-of"
        ),
        pytest.param(Principal(kind="oauth", subject="o", scopes={"a", "b", "d"}), None, id="ok"),
        pytest.param(Principal(kind="oauth", subject="o", scopes={"*"}), None, id="star-ok"),
    ],
)
def test_authorize_order(principal: Principal, expected: tuple[str, ...] | None) -> None:
    requirement = Requirement.build(["a", "b"], ["c", "d"], ["oauth"])
    guard = _guard()
    if expected is None:
        guard.authorize(principal, requirement)
        return
    with pytest.raises(InsufficientScopeError) as caught:
        guard.authorize(principal, requirement)
    assert caught.value.required_scopes == expected


def test_authorize_with_an_empty_requirement_passes() -> None:
    _guard().authorize(Principal(kind="x", subject="y"), Requirement())


def test_authorize_through_rules_uses_the_same_order() -> None:
    rule = Rule("GET", "/x", scopes=["a"], any_scopes=["c", "d"], kinds=["client"])
    guard = _guard(rules=[rule])
    for value, expected in [
        ("Bearer t_oauth", ()),
        ("Bearer t_client", ("a",)),
    ]:
        outcome = _decide(guard, "check", "GET", "/x", value)
        assert isinstance(outcome, InsufficientScopeError)
        assert outcome.required_scopes == expected
    any_rule = Rule("GET", "/y", any_scopes=["refunds.get", "refunds.create"])
    outcome = _decide(_guard(rules=[any_rule]), "check", "GET", "/y", "Bearer t_client")
    assert isinstance(outcome, InsufficientScopeError)
    assert outcome.required_scopes == ("refunds.get", "refunds.create")


# -- rendering and configuration -----------------------------------------------------------


def test_custom_renderer_is_used_by_render() -> None:
    seen: list[tuple[AuthError, str]] = []

    def problem_json(error: AuthError, realm: str) -> tuple[int, list[tuple[str, str]], bytes]:
        seen.append((error, realm))
        body = json.dumps({"type": "about:blank", "status": error.status_code}).encode()
        return error.status_code, [("content-type", "application/problem+json")], body

    guard = _guard(renderer=problem_json, realm="payments")
    error = MissingCredentialsError()
    status, headers, body = guard.render(error)
    assert status == 401
    assert headers == [("content-type", "application/problem+json")]
    assert json.loads(body) == {"type": "about:blank", "status": 401}
    assert seen == [(error, "payments")]


def test_default_renderer_uses_the_guard_realm() -> None:
    _, headers, _ = _guard(realm="payments api").render(MissingCredentialsError())
    assert dict(headers)["www-authenticate"] == 'Bearer realm="payments api"'


@pytest.mark.parametrize(
    "realm",
    [
        pytest.param('a"b', id="quote"),
        pytest.param("a\\b", id="backslash"),
        pytest.param("a\r\nSet-Cookie: x", id="crlf"),
        pytest.param("r\u00e9alm", id="non-ascii"),
        pytest.param("a\tb", id="tab"),
        pytest.param(None, id="not-a-string"),
    ],
)
def test_W04_bad_realm_is_refused_at_construction(realm: Any) -> None:
    with pytest.raises(ValueError, match="realm"):
        _guard(realm=realm)


def test_guard_needs_verifiers() -> None:
    with pytest.raises(ValueError, match="verifier"):
        Guard([])
    with pytest.raises(TypeError, match="not a verifier"):
        Guard([object()])  # type: ignore[list-item]


def test_guard_repr_shows_no_token() -> None:
    text = repr(_guard())
    for token in TOKENS:
        assert token not in text
    assert "client" in text


# -- F-03: verifier failures -----------------------------------------------------------------


class _AsyncScripted:
    """A verifier with both verify and averify; averify follows the same script."""

    kind = "async"

    def __init__(self, outcome: Any) -> None:
        self.outcome = outcome
        self.sync_calls = 0
        self.async_calls = 0

    def accepts(self, token: str) -> bool:
        return token.startswith("t_")

    def verify(self, token: str) -> Principal:
        self.sync_calls += 1
        return self._result()

    async def averify(self, token: str) -> Principal:
        self.async_calls += 1
        await anyio.sleep(0)
        return self._result()

    def _result(self) -> Principal:
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome  # type: ignore[no-any-return]


FAILURES = [
    pytest.param(RuntimeError("boom t_secret"), 503, None, id="RuntimeError"),
    pytest.param(KeyError("t_secret"), 503, None, id="KeyError"),
    pytest.param(TypeError("t_secret"), 503, None, id="TypeError"),
    pytest.param(OverflowError(), 503, None, id="OverflowError"),
    pytest.param(RecursionError(), 503, None, id="RecursionError"),
    pytest.param(ValueError("t_secret"), 503, None, id="ValueError"),
    pytest.param(OSError("connection refused"), 503, None, id="OSError"),
    pytest.param(ServiceUnavailableError(), 503, None, id="ServiceUnavailableError"),
    pytest.param(InsufficientScopeError(), 503, None, id="InsufficientScopeError-from-verifier"),
    pytest.param(
        UnauthenticatedError("Token revoked"), 401, "Token revoked", id="UnauthenticatedError"
    ),
    pytest.param(
        MissingCredentialsError(),
        401,
        "The access token is invalid",
        id="MissingCredentialsError-renders-invalid-token",
    ),
    pytest.param(
        InvalidRequestError(), 401, "The access token is invalid", id="InvalidRequestError"
    ),
]


def _check_failure(outcome: Outcome, status: int, description: str | None) -> None:
    assert isinstance(outcome, AuthError)
    assert outcome.status_code == status
    rendered_status, header_list, body = _guard().render(outcome)
    headers = dict(header_list)
    assert rendered_status == status
    assert b"t_secret" not in body
    if status == 401:
        assert type(outcome) is UnauthenticatedError
        assert outcome.error_code == "invalid_token"
        assert outcome.description == description
        assert headers["www-authenticate"] == (
            f'Bearer realm="api", error="invalid_token", error_description="{description}"'
        )
    else:
        assert type(outcome) is ServiceUnavailableError
        assert "t_secret" not in outcome.description
        assert "www-authenticate" not in headers
        assert "retry-after" in headers


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize(("failure", "status", "description"), FAILURES)
def test_F03_sync_verifier_failures(
    driver: str,
    failure: BaseException,
    status: int,
    description: str | None,
    scripted: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="bearerguard")
    verifier = scripted({"t_secret": failure})
    outcome = _decide(_guard([verifier]), driver, "GET", "/api/payment/p1", "Bearer t_secret")
    _check_failure(outcome, status, description)
    assert "t_secret" not in caplog.text


@pytest.mark.parametrize(("failure", "status", "description"), FAILURES)
def test_F03_async_verifier_failures(
    failure: BaseException, status: int, description: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bearerguard")
    verifier = _AsyncScripted(failure)
    outcome = _decide(_guard([verifier]), "acheck", "GET", "/api/payment/p1", "Bearer t_secret")
    _check_failure(outcome, status, description)
    assert (verifier.async_calls, verifier.sync_calls) == (1, 0)
    assert "t_secret" not in caplog.text


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize(
    "returned",
    [
        pytest.param(None, id="None"),
        pytest.param({"sub": "x"}, id="dict"),
        pytest.param("principal", id="str"),
        pytest.param(True, id="True"),
    ],
)
def test_F03_verifier_returning_a_non_principal_is_503(
    driver: str, returned: object, scripted: Any
) -> None:
    verifier = scripted({"t_x": lambda token: returned})
    outcome = _decide(_guard([verifier]), driver, "GET", "/api/payment/p1", "Bearer t_x")
    assert isinstance(outcome, ServiceUnavailableError)
    # Not cached: asked again.
    _decide(_guard([verifier]), driver, "GET", "/api/payment/p1", "Bearer t_x")
    assert len(verifier.calls) == 2


@pytest.mark.parametrize("driver", DRIVERS)
def test_F03_async_verifier_returning_a_non_principal_is_503(driver: str) -> None:
    verifier = _AsyncScripted({"sub": "x"})
    outcome = _decide(_guard([verifier]), driver, "GET", "/api/payment/p1", "Bearer t_x")
    assert isinstance(outcome, ServiceUnavailableError)


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(RuntimeError("t_secret"), id="RuntimeError"),
        pytest.param(ServiceUnavailableError(), id="ServiceUnavailableError"),
        pytest.param(KeyError("x"), id="KeyError"),
    ],
)
def test_F03_unavailable_is_never_cached(
    driver: str, failure: BaseException, scripted: Any
) -> None:
    verifier = scripted({"t_x": failure})
    guard = _guard([verifier])
    for _ in range(3):
        assert _status(_decide(guard, driver, "GET", "/api/payment/p1", "Bearer t_x")) == 503
    assert len(verifier.calls) == 3
    verifier.outcomes["t_x"] = OAUTH
    assert _decide(guard, driver, "GET", "/api/payment/p1", "Bearer t_x") is OAUTH


@pytest.mark.parametrize("driver", DRIVERS)
def test_F03_async_unavailable_is_never_cached(driver: str) -> None:
    verifier = _AsyncScripted(ServiceUnavailableError(retry_after=17))
    guard = _guard([verifier])
    for _ in range(2):
        outcome = _decide(guard, driver, "GET", "/api/payment/p1", "Bearer t_x")
        assert isinstance(outcome, ServiceUnavailableError)
        assert outcome.retry_after == 17
    assert verifier.async_calls + verifier.sync_calls == 2


class _BrokenAccepts:
    kind = "broken"

    def __init__(self) -> None:
        self.verified = 0

    def accepts(self, token: str) -> bool:
        raise RuntimeError(f"cannot classify {token}")

    def verify(self, token: str) -> Principal:  # pragma: no cover - never reached
        self.verified += 1
        return OAUTH


@pytest.mark.parametrize("driver", DRIVERS)
def test_F03_accepts_raising_is_503_and_not_cached(
    driver: str, scripted: Any, caplog: pytest.LogCaptureFixture
) -> None:
    broken = _BrokenAccepts()
    guard = _guard([broken, scripted({"t_x": OAUTH})])
    for _ in range(2):
        outcome = _decide(guard, driver, "GET", "/api/payment/p1", "Bearer t_x")
        assert isinstance(outcome, ServiceUnavailableError)
    assert broken.verified == 0
    assert "t_x" not in caplog.text


@pytest.mark.parametrize("driver", DRIVERS)
def test_first_verifier_that_accepts_owns_the_token(driver: str, scripted: Any) -> None:
    first = scripted({"t_x": UnauthenticatedError()}, kind="first")
    second = scripted({"t_x": OAUTH}, kind="second")
    outcome = _decide(_guard([first, second]), driver, "GET", "/api/payment/p1", "Bearer t_x")
    assert isinstance(outcome, UnauthenticatedError)
    assert (len(first.calls), len(second.calls)) == (1, 0)
    other = scripted({"u_x": OAUTH}, prefix="u_")
    assert _decide(_guard([first, other]), driver, "GET", "/health", "Bearer u_x") is OAUTH


# -- async drivers: averify, worker threads, no hop on a hit ---------------------------------


@pytest.mark.anyio
async def test_acheck_uses_averify_and_check_uses_verify() -> None:
    verifier = _AsyncScripted(OAUTH)
    guard = _guard([verifier])
    assert await guard.acheck("GET", "/api/payment/p1", "Bearer t_x") is OAUTH
    assert (verifier.async_calls, verifier.sync_calls) == (1, 0)
    guard.clear_cache()
    assert guard.check("GET", "/api/payment/p1", "Bearer t_x") is OAUTH
    assert (verifier.async_calls, verifier.sync_calls) == (1, 1)


@pytest.mark.anyio
async def test_aauthenticate_uses_averify() -> None:
    verifier = _AsyncScripted(STAR)
    assert await _guard([verifier]).aauthenticate("Bearer t_x") is STAR
    assert (verifier.async_calls, verifier.sync_calls) == (1, 0)


@pytest.mark.anyio
@pytest.mark.parametrize("entry", ["acheck", "aauthenticate"])
async def test_A07_sync_verify_runs_in_a_worker_thread_and_hits_stay_on_the_loop(
    entry: str, scripted: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    hops: list[Callable[..., Any]] = []
    real_run_sync = anyio.to_thread.run_sync

    async def counting_run_sync(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        hops.append(func)
        return await real_run_sync(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting_run_sync)
    verifier = scripted({"t_x": OAUTH})
    guard = _guard([verifier])

    async def call() -> Principal | None:
        if entry == "acheck":
            return await guard.acheck("GET", "/api/payment/p1", "Bearer t_x")
        return await guard.aauthenticate("Bearer t_x")

    loop_thread = threading.get_ident()
    assert await call() is OAUTH
    assert verifier.threads != [loop_thread]
    assert len(verifier.threads) == 1
    assert len(hops) == 1
    for _ in range(3):
        assert await call() is OAUTH
    assert len(hops) == 1, "a cache hit must not leave the event loop"
    assert len(verifier.calls) == 1


@pytest.mark.anyio
async def test_averify_only_when_it_is_a_coroutine_function(scripted: Any) -> None:
    class SyncAverify:
        kind = "odd"

        def __init__(self) -> None:
            self.calls: list[str] = []

        def accepts(self, token: str) -> bool:
            return True

        def verify(self, token: str) -> Principal:
            self.calls.append("verify")
            return OAUTH

        def averify(self, token: str) -> Principal:  # not async: must not be awaited
            self.calls.append("averify")
            return OAUTH

    verifier = SyncAverify()
    assert await _guard([verifier]).acheck("GET", "/health", "Bearer t") is OAUTH
    assert verifier.calls == ["verify"]


# -- verifier hooks ----------------------------------------------------------------------------


def test_bind_guard_is_called_once_with_the_guard(scripted: Any) -> None:
    verifier = scripted({"t_a": OAUTH})
    bound: list[Guard] = []
    verifier.bind_guard = bound.append
    guard = _guard([verifier])
    assert bound == [guard]
    # A bound verifier can drop a revoked token's entry through the guard it was given.
    guard.check("GET", "/api/payment/p1", "Bearer t_a")
    verifier.outcomes["t_a"] = UnauthenticatedError("Token revoked")
    bound[0].invalidate("t_a")
    outcome = _decide(guard, "check", "GET", "/api/payment/p1", "Bearer t_a")
    assert isinstance(outcome, UnauthenticatedError)
    assert outcome.description == "Token revoked"
