"""The payments API on FastAPI, protected by bearerguard.

Run it with ``python3 dev.py demo`` (or ``python examples/fastapi_app.py``); it prints
working ``curl`` lines and serves on http://127.0.0.1:8000 (``/docs`` has an Authorize
button).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

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

from bearerguard import InsufficientScopeError, Principal
from bearerguard.dashboard.starlette import router
from bearerguard.fastapi import current_principal, require_scopes
from bearerguard.starlette import BearerGuardMiddleware


class Checkout(BaseModel):
    client_id: str = Field(alias="clientId")
    amount: int = Field(gt=0)
    currency: str = "EUR"


def create_app() -> FastAPI:
    """Build the app; each call gets its own guard and cache."""
    app = FastAPI(title="Payments API")
    app.add_middleware(BearerGuardMiddleware, guard=build_guard())

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/payment/checkout", status_code=201)
    async def checkout(
        body: Checkout,
        principal: Annotated[Principal, require_scopes("payments.create", kinds=["client"])],
    ) -> dict[str, Any]:
        if body.client_id != principal.client_id:
            # Same answer as any other 403: a token acts for its own application only.
            raise InsufficientScopeError("The token belongs to another application")
        return {"id": "pay_1", "clientId": body.client_id, "amount": body.amount}

    @app.get("/api/payment/{payment_id}")
    async def get_payment(
        payment_id: str, principal: Principal = require_scopes("payments.get")
    ) -> dict[str, Any]:
        return {"id": payment_id, "status": "paid", "viewer": principal.subject}

    @app.get(
        "/api/payment/{payment_id}/instructions/{provider}",
        dependencies=[require_scopes("payments.user-instructions.get")],
    )
    async def instructions(payment_id: str, provider: str) -> dict[str, str]:
        return {"payment": payment_id, "provider": provider, "steps": "Open your bank app"}

    @app.get("/api/payment-applications", dependencies=[require_scopes(kinds=["oauth"])])
    async def payment_applications(
        principal: Annotated[Principal, Depends(current_principal)],
    ) -> list[dict[str, str]]:
        return [{"clientId": APPLICATION_ID, "owner": principal.subject}]

    # The dashboard, and the development login it signs in with (never deploy that).
    @app.post(LOGIN_PATH, include_in_schema=False)
    async def login() -> JSONResponse:
        return JSONResponse(dev_login(), headers={"Cache-Control": "no-store"})

    app.mount(management_api().prefix, router(management_api()))
    return app


app = create_app()


def main(argv: Sequence[str] = ()) -> None:
    """Serve on loopback (``--port``, default 8000) after printing working curl lines."""
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description="The payments API example on loopback.")
    parser.add_argument("--port", type=int, default=8000, help="default 8000")
    port: int = parser.parse_args(argv).port
    base = f"http://127.0.0.1:{port}"
    token = mint_access_token(["payments.get"])
    print(f"Payments API on {base}  (docs: {base}/docs)")
    print(f"Dashboard: {base}/dashboard/  (a development login signs you in)")
    print("Try it:")
    print(f"  curl -s {base}/api/payment/pay_1 -H 'Authorization: Bearer {token}'")
    print(
        f"  curl -s -X POST {base}/api/payment/checkout"
        f" -H 'Authorization: Bearer {demo_tokens().checkout}'"
        " -H 'Content-Type: application/json'"
        f' -d \'{{"clientId": "{APPLICATION_ID}", "amount": 1250}}\''
    )
    print(f"  curl -si {base}/api/payment/pay_1   # 401", flush=True)
    # uvicorn stops on SIGINT and SIGTERM: it finishes the requests under way, runs
    # the app's shutdown, closes the socket and returns.
    uvicorn.run(app, host="127.0.0.1", port=port)


if __name__ == "__main__":
    main(sys.argv[1:])
