"""The merchant dashboard: payment applications, their tokens, a JSON API and a page.

```python
from bearerguard.dashboard import ApplicationRegistry, SecretBox, open_application_store

registry = ApplicationRegistry(
    open_application_store("sqlite:///payments.db"),  # beside the token store
    manager,                                          # the app's TokenManager
    SecretBox.from_env(),                             # BEARERGUARD_SECRET_KEY
)
created = registry.create(owner="user-42", name="Web shop")
created.webhook_secret       # shown once; registry.webhook_secret(...) reads it to sign
registry.issue_token(created.application.client_id, label="Checkout server",
                     scopes=["payments.create"])
```

The management API and the page are mounted with
:func:`bearerguard.dashboard.starlette.router` (Starlette, FastAPI) or
:func:`bearerguard.dashboard.flask.blueprint` (Flask) around a :class:`ManagementAPI`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._api import DEFAULT_MANAGEMENT_SCOPE, ROUTES, ManagementAPI, Route
from ._events import EventHandler, ManagementAction, ManagementEvent, audit_sink
from ._page import CONTENT_SECURITY_POLICY
from ._records import Application, ApplicationStatus, CreatedApplication
from ._registry import MAX_NAME_LENGTH, ApplicationRegistry, UnknownApplicationError
from ._replies import Reply
from ._secrets import (
    SECRET_KEY_ENV,
    WEBHOOK_SECRET_PREFIX,
    SecretBox,
    SecretBoxError,
    new_secret_key,
    new_webhook_secret,
)
from ._store import MUTABLE_COLUMNS, ApplicationStore
from .memory import MemoryApplicationStore
from .sqlite import SQLiteApplicationStore

if TYPE_CHECKING:
    from .sql import SQLApplicationStore

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "DEFAULT_MANAGEMENT_SCOPE",
    "MAX_NAME_LENGTH",
    "MUTABLE_COLUMNS",
    "ROUTES",
    "SECRET_KEY_ENV",
    "WEBHOOK_SECRET_PREFIX",
    "Application",
    "ApplicationRegistry",
    "ApplicationStatus",
    "ApplicationStore",
    "CreatedApplication",
    "EventHandler",
    "ManagementAPI",
    "ManagementAction",
    "ManagementEvent",
    "MemoryApplicationStore",
    "Reply",
    "Route",
    "SQLApplicationStore",
    "SQLiteApplicationStore",
    "SecretBox",
    "SecretBoxError",
    "UnknownApplicationError",
    "audit_sink",
    "new_secret_key",
    "new_webhook_secret",
    "open_application_store",
]


def __getattr__(name: str) -> Any:
    if name == "SQLApplicationStore":
        from .sql import SQLApplicationStore

        return SQLApplicationStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_application_store(url: str) -> ApplicationStore:
    """The application store a URL names, as :func:`bearerguard.stores.open_store` reads it.

    ``memory://``, ``sqlite:///path.db`` (the token store's file will do) or any other
    SQLAlchemy URL (``postgresql+psycopg://user@host/db``).

    Raises:
        ValueError: the URL names no store, or its driver is not installed.
    """
    from ..stores import open_store

    open_store(url)  # refuses a bad URL or a missing driver alike; connects to nothing
    if url == "memory://":
        return MemoryApplicationStore()
    if url.startswith("sqlite://"):
        return SQLiteApplicationStore(url[len("sqlite:///") :])
    from .sql import SQLApplicationStore

    return SQLApplicationStore(url)  # its own engine, disposed by close()
