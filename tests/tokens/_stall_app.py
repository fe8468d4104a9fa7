"""A WSGI app for the stall tests, served by gunicorn: one client-token store over PostgreSQL.

Configured by the test through the environment: ``BG_URL`` (through the test's proxy),
``BG_SCHEMA`` and ``BG_TIMEOUT``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from bearerguard import ClientTokenVerifier, Guard
from bearerguard.stores import SQLTokenStore
from bearerguard.tokens import TokenManager
from bearerguard.werkzeug import BearerGuardMiddleware

store = SQLTokenStore(
    os.environ["BG_URL"], schema=os.environ["BG_SCHEMA"], timeout=float(os.environ["BG_TIMEOUT"])
)
guard = Guard([ClientTokenVerifier(TokenManager(store))], public_paths=["/health"])


def _ok(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [("content-type", "text/plain"), ("content-length", "2")])
    return [b"ok"]


app = BearerGuardMiddleware(_ok, guard)
