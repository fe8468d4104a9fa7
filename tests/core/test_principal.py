"""Principal: a frozen, slotted, keyword-only value."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from bearerguard import Principal


def _principal(**changes: object) -> Principal:
    fields: dict[str, object] = {"kind": "oauth", "subject": "user-42"}
    fields.update(changes)
    return Principal(**fields)  # type: ignore[arg-type]


def test_defaults() -> None:
    principal = Principal(kind="client", subject="tok_1")
    assert principal.scopes == frozenset()
    assert principal.client_id is None
    assert principal.token_id is None
    assert principal.expires_at is None
    assert dict(principal.claims) == {}


def test_keyword_only() -> None:
    with pytest.raises(TypeError):
        Principal("oauth", "user-42")  # type: ignore[misc]


def test_frozen() -> None:
    principal = _principal()
    with pytest.raises(dataclasses.FrozenInstanceError):
        principal.scopes = frozenset({"*"})  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        principal.subject = "someone-else"  # type: ignore[misc]


def test_slotted() -> None:
    principal = _principal()
    assert not hasattr(principal, "__dict__")


def test_claims_are_read_only_and_detached_from_the_input() -> None:
    source = {"sub": "user-42", "scope": "payments.get"}
    principal = _principal(claims=source)
    with pytest.raises(TypeError):
        principal.claims["sub"] = "admin"  # type: ignore[index]
    source["sub"] = "admin"
    assert principal.claims["sub"] == "user-42"


@pytest.mark.parametrize(
    "scopes",
    [
        pytest.param(["a", "b"], id="list"),
        pytest.param({"a", "b"}, id="set"),
        pytest.param(("a", "b", "a"), id="tuple-with-duplicate"),
        pytest.param(frozenset({"a", "b"}), id="frozenset"),
    ],
)
def test_scopes_are_coerced_to_frozenset(scopes: object) -> None:
    principal = _principal(scopes=scopes)
    assert isinstance(principal.scopes, frozenset)
    assert principal.scopes == frozenset({"a", "b"})


def test_scopes_from_a_generator() -> None:
    principal = _principal(scopes=(name for name in ["a", "b"]))
    assert principal.scopes == frozenset({"a", "b"})


def test_scopes_as_a_single_string_is_refused() -> None:
    # frozenset("payments.get") would grant single characters.
    with pytest.raises(TypeError, match="not a string"):
        _principal(scopes="payments.get")


def test_naive_expires_at_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        _principal(expires_at=datetime(2030, 1, 1))


@pytest.mark.parametrize(
    "zone",
    [
        pytest.param(timezone.utc, id="utc"),
        pytest.param(timezone(timedelta(hours=-5)), id="minus-5"),
    ],
)
def test_aware_expires_at_is_kept(zone: timezone) -> None:
    moment = datetime(2030, 1, 1, tzinfo=zone)
    assert _principal(expires_at=moment).expires_at == moment


@pytest.mark.parametrize(
    ("granted", "needed", "all_of", "any_of"),
    [
        pytest.param({"payments.get"}, ("payments.get",), True, True, id="exact"),
        pytest.param({"*"}, ("payments.get", "refunds.create"), True, True, id="star"),
        pytest.param(
            {"payments.*"},
            ("payments.create", "payments.user-instructions.get"),
            True,
            True,
            id="prefix-any-depth",
        ),
        pytest.param({"payments.*"}, ("payments",), False, False, id="prefix-not-itself"),
        pytest.param({"payments.*"}, ("paymentsx.get",), False, False, id="prefix-boundary"),
        pytest.param({"payments.get"}, ("payments.get", "x"), False, True, id="partial"),
        pytest.param({"payments.get"}, ("PAYMENTS.GET",), False, False, id="case"),
        pytest.param({"a"}, (), True, False, id="nothing-needed"),
    ],
)
def test_has_scopes_and_has_any_scope(
    granted: set[str], needed: tuple[str, ...], all_of: bool, any_of: bool
) -> None:
    principal = _principal(scopes=granted)
    assert principal.has_scopes(*needed) is all_of
    assert principal.has_any_scope(*needed) is any_of


def test_repr_leaves_out_the_claims() -> None:
    principal = _principal(claims={"secret-claim": "do-not-print"})
    assert "do-not-print" not in repr(principal)
    assert "user-42" in repr(principal)


def test_equal_values_are_equal_and_hashable() -> None:
    moment = datetime(2030, 1, 1, tzinfo=timezone.utc)
    first = _principal(scopes=["a"], expires_at=moment, claims={"x": 1})
    second = _principal(scopes=("a",), expires_at=moment, claims={"x": 1})
    assert first == second
    assert hash(first) == hash(second)
    assert len({first, second}) == 1
    assert first != _principal(scopes=["a"], expires_at=moment, claims={"x": 2})


def test_replace_keeps_the_invariants() -> None:
    principal = _principal(scopes=["a"])
    changed = dataclasses.replace(principal, scopes=["b"])
    assert changed.scopes == frozenset({"b"})
    with pytest.raises(ValueError, match="timezone-aware"):
        dataclasses.replace(principal, expires_at=datetime(2030, 1, 1))
