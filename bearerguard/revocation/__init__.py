"""Revocation that reaches every process: a bus between token managers and guards.

```python
from bearerguard import Guard, StaticTokenVerifier
from bearerguard.revocation import MemoryRevocationBus

bus = MemoryRevocationBus()  # RedisRevocationBus(url) or PostgresRevocationBus(url)
guard = Guard([StaticTokenVerifier({"dev-token": ["payments.get"]})], revocation_bus=bus)
guard.revoke("dev-token")
```

:class:`RedisRevocationBus` needs the ``redis`` extra, :class:`PostgresRevocationBus`
the ``sql`` extra; each imports its driver only when made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._bus import BusStats, RevocationBus, RevocationError, RevocationSink
from ._message import Revocation
from .memory import MemoryRevocationBus

if TYPE_CHECKING:
    from ._postgres import PostgresRevocationBus
    from ._redis import RedisRevocationBus

__all__ = [
    "BUS_VARIABLE",
    "BusStats",
    "MemoryRevocationBus",
    "PostgresRevocationBus",
    "RedisRevocationBus",
    "Revocation",
    "RevocationBus",
    "RevocationError",
    "RevocationSink",
    "open_bus",
]

BUS_VARIABLE = "BEARERGUARD_BUS"
"""The environment variable the command line reads a bus URL from."""


def open_bus(url: str, **options: Any) -> RevocationBus:
    """The bus a URL names: ``redis://``, ``rediss://``, ``unix://``,
    ``redis+sentinel://`` (Redis),
    ``postgresql+psycopg://``, ``postgresql://`` (PostgreSQL) or ``memory://``.

    Raises:
        ValueError: an unknown scheme.
        ImportError: the engine's extra is not installed.
    """
    scheme, separator, _ = url.partition("://") if isinstance(url, str) else ("", "", "")
    scheme = scheme.lower() if separator else ""
    if scheme in ("redis", "rediss", "unix", "redis+sentinel", "rediss+sentinel"):
        from ._redis import RedisRevocationBus

        return RedisRevocationBus(url, **options)
    if scheme in ("postgresql+psycopg", "postgresql", "postgres"):
        from ._postgres import PostgresRevocationBus

        return PostgresRevocationBus(url, **options)
    if scheme == "memory":
        return MemoryRevocationBus(**options)
    raise ValueError(
        "unknown bus URL: use redis://, rediss://, unix://, redis+sentinel://, "
        "postgresql+psycopg:// or memory://"
    )


def __getattr__(name: str) -> Any:
    # The engines are imported on first use, so importing this package needs neither
    # redis-py nor psycopg.
    if name == "RedisRevocationBus":
        from ._redis import RedisRevocationBus

        return RedisRevocationBus
    if name == "PostgresRevocationBus":
        from ._postgres import PostgresRevocationBus

        return PostgresRevocationBus
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
