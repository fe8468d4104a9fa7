"""TokenManager: issue, validate, list, get, revoke, rotate; the plaintext stays put."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bearerguard.stores import MemoryTokenStore
from bearerguard.tokens import (
    IssuedToken,
    MalformedRecordError,
    TokenManager,
    TokenRecord,
    UnknownTokenError,
    is_well_formed,
    new_client_id,
)

CLIENT = "A" * 32


def _good_row() -> dict[str, Any]:
    return TokenRecord(
        id="tok_" + "a" * 20,
        client_id=CLIENT,
        label="Reporting",
        scopes=("payments.get",),
        created_at=datetime(2025, 1, 1, tzinfo=timezone.utc),
        token_hash=bytes(32),
    ).to_row()


KNOWN = {"payments.create", "payments.get", "payments.user-instructions.get", "*"}


def test_issue_returns_the_token_once_and_a_record(kit: Any) -> None:
    issued = kit.issue(expires_in=timedelta(days=90))
    assert isinstance(issued, IssuedToken)
    assert is_well_formed(issued.token)
    record = issued.record
    assert record.id.startswith("tok_")
    assert len(record.id) == 24
    assert record.client_id == CLIENT
    assert record.label == "Checkout server"
    assert record.scopes == ("payments.create", "payments.get")
    assert record.created_at == kit.time.at()
    assert record.expires_at == kit.time.at(90 * 86400)
    assert record.last_used_at is None
    assert record.revoked_at is None
    assert kit.manager.get(record.id) == record
    assert kit.store.count("add") == 1


def test_issue_with_an_absolute_expiry_in_another_zone(kit: Any) -> None:
    berlin = timezone(timedelta(hours=2))
    when = datetime.fromtimestamp(kit.time.now + 3600, berlin)
    record = kit.issue(expires_at=when).record
    assert record.expires_at == when
    assert record.expires_at.tzinfo == timezone.utc


def test_a_token_without_expiry_never_expires(kit: Any) -> None:
    record = kit.issue().record
    assert record.expires_at is None
    assert record.status(kit.time.at(10**8)) == "active"


def test_repr_and_str_never_show_the_plaintext(kit: Any) -> None:
    issued = kit.issue()
    for text in (repr(issued), str(issued), f"{issued}", repr(issued.record), str(issued.record)):
        assert issued.token not in text
        assert issued.token[8:-6] not in text
        assert issued.record.token_hash.hex() not in text
        assert repr(issued.record.token_hash) not in text
    assert issued.record.id in repr(issued)
    assert "token_hash" not in issued.record.to_dict()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        pytest.param({"client_id": "A" * 31}, "client_id", id="client-id-short"),
        pytest.param({"client_id": "A" * 33}, "client_id", id="client-id-long"),
        pytest.param({"client_id": "A" * 31 + "-"}, "client_id", id="client-id-dash"),
        pytest.param({"client_id": "Ä" * 32}, "client_id", id="client-id-non-ascii"),
        pytest.param({"client_id": None}, "client_id", id="client-id-none"),
        pytest.param({"label": ""}, "label", id="label-empty"),
        pytest.param({"label": "   "}, "label", id="label-blank"),
        pytest.param({"label": "x" * 101}, "label", id="label-101"),
        pytest.param({"label": "a\nb"}, "label", id="label-newline"),
        pytest.param({"label": "a\x1b[31mb"}, "label", id="label-escape"),
        pytest.param({"label": 7}, "label", id="label-not-text"),
        pytest.param({"scopes": []}, "scope", id="no-scopes"),
        pytest.param({"scopes": "payments.get"}, "scope", id="scopes-string"),
        pytest.param({"scopes": ["payments.refund"]}, "unknown scope", id="unknown-scope"),
        pytest.param({"scopes": ["payments get"]}, "scope", id="scope-with-space"),
        pytest.param({"scopes": [""]}, "scope", id="empty-scope"),
        pytest.param({"scopes": [None]}, "scope", id="scope-none"),
        pytest.param({"expires_in": timedelta(0)}, "expires_in", id="expires-in-zero"),
        pytest.param({"expires_in": timedelta(days=-1)}, "expires_in", id="expires-in-negative"),
        pytest.param({"expires_in": 3600}, "expires_in", id="expires-in-number"),
        pytest.param({"expires_in": timedelta.max}, "expires_in", id="expires-in-overflow"),
        pytest.param({"expires_at": "tomorrow"}, "expires_at", id="expires-at-text"),
        pytest.param({"expires_at": datetime(2999, 1, 1)}, "timezone", id="expires-at-naive"),
        pytest.param(
            {
                "expires_in": timedelta(days=1),
                "expires_at": datetime(2999, 1, 1, tzinfo=timezone.utc),
            },
            "not both",
            id="both-expiries",
        ),
    ],
)
def test_bad_input_raises_value_error_and_writes_nothing(
    make_kit: Callable[..., Any], arguments: dict[str, Any], message: str
) -> None:
    kit = make_kit(known_scopes=KNOWN)
    with pytest.raises(ValueError, match=message):
        kit.issue(**arguments)
    assert kit.store.calls == []


@pytest.mark.parametrize("offset", [-1.0, 0.0], ids=["past", "now"])
def test_expiry_must_be_in_the_future(kit: Any, offset: float) -> None:
    with pytest.raises(ValueError, match="future"):
        kit.issue(expires_at=kit.time.at(offset))
    assert kit.store.calls == []


def test_known_scopes_allow_listed_names_and_star(make_kit: Callable[..., Any]) -> None:
    kit = make_kit(known_scopes=KNOWN)
    assert kit.issue(scopes=["*", "payments.get", "payments.get"]).record.scopes == (
        "*",
        "payments.get",
    )


def test_the_manager_makes_no_store_call_when_built_and_takes_any_duck() -> None:
    class Duck:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"store.{name} touched during construction")

    manager = TokenManager(Duck(), prefix="pay_live_", known_scopes=KNOWN)
    assert manager.prefix == "pay_live_"
    assert manager.is_well_formed("pay_live_") is False
    manager.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"prefix": "Pay_"}, "prefix", id="bad-prefix"),
        pytest.param({"known_scopes": ["a b"]}, "known scope", id="bad-known-scope"),
        pytest.param({"last_used_interval": 0}, "last_used_interval", id="zero-interval"),
        pytest.param({"last_used_interval": -5}, "last_used_interval", id="negative-interval"),
    ],
)
def test_bad_configuration_fails_at_construction(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TokenManager(MemoryTokenStore(), **options)


def test_get_unknown_or_malformed_ids(kit: Any) -> None:
    assert kit.manager.get("tok_" + "x" * 20) is None
    assert kit.store.count("get") == 1
    for bad in ("", "tok_", "nope", "tok_" + "x" * 21, "tok_../../etc"):
        assert kit.manager.get(bad) is None
    assert kit.store.count("get") == 1  # malformed ids never reach the store


def test_list_filters_by_client_and_leaves_revoked_out(kit: Any) -> None:
    other = new_client_id()
    first = kit.issue().record
    kit.time.advance(1)
    second = kit.issue(client_id=other).record
    kit.time.advance(1)
    third = kit.issue().record
    kit.manager.revoke(first.id)
    assert [r.id for r in kit.manager.list()] == [second.id, third.id]
    assert [r.id for r in kit.manager.list(include_revoked=True)] == [
        first.id,
        second.id,
        third.id,
    ]
    assert [r.id for r in kit.manager.list(CLIENT)] == [third.id]
    assert [r.id for r in kit.manager.list(client_id=other)] == [second.id]
    with pytest.raises(ValueError, match="client_id"):
        kit.manager.list("not-a-client")


def test_list_keeps_expired_tokens_and_reports_their_status(kit: Any) -> None:
    record = kit.issue(expires_in=timedelta(seconds=10)).record
    kit.time.advance(10)
    (listed,) = kit.manager.list()
    assert listed.id == record.id
    assert listed.status(kit.time.at()) == "expired"


def test_list_skips_a_corrupt_row_with_a_warning(
    kit: Any, caplog: pytest.LogCaptureFixture
) -> None:
    good = kit.issue().record
    bad = kit.issue().record
    kit.store.inner._rows[bad.id]["scopes"] = None
    assert [r.id for r in kit.manager.list()] == [good.id]
    assert "malformed" in caplog.text
    with pytest.raises(MalformedRecordError):
        kit.manager.get(bad.id)


def test_revoke_marks_the_record_and_is_idempotent(kit: Any) -> None:
    record = kit.issue().record
    revoked = kit.manager.revoke(record.id)
    assert revoked.revoked_at == kit.time.at()
    assert kit.manager.get(record.id) == revoked
    assert revoked.status(kit.time.at()) == "revoked"
    kit.time.advance(5)
    assert kit.manager.revoke(record.id).revoked_at == revoked.revoked_at


def test_revoke_and_rotate_of_unknown_ids_raise(kit: Any) -> None:
    for action in (kit.manager.revoke, kit.manager.rotate):
        with pytest.raises(UnknownTokenError, match="no token"):
            action("tok_" + "Z" * 20)
    assert issubclass(UnknownTokenError, ValueError)
    assert kit.store.count("revoke") == kit.store.count("rotate") == kit.store.count("add") == 0


def test_rotate_keeps_client_label_scopes_and_lifetime(kit: Any) -> None:
    old = kit.issue(expires_in=timedelta(days=90)).record
    kit.time.advance(86400)
    issued = kit.manager.rotate(old.id, grace=timedelta(hours=2))
    new = issued.record
    assert is_well_formed(issued.token)
    assert new.id != old.id
    assert new.token_hash != old.token_hash
    assert (new.client_id, new.label, new.scopes) == (old.client_id, old.label, old.scopes)
    assert new.created_at == kit.time.at()
    assert new.expires_at == kit.time.at(90 * 86400)
    shortened = kit.manager.get(old.id)
    assert shortened is not None
    assert shortened.expires_at == kit.time.at(2 * 3600)
    assert shortened.revoked_at is None


def test_rotate_never_extends_the_old_token(kit: Any) -> None:
    old = kit.issue(expires_in=timedelta(minutes=30)).record
    kit.manager.rotate(old.id, grace=timedelta(hours=24))
    assert kit.manager.get(old.id).expires_at == old.expires_at


def test_rotate_of_a_never_expiring_token_and_an_explicit_lifetime(kit: Any) -> None:
    old = kit.issue().record
    assert kit.manager.rotate(old.id).record.expires_at is None
    assert kit.manager.get(old.id).expires_at == kit.time.at(24 * 3600)  # default grace
    later = kit.manager.rotate(old.id, grace=timedelta(0), expires_in=timedelta(days=7))
    assert later.record.expires_at == kit.time.at(7 * 86400)


def test_rotate_refuses_revoked_tokens_and_bad_grace(kit: Any) -> None:
    record = kit.issue().record
    with pytest.raises(ValueError, match="grace"):
        kit.manager.rotate(record.id, grace=timedelta(seconds=-1))
    with pytest.raises(ValueError, match="grace"):
        kit.manager.rotate(record.id, grace=3600)
    kit.manager.revoke(record.id)
    with pytest.raises(ValueError, match="revoked"):
        kit.manager.rotate(record.id)
    assert kit.store.count("rotate") == 0
    assert len(kit.manager.list(include_revoked=True)) == 1


def test_prune_deletes_what_ended_long_enough_ago_and_nothing_alive(kit: Any) -> None:
    day = 86400
    revoked = kit.issue(label="Revoked").record
    rotated = kit.issue(label="Rotated", expires_in=timedelta(days=90)).record
    expiring = kit.issue(label="Expiring", expires_in=timedelta(days=2)).record
    forever = kit.issue(label="Forever")
    kit.manager.revoke(revoked.id)
    successor = kit.manager.rotate(rotated.id, grace=timedelta(days=1))
    kit.time.advance(10 * day)
    assert kit.manager.prune(timedelta(days=30)) == []

    kit.time.advance(21 * day)  # revoked 31 days ago, rotated ended 30, expiring 29
    would = kit.manager.prune(timedelta(days=30), dry_run=True)
    assert {record.id for record in would} == {revoked.id, rotated.id}, (would, revoked, rotated)
    assert len(kit.manager.list(include_revoked=True)) == 5  # a dry run deletes nothing
    pruned = kit.manager.prune(timedelta(days=30))
    assert sorted(pruned, key=lambda record: record.label) == sorted(
        would, key=lambda record: record.label
    )
    assert kit.manager.get(revoked.id) is None
    left = {record.id for record in kit.manager.list(include_revoked=True)}
    assert left == {expiring.id, forever.record.id, successor.record.id}
    principal = kit.guard.authenticate(f"Bearer {forever.token}")  # the living still work
    assert principal.token_id == forever.record.id
    assert [r.id for r in kit.manager.prune(timedelta(0))] == [expiring.id]


@pytest.mark.parametrize("older_than", [timedelta(seconds=-1), 30, None, timedelta.max])
def test_prune_refuses_a_bad_age_and_asks_nothing_of_the_store(kit: Any, older_than: Any) -> None:
    with pytest.raises(ValueError, match="older_than"):
        kit.manager.prune(older_than)
    assert kit.store.count("prune") == 0


def test_record_round_trips_through_a_row() -> None:
    record = TokenRecord(
        id="tok_" + "a" * 20,
        client_id=CLIENT,
        label="Reporting",
        scopes=("payments.get",),
        created_at=datetime(2025, 1, 1, tzinfo=timezone.utc),
        expires_at=datetime(2025, 4, 1, tzinfo=timezone.utc),
        token_hash=bytes(32),
    )
    assert TokenRecord.from_row(record.to_row()) == record
    row = record.to_row()
    row.update(
        created_at="2025-01-01T00:00:00Z",
        expires_at=datetime(2025, 4, 1),  # naive: read as UTC (C-05)
        token_hash=bytes(32).hex(),
        scopes=["payments.get"],
    )
    assert TokenRecord.from_row(row) == record


_ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=40),
    st.binary(max_size=40),
    st.lists(st.one_of(st.text(max_size=10), st.integers()), max_size=3),
    st.datetimes(),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(list(_good_row())), _ANY_VALUE))
def test_F02_any_corrupt_row_raises_only_malformed_record_error(changes: dict[str, Any]) -> None:
    row = {**_good_row(), **changes}
    try:
        parsed = TokenRecord.from_row(row)
    except MalformedRecordError:
        return
    assert parsed.created_at.tzinfo is not None  # whatever parses is usable
    assert all(isinstance(scope, str) for scope in parsed.scopes)
