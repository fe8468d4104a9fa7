"""Metrics through the OpenTelemetry metrics API: ``pip install "bearerguard[opentelemetry]"``.

```python
from bearerguard import Guard, StaticTokenVerifier
from bearerguard.metrics import GuardMetrics

guard = Guard([StaticTokenVerifier({"dev-token": ["payments.get"]})], metrics=GuardMetrics())
```

Why OpenTelemetry's API rather than ``prometheus_client``: a library should only
*produce* measurements and leave to the application where they go. The API package is
small, does nothing until the application installs an SDK (no global registry filled
behind its back, no port opened, no clash between two guards in one process), and the
SDK exports to Prometheus (``opentelemetry-exporter-prometheus``), OTLP or any other
backend, with pre-forking servers handled by the exporter rather than by a multiprocess
mode of the library.

Instruments (OpenTelemetry names; a Prometheus exporter writes dots as underscores and
adds the unit, so ``bearerguard.verifier.duration`` becomes
``bearerguard_verifier_duration_seconds``):

- ``bearerguard.decisions`` (counter): decisions by ``outcome`` (allowed, refused,
  unavailable), ``kind`` (the principal's or refusing verifier's, ``none`` without
  one), ``action`` and ``error`` (the RFC 6750 code, ``none`` when allowed).
- ``bearerguard.cache.lookups`` (counter): token lookups in the guard's cache by
  ``result`` (``hit`` or ``miss``).
- ``bearerguard.cache.hit_ratio`` (gauge): hits over lookups since the metrics were made.
- ``bearerguard.verifier.duration`` (histogram, seconds): verifier calls on a cache
  miss, by ``kind`` and ``outcome``.
- ``bearerguard.jwks.age`` and ``bearerguard.metadata.age`` (gauges, seconds): time
  since the last good fetch of each key set and provider metadata document the guard's
  verifiers hold, by ``kind`` and ``issuer``; absent until the first good fetch.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from .audit import AuditEvent

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

__all__ = ["METER_NAME", "GuardMetrics"]

METER_NAME = "bearerguard"
"""The instrumentation scope of every instrument."""

# Seconds: an offline check takes microseconds, a cached JWKS key a millisecond, an
# introspection call or a key fetch up to the verifier's timeout (5 s by default).
_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class _Aged(Protocol):
    def age(self) -> float | None: ...


class GuardMetrics:
    """The instruments of one or more guards: pass it as ``Guard(metrics=...)``.

    Args:
        meter_provider: Where the instruments come from; by default the global one
            (``opentelemetry.metrics.set_meter_provider``), which records nothing
            until the application installs an SDK.

    Raises:
        ImportError: ``opentelemetry-api`` is not installed (the ``opentelemetry``
            extra).
    """

    def __init__(self, meter_provider: MeterProvider | None = None) -> None:
        try:
            from opentelemetry import metrics
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError(
                'GuardMetrics needs OpenTelemetry: pip install "bearerguard[opentelemetry]"'
            ) from None
        from . import __version__

        provider = meter_provider or metrics.get_meter_provider()
        meter = provider.get_meter(METER_NAME, __version__)
        self._decisions = meter.create_counter(
            "bearerguard.decisions", unit="{decision}", description="Decisions by outcome and kind"
        )
        self._lookups = meter.create_counter(
            "bearerguard.cache.lookups",
            unit="{lookup}",
            description="Token lookups in the verification cache, by result",
        )
        self._duration = meter.create_histogram(
            "bearerguard.verifier.duration",
            unit="s",
            description="Verifier calls on a cache miss",
            explicit_bucket_boundaries_advisory=_BUCKETS,
        )
        meter.create_observable_gauge(
            "bearerguard.cache.hit_ratio",
            callbacks=[self._hit_ratio],
            unit="1",
            description="Cache hits over lookups since the metrics were made",
        )
        meter.create_observable_gauge(
            "bearerguard.jwks.age",
            callbacks=[self._ages("jwks")],
            unit="s",
            description="Seconds since the last good fetch of a JWK set",
        )
        meter.create_observable_gauge(
            "bearerguard.metadata.age",
            callbacks=[self._ages("metadata")],
            unit="s",
            description="Seconds since the last good fetch of provider metadata",
        )
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0
        self._watched: dict[str, list[tuple[_Aged, dict[str, str]]]] = {
            "jwks": [],
            "metadata": [],
        }

    def __repr__(self) -> str:
        return f"GuardMetrics(hits={self._hits}, misses={self._misses})"

    def watch(self, verifiers: Iterable[object]) -> None:
        """Report the key-set and metadata ages of these verifiers (the guard calls it).

        A verifier's key cache is its ``jwks`` attribute and its metadata its
        ``metadata`` attribute (or the key cache's), each with an ``age()`` method.
        """
        for verifier in verifiers:
            kind = str(getattr(verifier, "kind", "none"))
            jwks = getattr(verifier, "jwks", None)
            metadata = getattr(verifier, "metadata", None) or getattr(jwks, "metadata", None)
            issuer = getattr(verifier, "issuer", None) or getattr(jwks, "url", None) or ""
            labels = {"kind": kind, "issuer": str(issuer)}
            for name, source in (("jwks", jwks), ("metadata", metadata)):
                if source is not None and callable(getattr(source, "age", None)):
                    self._watched[name].append((source, labels))

    def record(self, event: AuditEvent) -> None:
        """Count one decision (the guard calls it for each event)."""
        self._decisions.add(
            1,
            {
                "outcome": event.outcome,
                "kind": event.kind or "none",
                "action": event.action,
                "error": event.error or "none",
            },
        )
        if event.cache is not None:
            self._lookups.add(1, {"result": event.cache})
            with self._lock:
                if event.cache == "hit":
                    self._hits += 1
                else:
                    self._misses += 1
        if event.latency is not None:
            self._duration.record(
                event.latency, {"kind": event.kind or "none", "outcome": event.outcome}
            )

    def _hit_ratio(self, options: CallbackOptions) -> Iterator[Observation]:
        from opentelemetry.metrics import Observation

        with self._lock:
            hits, lookups = self._hits, self._hits + self._misses
        if lookups:
            yield Observation(hits / lookups)

    def _ages(self, name: str) -> Any:
        def observe(options: CallbackOptions) -> Iterator[Observation]:
            from opentelemetry.metrics import Observation

            for source, labels in self._watched[name]:
                age = source.age()
                if age is not None:
                    yield Observation(age, labels)

        return observe
