"""One contract, every application store: memory, SQLite, SQLAlchemy on SQLite, PostgreSQL.

The payment-application stores of :mod:`bearerguard.dashboard` live beside the token
stores and share their engines, so they share these fixtures too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from bearerguard.dashboard import (
    Application,
    ApplicationStore,
    MemoryApplicationStore,
    SQLiteApplicationStore,
    open_application_store,
)
from bearerguard.stores import SQLiteTokenStore

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)


def application(n: int, *, owner: str = "user-1", created: datetime = T0, **changes: Any) -> Any:
    base = Application(
        client_id=f"{n:032d}",
        name=f"Shop {n}",
        owner=owner,
        created_at=created,
        updated_at=created,
        webhook_secret=bytes([1, n % 256]) + b"\x00sealed",
    )
    return dataclasses.replace(base, **changes)


@pytest.fixture(params=["memory", "sqlite", "sqlalchemy-sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    kind = request.param
    engine = None
    if kind == "memory":
        made: Any = MemoryApplicationStore()
    elif kind == "sqlite":
        made = SQLiteApplicationStore(tmp_path / "apps.db")
    else:
        from sqlalchemy import create_engine

        from bearerguard.dashboard import SQLApplicationStore

        if kind == "sqlalchemy-sqlite":
            engine = create_engine(f"sqlite:///{tmp_path / 'sa.db'}")
            made = SQLApplicationStore(engine)
        else:
            made = SQLApplicationStore(
                request.getfixturevalue("pg_engine"), schema=request.getfixturevalue("pg_schema")
            )
    yield made
    made.close()
    if engine is not None:
        engine.dispose()


def read(store: Any, client_id: str) -> Application:
    row = store.get(client_id)
    assert row is not None
    return Application.from_row(row)


def test_is_an_application_store(store: Any) -> None:
    assert isinstance(store, ApplicationStore)


def test_add_then_get_round_trips_every_column(store: Any) -> None:
    full = application(
        1,
        previous_webhook_secret=b"\x01older",
        previous_secret_expires_at=T0 + timedelta(hours=24),
        revoked_at=None,
    )
    plain = application(2)
    store.add(full)
    store.add(plain)

    assert read(store, full.client_id) == full
    assert read(store, plain.client_id) == plain
    assert store.get("9" * 32) is None


def test_client_ids_are_unique(store: Any) -> None:
    store.add(application(1))
    with pytest.raises(Exception):  # noqa: B017, PT011 - each backend has its own error
        store.add(application(1, name="Another"))
    assert read(store, application(1).client_id).name == "Shop 1"


def test_query_filters_by_owner_and_revocation_oldest_first(store: Any) -> None:
    later = T0 + timedelta(minutes=1)
    store.add(application(3, created=later))
    store.add(application(1))
    store.add(application(2, owner="user-2"))
    store.add(application(4, created=later + timedelta(minutes=1), revoked_at=later))

    def ids(**query: Any) -> list[str]:
        return [row["client_id"][-1] for row in store.query(**query)]

    assert ids(owner="user-1", include_revoked=False) == ["1", "3"]
    assert ids(owner="user-1", include_revoked=True) == ["1", "3", "4"]
    assert ids(owner=None, include_revoked=False) == ["1", "2", "3"]
    assert ids(owner="nobody", include_revoked=True) == []


def test_update_changes_an_active_application_only(store: Any) -> None:
    store.add(application(1))
    later = T0 + timedelta(hours=1)

    assert store.update(
        application(1).client_id, {"webhook_secret": b"\x01new", "updated_at": later}
    )
    changed = read(store, application(1).client_id)
    assert (changed.webhook_secret, changed.updated_at) == (b"\x01new", later)

    assert store.update(application(1).client_id, {"revoked_at": later})
    assert not store.update(application(1).client_id, {"name": "Renamed"})
    assert read(store, application(1).client_id).name == "Shop 1"
    assert not store.update("9" * 32, {"name": "Nobody"})


@pytest.mark.parametrize("values", [{}, {"owner": "user-2"}, {"client_id": "x"}])
def test_update_refuses_columns_it_may_not_change(store: Any, values: dict[str, Any]) -> None:
    store.add(application(1))
    with pytest.raises(ValueError, match="an update changes"):
        store.update(application(1).client_id, values)
    assert read(store, application(1).client_id) == application(1)


def test_sqlite_application_store_shares_a_file_with_the_token_store(tmp_path: Path) -> None:
    path = tmp_path / "payments.db"
    tokens = SQLiteTokenStore(path)
    apps = SQLiteApplicationStore(path)
    apps.add(application(1))
    assert tokens.query(client_id=None, include_revoked=True) == []
    assert read(apps, application(1).client_id) == application(1)
    apps.close()
    tokens.close()


def test_open_application_store_follows_the_token_store_urls(tmp_path: Path) -> None:
    assert isinstance(open_application_store("memory://"), MemoryApplicationStore)
    sqlite = open_application_store(f"sqlite:///{tmp_path / 'x.db'}")
    assert isinstance(sqlite, SQLiteApplicationStore)
    with pytest.raises(ValueError, match="store URL"):
        open_application_store("nonsense")
    with pytest.raises(ValueError, match="names a file"):
        open_application_store("sqlite:///:memory:")


def test_open_application_store_speaks_postgresql(pg_url: str) -> None:
    from bearerguard.dashboard import SQLApplicationStore

    store = open_application_store(pg_url)
    assert isinstance(store, SQLApplicationStore)
    store.close()


def test_no_secret_is_in_a_postgresql_column_in_plaintext(pg_engine: Any, pg_schema: str) -> None:
    from sqlalchemy import text

    from bearerguard.dashboard import (
        ApplicationRegistry,
        SecretBox,
        SQLApplicationStore,
        new_secret_key,
    )
    from bearerguard.stores import SQLTokenStore
    from bearerguard.tokens import TokenManager

    manager = TokenManager(SQLTokenStore(pg_engine, schema=pg_schema), prefix="pay_live_")
    registry = ApplicationRegistry(
        SQLApplicationStore(pg_engine, schema=pg_schema), manager, SecretBox(new_secret_key())
    )
    created = registry.create(owner="user-1", name="Shop")
    client_id = created.application.client_id
    rotated = registry.rotate_webhook_secret(client_id)
    issued = registry.issue_token(client_id, label="x", scopes=["payments.get"])
    manager.close()

    dumped = ""
    with pg_engine.connect() as connection:
        for table in ("bearerguard_applications", "bearerguard_tokens"):
            rows = connection.execute(text(f'SELECT * FROM "{pg_schema}".{table}'))  # noqa: S608
            for row in rows:
                dumped += " ".join(
                    value.hex() + repr(bytes(value))
                    if isinstance(value, (bytes, memoryview))
                    else str(value)
                    for value in row
                )
    assert client_id in dumped
    for secret in (created.webhook_secret, rotated.webhook_secret, issued.token):
        assert secret not in dumped
        assert secret.encode().hex() not in dumped
    assert registry.webhook_secrets(client_id) == (rotated.webhook_secret, created.webhook_secret)
