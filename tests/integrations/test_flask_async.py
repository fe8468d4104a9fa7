"""``bearerguard.flask.require_scopes`` on async Flask views."""

from __future__ import annotations

from flask import Flask

from bearerguard import Guard, InsufficientScopeError, StaticTokenVerifier
from bearerguard.flask import current_principal, require_scopes
from bearerguard.werkzeug import BearerGuardMiddleware


def _app() -> Flask:
    app = Flask(__name__)
    guard = Guard(
        [StaticTokenVerifier({"good": ["payments.get"], "other": ["x"]})], default="public"
    )
    app.wsgi_app = BearerGuardMiddleware(app.wsgi_app, guard)  # type: ignore[method-assign]

    @app.get("/payment")
    @require_scopes("payments.get")
    async def payment() -> dict[str, str]:
        return {"caller": current_principal.subject}

    @app.get("/refuses")
    @require_scopes()
    async def refuses() -> dict[str, str]:
        raise InsufficientScopeError(required_scopes=["payments.create"])

    return app


def test_async_view_runs_for_a_granted_token() -> None:
    response = _app().test_client().get("/payment", headers={"Authorization": "Bearer good"})
    assert response.status_code == 200
    assert response.json is not None
    assert response.json["caller"].startswith("static_")


def test_async_view_refuses_without_token_or_scope() -> None:
    client = _app().test_client()
    assert client.get("/payment").status_code == 401
    lacking = client.get("/payment", headers={"Authorization": "Bearer other"})
    assert lacking.status_code == 403
    assert lacking.json == {
        "message": "Insufficient permissions",
        "error": "insufficient_scope",
        "required_scopes": ["payments.get"],
    }


def test_auth_error_raised_in_async_view_gets_the_standard_answer() -> None:
    response = _app().test_client().get("/refuses", headers={"Authorization": "Bearer good"})
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == (
        'Bearer realm="api", error="insufficient_scope", scope="payments.create"'
    )
