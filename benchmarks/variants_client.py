"""Client-token variants: SQLite hit and miss, the random-token spray, the stores.

Importing this module fails (and the report says so) when the client-token code cannot
be imported.
"""

from __future__ import annotations

import atexit
import gc
import hashlib
import random
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from bearerguard import ClientTokenVerifier, Guard, JWTVerifier, Rule
from bearerguard.starlette import BearerGuardMiddleware
from bearerguard.stores import SQLiteTokenStore
from bearerguard.tokens import TokenManager, new_client_id
from bearerguard.werkzeug import BearerGuardMiddleware as WSGIBearerGuardMiddleware

from . import inprocess
from .fixtures import AUDIENCE, ISSUER, ROUTE, SCOPE, Fixtures
from .registry import EXTRAS, ExtraResult, Variant, register
from .variants_asgi import CACHE_TTL, starlette_app
from .variants_wsgi import flask_app

PREFIX = "pay_live_"
LOOKUP = "ref/sqlite-find-by-hash"
SPRAY_TOKENS = 10_000
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class CountingStore:
    """A store that counts the lookups the verifier makes (the spray must make none)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.lookups = 0

    def find_by_hash(self, token_hash: bytes) -> Any:
        self.lookups += 1
        return self.store.find_by_hash(token_hash)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


@dataclass
class ClientSetup:
    store: CountingStore
    manager: TokenManager
    ok: str
    noscope: str


_SETUPS: dict[int, ClientSetup] = {}


def setup(fixtures: Fixtures) -> ClientSetup:
    """One SQLite file per run with two issued tokens (made on first use)."""
    found = _SETUPS.get(id(fixtures))
    if found is not None:
        return found
    directory = tempfile.mkdtemp(prefix="bearerguard-bench-")
    atexit.register(shutil.rmtree, directory, True)
    store = CountingStore(SQLiteTokenStore(str(Path(directory) / "tokens.db")))
    manager = TokenManager(store, prefix=PREFIX)  # type: ignore[arg-type]
    client_id = new_client_id()
    ok = manager.issue(client_id=client_id, label="bench", scopes=[SCOPE]).token
    noscope = manager.issue(client_id=client_id, label="bench", scopes=["payments.create"]).token
    found = _SETUPS[id(fixtures)] = ClientSetup(store, manager, ok, noscope)
    return found


def _tokens(fixtures: Fixtures) -> tuple[str, str]:
    client = setup(fixtures)
    return client.ok, client.noscope


def client_guard(fixtures: Fixtures, *, cache_ttl: float = CACHE_TTL) -> Guard:
    return Guard(
        [
            ClientTokenVerifier(setup(fixtures).manager),
            JWTVerifier(
                key=fixtures.public_key, algorithms=["RS256"], issuer=ISSUER, audience=AUDIENCE
            ),
        ],
        rules=[Rule("GET", ROUTE, scopes=[SCOPE])],
        cache_ttl=cache_ttl,
    )


def build_asgi(fixtures: Fixtures, *, cache_ttl: float = CACHE_TTL) -> Starlette:
    app = starlette_app()
    app.add_middleware(BearerGuardMiddleware, guard=client_guard(fixtures, cache_ttl=cache_ttl))
    return app


def build_wsgi(fixtures: Fixtures, *, cache_ttl: float = CACHE_TTL) -> Any:
    app = flask_app()
    app.wsgi_app = WSGIBearerGuardMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, client_guard(fixtures, cache_ttl=cache_ttl)
    )
    return app


def _lookup(fixtures: Fixtures) -> Any:
    client = setup(fixtures)
    digest = hashlib.sha256(client.ok.encode()).digest()
    store = client.store.store  # the raw store: its own cost, uncounted
    return lambda: store.find_by_hash(digest)


register(
    Variant(
        LOOKUP,
        "SQLite `find_by_hash` alone (the client-token store lookup)",
        "func",
        _lookup,
        role="floor",
        note="the reference for every client-token miss row",
    )
)
register(
    Variant(
        "starlette/bearerguard-client-hit",
        "bearerguard, client token from SQLite (cache hit)",
        "asgi",
        build_asgi,
        floor="starlette/bare",
        role="bearerguard",
        kind="client",
        tokens=_tokens,
        note="`ClientTokenVerifier(TokenManager(SQLiteTokenStore))`, `Rule` in the guard",
    )
)
register(
    Variant(
        "starlette/bearerguard-client-miss",
        "bearerguard, client token from SQLite (cache miss)",
        "asgi",
        lambda f: build_asgi(f, cache_ttl=0),
        floor="starlette/bare",
        role="bearerguard",
        kind="client",
        miss=True,
        reference=LOOKUP,
        tokens=_tokens,
        note="`Guard(cache_ttl=0)`; the store is blocking, so the lookup runs in a worker "
        "thread (loop-driven)",
    )
)
register(
    Variant(
        "flask/bearerguard-client-miss",
        "bearerguard WSGI adapter, client token from SQLite (cache miss)",
        "wsgi",
        lambda f: build_wsgi(f, cache_ttl=0),
        floor="flask/bare",
        role="bearerguard",
        kind="client",
        miss=True,
        reference=LOOKUP,
        tokens=_tokens,
        quick=False,
        note="`Guard(cache_ttl=0)`: one SQLite lookup per request",
    )
)


def spray(fixtures: Fixtures, quick: bool) -> ExtraResult:
    """10,000 random strings with the client prefix against the cached-hit rate."""
    client = setup(fixtures)
    app = build_asgi(fixtures)
    rng = random.Random(4)
    length = len(client.ok) - len(PREFIX)
    tokens = [PREFIX + "".join(rng.choices(_BASE62, k=length)) for _ in range(SPRAY_TOKENS)]
    sprayed = [inprocess.asgi_scope(f"Bearer {token}") for token in tokens]
    hits = [inprocess.asgi_scope(f"Bearer {client.ok}") for _ in range(SPRAY_TOKENS)]
    for token in tokens[:20]:
        if inprocess.call_asgi(app, f"Bearer {token}").status != 401:
            raise RuntimeError("a sprayed token was not refused with 401")
    if inprocess.call_asgi(app, f"Bearer {client.ok}").status != 200:
        raise RuntimeError("the client token was not accepted")
    before = client.store.lookups
    rounds = 3 if quick else 10
    ratios, spray_rates = [], []
    for _ in range(rounds):
        spray_s = _run(app, sprayed)
        hit_s = _run(app, hits)
        ratios.append(hit_s / spray_s)
        spray_rates.append(SPRAY_TOKENS / spray_s)
    lookups = client.store.lookups - before
    ratio = statistics.median(ratios)
    result = ExtraResult(f"Client-token spray ({SPRAY_TOKENS:,} random tokens with the prefix)")
    result.rows += [
        ("store lookups during the spray", str(lookups), f"{rounds} passes of every token"),
        ("spray requests/s (in-process, ASGI)", f"{statistics.median(spray_rates):,.0f}", ""),
        ("spray rate ÷ cached-hit rate", f"{ratio:.2f}x", "same app, alternating passes"),
    ]
    return result


def _run(app: Any, scopes: list[dict[str, Any]]) -> float:
    receive, send = inprocess._receive, inprocess._send
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        for scope in scopes:
            coro = app(scope.copy(), receive, send)
            try:
                coro.send(None)
            except StopIteration:
                continue
            coro.close()
            raise RuntimeError("a spray request suspended")
        return time.perf_counter() - start
    finally:
        gc.enable()


EXTRAS["spray"] = spray


POSTGRES_URL_ENV = "BEARERGUARD_BENCH_POSTGRES_URL"
_POSTGRES_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _per_call_us(call: Any, quick: bool) -> float:
    """Median µs of one call over a few timed batches (GC paused, as timeit does)."""
    batch = 100 if quick else 300
    samples = []
    for _ in range(3 if quick else 7):
        gc.disable()
        try:
            start = time.perf_counter()
            for _ in range(batch):
                call()
            samples.append((time.perf_counter() - start) / batch * 1e6)
        finally:
            gc.enable()
    return statistics.median(samples)


def _store_guard(manager: TokenManager, *, cache_ttl: float) -> Guard:
    return Guard([ClientTokenVerifier(manager)], cache_ttl=cache_ttl)


def store_costs(fixtures: Fixtures, quick: bool) -> ExtraResult:
    """What verifying a client token costs through ``Guard.authenticate``, per store."""
    import os
    import uuid

    result = ExtraResult("Client-token verification per store (Guard.authenticate, sync)")
    client = setup(fixtures)
    header = f"Bearer {client.ok}"
    hit = _store_guard(client.manager, cache_ttl=CACHE_TTL)
    hit.authenticate(header)
    sqlite_miss = _store_guard(client.manager, cache_ttl=0)
    result.rows.append(
        ("cache hit", f"{_per_call_us(lambda: hit.authenticate(header), quick):.1f} µs", "")
    )
    result.rows.append(
        (
            "cache miss, SQLite",
            f"{_per_call_us(lambda: sqlite_miss.authenticate(header), quick):.1f} µs",
            "one indexed lookup by SHA-256 in a WAL file",
        )
    )
    url = os.environ.get(POSTGRES_URL_ENV, _POSTGRES_DEFAULT)
    schema = "bench_" + uuid.uuid4().hex[:12]
    try:
        from sqlalchemy import create_engine, text

        from bearerguard.stores import SQLTokenStore

        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        store = SQLTokenStore(engine, schema=schema)
        manager = TokenManager(store, prefix=PREFIX)
        token = manager.issue(client_id=new_client_id(), label="bench", scopes=[SCOPE]).token
    except Exception as exc:  # a missing server is reported, not fatal
        result.rows.append(("cache miss, PostgreSQL", "not measured", type(exc).__name__))
        return result
    try:
        pg_miss = _store_guard(manager, cache_ttl=0)
        pg_header = f"Bearer {token}"
        pg_miss.authenticate(pg_header)
        result.rows.append(
            (
                "cache miss, PostgreSQL",
                f"{_per_call_us(lambda: pg_miss.authenticate(pg_header), quick):.1f} µs",
                "SQLAlchemy Core + psycopg 3 over 127.0.0.1",
            )
        )
    finally:
        manager.close()
        _drop_schema(store, schema)
    return result


def _drop_schema(store: Any, schema: str) -> None:
    from sqlalchemy import text

    with store.engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    store.close()


EXTRAS["client-stores"] = store_costs
