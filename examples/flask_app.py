"""The payments API on Flask, protected by bearerguard.

Run it with ``python examples/flask_app.py``; it prints working ``curl`` lines and
serves on http://127.0.0.1:5000.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from flask import Flask, request

sys.path.insert(0, str(Path(__file__).resolve().parent))

from payments import (
    APPLICATION_ID,
    LOGIN_PATH,
    build_guard,
    demo_tokens,
    dev_login,
    management_api,
    mint_access_token,
)

from bearerguard import InsufficientScopeError
from bearerguard.dashboard.flask import blueprint
from bearerguard.flask import current_principal, require_scopes
from bearerguard.werkzeug import BearerGuardMiddleware


def create_app() -> Flask:
    """Build the app; each call gets its own guard and cache."""
    app = Flask(__name__)
    app.wsgi_app = BearerGuardMiddleware(app.wsgi_app, build_guard())  # type: ignore[method-assign]

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/payment/checkout")
    @require_scopes("payments.create", kinds=["client"])
    def checkout() -> Any:
        body = request.get_json(silent=True)
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("clientId"), str)
            or type(body.get("amount")) is not int
            or body["amount"] <= 0
        ):
            return {"message": "Invalid body"}, 422
        if body["clientId"] != current_principal.client_id:
            # Same answer as any other 403: a token acts for its own application only.
            raise InsufficientScopeError("The token belongs to another application")
        return {"id": "pay_1", "clientId": body["clientId"], "amount": body["amount"]}, 201

    @app.get("/api/payment/<payment_id>")
    @require_scopes("payments.get")
    def get_payment(payment_id: str) -> dict[str, str]:
        return {"id": payment_id, "status": "paid", "viewer": current_principal.subject}

    @app.get("/api/payment/<payment_id>/instructions/<provider>")
    @require_scopes("payments.user-instructions.get")
    def instructions(payment_id: str, provider: str) -> dict[str, str]:
        return {"payment": payment_id, "provider": provider, "steps": "Open your bank app"}

    @app.get("/api/payment-applications")
    @require_scopes(kinds=["oauth"])
    def payment_applications() -> list[dict[str, str]]:
        return [{"clientId": APPLICATION_ID, "owner": current_principal.subject}]

    # The dashboard, and the development login it signs in with (never deploy that).
    @app.post(LOGIN_PATH)
    def login() -> Any:
        return dev_login(), {"Cache-Control": "no-store"}

    app.register_blueprint(blueprint(management_api()))
    return app


app = create_app()


def main() -> None:
    token = mint_access_token(["payments.get"])
    print("Payments API on http://127.0.0.1:5000")
    print("Dashboard: http://127.0.0.1:5000/dashboard/  (a development login signs you in)")
    print("Try it:")
    print(f"  curl -s http://127.0.0.1:5000/api/payment/pay_1 -H 'Authorization: Bearer {token}'")
    print(
        "  curl -s -X POST http://127.0.0.1:5000/api/payment/checkout"
        f" -H 'Authorization: Bearer {demo_tokens().checkout}'"
        " -H 'Content-Type: application/json'"
        f' -d \'{{"clientId": "{APPLICATION_ID}", "amount": 1250}}\''
    )
    print("  curl -si http://127.0.0.1:5000/api/payment/pay_1   # 401", flush=True)
    app.run(host="127.0.0.1", port=5000)


if __name__ == "__main__":
    main()
