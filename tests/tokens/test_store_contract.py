"""One contract, every store: memory, SQLite, SQLAlchemy on SQLite, PostgreSQL."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from bearerguard import ClientTokenVerifier, Guard, UnauthenticatedError
from bearerguard.stores import TokenStore
from bearerguard.tokens import TokenManager, TokenRecord

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)


def record(
    n: int, *, client: str = "A" * 32, created: datetime = T0, **changes: Any
) -> TokenRecord:
    base = TokenRecord(
        id=f"tok_{n:020d}",
        client_id=client,
        label=f"Server {n}",
        scopes=("payments.create", "payments.get"),
        created_at=created,
        expires_at=created + timedelta(days=90),
        token_hash=hashlib.sha256(f"token-{n}".encode()).digest(),
    )
    return dataclasses.replace(base, **changes)


def read(store: Any, token_id: str) -> TokenRecord:
    row = store.get(token_id)
    assert row is not None
    return TokenRecord.from_row(row)


def test_is_a_token_store(any_store: Any) -> None:
    assert isinstance(any_store.store, TokenStore)


def test_add_then_get_and_find_by_hash_round_trip(any_store: Any) -> None:
    store = any_store.store
    original = record(1, last_used_at=T0 + timedelta(seconds=5))
    never = record(2, expires_at=None)
    store.add(original)
    store.add(never)
    assert read(store, original.id) == original
    found = store.find_by_hash(original.token_hash)
    assert found is not None
    assert TokenRecord.from_row(found) == original
    assert read(store, never.id).expires_at is None


def test_unknown_ids_and_hashes_are_none(any_store: Any) -> None:
    store = any_store.store
    assert store.get("tok_" + "0" * 20) is None
    assert store.find_by_hash(bytes(32)) is None
    store.add(record(1))
    assert store.get("tok_" + "9" * 20) is None
    assert store.find_by_hash(b"\xff" * 32) is None


def test_ids_and_hashes_are_unique(any_store: Any) -> None:
    store = any_store.store
    store.add(record(1))
    with pytest.raises(Exception):  # noqa: B017, PT011 - each backend has its own error
        store.add(dataclasses.replace(record(2), token_hash=record(1).token_hash))
    with pytest.raises(Exception):  # noqa: B017, PT011
        store.add(dataclasses.replace(record(1), token_hash=bytes(32)))
    assert [row["id"] for row in store.query(client_id=None, include_revoked=True)] == [
        record(1).id
    ]


def test_query_filters_and_orders_oldest_first(any_store: Any) -> None:
    store = any_store.store
    other = "B" * 32
    store.add(record(3, created=T0 + timedelta(seconds=3)))
    store.add(record(1, created=T0 + timedelta(seconds=1), client=other))
    store.add(record(2, created=T0 + timedelta(seconds=2)))
    assert store.revoke(record(2).id, T0 + timedelta(hours=1))

    def ids(**kwargs: Any) -> list[str]:
        return [TokenRecord.from_row(row).id for row in store.query(**kwargs)]

    assert ids(client_id=None, include_revoked=False) == [record(1).id, record(3).id]
    assert ids(client_id=None, include_revoked=True) == [record(n).id for n in (1, 2, 3)]
    assert ids(client_id="A" * 32, include_revoked=True) == [record(2).id, record(3).id]
    assert ids(client_id="A" * 32, include_revoked=False) == [record(3).id]
    assert ids(client_id="C" * 32, include_revoked=True) == []


def test_revoke_once(any_store: Any) -> None:
    store = any_store.store
    store.add(record(1))
    when = T0 + timedelta(minutes=5)
    assert store.revoke(record(1).id, when) is True
    assert read(store, record(1).id).revoked_at == when
    assert store.revoke(record(1).id, when + timedelta(minutes=1)) is False
    assert read(store, record(1).id).revoked_at == when
    assert store.revoke("tok_" + "9" * 20, when) is False


def test_rotate_is_atomic(any_store: Any) -> None:
    store = any_store.store
    store.add(record(1))
    grace_end = T0 + timedelta(hours=24)
    assert store.rotate(record(1).id, grace_end, record(2)) is True
    assert read(store, record(1).id).expires_at == grace_end
    assert read(store, record(1).id).replaced_by == record(2).id
    assert read(store, record(2).id).replaced_by is None
    assert read(store, record(2).id) == record(2)
    store.revoke(record(2).id, T0)
    assert store.rotate(record(2).id, grace_end, record(3)) is False
    assert store.get(record(3).id) is None  # nothing written for a revoked token
    assert store.rotate("tok_" + "9" * 20, grace_end, record(4)) is False
    assert store.get(record(4).id) is None


def test_touch_only_moves_last_used_forward(any_store: Any) -> None:
    store = any_store.store
    store.add(record(1))
    store.add(record(2))
    later, earlier = T0 + timedelta(minutes=10), T0 + timedelta(minutes=5)
    store.touch({record(1).id: later, "tok_" + "9" * 20: later})
    assert read(store, record(1).id).last_used_at == later
    assert read(store, record(2).id).last_used_at is None
    store.touch({record(1).id: earlier, record(2).id: earlier})
    assert read(store, record(1).id).last_used_at == later
    assert read(store, record(2).id).last_used_at == earlier
    store.touch({})


def test_prune_deletes_only_tokens_revoked_or_expired_by_the_cutoff(any_store: Any) -> None:
    store = any_store.store
    cutoff = T0 + timedelta(days=5)
    never = record(1, expires_at=None)
    expired = record(2, expires_at=T0 + timedelta(days=1))
    revoked = record(3, created=T0 + timedelta(seconds=1))
    at_cutoff = record(4, created=T0 + timedelta(seconds=2), expires_at=cutoff)
    expired_later = record(5, expires_at=cutoff + timedelta(microseconds=1))
    revoked_later = record(6)
    for each in (never, expired, revoked, at_cutoff, expired_later, revoked_later):
        store.add(each)
    store.revoke(revoked.id, T0 + timedelta(days=2))
    store.revoke(revoked_later.id, cutoff + timedelta(seconds=1))
    ended = [expired.id, revoked.id, at_cutoff.id]  # oldest first

    assert [row["id"] for row in store.prune(cutoff, dry_run=True)] == ended
    assert len(store.query(client_id=None, include_revoked=True)) == 6  # nothing deleted

    pruned = store.prune(cutoff)
    assert [row["id"] for row in pruned] == ended
    assert TokenRecord.from_row(pruned[0]) == expired
    assert all(store.get(token_id) is None for token_id in ended)
    assert store.find_by_hash(expired.token_hash) is None
    left = [row["id"] for row in store.query(client_id=None, include_revoked=True)]
    assert sorted(left) == sorted([never.id, expired_later.id, revoked_later.id])
    assert store.prune(cutoff) == []
    store.add(dataclasses.replace(expired, id="tok_" + "7" * 20))  # its hash is free again


def test_other_time_zones_are_stored_as_the_same_instant(any_store: Any) -> None:
    store = any_store.store
    tokyo = timezone(timedelta(hours=9))
    store.add(record(1, created=T0.astimezone(tokyo)))
    assert read(store, record(1).id).created_at == T0


def test_a_whole_lifecycle_through_a_guard(any_store: Any) -> None:
    manager = TokenManager(any_store.store, prefix="pay_live_")
    guard = Guard([ClientTokenVerifier(manager)])
    issued = manager.issue(
        client_id="C" * 32,
        label="Checkout",
        scopes=["payments.create"],
        expires_in=timedelta(days=1),
    )
    assert guard.authenticate(f"Bearer {issued.token}").client_id == "C" * 32
    rotated = manager.rotate(issued.record.id, grace=timedelta(0))
    with pytest.raises(UnauthenticatedError):
        guard.authenticate(f"Bearer {issued.token}")
    assert guard.authenticate(f"Bearer {rotated.token}").token_id == rotated.record.id
    manager.revoke(rotated.record.id)
    with pytest.raises(UnauthenticatedError):
        guard.authenticate(f"Bearer {rotated.token}")
    assert [r.id for r in manager.list()] == [issued.record.id]  # expired, not revoked
    assert len(manager.list(include_revoked=True)) == 2
    manager.close()


def test_F02_corrupt_scopes_deny_in_every_store(any_store: Any) -> None:
    manager = TokenManager(any_store.store)
    guard = Guard([ClientTokenVerifier(manager)])
    issued = manager.issue(client_id="C" * 32, label="Checkout", scopes=["*"])
    any_store.write_raw(issued.record.id, "scopes", "not json")
    with pytest.raises(UnauthenticatedError):
        guard.authenticate(f"Bearer {issued.token}")
    manager.close()
