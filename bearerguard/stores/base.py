"""Kept for imports written against 0.1: the store port lives in :mod:`bearerguard.tokens`.

:class:`TokenStore`, :data:`Row` and :class:`StoreError` are defined with the token
code that consumes them (``bearerguard/tokens/_store.py``), so imports run one way,
stores to tokens; import them from :mod:`bearerguard.stores` or
:mod:`bearerguard.tokens`.
"""

from __future__ import annotations

from ..tokens._store import Row, StoreError, TokenStore

__all__ = ["Row", "StoreError", "TokenStore"]
