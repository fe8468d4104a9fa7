"""The user's story of issue 2 on both example apps, and every ``examples/*.py`` exercised.

Both apps are built with their own ``create_app()`` (a fresh guard and cache per test) and
asked the same questions; they must give the same answers, byte for byte on refusals.
"""

from __future__ import annotations

import importlib
import json
import shlex
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from starlette.testclient import TestClient

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def example(name: str) -> ModuleType:
    """Import an example module as the examples import each other (top-level names)."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    module = importlib.import_module(name)
    assert Path(module.__file__ or "").parent == EXAMPLES
    return module


def test_every_example_is_exercised() -> None:
    # A new example file must be added to this module's tests.
    assert sorted(path.name for path in EXAMPLES.glob("*.py")) == [
        "fastapi_app.py",
        "flask_app.py",
        "payments.py",
    ]


# -- one interface over both apps -------------------------------------------------------------


class Reply:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)


def fastapi_client() -> Any:
    client = TestClient(example("fastapi_app").create_app())

    def call(method: str, path: str, token: str | None = None, body: Any = None) -> Reply:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        # An absolute URL keeps a path such as //api/... a path, not a host.
        response = client.request(
            method, "http://testserver" + path, headers=headers, json=body, follow_redirects=False
        )
        raw = [(n.decode().lower(), v.decode()) for n, v in response.headers.raw]
        return Reply(response.status_code, raw, response.content)

    return call


def flask_client() -> Any:
    client = example("flask_app").create_app().test_client()

    def call(method: str, path: str, token: str | None = None, body: Any = None) -> Reply:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = client.open("http://localhost" + path, method=method, headers=headers, json=body)
        raw = [(n.lower(), v) for n, v in response.headers.items()]
        return Reply(response.status_code, raw, response.get_data())

    return call


APPS = {"fastapi": fastapi_client, "flask": flask_client}


@pytest.fixture(params=list(APPS))
def call(request: pytest.FixtureRequest) -> Any:
    return APPS[request.param]()


# -- the story ----------------------------------------------------------------------------------


def caller_token(caller: str) -> str | None:
    if caller == "anonymous":
        return None
    payments = example("payments")
    makers = {
        "oauth-get": lambda: payments.mint_access_token(["payments.get"]),
        "oauth-none": lambda: payments.mint_access_token([]),
        "oauth-instructions": lambda: payments.mint_access_token(
            ["payments.user-instructions.get"]
        ),
        "oauth-star": lambda: payments.mint_access_token(["*"]),
        "oauth-payments-star": lambda: payments.mint_access_token(["payments.*"]),
        "client-checkout": lambda: payments.CHECKOUT_TOKEN,
        "client-readonly": lambda: payments.READONLY_TOKEN,
        "client-star": lambda: payments.OPERATOR_TOKEN,
    }
    token: str = makers[caller]()
    return token


CHECKOUT = ("POST", "/api/payment/checkout")
PAYMENT = ("GET", "/api/payment/pay_1")
INSTRUCTIONS = ("GET", "/api/payment/pay_1/instructions/ideal")
APPLICATIONS = ("GET", "/api/payment-applications")
HEALTH = ("GET", "/health")
ROUTES = {"checkout": CHECKOUT, "payment": PAYMENT, "instructions": INSTRUCTIONS}
ROUTES |= {"applications": APPLICATIONS, "health": HEALTH}

MISSING = (401, None)
# A kind refusal lists no scopes; it says which kinds the route accepts instead.
CLIENT_ONLY = (403, "This route accepts only client tokens")
OAUTH_ONLY = (403, "This route accepts only oauth tokens")
OK = (200, None)
CREATED = (201, None)


def need(*scopes: str) -> tuple[int, list[str]]:
    return 403, list(scopes)


# caller -> (checkout, payment, instructions, applications, health)
STORY = {
    "anonymous": (MISSING, MISSING, MISSING, MISSING, OK),
    "oauth-get": (CLIENT_ONLY, OK, need("payments.user-instructions.get"), OK, OK),
    "oauth-none": (
        CLIENT_ONLY,
        need("payments.get"),
        need("payments.user-instructions.get"),
        OK,
        OK,
    ),
    "oauth-instructions": (CLIENT_ONLY, need("payments.get"), OK, OK, OK),
    # An identity provider's "*" is a plain string, not bearerguard's wildcard.
    "oauth-star": (
        CLIENT_ONLY,
        need("payments.get"),
        need("payments.user-instructions.get"),
        OK,
        OK,
    ),
    "oauth-payments-star": (
        CLIENT_ONLY,
        need("payments.get"),
        need("payments.user-instructions.get"),
        OK,
        OK,
    ),
    "client-checkout": (CREATED, OK, need("payments.user-instructions.get"), OAUTH_ONLY, OK),
    "client-readonly": (need("payments.create"), OK, OK, OAUTH_ONLY, OK),
    "client-star": (CREATED, OK, OK, OAUTH_ONLY, OK),
}
CELLS = [
    pytest.param(caller, route, expected, id=f"{caller}-{route}")
    for caller, row in STORY.items()
    for route, expected in zip(ROUTES, row, strict=True)
]


def checkout_body() -> dict[str, Any]:
    return {"clientId": example("payments").APPLICATION_ID, "amount": 1250}


def expected_refusal(status: int, scopes: list[str] | str | None) -> tuple[bytes, str]:
    """A 401, or a 403 naming the scopes that failed (or, as a string, saying why)."""
    if status == 401:
        return b'{"message":"Unauthenticated"}', 'Bearer realm="api"'
    body: dict[str, Any] = {"message": "Insufficient permissions", "error": "insufficient_scope"}
    challenge = 'Bearer realm="api", error="insufficient_scope"'
    if isinstance(scopes, str):
        body.update(required_scopes=[], error_description=scopes)
        challenge += f', error_description="{scopes}"'
    else:
        body["required_scopes"] = scopes
        if scopes:
            challenge += f', scope="{" ".join(scopes)}"'
    return json.dumps(body, separators=(",", ":")).encode(), challenge


@pytest.mark.parametrize(("caller", "route", "expected"), CELLS)
def test_story(call: Any, caller: str, route: str, expected: tuple[int, Any]) -> None:
    method, path = ROUTES[route]
    body = checkout_body() if route == "checkout" else None

    reply = call(method, path, caller_token(caller), body)

    status, scopes = expected
    assert reply.status == status, reply.body
    if status >= 400:
        body_bytes, challenge = expected_refusal(status, scopes)
        assert reply.body == body_bytes
        assert dict(reply.headers)["www-authenticate"] == challenge
        assert dict(reply.headers)["cache-control"] == "no-store"
        assert dict(reply.headers)["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("caller", "route", "expected"), [c for c in CELLS if c.values[2][0] < 400]
)
def test_story_both_apps_answer_alike(caller: str, route: str, expected: Any) -> None:
    method, path = ROUTES[route]
    body = checkout_body() if route == "checkout" else None
    token = caller_token(caller)

    replies = [make()(method, path, token, body) for make in APPS.values()]

    assert replies[0].json() == replies[1].json()


def test_checkout_for_another_application_is_the_same_403(call: Any) -> None:
    payments = example("payments")
    body = {"clientId": "SomeoneElsesApplicationId0000000", "amount": 1250}

    reply = call("POST", "/api/payment/checkout", payments.CHECKOUT_TOKEN, body)

    assert reply.status == 403
    body, challenge = expected_refusal(403, "The token belongs to another application")
    assert reply.body == body
    assert dict(reply.headers)["www-authenticate"] == challenge
    assert dict(reply.headers)["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "body", [{"clientId": 1}, {"amount": 5}, {"clientId": "x", "amount": 0}, None]
)
def test_checkout_rejects_a_malformed_body(call: Any, body: Any) -> None:
    reply = call("POST", "/api/payment/checkout", example("payments").CHECKOUT_TOKEN, body)

    assert reply.status == 422


def test_health_is_public_and_still_judges_a_presented_token(call: Any) -> None:
    assert call("GET", "/health").json() == {"status": "ok"}
    refused = call("GET", "/health", "dev_client_nobody_0000000000000000")
    assert refused.status == 401
    assert refused.json()["error"] == "invalid_token"


@pytest.mark.parametrize(
    "token_name",
    [None, "READONLY_TOKEN", "CHECKOUT_TOKEN"],
    ids=["anonymous", "readonly", "checkout"],
)
@pytest.mark.parametrize(
    "path", ["//api/payment/checkout/", "/api//payment/checkout", "/api/payment/checkout/"]
)
def test_double_and_trailing_slashes_cannot_slip_past_checkout(
    call: Any, path: str, token_name: str | None
) -> None:
    payments = example("payments")
    token = getattr(payments, token_name) if token_name else None

    reply = call("POST", path, token, checkout_body())

    if token is None:
        assert reply.status == 401
    elif token_name == "READONLY_TOKEN":
        # Never created: refused, unrouted (404), or redirected to the canonical path
        # (Starlette 307, Werkzeug 308), where the route declaration refuses it.
        assert reply.status in (403, 404, 307, 308)
    else:
        assert reply.status in (201, 404, 307, 308)
    assert reply.status != 201 or token_name == "CHECKOUT_TOKEN"


def test_flask_redirect_of_an_inner_double_slash_is_decided_again() -> None:
    payments = example("payments")
    client = example("flask_app").create_app().test_client()
    headers = {"Authorization": f"Bearer {payments.READONLY_TOKEN}"}

    reply = client.post(
        "http://localhost/api//payment/checkout", headers=headers, json=checkout_body()
    )
    assert reply.status_code == 308
    followed = client.post(reply.headers["location"], headers=headers, json=checkout_body())
    assert followed.status_code == 403


def test_expired_and_foreign_tokens_are_refused(call: Any) -> None:
    payments = example("payments")
    expired = payments.mint_access_token(["*"], ttl=-3600)

    reply = call("GET", "/api/payment/pay_1", expired)

    assert reply.status == 401
    assert reply.json()["error_description"] == "The access token expired"


# -- FastAPI extras: OpenAPI and docs -----------------------------------------------------------


def test_fastapi_example_documents_its_security() -> None:
    app = example("fastapi_app").create_app()
    client = TestClient(app)

    assert client.get("/docs").status_code == 200
    document = client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["BearerGuard"]["scheme"] == "bearer"
    security = {
        (path, method): operation.get("security")
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }
    assert security == {
        ("/health", "get"): None,
        ("/api/payment/checkout", "post"): [{"BearerGuard": ["payments.create"]}],
        ("/api/payment/{payment_id}", "get"): [{"BearerGuard": ["payments.get"]}],
        ("/api/payment/{payment_id}/instructions/{provider}", "get"): [
            {"BearerGuard": ["payments.user-instructions.get"]}
        ],
        ("/api/payment-applications", "get"): [{"BearerGuard": []}],
    }


def test_each_create_app_has_its_own_guard() -> None:
    first = example("fastapi_app").create_app()
    second = example("fastapi_app").create_app()

    def guard_of(app: Any) -> Any:
        [layer] = [m for m in app.user_middleware]
        return layer.kwargs["guard"]

    assert guard_of(first) is not guard_of(second)


# -- the printed curl lines work -------------------------------------------------------------------


def curl_lines(output: str) -> list[list[str]]:
    return [shlex.split(line.split("#")[0]) for line in output.splitlines() if "curl " in line]


def replay(call: Any, argv: list[str]) -> Reply:
    assert argv[0] == "curl"
    method, url, token, body = "GET", "", None, None
    args = iter(argv[1:])
    for arg in args:
        if arg == "-X":
            method = next(args)
        elif arg == "-H":
            name, _, value = next(args).partition(": ")
            if name == "Authorization":
                token = value.removeprefix("Bearer ")
        elif arg == "-d":
            body = json.loads(next(args))
        elif arg.startswith("http"):
            url = arg
    path = "/" + url.split("/", 3)[3]
    return call(method, path, token, body)


@pytest.mark.parametrize(("name", "runner"), [("fastapi_app", "uvicorn"), ("flask_app", "flask")])
def test_main_prints_working_curl_lines(
    name: str, runner: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = example(name)
    served: list[dict[str, Any]] = []
    if runner == "uvicorn":
        import uvicorn

        monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.append(kw))
    else:
        monkeypatch.setattr(module.app, "run", lambda **kw: served.append(kw))

    module.main()

    assert served == [{"host": "127.0.0.1", "port": 8000 if runner == "uvicorn" else 5000}]
    lines = curl_lines(capsys.readouterr().out)
    statuses = [replay(APPS[name.split("_")[0]](), argv).status for argv in lines]
    assert statuses == [200, 201, 401]


def test_payments_mints_tokens_the_guard_accepts() -> None:
    payments = example("payments")
    guard = payments.build_guard()

    principal = guard.authenticate(
        f"Bearer {payments.mint_access_token(['payments.get'], subject='u-1')}"
    )

    assert (principal.kind, principal.subject, principal.scopes) == (
        "oauth",
        "u-1",
        {"payments.get"},
    )
    assert principal.client_id == "dashboard"
    operator = guard.authenticate(f"Bearer {payments.OPERATOR_TOKEN}")
    assert operator.kind == "client"
    assert operator.has_scopes("payments.create", "anything.at.all")
