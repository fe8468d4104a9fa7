"""The OpenAPI document says what the guard enforces, read from a real app's /openapi.json.

Security from route declarations and central rules alike, any-of scopes as
alternatives, token kinds, the refusals with the bytes the app really answers, public
and optional routes, and the OAuth 2.0 flows Swagger UI needs to offer the scopes.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI
from openapi_spec_validator import validate
from starlette.testclient import TestClient

from bearerguard import (
    AuthError,
    Guard,
    Principal,
    Rule,
    StaticTokenVerifier,
    render_error,
)
from bearerguard.fastapi import (
    OAUTH2_SCHEME_NAME,
    SCHEME_NAME,
    OAuth2Flows,
    current_principal,
    document_security,
    optional_principal,
    public,
    require_scopes,
)
from bearerguard.starlette import BearerGuardMiddleware

TOKENS = {
    "client-nothing": Principal(kind="client", subject="c-0"),
    "oauth-get": Principal(kind="oauth", subject="u-1", scopes=["payments.get"]),
}
FLOWS = OAuth2Flows(
    token_url="https://id.example.test/oauth/token",
    authorization_url="https://id.example.test/oauth/authorize",
    scopes={"payments.get": "Read payments"},
)


def make_guard(**options: Any) -> Guard:
    options.setdefault(
        "rules",
        [
            Rule("POST", "/api/payment/checkout", scopes=["payments.create"], kinds=["client"]),
            Rule("GET", "/api/payment/{payment_id}", scopes=["payments.get"]),
            Rule("GET", "/api/payment-applications", kinds=["oauth"]),
        ],
    )
    options.setdefault("public_paths", ["/health"])
    return Guard([StaticTokenVerifier(TOKENS)], **options)


def payments_app(guard: Guard | None = None, *, oauth2: OAuth2Flows | None = None) -> FastAPI:
    guard = guard or make_guard()
    app = FastAPI(title="Payments")
    app.add_middleware(BearerGuardMiddleware, guard=guard)
    document_security(app, guard, oauth2=oauth2)

    @app.get("/health")
    async def health() -> str:  # public through public_paths
        return "ok"

    @app.get("/status")
    @public
    async def status() -> str:
        return "up"

    @app.post("/api/payment/checkout")
    async def checkout() -> str:  # the rule alone protects it
        return "created"

    @app.get("/api/payment/{payment_id}", description="One payment.")
    async def get_payment(payment_id: str) -> str:
        return payment_id

    @app.get("/api/payment-applications")
    async def applications() -> list[str]:
        return []

    @app.get("/api/payment/{payment_id}/refunds", dependencies=[require_scopes("refunds.read")])
    async def refunds(payment_id: str) -> list[str]:  # a rule and a declaration
        return []

    @app.get(
        "/search",
        dependencies=[require_scopes("payments.read", any_scopes=["eu", "us"], kinds="oauth")],
    )
    async def search() -> list[str]:
        return []

    @app.get("/me", responses={401: {"description": "Sign in first."}})
    async def me(principal: Annotated[Principal, Depends(current_principal)]) -> str:
        return principal.subject

    @app.get("/hello")
    async def hello(p: Annotated[Principal | None, Depends(optional_principal)]) -> str:
        return "hi"

    @app.get("/anything")
    async def anything() -> str:  # no rule: the default, any valid token
        return "any"

    admin = APIRouter(prefix="/admin", dependencies=[require_scopes("admin")])

    @admin.get("/report")
    async def report() -> str:
        return "report"

    app.include_router(admin)
    return app


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    response = TestClient(payments_app(oauth2=FLOWS)).get("/openapi.json")
    assert response.status_code == 200  # no token needed for the schema
    return response.json()  # type: ignore[no-any-return]


def operation(document: dict[str, Any], path: str, method: str = "get") -> dict[str, Any]:
    return document["paths"][path][method]  # type: ignore[no-any-return]


def bearer(*alternatives: list[str]) -> list[dict[str, list[str]]]:
    return [{name: scopes} for scopes in alternatives for name in (SCHEME_NAME, OAUTH2_SCHEME_NAME)]


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)


def test_operations_protected_by_rules_alone_show_their_security(document: dict[str, Any]) -> None:
    assert operation(document, "/api/payment/checkout", "post")["security"] == bearer(
        ["payments.create"]
    )
    assert operation(document, "/api/payment/{payment_id}")["security"] == bearer(["payments.get"])
    assert operation(document, "/api/payment-applications")["security"] == bearer([])
    assert operation(document, "/anything")["security"] == bearer([])


def test_rules_and_declarations_add_up(document: dict[str, Any]) -> None:
    # The payment rule ends at {payment_id}: the refunds route has only its declaration.
    assert operation(document, "/api/payment/{payment_id}/refunds")["security"] == bearer(
        ["refunds.read"]
    )
    assert operation(document, "/admin/report")["security"] == bearer(["admin"])
    assert operation(document, "/me")["security"] == bearer([])


def test_any_of_scopes_are_alternatives_and_kinds_are_stated(document: dict[str, Any]) -> None:
    search = operation(document, "/search")
    assert search["security"] == bearer(["payments.read", "eu"], ["payments.read", "us"])
    assert search["x-bearerguard"] == {
        "token": "required",
        "scopes": [["payments.read", "eu"], ["payments.read", "us"]],
        "kinds": ["oauth"],
    }
    assert search["description"] == (
        "**Authorization:** a bearer token of kind `oauth` with the scopes "
        "`payments.read`, `eu` or `payments.read`, `us`."
    )
    checkout = operation(document, "/api/payment/checkout", "post")
    assert checkout["x-bearerguard"]["kinds"] == ["client"]
    assert "of kind `client`" in checkout["description"]
    # The operation's own description is kept, the requirement appended.
    assert operation(document, "/api/payment/{payment_id}")["description"].startswith(
        "One payment.\n\n**Authorization:** a bearer token with the scopes `payments.get`."
    )


def test_public_routes_show_no_security(document: dict[str, Any]) -> None:
    for path in ("/health", "/status"):
        found = operation(document, path)
        assert "security" not in found
        assert "x-bearerguard" not in found
        assert set(found["responses"]) == {"200"}


def test_an_optional_token_is_shown_as_optional(document: dict[str, Any]) -> None:
    hello = operation(document, "/hello")
    assert hello["security"] == [{}, {SCHEME_NAME: []}, {OAUTH2_SCHEME_NAME: []}]
    assert hello["x-bearerguard"] == {"token": "optional"}
    assert set(hello["responses"]) >= {"400", "401", "503"}
    assert "403" not in hello["responses"]


def test_refusals_are_documented_with_their_schema(document: dict[str, Any]) -> None:
    responses = operation(document, "/api/payment/checkout", "post")["responses"]
    for status in ("400", "401", "403", "503"):
        content = responses[status]["content"]
        assert content["application/json"]["schema"] == {
            "$ref": "#/components/schemas/BearerGuardError"
        }
    assert "WWW-Authenticate" in responses["401"]["headers"]
    assert "Retry-After" in responses["503"]["headers"]
    schema = document["components"]["schemas"]["BearerGuardError"]
    assert schema["required"] == ["message"]
    assert set(schema["properties"]) == {"message", "error", "error_description", "required_scopes"}
    # A kind-free route without scopes is never refused with 403 by the guard.
    assert "403" not in operation(document, "/anything")["responses"]
    # The app's own documented answer stays.
    assert operation(document, "/me")["responses"]["401"] == {"description": "Sign in first."}


def examples(document: dict[str, Any], path: str, status: str, method: str = "get") -> Any:
    content = operation(document, path, method)["responses"][status]["content"]
    return {name: value["value"] for name, value in content["application/json"]["examples"].items()}


def test_the_examples_are_what_the_app_answers(document: dict[str, Any]) -> None:
    client = TestClient(payments_app(oauth2=FLOWS))
    answers = examples(document, "/api/payment/checkout", "401", "post")
    assert client.post("/api/payment/checkout").json() == answers["missing"]
    answers = examples(document, "/api/payment/checkout", "403", "post")
    wrong_kind = client.post("/api/payment/checkout", headers={"Authorization": "Bearer oauth-get"})
    assert wrong_kind.status_code == 403
    assert wrong_kind.json() == answers["kind"]
    no_scope = client.get("/search", headers={"Authorization": "Bearer client-nothing"})
    assert no_scope.status_code == 403  # the kind is checked first
    answers = examples(document, "/api/payment/{payment_id}", "403")
    no_scope = client.get("/api/payment/1", headers={"Authorization": "Bearer client-nothing"})
    assert no_scope.json() == answers["scopes_1"]
    bad = client.get("/api/payment/1", headers={"Authorization": "Bearer"})
    assert bad.status_code == 400
    assert set(bad.json()) == set(
        examples(document, "/api/payment/{payment_id}", "400")["invalid_request"]
    )


def test_the_oauth2_scheme_offers_the_flows_and_every_scope(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes[SCHEME_NAME]["type"] == "http"
    assert schemes[SCHEME_NAME]["scheme"] == "bearer"
    flows = schemes[OAUTH2_SCHEME_NAME]["flows"]
    assert schemes[OAUTH2_SCHEME_NAME]["type"] == "oauth2"
    assert flows["clientCredentials"]["tokenUrl"] == "https://id.example.test/oauth/token"
    code = flows["authorizationCode"]
    assert code["authorizationUrl"] == "https://id.example.test/oauth/authorize"
    assert code["tokenUrl"] == "https://id.example.test/oauth/token"
    assert code["scopes"] == {
        "payments.get": "Read payments",
        "payments.create": "",
        "refunds.read": "",
        "payments.read": "",
        "eu": "",
        "us": "",
        "admin": "",
    }


def test_without_flows_there_is_only_the_bearer_scheme() -> None:
    document = TestClient(payments_app()).get("/openapi.json").json()
    validate(document)
    assert list(document["components"]["securitySchemes"]) == [SCHEME_NAME]
    assert operation(document, "/api/payment/checkout", "post")["security"] == [
        {SCHEME_NAME: ["payments.create"]}
    ]


def test_a_guard_that_defaults_to_public() -> None:
    guard = make_guard(default="public", rules=[])
    document = TestClient(payments_app(guard)).get("/openapi.json").json()
    assert "security" not in operation(document, "/anything")
    assert "security" not in operation(document, "/api/payment/checkout", "post")
    # Declarations still demand a token.
    assert operation(document, "/search")["security"] == [
        {SCHEME_NAME: ["payments.read", "eu"]},
        {SCHEME_NAME: ["payments.read", "us"]},
    ]


def test_a_custom_renderer_is_documented_as_it_answers() -> None:
    def problem(error: AuthError, realm: str) -> tuple[int, list[tuple[str, str]], bytes]:
        status, headers, _ = render_error(error, realm)
        body = json.dumps({"type": "about:blank", "status": status}).encode()
        headers = [(n, v) for n, v in headers if n not in ("content-type", "content-length")]
        return status, [("content-type", "application/problem+json"), *headers], body

    document = TestClient(payments_app(make_guard(renderer=problem))).get("/openapi.json").json()
    content = operation(document, "/anything")["responses"]["401"]["content"]
    assert list(content) == ["application/problem+json"]
    assert content["application/problem+json"]["schema"] == {"type": "object"}
    assert content["application/problem+json"]["examples"]["missing"]["value"] == {
        "type": "about:blank",
        "status": 401,
    }


def test_flows_from_discovery_metadata() -> None:
    metadata = {
        "issuer": "https://id.example.test/",
        "authorization_endpoint": "https://id.example.test/authorize",
        "token_endpoint": "https://id.example.test/token",
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "scopes_supported": ["openid", "payments.get"],
    }
    flows = OAuth2Flows.from_metadata(metadata, scopes={"payments.get": "Read payments"})
    assert flows.token_url == "https://id.example.test/token"
    assert flows.authorization_url == "https://id.example.test/authorize"
    assert flows.client_credentials
    assert dict(flows.scopes) == {"openid": "", "payments.get": "Read payments"}
    # RFC 8414 section 2: without grant_types_supported, no client credentials.
    default = OAuth2Flows.from_metadata({k: v for k, v in metadata.items() if k[0] != "g"})
    assert not default.client_credentials
    assert default.authorization_url == "https://id.example.test/authorize"
    machine = OAuth2Flows.from_metadata(
        {
            "token_endpoint": "https://id.example.test/token",
            "grant_types_supported": ["client_credentials"],
        }
    )
    assert machine.authorization_url is None


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: OAuth2Flows(token_url="/token"), "http"),
        (lambda: OAuth2Flows(token_url="https:///token"), "absolute"),
        (lambda: OAuth2Flows(token_url="ftp://id.example.test/token"), "http"),
        (lambda: OAuth2Flows(token_url=None), "http"),  # type: ignore[arg-type]
        (
            lambda: OAuth2Flows(token_url="https://a.test/t", authorization_url="javascript:x"),
            "authorization_url",
        ),
        (lambda: OAuth2Flows(token_url="https://a.test/t", client_credentials=False), "no flow"),
        (lambda: OAuth2Flows(token_url="https://a.test/t", scopes={"a": 1}), "descriptions"),  # type: ignore[dict-item]
        (lambda: OAuth2Flows.from_metadata({}), "token_endpoint"),
        (
            lambda: OAuth2Flows.from_metadata(
                {"token_endpoint": "https://a.test/t", "grant_types_supported": ["implicit"]}
            ),
            "no flow",
        ),
        (
            lambda: OAuth2Flows.from_metadata(
                {"token_endpoint": "https://a.test/t", "scopes_supported": "a b"}
            ),
            "scopes_supported",
        ),
    ],
)
def test_bad_flows_are_refused_when_built(build: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_documenting_an_app_twice_is_refused() -> None:
    app = payments_app()
    with pytest.raises(RuntimeError, match="already"):
        document_security(app, make_guard())
