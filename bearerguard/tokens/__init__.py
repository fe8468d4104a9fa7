r"""Client tokens: long-lived API keys, issued once, stored only as a SHA-256 hash.

```python
from datetime import timedelta
from bearerguard.tokens import TokenManager, new_client_id
from bearerguard.stores import SQLiteTokenStore

manager = TokenManager(SQLiteTokenStore("bearerguard.db"), prefix="pay_live_")
issued = manager.issue(client_id=new_client_id(), label="Checkout server",
                       scopes=["payments.create"], expires_in=timedelta(days=90))
issued.token   # the plaintext: shown here, once, and never again
```

The format is ``<prefix><secret><checksum>``: the prefix (default ``bg_live_``),
30 base62 characters from :mod:`secrets` (178 bits), and the 6-character base62
CRC32 of prefix and secret. :data:`TOKEN_PATTERN`, ``\bbg_live_[0-9A-Za-z]{36}\b``,
finds every token with the default prefix in text (for secret scanners);
:func:`token_pattern` gives it for another prefix.
"""

from __future__ import annotations

from ._format import (
    ALPHABET,
    CHECKSUM_LENGTH,
    DEFAULT_PREFIX,
    SECRET_LENGTH,
    TOKEN_PATTERN,
    is_well_formed,
    new_client_id,
    token_pattern,
)
from ._manager import MAX_LABEL_LENGTH, TokenManager, UnknownTokenError
from ._records import IssuedToken, MalformedRecordError, TokenRecord, TokenStatus
from ._store import (
    SCHEMA_VERSION,
    Row,
    StoreBusyError,
    StoreError,
    StoreTimeoutError,
    TokenStore,
)

__all__ = [
    "ALPHABET",
    "CHECKSUM_LENGTH",
    "DEFAULT_PREFIX",
    "MAX_LABEL_LENGTH",
    "SCHEMA_VERSION",
    "SECRET_LENGTH",
    "TOKEN_PATTERN",
    "IssuedToken",
    "MalformedRecordError",
    "Row",
    "StoreBusyError",
    "StoreError",
    "StoreTimeoutError",
    "TokenManager",
    "TokenRecord",
    "TokenStatus",
    "TokenStore",
    "UnknownTokenError",
    "is_well_formed",
    "new_client_id",
    "token_pattern",
]
