"""Scope algebra: ``*``, ``prefix.*`` at any depth, exact and case-sensitive otherwise."""

from __future__ import annotations

import pytest

from bearerguard.scopes import has_all, has_any, satisfies, validate_scopes


@pytest.mark.parametrize(
    ("granted", "needed", "expected"),
    [
        pytest.param({"payments.get"}, "payments.get", True, id="exact"),
        pytest.param({"payments.get"}, "payments.create", False, id="other-exact"),
        pytest.param({"*"}, "payments.get", True, id="star-covers-scope"),
        pytest.param({"*"}, "payments", True, id="star-covers-bare-name"),
        pytest.param({"*"}, "a.b.c.d", True, id="star-covers-deep"),
        pytest.param({"payments.*"}, "payments.create", True, id="prefix-one-level"),
        pytest.param({"payments.*"}, "payments.user-instructions.get", True, id="prefix-any-depth"),
        pytest.param({"payments.*"}, "payments", False, id="prefix-not-itself"),
        pytest.param({"payments.*"}, "paymentsx.get", False, id="prefix-not-longer-name"),
        pytest.param({"payments.*"}, "payment.get", False, id="prefix-not-shorter-name"),
        pytest.param({"payments.*"}, "xpayments.get", False, id="prefix-anchored-at-start"),
        pytest.param({"payments.*"}, "refunds.payments.get", False, id="prefix-not-infix"),
        pytest.param({"payments.user-instructions.*"}, "payments.get", False, id="deep-prefix"),
        pytest.param(
            {"payments.user-instructions.*"},
            "payments.user-instructions.get",
            True,
            id="deep-prefix-covers-child",
        ),
        pytest.param({"payments.get"}, "Payments.get", False, id="case-sensitive"),
        pytest.param({"Payments.*"}, "payments.get", False, id="case-sensitive-prefix"),
        pytest.param({"payments.get"}, "payments.*", False, id="needed-star-is-literal"),
        pytest.param({"payments.*"}, "payments.*", True, id="literal-star-exact"),
        pytest.param(set(), "payments.get", False, id="nothing-granted"),
        pytest.param({"payments."}, "payments.get", False, id="trailing-dot-is-not-a-prefix"),
        pytest.param({".*"}, ".get", True, id="empty-prefix-segment"),
    ],
)
def test_satisfies(granted: set[str], needed: str, expected: bool) -> None:
    assert satisfies(frozenset(granted), needed) is expected


@pytest.mark.parametrize(
    ("granted", "needed", "all_of", "any_of"),
    [
        pytest.param({"a", "b"}, ["a", "b"], True, True, id="both-granted"),
        pytest.param({"a"}, ["a", "b"], False, True, id="one-granted"),
        pytest.param(set(), ["a", "b"], False, False, id="none-granted"),
        pytest.param({"a"}, [], True, False, id="nothing-needed"),
        pytest.param({"x.*"}, ["x.a", "x.b.c"], True, True, id="prefix-covers-all"),
        pytest.param({"*"}, ["a", "b.c"], True, True, id="star-covers-all"),
    ],
)
def test_all_of_and_any_of(
    granted: set[str], needed: list[str], all_of: bool, any_of: bool
) -> None:
    assert has_all(frozenset(granted), needed) is all_of
    assert has_any(frozenset(granted), needed) is any_of


def test_generators_are_accepted() -> None:
    assert has_all({"a"}, (scope for scope in ["a"]))
    assert has_any({"a"}, (scope for scope in ["b", "a"]))


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param("payments.get", ("payments.get",), id="one-string"),
        pytest.param(["a", "b.c"], ("a", "b.c"), id="list"),
        pytest.param(("*",), ("*",), id="star"),
        pytest.param(["payments.*"], ("payments.*",), id="prefix"),
        pytest.param([], (), id="empty-list"),
        pytest.param(
            ["a!#$%&'()+,-./:;<=>?@[]^_`{|}~"],
            ("a!#$%&'()+,-./:;<=>?@[]^_`{|}~",),
            id="every-symbol",
        ),
    ],
)
def test_validate_scopes_accepts_scope_tokens(
    given: str | list[str], expected: tuple[str, ...]
) -> None:
    assert validate_scopes(given) == expected


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param("", id="empty"),
        pytest.param("payments get", id="space"),
        pytest.param('pay"ments', id="double-quote"),
        pytest.param("pay\\ments", id="backslash"),
        pytest.param("pay\tments", id="tab"),
        pytest.param("pay\r\nments", id="crlf"),
        pytest.param("paiement.cr\u00e9er", id="non-ascii"),
        pytest.param("x\x7f", id="del"),
    ],
)
def test_W04_validate_scopes_rejects_names_a_challenge_cannot_carry(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid scope name"):
        validate_scopes(bad)
    with pytest.raises(ValueError, match="invalid scope name"):
        validate_scopes(["payments.get", bad])


def test_validate_scopes_rejects_non_strings() -> None:
    with pytest.raises(ValueError, match="invalid scope name"):
        validate_scopes([b"payments.get"])  # type: ignore[list-item]


def test_validate_scopes_names_what_it_checked() -> None:
    with pytest.raises(ValueError, match="invalid any_scope name"):
        validate_scopes([""], what="any_scope")
