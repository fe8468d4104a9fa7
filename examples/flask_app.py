"""The payments API on Flask, protected by bearerguard.

Run it with ``python examples/flask_app.py``; it serves on http://127.0.0.1:5000.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from flask import Flask, request

sys.path.insert(0, str(Path(__file__).resolve().parent))

from payments import APPLICATION_ID, CHECKOUT_TOKEN, build_guard

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
        if not isinstance(body, dict) or not isinstance(body.get("clientId"), str):
            return {"message": "Bad request", "error": "invalid_body"}, 400
        if body["clientId"] != current_principal.client_id:
            return {
                "message": "Insufficient permissions",
                "error": "insufficient_scope",
                "required_scopes": [],
            }, 403
        return {"id": "pay_1", "clientId": body["clientId"], "amount": body.get("amount")}, 201

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

    return app


app = create_app()

if __name__ == "__main__":
    print(
        "curl -s -X POST http://127.0.0.1:5000/api/payment/checkout"
        f" -H 'Authorization: Bearer {CHECKOUT_TOKEN}' -H 'Content-Type: application/json'"
        f" -d '{{\"clientId\": \"{APPLICATION_ID}\", \"amount\": 1250}}'"
    )
    app.run(host="127.0.0.1", port=5000)
