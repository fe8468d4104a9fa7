"""The application store port: what an :class:`ApplicationRegistry` needs from a store.

Rows are mappings with the columns of :data:`COLUMNS` (see
:meth:`Application.to_row <bearerguard.dashboard.Application.to_row>`); webhook secrets
arrive sealed, so a store never sees a plaintext secret. Stores raise
:class:`~bearerguard.tokens.StoreError` on a backend failure, as token stores do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from ..tokens._store import Row
from ._records import Application

__all__ = ["MUTABLE_COLUMNS", "ApplicationStore"]

MUTABLE_COLUMNS = frozenset(
    {
        "name",
        "webhook_secret",
        "previous_webhook_secret",
        "previous_secret_expires_at",
        "updated_at",
        "revoked_at",
    }
)
"""The columns :meth:`ApplicationStore.update` may change."""


def check_update(values: Mapping[str, Any]) -> None:
    """Refuse an update of no column, or of one outside :data:`MUTABLE_COLUMNS`.

    Raises:
        ValueError: the update is empty or names another column.
    """
    if not values or not MUTABLE_COLUMNS.issuperset(values):
        raise ValueError(f"an update changes some of {sorted(MUTABLE_COLUMNS)} only")


@runtime_checkable
class ApplicationStore(Protocol):
    """Where payment applications live. Any object with these methods will do."""

    def add(self, application: Application) -> None:
        """Insert a new application (``application.to_row()``); Client IDs are unique."""
        ...

    def get(self, client_id: str) -> Row | None:
        """The row with this Client ID, or None."""
        ...

    def query(self, *, owner: str | None, include_revoked: bool) -> Sequence[Row]:
        """Rows, oldest first, of one owner (or all), without revoked ones unless asked."""
        ...

    def update(self, client_id: str, values: Mapping[str, Any]) -> bool:
        """Change columns of an unrevoked application in one write.

        False (and nothing written) when there is no such unrevoked application.
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...
