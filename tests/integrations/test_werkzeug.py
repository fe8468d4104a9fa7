"""WSGI: mounting, joined headers, Flask-free use, the principal in environ, Flask helpers.

Security cases: P-11 (SCRIPT_NAME / DispatcherMiddleware), H-11 (joined headers), H-12
(latin-1 native strings), A-05 (identity isolation).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from bearerguard import InsufficientScopeError, Rule
from bearerguard.flask import current_principal, require_scopes
from bearerguard.werkzeug import BearerGuardMiddleware

from ._support import (
    BAD_CHARS,
    MISSING,
    OTHER_APPLICATION,
    PAYMENT,
    Answer,
    bad_request,
    insufficient,
    kind_refused,
    make_guard,
    run_wsgi,
    token,
    wsgi_environ,
)

ROOT = Path(__file__).resolve().parents[2]


def bearer(name: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(name)}"} if name else {}


def plain_app(calls: list[Any]) -> Any:
    """A werkzeug-only WSGI app that records the principal it was given."""

    @Request.application  # type: ignore[arg-type]
    def app(request: Request) -> Response:
        calls.append(request.environ.get("bearerguard.principal"))
        return Response(f"{request.script_root}|{request.path}")

    return app


# -- mounting (P-11) ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "name"),
    [
        (f"/v1{PAYMENT}", None),
        (f"/v1{PAYMENT}", "oauth_none"),
        (f"/v1{PAYMENT}", "client_get"),
        (f"/v1{PAYMENT}/", "oauth_none"),
        ("/v1/api//payment/pay_1", "client_none"),
        ("/v1/health", None),
        ("/v1/health", "expired"),
        ("/v1/elsewhere", None),
        ("/v1/elsewhere", "client_none"),
    ],
)
def test_P11_same_decision_on_the_mounted_app_or_the_dispatcher(
    path: str, name: str | None
) -> None:
    # Rules relative to the app they wrap: the sub-app sees PATH_INFO without /v1.
    inner_calls: list[Any] = []
    inner = DispatcherMiddleware(
        plain_app([]), {"/v1": BearerGuardMiddleware(plain_app(inner_calls), make_guard())}
    )
    outer_calls: list[Any] = []
    outer_guard = make_guard(
        rules=[Rule("GET", "/v1/api/payment/{payment_id}", scopes=["payments.get"])],
        public_paths=["/v1/health"],
    )
    outer = BearerGuardMiddleware(
        DispatcherMiddleware(plain_app([]), {"/v1": plain_app(outer_calls)}), outer_guard
    )

    first = Client(inner).get(path, headers=bearer(name))
    second = Client(outer).get(path, headers=bearer(name))

    assert (first.status_code, first.get_data()) == (second.status_code, second.get_data())
    assert inner_calls == outer_calls
    if first.status_code == 200:
        assert first.get_data(as_text=True).startswith("/v1|")


@pytest.mark.parametrize(
    ("script_name", "path_info", "name", "status"),
    [
        ("/svc", PAYMENT, None, 401),
        ("/svc", PAYMENT, "oauth_none", 403),
        ("/svc", PAYMENT, "oauth_get", 200),
        ("/svc", "/health", None, 200),
        # SCRIPT_NAME is not part of what the rules see; PATH_INFO is.
        ("/health", PAYMENT, None, 401),
    ],
)
def test_P11_rules_match_path_info_under_a_script_name(
    script_name: str, path_info: str, name: str | None, status: int
) -> None:
    calls: list[Any] = []
    app = BearerGuardMiddleware(plain_app(calls), make_guard())
    value = None if name is None else f"Bearer {token(name)}"

    line, _, _ = run_wsgi(app, wsgi_environ("GET", path_info, value, script_name=script_name))

    assert int(line[:3]) == status
    assert len(calls) == (status == 200)


# -- header values as a WSGI server gives them (H-11, H-12) -------------------------------------


@pytest.mark.parametrize(
    ("value", "answer"),
    [
        pytest.param(
            "Bearer {client_get},Bearer {oauth_get}", bad_request(BAD_CHARS), id="H11-gunicorn"
        ),
        pytest.param(
            "Bearer {client_get}, Bearer {oauth_get}", bad_request(BAD_CHARS), id="H11-werkzeug"
        ),
        pytest.param(
            "Bearer {client_get},Bearer {client_get}", bad_request(BAD_CHARS), id="H11-same"
        ),
        pytest.param("Bearer {client_get},Basic abc", bad_request(BAD_CHARS), id="H11-mixed"),
        pytest.param("Bearer t\xe9k", bad_request(BAD_CHARS), id="H12-latin1-char"),
        pytest.param("Bearer t\xc3\xa9k", bad_request(BAD_CHARS), id="H12-utf8-as-latin1"),
        pytest.param("Bearer t\x00k", bad_request(BAD_CHARS), id="H12-nul"),
        pytest.param("Bearer t\x7fk", bad_request(BAD_CHARS), id="H12-del"),
        pytest.param("\xe9\xe9\xe9", MISSING, id="H12-no-scheme"),
    ],
)
def test_joined_and_odd_header_values(value: str, answer: Answer) -> None:
    from ._support import tokens

    calls: list[Any] = []
    app = BearerGuardMiddleware(plain_app(calls), make_guard())

    line, headers, body = run_wsgi(app, wsgi_environ("GET", PAYMENT, value.format(**tokens())))

    assert int(line[:3]) == answer.status
    assert headers == answer.headers()
    assert body == answer.body_bytes()
    assert calls == []


def test_H11_two_headers_through_the_werkzeug_test_client() -> None:
    calls: list[Any] = []
    client = Client(BearerGuardMiddleware(plain_app(calls), make_guard()))

    response = client.get(
        PAYMENT,
        headers=[("Authorization", f"Bearer {token('client_get')}")] * 2,
    )

    assert response.status_code == 400
    assert response.get_data() == bad_request(BAD_CHARS).body_bytes()
    assert calls == []


def test_non_ascii_path_info_is_matched_as_the_router_decodes_it() -> None:
    calls: list[Any] = []
    guard = make_guard(rules=[Rule("GET", "/café/{item}", scopes=["payments.get"])])
    app = BearerGuardMiddleware(plain_app(calls), guard)
    # PEP 3333: PATH_INFO carries the request's UTF-8 bytes as latin-1 characters.
    path = "/café/x".encode().decode("latin-1")

    line, _, body = run_wsgi(app, wsgi_environ("GET", path, f"Bearer {token('client_none')}"))

    assert line.startswith("403")
    assert body == insufficient("payments.get").body_bytes()


# -- the principal in environ, and Flask-free use -----------------------------------------------


def test_principal_in_environ_and_none_when_anonymous() -> None:
    calls: list[Any] = []
    client = Client(BearerGuardMiddleware(plain_app(calls), make_guard()))

    assert client.get(PAYMENT, headers=bearer("client_get")).status_code == 200
    assert client.get("/health").status_code == 200
    assert client.get("/health", headers=bearer("oauth_none")).status_code == 200

    assert [getattr(p, "subject", None) for p in calls] == ["tok_get", None, "user-42"]


def test_werkzeug_adapter_imports_and_works_without_flask() -> None:
    script = textwrap.dedent(
        """
        import importlib.abc, sys

        class NoFlask(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "flask" or name.startswith("flask."):
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None

        sys.meta_path.insert(0, NoFlask())
        for name in [n for n in sys.modules if n == "flask" or n.startswith("flask.")]:
            del sys.modules[name]

        from werkzeug.test import Client
        from werkzeug.wrappers import Request, Response
        from bearerguard import Guard, Rule, StaticTokenVerifier
        from bearerguard.werkzeug import BearerGuardMiddleware

        @Request.application
        def app(request):
            principal = request.environ["bearerguard.principal"]
            return Response(principal.subject if principal else "anonymous")

        guard = Guard(
            [StaticTokenVerifier({"tok-get": ["payments.get"], "tok-none": []})],
            rules=[Rule("GET", "/payments/{pid}", scopes=["payments.get"])],
            public_paths=["/health"],
        )
        client = Client(BearerGuardMiddleware(app, guard))
        print(client.get("/payments/1").status_code)
        print(client.get("/payments/1", headers={"Authorization": "Bearer tok-none"}).status_code)
        print(client.get("/payments/1", headers={"Authorization": "Bearer tok-get"}).status_code)
        print(client.get("/health").get_data(as_text=True))
        try:
            import bearerguard.flask
        except ImportError:
            print("no flask")
        assert "flask" not in sys.modules, "flask was imported"
        """
    )

    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:5] == ["401", "403", "200", "anonymous", "no flask"]


# -- Flask helpers ---------------------------------------------------------------------------------


def flask_app(seen: list[Any], **guard_options: Any) -> Flask:
    guard_options.setdefault("with_rules", False)
    app = Flask(__name__)
    app.wsgi_app = BearerGuardMiddleware(app.wsgi_app, make_guard(**guard_options))  # type: ignore[method-assign]

    @app.get("/me")
    def me() -> dict[str, Any]:
        principal = current_principal._get_current_object()  # type: ignore[attr-defined]
        seen.append(principal)
        return {"anonymous": principal is None, "truthy": bool(current_principal)}

    @app.get("/api/payment/<payment_id>")
    @require_scopes("payments.get")
    def get_payment(payment_id: str) -> dict[str, str]:
        seen.append(current_principal.subject)
        return {"id": payment_id, "client": str(current_principal.client_id)}

    @app.post("/checkout")
    @require_scopes("payments.create", kinds=["client"])
    def checkout() -> tuple[str, int]:
        seen.append("checkout")
        return "created", 201

    return app


def test_flask_current_principal_proxies_the_principal_or_none() -> None:
    seen: list[Any] = []
    client = flask_app(seen, public_paths=["/me"]).test_client()

    assert client.get("/me", headers=bearer("client_get")).json == {
        "anonymous": False,
        "truthy": True,
    }
    assert client.get("/me").json == {"anonymous": True, "truthy": False}
    assert seen[0].subject == "tok_get"
    assert seen[1] is None


def test_A05_flask_identity_does_not_leak_into_the_next_request() -> None:
    seen: list[Any] = []
    client = flask_app(seen, public_paths=["/me"]).test_client()

    for _ in range(3):
        assert client.get("/me", headers=bearer("oauth_get")).json["anonymous"] is False
        assert client.get("/me").json["anonymous"] is True

    assert [None if p is None else p.subject for p in seen] == ["user-42", None] * 3


def test_flask_current_principal_outside_a_request() -> None:
    with pytest.raises(RuntimeError):
        _ = current_principal.subject


@pytest.mark.parametrize(
    ("name", "answer"),
    [
        pytest.param("oauth_all", kind_refused("client"), id="kind-first"),
        pytest.param("client_get", insufficient("payments.create"), id="no-scope"),
        pytest.param("client_all", None, id="star"),
    ],
)
def test_flask_require_scopes_with_kinds(name: str, answer: Answer | None) -> None:
    seen: list[Any] = []
    response = flask_app(seen).test_client().post("/checkout", headers=bearer(name))

    if answer is None:
        assert response.status_code == 201
        assert seen == ["checkout"]
        return
    assert response.status_code == answer.status
    assert response.get_data() == answer.body_bytes()
    assert sorted((n.lower(), v) for n, v in response.headers.items()) == sorted(answer.headers())
    assert seen == []


def test_flask_require_scopes_on_a_public_path_still_demands_a_token() -> None:
    seen: list[Any] = []
    client = flask_app(seen, default="public").test_client()

    response = client.get(PAYMENT)

    assert response.status_code == 401
    assert response.get_data() == MISSING.body_bytes()
    assert client.get(PAYMENT, headers=bearer("client_get")).json == {
        "id": "pay_1",
        "client": "app_3b9f",
    }
    assert seen == ["tok_get"]


def test_flask_require_scopes_needs_the_middleware() -> None:
    app = Flask(__name__)

    @app.get("/x")
    @require_scopes("payments.get")
    def view() -> str:
        return "never"  # pragma: no cover

    app.testing = True
    with pytest.raises(RuntimeError, match="BearerGuardMiddleware"):
        app.test_client().get("/x")


def test_wsgi_middleware_refuses_something_that_is_not_a_guard() -> None:
    with pytest.raises(TypeError, match="Guard"):
        BearerGuardMiddleware(plain_app([]), object())  # type: ignore[arg-type]


def test_flask_an_auth_error_raised_by_a_decorated_view_gets_the_same_answer() -> None:
    app = Flask(__name__)
    app.wsgi_app = BearerGuardMiddleware(app.wsgi_app, make_guard(with_rules=False))  # type: ignore[method-assign]

    @app.get("/owned/<owner>")
    @require_scopes("payments.get")
    def owned(owner: str) -> str:
        if owner != current_principal.client_id:
            raise InsufficientScopeError(OTHER_APPLICATION)
        return owner

    client = app.test_client()
    refused = client.get("/owned/someone", headers=bearer("client_get"))
    assert refused.status_code == 403
    answer = insufficient(description=OTHER_APPLICATION)
    assert refused.get_data() == answer.body_bytes()
    assert sorted((n.lower(), v) for n, v in refused.headers.items()) == sorted(answer.headers())
    assert client.get("/owned/app_3b9f", headers=bearer("client_get")).get_data() == b"app_3b9f"


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        pytest.param(
            {
                "HTTP_ORIGIN": "https://shop.example.test",
                "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "GET",
            },
            200,
            id="preflight",
        ),
        pytest.param({}, 401, id="bare-options"),
        pytest.param({"HTTP_ORIGIN": "https://shop.example.test"}, 401, id="origin-only"),
        pytest.param({"HTTP_ACCESS_CONTROL_REQUEST_METHOD": "GET"}, 401, id="method-only"),
    ],
)
def test_A04_wsgi_preflight_passes_and_bare_options_needs_a_token(
    extra: dict[str, str], status: int
) -> None:
    calls: list[Any] = []
    app = BearerGuardMiddleware(plain_app(calls), make_guard())

    line, _, body = run_wsgi(app, wsgi_environ("OPTIONS", PAYMENT, **extra))

    assert int(line[:3]) == status
    if status == 401:
        assert body == MISSING.body_bytes()
        assert calls == []
    else:
        assert calls == [None]  # anonymous: a preflight carries no credentials
