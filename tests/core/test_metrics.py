"""GuardMetrics, read back through the OpenTelemetry SDK's in-memory reader."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from bearerguard import AuthError, Guard, JWTVerifier, Principal, Rule, StaticTokenVerifier
from bearerguard.metrics import METER_NAME, GuardMetrics
from bearerguard.testing import LocalIssuer

ISSUER = "https://id.example.test/"
JWKS = "https://id.example.test/keys"
AUDIENCE = "payments-api"


class Timer:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def timer() -> Timer:
    return Timer()


@pytest.fixture
def issuer() -> LocalIssuer:
    return LocalIssuer(issuer=ISSUER, audience=AUDIENCE)


@pytest.fixture
def guard(reader: InMemoryMetricReader, timer: Timer, issuer: LocalIssuer) -> Iterator[Guard]:
    def fetch(url: str, timeout: float) -> bytes:
        if url == JWKS:
            return json.dumps(issuer.jwks()).encode()
        # Discovery (OpenID Connect or RFC 8414 location): the issuer's metadata.
        return json.dumps({"issuer": ISSUER, "jwks_uri": JWKS}).encode()

    discovering = JWTVerifier(
        issuer=ISSUER, audience=AUDIENCE, jwks_fetcher=fetch, jwks_timer=timer
    )
    static = StaticTokenVerifier(
        {"static-token-1": Principal(kind="client", subject="c1", token_id="tok_1")}
    )
    metrics = GuardMetrics(MeterProvider(metric_readers=[reader]))
    rules = [Rule("GET", "/admin", scopes=["admin"])]
    with Guard([static, discovering], rules=rules, metrics=metrics) as built:
        yield built


def points(reader: InMemoryMetricReader) -> dict[str, list[tuple[dict[str, Any], Any]]]:
    """Each instrument's data points: ``(attributes, value)`` (a histogram's count)."""
    found: dict[str, list[tuple[dict[str, Any], Any]]] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            assert scope.scope.name == METER_NAME
            for metric in scope.metrics:
                found[metric.name] = [
                    (dict(point.attributes or {}), getattr(point, "value", None))
                    if not hasattr(point, "bucket_counts")
                    else (dict(point.attributes or {}), point.count)
                    for point in metric.data.data_points
                ]
    return found


def decide(guard: Guard, path: str, token: str) -> int:
    try:
        guard.check("GET", path, f"Bearer {token}")
    except AuthError as error:
        return error.status_code
    return 200


def test_decisions_by_outcome_and_kind(
    guard: Guard, reader: InMemoryMetricReader, issuer: LocalIssuer
) -> None:
    jwt = issuer.mint("payments.get")
    assert [decide(guard, "/x", jwt) for _ in range(3)] == [200, 200, 200]
    assert decide(guard, "/x", "static-token-1") == 200
    assert decide(guard, "/admin", "static-token-1") == 403
    assert decide(guard, "/x", "nobody-knows-this") == 401

    seen = points(reader)
    decisions = {
        (a["outcome"], a["kind"], a["error"]): value for a, value in seen["bearerguard.decisions"]
    }
    assert decisions == {
        ("allowed", "oauth", "none"): 3,
        ("allowed", "client", "none"): 1,
        ("refused", "client", "insufficient_scope"): 1,
        ("refused", "none", "invalid_token"): 1,
    }
    lookups = {a["result"]: value for a, value in seen["bearerguard.cache.lookups"]}
    assert lookups == {"miss": 3, "hit": 3}
    assert seen["bearerguard.cache.hit_ratio"] == [({}, 0.5)]
    # Verifier calls only: the two verifications; the unknown token had no verifier.
    durations = {
        (a["kind"], a["outcome"]): count for a, count in seen["bearerguard.verifier.duration"]
    }
    assert durations == {("oauth", "allowed"): 1, ("client", "allowed"): 1}


def test_key_set_and_metadata_ages(
    guard: Guard, reader: InMemoryMetricReader, timer: Timer, issuer: LocalIssuer
) -> None:
    before = points(reader)
    # Nothing fetched yet: no age to report (not zero, not a stale guess).
    assert before.get("bearerguard.jwks.age", []) == []
    assert before.get("bearerguard.metadata.age", []) == []

    assert decide(guard, "/x", issuer.mint()) == 200
    timer.now += 42.5
    ages = points(reader)
    labels = {"kind": "oauth", "issuer": ISSUER}
    assert ages["bearerguard.jwks.age"] == [(labels, 42.5)]
    assert ages["bearerguard.metadata.age"] == [(labels, 42.5)]


def test_without_an_sdk_the_global_provider_records_nothing_and_fails_nothing() -> None:
    metrics = GuardMetrics()  # the API's global provider: a no-op until an SDK is set
    guard = Guard([StaticTokenVerifier({"static-token-1": ["a"]})], metrics=metrics)
    for _ in range(2):
        assert guard.check("GET", "/", "Bearer static-token-1") is not None
    assert repr(metrics) == "GuardMetrics(hits=1, misses=1)"
