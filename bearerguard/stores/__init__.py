"""Token stores: where client tokens (their hashes and records) are kept.

```python
from bearerguard.stores import open_store

store = open_store("sqlite:///bearerguard.db")        # SQLiteTokenStore, the default
store = open_store("postgresql+psycopg://app@db/app")  # SQLTokenStore (the "sql" extra)
store = open_store("memory://")                       # MemoryTokenStore, for tests
```

:class:`SQLTokenStore` is imported on first use, so SQLAlchemy is only needed by
those who use it. The port the stores implement (:class:`TokenStore`, :data:`Row`,
:class:`StoreError`, :data:`SCHEMA_VERSION`) is defined in :mod:`bearerguard.tokens`
and re-exported here.

Every call to :class:`SQLiteTokenStore` or :class:`SQLTokenStore` answers within the
store's ``timeout`` (default 3 s), and at most ``max_concurrency`` calls (default 4)
wait on one store at once; past either bound the call raises a :class:`StoreError`
(:class:`StoreTimeoutError`, :class:`StoreBusyError`) and verification answers 503.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..tokens._store import (
    SCHEMA_VERSION,
    Row,
    StoreBusyError,
    StoreError,
    StoreTimeoutError,
    TokenStore,
)
from ._bounded import DEFAULT_MAX_CONCURRENCY, DEFAULT_TIMEOUT
from ._bounded import check_limits as _check_limits
from .memory import MemoryTokenStore
from .sqlite import SQLiteTokenStore

if TYPE_CHECKING:
    from .sql import SQLTokenStore

__all__ = [
    "SCHEMA_VERSION",
    "MemoryTokenStore",
    "Row",
    "SQLTokenStore",
    "SQLiteTokenStore",
    "StoreBusyError",
    "StoreError",
    "StoreTimeoutError",
    "TokenStore",
    "open_store",
]


def __getattr__(name: str) -> Any:
    if name == "SQLTokenStore":
        from .sql import SQLTokenStore

        return SQLTokenStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_store(
    url: str, *, timeout: float = DEFAULT_TIMEOUT, max_concurrency: int = DEFAULT_MAX_CONCURRENCY
) -> TokenStore:
    """The store a URL names.

    ``memory://`` is a :class:`MemoryTokenStore`; ``sqlite:///relative/path.db`` and
    ``sqlite:////absolute/path.db`` a :class:`SQLiteTokenStore`; any other
    SQLAlchemy URL (``postgresql+psycopg://user@host:5432/db``; plain
    ``postgresql://`` means psycopg 3) a :class:`SQLTokenStore`. Nothing is
    opened until the store is first used. ``timeout`` and ``max_concurrency`` go to
    the store, as when it is built by hand.

    Raises:
        ValueError: the URL names no store, its driver is not installed, or a limit
            is out of range.
    """
    if not isinstance(url, str) or "://" not in url:
        raise ValueError("a store URL looks like sqlite:///bearerguard.db or memory://")
    if url == "memory://":
        return MemoryTokenStore(timeout=timeout, max_concurrency=max_concurrency)
    if url.startswith("sqlite://"):
        if not url.startswith("sqlite:///") or url in ("sqlite:///", "sqlite:///:memory:"):
            raise ValueError(
                "a SQLite store URL names a file: sqlite:///relative.db or "
                "sqlite:////absolute/path.db (memory:// for an in-memory store)"
            )
        return SQLiteTokenStore(
            url[len("sqlite:///") :], timeout=timeout, max_concurrency=max_concurrency
        )
    try:
        from .sql import SQLTokenStore
    except ImportError:
        raise ValueError(
            'this store URL needs SQLAlchemy: pip install "bearerguard[sql]"'
        ) from None
    _check_limits(timeout, max_concurrency)  # before the generic catch below
    try:
        return SQLTokenStore(url, timeout=timeout, max_concurrency=max_concurrency)
    except ImportError as exc:  # the URL's database driver is missing
        raise ValueError(f"this store URL needs a database driver: {exc}") from None
    except Exception as exc:  # an unparsable URL or unknown dialect
        raise ValueError(f"cannot use this store URL: {type(exc).__name__}") from None
